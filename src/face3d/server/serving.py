"""Running the 3dface app on waitress: until stopped, or on a background thread (tests, demo).

Every waitress queue is bounded (`waitress_options`), so memory is bounded however many clients
connect; waitress refuses an entity over 2 MiB with a plain-text 413 before buffering it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from wsgiref.types import WSGIApplication

from face3d.contract import API_PATH, MAX_REQUEST_BYTES
from face3d.server.app import DEFAULT_HOST, DEFAULT_PORT, DEFAULT_THREADS

logger = logging.getLogger(__name__)

# How often the serving loop looks at its stop event, in seconds.
_POLL_S = 0.2


def waitress_options(threads: int = DEFAULT_THREADS) -> dict[str, Any]:
    """waitress's adjustments: every queue bounded, so that memory is bounded.

    `threads` requests run at once (each holding at most a 2 MiB body, its parsed form and its
    decoded images); at most `connection_limit` connections are open (each buffering at most a
    2 MiB body, in memory: waitress would spill a body over 512 kB into a temporary file, which
    costs a call with a 12-MP phone photo more than parsing its form), and at most `backlog`
    wait in the kernel to be accepted. waitress refuses a body of `max_request_body_size` bytes or
    more before buffering it, with a plain-text 413.
    """
    if threads < 1:
        raise ValueError("threads must be at least 1")
    return {
        "threads": threads,
        "connection_limit": max(16, 4 * threads),
        "backlog": 64,
        "max_request_body_size": MAX_REQUEST_BYTES + 1,  # waitress refuses sizes >= this
        "inbuf_overflow": MAX_REQUEST_BYTES + 1,
        "max_request_header_size": 64 * 1024,
        "channel_timeout": 60,
        "asyncore_use_poll": True,
        "ident": "face3d",
        "expose_tracebacks": False,
    }


def serve(
    app: WSGIApplication,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    threads: int = DEFAULT_THREADS,
    on_ready: Callable[[str, int], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Serve `app` on waitress until `stop` is set (or KeyboardInterrupt, which propagates).

    `port` 0 picks a free port; `on_ready(host, port)` is called once the socket listens, with
    the address actually bound. Raises OSError if the address cannot be bound.
    """
    server, socket_map = _create_server(app, host, port, threads)
    try:
        if on_ready is not None:
            on_ready(*_bound_address(server))
        _loop(socket_map, stop or threading.Event())
    finally:
        _close_server(server, socket_map)


@dataclass
class RunningServer:
    """A waitress server on a background thread; `stop()` (or leaving `with`) shuts it down."""

    host: str
    port: int
    _stop: threading.Event = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def endpoint(self) -> str:
        return self.url + API_PATH

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.warning("server thread still running %.0f s after stop", timeout)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_server(
    app: WSGIApplication,
    *,
    host: str = DEFAULT_HOST,
    port: int = 0,
    threads: int = DEFAULT_THREADS,
) -> RunningServer:
    """Serve `app` on a background thread; listening (or raising OSError) when this returns."""
    server, socket_map = _create_server(app, host, port, threads)
    bound_host, bound_port = _bound_address(server)
    stop = threading.Event()

    def run() -> None:
        try:
            _loop(socket_map, stop)
        finally:
            _close_server(server, socket_map)

    thread = threading.Thread(target=run, name=f"face3d-serve-{bound_port}", daemon=True)
    thread.start()
    return RunningServer(bound_host, bound_port, stop, thread)


def _create_server(
    app: WSGIApplication, host: str, port: int, threads: int
) -> tuple[Any, dict[int, Any]]:
    from waitress.server import create_server  # the engine extra: imported when serving only

    socket_map: dict[int, Any] = {}  # our own map, so that our loop can run and stop it
    server = create_server(app, map=socket_map, host=host, port=port, **waitress_options(threads))
    return server, socket_map


def _bound_address(server: Any) -> tuple[str, int]:
    listen = getattr(server, "effective_listen", None)  # several sockets (a name like localhost)
    if listen:
        host, port = listen[0][0], listen[0][1]
    else:
        host, port = server.effective_host, server.effective_port
    return str(host), int(port)


def _loop(socket_map: dict[int, Any], stop: threading.Event) -> None:
    from waitress import wasyncore

    while socket_map and not stop.is_set():
        wasyncore.loop(timeout=_POLL_S, map=socket_map, use_poll=True, count=1)


def _close_server(server: Any, socket_map: dict[int, Any]) -> None:
    from waitress import wasyncore

    # Lets running requests finish (up to 5 s), drops queued ones, then closes every socket.
    server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
    wasyncore.close_all(socket_map, ignore_all=True)
