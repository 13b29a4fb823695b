"""What the engine promises its callers: the result, the error, and the API's input limits.

Standard library only, so that `face3d.engine` imports cheaply where the engine extra is absent.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EngineResult:
    """One reconstruction, shaped like the 3dface API's answer.

    Model coordinates are millimetres: x to the image's right for a frontal face (the subject's
    left), y up, z towards the camera (right-handed); the origin is midway between the iris
    centres. `matrices[k]` maps them to the pixels of the k-th image in slot order (x right, y
    down, origin top-left, integer coordinates at pixel centres as in OpenCV and
    `face3d.viewer`; row 3 is depth in pixels, growing away from the camera, zero at the model
    origin; row 4 is 0 0 0 1; orthographic). `landmarks[slot][i]` is where mesh
    vertex i (i < 468) was found in that image; `poses[slot]` is (yaw, pitch, roll) in degrees,
    see `face3d.engine.pose` for the signs.
    """

    obj: bytes
    mtl: bytes | None
    texture: bytes | None
    matrices: list[list[float]]
    landmarks: dict[int, list[tuple[float, float]]]
    poses: dict[int, tuple[float, float, float]]


class EngineError(Exception):
    """An input the engine refuses, with the API's error code and the image slot at fault."""

    def __init__(self, code: str, slot: int | None = None, message: str = "") -> None:
        self.code = code
        self.slot = slot
        self.message = message or code
        super().__init__(self.message)

    def __str__(self) -> str:
        where = f" (image {self.slot})" if self.slot is not None else ""
        detail = "" if self.message == self.code else f": {self.message}"
        return f"{self.code}{where}{detail}"

    def __repr__(self) -> str:
        return f"EngineError(code={self.code!r}, slot={self.slot!r}, message={self.message!r})"
