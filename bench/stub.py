"""An API stub that answers at once: what a handler costs without the API's own time.

A loopback HTTP server speaking just enough of the 3dface contract: every POST is read whole and
answered 200 with a canned result of realistic size (a 484-vertex mesh with texture coordinates
and normals, a 1024x1024 texture made from a real sample photo, one transfer matrix per image
sent), in about a millisecond.
"""

from __future__ import annotations

import base64
import io
import json
import threading
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image

from face3d import samples
from face3d.contract import API_PATH

# The API document's sample matrix.
_MATRIX = [
    6.7192183, -0.27454704, -0.1731284, -69.249084,
    0.26191366, 6.7055917, -0.46870133, 114.49048,
    0.017390553, 0.041857347, 0.60856056, 0,
    0, 0, 0, 1,
]  # fmt: skip
_GRID = 22


@cache
def canned_files() -> dict[str, bytes]:
    """The files of a result: OBJ, MTL and texture, as big as the offline engine's."""
    lines = ["mtllib face.mtl"]
    for row in range(_GRID):
        for column in range(_GRID):
            x, y = column - _GRID / 2, row - _GRID / 2
            lines.append(f"v {x * 7.0:.6f} {y * 7.0:.6f} {-(x * x + y * y) * 0.2:.6f}")
    lines += [
        f"vt {c / (_GRID - 1):.6f} {r / (_GRID - 1):.6f}"
        for r in range(_GRID)
        for c in range(_GRID)
    ]
    lines += ["vn 0.000000 0.000000 1.000000"] * (_GRID * _GRID)
    lines.append("usemtl material_0")
    lines.append("s 1")
    for row in range(_GRID - 1):
        for column in range(_GRID - 1):
            a = row * _GRID + column + 1
            b, c, d = a + 1, a + _GRID, a + _GRID + 1
            lines.append(f"f {a}/{a}/{a} {b}/{b}/{b} {d}/{d}/{d}")
            lines.append(f"f {a}/{a}/{a} {d}/{d}/{d} {c}/{c}/{c}")
    texture = io.BytesIO()
    photo = Image.open(io.BytesIO(samples.astronaut_jpeg())).convert("RGB")
    photo.resize((1024, 1024), Image.Resampling.BICUBIC).save(texture, "JPEG", quality=90)
    return {
        "obj": ("\n".join(lines) + "\n").encode(),
        "mtl": b"newmtl material_0\nKa 1 1 1\nKd 1 1 1\nmap_Kd tex.jpg\n",
        "texture": texture.getvalue(),
    }


@cache
def _answer(images: int) -> bytes:
    files = canned_files()
    payload: dict[str, Any] = {
        "request_id": "1700000000,00000000-0000-4000-8000-000000000000",
        "time_used": 1,
        "obj_file": base64.b64encode(files["obj"]).decode(),
        "mtl_file": base64.b64encode(files["mtl"]).decode(),
        "texture_img": base64.b64encode(files["texture"]).decode(),
        "transfer_matrix": [_MATRIX for _ in range(images)],
    }
    return json.dumps(payload).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the API

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.last_request_bytes = len(body)  # type: ignore[attr-defined]
        images = max(1, body.count(b'name="image_base64_') + body.count(b'name="image_file_'))
        answer = _answer(images) if self.path == API_PATH else b"{}"
        self.send_response(200 if self.path == API_PATH else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class ApiStub:
    """The stub on a free loopback port, on a background thread, until `stop()`."""

    def __init__(self) -> None:
        for images in (1, 2, 3):
            _answer(images)  # made before the clock starts
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def last_request_bytes(self) -> int:
        """The size of the last request body received."""
        return int(getattr(self._server, "last_request_bytes", 0))

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{API_PATH}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
