"""The real server (waitress) on a free loopback port, started and torn down per test module.

`live_server`: in this process, on a thread, with a fake engine (fast and deterministic).
`engine_server`: `face3d serve` in a subprocess with the real engine; skipped where MediaPipe or
face3d.engine is missing or does not load.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.fakes import (
    MTL_PLAIN,
    MTL_WITH_TEXTURE,
    OBJ_PLAIN,
    OBJ_WITH_MTL,
    FakeResult,
    texture_jpeg,
)

API_KEY, API_SECRET = "e2e-key", "e2e-secret-never-logged"
STARTUP_TIMEOUT_S = 10.0
ENGINE_STARTUP_TIMEOUT_S = 180.0  # MediaPipe's first import and model load
REQUEST_TIMEOUT_S = 30.0


class FakeEngine:
    """Like face3d.engine.Engine, minus the faces; notes how many calls overlap (must be 1)."""

    def __init__(self, seconds: float = 0.05) -> None:
        self.seconds = seconds
        self.calls: list[dict[int, bytes]] = []
        self.max_overlap = 0
        self._running = 0
        self._lock = threading.Lock()

    def reconstruct(self, images: dict[int, bytes], *, texture: bool, mtl: bool) -> FakeResult:
        with self._lock:
            self.calls.append(dict(images))
            self._running += 1
            self.max_overlap = max(self.max_overlap, self._running)
        try:
            time.sleep(self.seconds)  # long enough for concurrent calls to queue on the lock
            return FakeResult(
                obj=(OBJ_WITH_MTL if mtl else OBJ_PLAIN).encode(),
                mtl=(MTL_WITH_TEXTURE if texture else MTL_PLAIN).encode() if mtl else None,
                texture=texture_jpeg() if texture else None,
                matrices=[[float(slot)] * 15 + [1.0] for slot in sorted(images)],
            )
        finally:
            with self._lock:
                self._running -= 1

    def close(self) -> None:
        pass


@dataclass
class LiveServer:
    running: Any  # face3d.serving.RunningServer
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


@pytest.fixture(scope="module")
def live_server() -> Iterator[LiveServer]:
    pytest.importorskip("werkzeug", reason="face3d serve needs the engine extra (werkzeug)")
    pytest.importorskip("waitress", reason="face3d serve needs the engine extra (waitress)")
    from face3d.server import app as server
    from face3d.server import serving

    engine = FakeEngine()
    app = server.FaceApp(engine, api_key=API_KEY, api_secret=API_SECRET)
    running = serving.start_server(app, host="127.0.0.1", port=0, threads=4)
    try:
        wait_until_answering(running.url + "/", STARTUP_TIMEOUT_S)
        yield LiveServer(running, engine)
    finally:
        running.stop(timeout=10.0)
    assert not running._thread.is_alive(), "the server thread did not stop"


@dataclass
class EngineServer:
    endpoint: str
    process: subprocess.Popen[str]
    log: deque[str]


@pytest.fixture(scope="session")
def engine_server() -> Iterator[EngineServer]:
    """`face3d serve --port 0` with the real engine, in a subprocess; SIGTERM at the end."""
    pytest.importorskip("mediapipe", reason="the real engine needs MediaPipe")
    engine_module = pytest.importorskip("face3d.engine")
    if not hasattr(engine_module, "Engine"):
        pytest.skip("face3d.engine does not export Engine yet")
    command = [
        sys.executable,
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
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(  # noqa: S603 (our own command line)
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    lines: queue.Queue[str | None] = queue.Queue()
    # Drained all along: a full stderr pipe (one access line per request) would block the server.
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
        endpoint = _endpoint_from_start_line(process, lines, log, pumps[1])
        yield EngineServer(endpoint, process, log)
    finally:
        _terminate(process)
        for pump in pumps:
            pump.join(10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def _endpoint_from_start_line(
    process: subprocess.Popen[str],
    lines: queue.Queue[str | None],
    log: deque[str],
    stderr_pump: threading.Thread,
) -> str:
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


def _terminate(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()  # SIGTERM: face3d serve stops cleanly
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The yaw angles the multi-view test recovered from rendered side views, against the truth."""
    module = sys.modules.get("tests.e2e.test_multiview")
    rows = getattr(module, "YAW_REPORT", None)
    if not rows:
        return
    terminalreporter.section("multi-view: yaw recovered from rendered side views")
    terminalreporter.write_line(f"{'view':<6} {'rendered':>9} {'recovered':>10} {'error':>7}")
    for view, known, recovered in rows:
        terminalreporter.write_line(
            f"{view:<6} {known:>8.1f}° {recovered:>9.1f}° {recovered - known:>6.1f}°"
        )
