"""What a 3dface endpoint answers, and a fake engine that answers alike behind our server.

Success payloads are built like the API document's sample; `FakeEngine` is face3d.engine.Engine
minus the faces, returning the engine's own result type (standard library only: no engine extra
needed). These stand for the API's *outputs* (a mesh, a texture map, matrices), not for face
photos.
"""

from __future__ import annotations

import base64
import io
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from face3d.contract import View
from face3d.engine import EngineResult

OBJ_WITH_MTL = (
    "mtllib face.mtl\n"
    "v 0 0 0\nv 10 0 0\nv 0 10 0\nv 0 0 10\n"
    "vt 0 0\nvt 1 0\nvt 0 1\nvt 1 1\n"
    "usemtl material_0\n"
    "f 1/1 2/2 3/3\nf 1/1 3/3 4/4\nf 1/1 4/4 2/2\nf 2/2 4/4 3/3\n"
)
OBJ_PLAIN = "".join(
    line + "\n" for line in OBJ_WITH_MTL.splitlines() if line[:2] in ("v ", "vt", "f ")
)
MTL_WITH_TEXTURE = "newmtl material_0\nKa 1 1 1\nKd 1 1 1\nmap_Kd tex.jpg\n"
MTL_PLAIN = "newmtl material_0\nKa 1 1 1\nKd 1 1 1\n"

# The API document's own sample matrix.
SAMPLE_MATRIX = [
    6.7192183, -0.27454704, -0.1731284, -69.249084,
    0.26191366, 6.7055917, -0.46870133, 114.49048,
    0.017390553, 0.041857347, 0.60856056, 0,
    0, 0, 0, 1,
]  # fmt: skip


def texture_jpeg(size: int = 64) -> bytes:
    image = Image.linear_gradient("L").resize((size, size)).convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


def b64(data: str | bytes) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def success_payload(
    views: Sequence[View] = (View.FRONT,),
    *,
    texture: bool = True,
    mtl: bool = True,
    request_id: str = "1576058873,18105fd0-28fe-4790-a44e-6102009bc195",
    time_used: int = 2114,
) -> dict[str, Any]:
    """A 200 body for `views`: one matrix per image sent, files as asked for."""
    payload: dict[str, Any] = {
        "request_id": request_id,
        "time_used": time_used,
        "obj_file": b64(OBJ_WITH_MTL if mtl else OBJ_PLAIN),
        "transfer_matrix": [[value + i for value in SAMPLE_MATRIX] for i, _ in enumerate(views)],
    }
    if mtl:
        payload["mtl_file"] = b64(MTL_WITH_TEXTURE if texture else MTL_PLAIN)
    if texture:
        payload["texture_img"] = b64(texture_jpeg())
    return payload


def error_payload(message: str, request_id: str = "1470378968,c6f50ec6") -> dict[str, Any]:
    return {"time_used": 525, "error_message": message, "request_id": request_id}


@dataclass
class EngineCall:
    images: dict[int, bytes] = field(repr=False)
    texture: bool
    mtl: bool


class FakeEngine:
    """Like face3d.engine.Engine, minus the faces: the API's sample outputs, one matrix per image.

    Records every call, and the most calls that ran at once (`max_overlap`: the server must keep
    it at 1). Options: `error` is raised instead of answering; `result(images, texture, mtl)`
    answers instead of the sample; a call waits for `gate` to open, then `seconds`.
    """

    def __init__(
        self,
        *,
        error: Exception | None = None,
        result: Callable[[dict[int, bytes], bool, bool], EngineResult] | None = None,
        gate: threading.Event | None = None,
        seconds: float = 0.0,
    ) -> None:
        self.error = error
        self.result = result
        self.gate = gate
        self.seconds = seconds
        self.calls: list[EngineCall] = []
        self.max_overlap = 0
        self.closed = False
        self._running = 0
        self._lock = threading.Lock()

    def reconstruct(self, images: dict[int, bytes], *, texture: bool, mtl: bool) -> EngineResult:
        with self._lock:
            self.calls.append(EngineCall(dict(images), texture, mtl))
            self._running += 1
            self.max_overlap = max(self.max_overlap, self._running)
        try:
            if self.gate is not None:
                assert self.gate.wait(10), "the test never opened the gate"
            if self.seconds:
                time.sleep(self.seconds)  # long enough for concurrent calls to queue on the lock
            if self.error is not None:
                raise self.error
            if self.result is not None:
                return self.result(images, texture, mtl)
            return sample_result(images, texture=texture, mtl=mtl)
        finally:
            with self._lock:
                self._running -= 1

    def close(self) -> None:
        self.closed = True


def sample_result(images: Mapping[int, bytes], *, texture: bool, mtl: bool) -> EngineResult:
    """The engine's answer built from the API's samples: files as asked for, matrices by slot."""
    return engine_result(
        obj=(OBJ_WITH_MTL if mtl else OBJ_PLAIN).encode(),
        mtl=(MTL_WITH_TEXTURE if texture else MTL_PLAIN).encode() if mtl else None,
        texture=texture_jpeg() if texture else None,
        matrices=[[value + slot for value in SAMPLE_MATRIX] for slot in sorted(images)],
    )


def engine_result(
    obj: bytes, mtl: bytes | None, texture: bytes | None, matrices: list[list[float]]
) -> EngineResult:
    """An engine result with these outputs; the server reads no landmarks or poses."""
    return EngineResult(obj, mtl, texture, matrices, landmarks={}, poses={})
