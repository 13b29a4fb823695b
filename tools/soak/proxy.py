"""A counting proxy in front of the 3dface endpoint: what the soak's API bill would say.

Every call is forwarded to `face3d serve` and recorded with the invocation and call it came
from (the traffic hook's header), what the engine answered (a 200 is a paid reconstruction),
and what the proxy did to the answer: held it back (`delay`), or cut it off halfway (`cut`: the
engine did the work, the function never gets the answer). It also keeps every distinct image it
saw sent, for the leak scan.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import random
import threading
import time
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

from .traffic import CALL_HEADER

UPSTREAM_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class ApiCall:
    call: str  # "<request id>/<attempt>/<call index>", "" when not from an invocation
    status: int  # what the engine answered; 502 when it could not be reached
    started: float
    finished: float
    cut: bool = False
    delayed: float = 0.0

    @property
    def paid(self) -> bool:
        return self.status == 200


class CountingProxy:
    def __init__(
        self, upstream: str, *, cut_rate: float, delay_rate: float, delay_s: float, seed: int
    ) -> None:
        self.upstream = upstream
        self.cut_rate = cut_rate
        self.delay_rate = delay_rate
        self.delay_s = delay_s
        self._rng = random.Random(seed)  # noqa: S311 (fault injection)
        self._lock = threading.Lock()
        self._calls: list[ApiCall] = []
        self._images: dict[bytes, bytes] = {}
        self._sessions = threading.local()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def endpoint(self) -> str:
        path = self.upstream.split("/", 3)[3]
        return f"http://127.0.0.1:{self.port}/{path}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def calls(self) -> list[ApiCall]:
        with self._lock:
            return list(self._calls)

    def images(self) -> list[bytes]:
        with self._lock:
            return list(self._images.values())

    def _draw(self) -> tuple[bool, float]:
        with self._lock:
            cut = self._rng.random() < self.cut_rate
            delayed = self.delay_s if self._rng.random() < self.delay_rate else 0.0
        return cut, delayed

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._sessions, "session", None)
        if session is None:
            session = self._sessions.session = requests.Session()
        return session

    def _forward(self, body: bytes, content_type: str) -> tuple[int, str, bytes]:
        try:
            answer = self._session().post(
                self.upstream,
                data=body,
                headers={"Content-Type": content_type},
                timeout=UPSTREAM_TIMEOUT_S,
            )
        except requests.RequestException:
            return 502, "text/plain", b"the engine did not answer"
        return answer.status_code, answer.headers.get("Content-Type", ""), answer.content

    def _keep_images(self, body: bytes, content_type: str) -> None:
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        try:
            message = BytesParser(policy=HTTP).parsebytes(head + body)
            parts = list(message.iter_parts())
        except (ValueError, TypeError):
            return
        for part in parts:
            name = part.get_param("name", header="content-disposition")
            if not isinstance(name, str) or not name.startswith("image_base64_"):
                continue
            payload = part.get_payload(decode=True)
            try:
                image = base64.b64decode(payload) if isinstance(payload, bytes) else b""
            except (binascii.Error, ValueError):
                continue
            with self._lock:
                self._images.setdefault(hashlib.sha256(image).digest(), image)

    def _record(self, call: ApiCall) -> None:
        with self._lock:
            self._calls.append(call)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                started = time.monotonic()
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                content_type = self.headers.get("Content-Type", "")
                proxy._keep_images(body, content_type)
                status, answer_type, answer = proxy._forward(body, content_type)
                cut, delayed = proxy._draw()
                if delayed:
                    time.sleep(delayed)
                self.send_response(status)
                self.send_header("Content-Type", answer_type)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                try:
                    self.wfile.write(answer[: len(answer) // 2] if cut else answer)
                    self.wfile.flush()
                except OSError:
                    pass  # the function gave up waiting
                if cut:
                    self.close_connection = True
                proxy._record(
                    ApiCall(
                        self.headers.get(CALL_HEADER, ""),
                        status,
                        started,
                        time.monotonic(),
                        cut=cut,
                        delayed=delayed,
                    )
                )

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the proxy's records are the log

        return Handler
