"""The real server (waitress) on a free loopback port, started and torn down per test module.

`live_server`: in this process, on a thread, with a fake engine (fast and deterministic).
`engine_server`: `face3d serve` in a subprocess with the real engine; skipped where MediaPipe or
face3d.engine is missing or does not load. The servers themselves are in `servers.py`.
`engine`: one offline engine in this process for every module that reconstructs directly
(MediaPipe's models load once per session).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from tests.e2e.servers import (
    API_KEY,
    API_SECRET,
    FAKE_ENGINE_SECONDS,
    STARTUP_TIMEOUT_S,
    EngineServer,
    LiveServer,
    ServeFailed,
    serve_process,
    wait_until_answering,
)
from tests.fakes import FakeEngine


@pytest.fixture(scope="session")
def engine() -> Iterator[Any]:
    pytest.importorskip("mediapipe", reason="the real engine needs MediaPipe")
    from face3d.engine import Engine

    with Engine() as loaded:
        yield loaded


@pytest.fixture(scope="module")
def live_server() -> Iterator[LiveServer]:
    pytest.importorskip("werkzeug", reason="face3d serve needs the engine extra (werkzeug)")
    pytest.importorskip("waitress", reason="face3d serve needs the engine extra (waitress)")
    from face3d.server import app as server
    from face3d.server import serving

    engine = FakeEngine(seconds=FAKE_ENGINE_SECONDS)
    app = server.FaceApp(engine, api_key=API_KEY, api_secret=API_SECRET)
    running = serving.start_server(app, host="127.0.0.1", port=0, threads=4)
    try:
        wait_until_answering(running.url + "/", STARTUP_TIMEOUT_S)
        yield LiveServer(running, engine)
    finally:
        running.stop(timeout=10.0)
    assert not running._thread.is_alive(), "the server thread did not stop"


@pytest.fixture(scope="session")
def engine_server() -> Iterator[EngineServer]:
    """`face3d serve --port 0` with the real engine, in a subprocess; SIGTERM at the end."""
    pytest.importorskip("mediapipe", reason="the real engine needs MediaPipe")
    engine_module = pytest.importorskip("face3d.engine")
    if not hasattr(engine_module, "Engine"):
        pytest.skip("face3d.engine does not export Engine yet")
    with ExitStack() as stack:
        try:
            server = stack.enter_context(
                serve_process(["--api-key", API_KEY, "--api-secret", API_SECRET, "--threads", "2"])
            )
        except ServeFailed as failed:
            if failed.code == 3:  # configuration: the engine is not installed or does not load
                pytest.skip(f"the real engine does not load: {str(failed)[-500:]}")
            pytest.fail(str(failed))
        yield server


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """What the multi-view test measured on views rendered from the head scan: the yaw angles
    recovered against the rendered ones, and the fused shape's distance to the scan against the
    front view's alone."""
    module = sys.modules.get("tests.e2e.test_multiview")
    rows = getattr(module, "YAW_REPORT", None)
    if not rows:
        return
    terminalreporter.section("multi-view: yaw recovered from rendered side views")
    terminalreporter.write_line(f"{'view':<6} {'rendered':>9} {'recovered':>10} {'error':>7}")
    for view, known, recovered in rows:
        terminalreporter.write_line(
            f"{view:<6} {known:>8.1f}° {recovered:>9.1f}° {recovered - known:>6.1f}° "
            f"{100 * (abs(recovered) - abs(known)) / abs(known):>+5.1f}%"
        )
    shapes = getattr(module, "SHAPE_REPORT", None) or []
    if shapes:
        terminalreporter.write_line("landmarks' RMS distance to the scan (mm):")
        terminalreporter.write_line(f"{'side views':>10} {'fused':>6} {'front alone':>12}")
        for yaw, fused, front in shapes:
            terminalreporter.write_line(f"{'±' + f'{yaw:.0f}°':>10} {fused:>6.2f} {front:>12.2f}")
