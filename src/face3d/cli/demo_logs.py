"""The demo's logs: `demo.log`, each subject's steps (`Journal`), and where everything else
written to stdout and stderr goes instead of the terminal (`logs_into`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from face3d.client.results import timestamp


@dataclass
class Journal:
    """demo.log: one line per step of each subject, stamped with the time it happened."""

    stream: TextIO

    @classmethod
    @contextmanager
    def open(cls, path: Path) -> Iterator[Journal]:
        with path.open("a", encoding="utf-8", buffering=1) as stream:
            yield cls(stream)

    def step(self, subject: str, text: str) -> None:
        self.stream.write(f"{timestamp(datetime.now(UTC))}  {subject:<13} {text}\n")

    def note(self, text: str) -> None:
        self.step("demo", text)


@contextmanager
def logs_into(
    engine_path: Path, function_path: Path
) -> Iterator[tuple[Callable[[str, Callable[[str], None]], None], TextIO]]:
    """Send what is written to stdout and stderr into the logs: the file descriptors (MediaPipe's
    and TF Lite's C++ logs write to them directly) and Python's stderr (absl, the server) into
    `engine_path`, Python's stdout (the handler's metric lines) into `function_path`.

    Yields a function that passes a line to an echo function with the real stdout restored, and
    `function_path` as a text stream, for Python loggers that hold on to a stream of their own.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    terminal = sys.stdout
    saved = os.dup(1), os.dup(2)
    with (
        engine_path.open("ab") as raw,
        engine_path.open("a", encoding="utf-8", buffering=1) as engine_text,
        function_path.open("a", encoding="utf-8", buffering=1) as function_text,
    ):
        os.dup2(raw.fileno(), 1)
        os.dup2(raw.fileno(), 2)

        def say(line: str, echo: Callable[[str], None]) -> None:
            os.dup2(saved[0], 1)
            try:
                with redirect_stdout(terminal):
                    echo(line)
                    terminal.flush()
            finally:
                os.dup2(raw.fileno(), 1)

        try:
            with redirect_stdout(function_text), redirect_stderr(engine_text):
                yield say, function_text
        finally:
            function_text.flush()
            engine_text.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
