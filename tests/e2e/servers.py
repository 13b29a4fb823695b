"""The servers the e2e tests drive, and how to start, wait for and stop them.

`LiveServer`: the real server (waitress) in this process, on a thread, with a fake engine (fast
and deterministic). `EngineServer`: `face3d serve` in a subprocess with the real engine
(`serve_process`, also used by the soak and the benchmarks: nothing here needs pytest).
"""

from __future__ import annotations

import logging
import os
import queue
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests

if TYPE_CHECKING:
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


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's server (S3, SQS, Secrets Manager, ... as real HTTP endpoints) on a free loopback
    port, until the block ends; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    werkzeug = logging.getLogger("werkzeug")
    level = werkzeug.level
    werkzeug.setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        yield endpoint
    finally:
        # moto keeps its state in this process: leave none behind (the test suite goes on).
        try:
            requests.post(f"{endpoint}/moto-api/reset", timeout=30)
        finally:
            server.stop()
            werkzeug.setLevel(level)


class ServeFailed(RuntimeError):
    """`face3d serve` did not start. `code` is its exit status (3: a configuration error, such as
    an engine that does not load here), None if it printed nothing in time."""

    def __init__(self, message: str, code: int | None) -> None:
        super().__init__(message)
        self.code = code


@contextmanager
def serve_process(
    options: Sequence[str], *, startup_s: float = ENGINE_STARTUP_TIMEOUT_S
) -> Iterator[EngineServer]:
    """`face3d serve` with `options` in a subprocess on a free loopback port, until the block
    ends (SIGTERM). Raises ServeFailed when it exits or prints nothing within `startup_s`.

    Both pipes are drained all along: a full stderr pipe (one access line per request) would
    block the server.
    """
    command = [sys.executable, "-m", "face3d", "serve", "--host", "127.0.0.1", "--port", "0"]
    process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
        [*command, *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
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
    try:
        endpoint = _endpoint_from_start_line(process, lines, startup_s, pumps[1], log)
        yield EngineServer(endpoint, process, log)
    finally:
        terminate(process)
        for pump in pumps:
            pump.join(10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def _endpoint_from_start_line(
    process: subprocess.Popen[str],
    lines: queue.Queue[str | None],
    startup_s: float,
    stderr_pump: threading.Thread,
    log: deque[str],
) -> str:
    try:
        line = lines.get(timeout=startup_s)
    except queue.Empty:
        raise ServeFailed(f"face3d serve printed nothing in {startup_s:.0f} s", None) from None
    if line is None:  # exited before it was ready
        code = process.wait(timeout=10)
        stderr_pump.join(10)
        raise ServeFailed(f"face3d serve exited with {code}: {''.join(log)[-2000:]}", code)
    words = [word for word in line.split() if word.startswith("http://")]
    if not words:
        raise ServeFailed(f"no URL in face3d serve's start line: {line!r}", None)
    return words[0]


def terminate(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()  # SIGTERM: face3d serve stops cleanly
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
