"""The servers the e2e tests drive, and how to start, wait for and stop them.

`LiveServer`: the real server (waitress) in this process, on a thread, with a fake engine (fast
and deterministic). `EngineServer`: `face3d serve` in a subprocess with the real engine.
"""

from __future__ import annotations

import queue
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.fakes import FakeEngine

API_KEY, API_SECRET = "e2e-key", "e2e-secret-never-logged"
STARTUP_TIMEOUT_S = 10.0
ENGINE_STARTUP_TIMEOUT_S = 180.0  # MediaPipe's first import and model load
REQUEST_TIMEOUT_S = 30.0
# Long enough for concurrent calls to queue on the server's engine lock.
FAKE_ENGINE_SECONDS = 0.05


@dataclass
class LiveServer:
    running: Any  # face3d.server.serving.RunningServer
    engine: FakeEngine

    @property
    def url(self) -> str:
        return str(self.running.url)

    @property
    def endpoint(self) -> str:
        return str(self.running.endpoint)

    @property
    def port(self) -> int:
        return int(self.running.port)


@dataclass
class EngineServer:
    endpoint: str
    process: subprocess.Popen[str]
    log: deque[str]


def wait_until_answering(url: str, timeout: float) -> None:
    """Poll `url` until the server answers anything, within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            requests.get(url, timeout=1.0)
            return
        except requests.exceptions.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def engine_server_command(executable: str) -> list[str]:
    """`face3d serve` on a free loopback port, with the e2e credentials."""
    return [
        executable,
        "-m",
        "face3d",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--api-key",
        API_KEY,
        "--api-secret",
        API_SECRET,
        "--threads",
        "2",
    ]


def pump_output(
    process: subprocess.Popen[str],
) -> tuple[queue.Queue[str | None], deque[str], list[threading.Thread]]:
    """Stdout's lines into a queue (None once it ends), stderr's last lines into a log.

    The threads are started, and drain both pipes all along: a full stderr pipe (one access line
    per request) would block the server.
    """
    lines: queue.Queue[str | None] = queue.Queue()
    log: deque[str] = deque(maxlen=200)

    def pump_stdout() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    def pump_stderr() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            log.append(line)

    pumps = [threading.Thread(target=target, daemon=True) for target in (pump_stdout, pump_stderr)]
    for pump in pumps:
        pump.start()
    return lines, log, pumps


def endpoint_from_start_line(
    process: subprocess.Popen[str],
    lines: queue.Queue[str | None],
    log: deque[str],
    stderr_pump: threading.Thread,
) -> str:
    """The URL in `face3d serve`'s start line; skips if the engine does not load here."""
    try:
        line = lines.get(timeout=ENGINE_STARTUP_TIMEOUT_S)
    except queue.Empty:
        pytest.fail(f"face3d serve printed nothing in {ENGINE_STARTUP_TIMEOUT_S:.0f} s")
    if line is None:  # exited before it was ready
        code = process.wait(timeout=10)
        stderr_pump.join(10)
        stderr = "".join(log)
        if code == 3:  # configuration: the engine is not installed or does not load here
            pytest.skip(f"the real engine does not load: {stderr.strip()[-500:]}")
        pytest.fail(f"face3d serve exited with {code}: {stderr[-2000:]}")
    words = [word for word in line.split() if word.startswith("http://")]
    assert words, f"no URL in the start line: {line!r}"
    return words[0]


def terminate(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()  # SIGTERM: face3d serve stops cleanly
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
