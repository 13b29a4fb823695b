"""The offline reconstruction engine behind `face3d serve`: the 3dface contract on this machine.

Cheap to import: MediaPipe, OpenCV and NumPy load when an `Engine` is made, so that code paths
without the engine extra (the Lambda package, Python 3.13) can import the names.

Conventions (details in `pose.py`): the mesh is in millimetres, scaled so that the iris centres
are 63 mm apart (the adult mean interpupillary distance); model x points to the image's right
for a frontal face (the subject's left), y up, z out of the face towards the camera
(right-handed), origin midway between the iris centres. Each matrix maps model coordinates to its
image's pixels (x right, y down, origin at the top-left corner; row 3 depth in pixels, growing
away from the camera; orthographic). Poses are (yaw, pitch, roll) in degrees: yaw > 0 the subject
turned to their own left (nose towards the image's right), pitch > 0 nose down, roll > 0 head
tilted towards the subject's right shoulder (counter-clockwise in the image).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from face3d.engine.result import EngineError, EngineResult

if TYPE_CHECKING:
    from face3d.engine.engine import Reconstructor, Trace

__all__ = ["Engine", "EngineError", "EngineResult"]


class Engine:
    """Loads MediaPipe Face Mesh, the face detectors and the selfie segmentation once.

    Not thread-safe: callers serialise `reconstruct`.
    """

    def __init__(self) -> None:
        from face3d.engine.engine import Reconstructor  # heavy: mediapipe, cv2, numpy

        self._impl: Reconstructor | None = Reconstructor()

    def reconstruct(self, images: Mapping[int, bytes], *, texture: bool, mtl: bool) -> EngineResult:
        """Images by slot (1 front, required; 2 left; 3 right) to the API's outputs.

        Raises EngineError with the API's code and the slot at fault.
        """
        if self._impl is None:
            raise RuntimeError("the engine is closed")
        return self._impl.reconstruct(images, texture=texture, mtl=mtl)

    def reconstruct_traced(
        self, images: Mapping[int, bytes], *, texture: bool, mtl: bool
    ) -> tuple[EngineResult, Trace]:
        """`reconstruct`, and what it found on the way (orientation, checks, texture sources)."""
        if self._impl is None:
            raise RuntimeError("the engine is closed")
        return self._impl.traced(images, texture=texture, mtl=mtl)

    def close(self) -> None:
        if self._impl is not None:
            self._impl.close()
            self._impl = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
