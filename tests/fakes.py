"""What a 3dface endpoint answers: success payloads built like the API document's sample.

These stand for the API's *outputs* (a mesh, a texture map, matrices), not for face photos.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from face3d.contract import View

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


# What `face3d.engine.Engine.reconstruct` returns, for fake engines behind the server.
@dataclass(frozen=True)
class FakeResult:
    obj: bytes
    mtl: bytes | None
    texture: bytes | None
    matrices: list[list[float]]
    landmarks: dict[int, list[tuple[float, float]]] = field(default_factory=dict)
    poses: dict[int, tuple[float, float, float]] = field(default_factory=dict)
