"""MediaPipe Face Mesh, as the wheel ships it: 478 landmarks per face, nothing downloaded.

The legacy `solutions.face_mesh` graph runs models bundled in the mediapipe wheel (face
detection, face landmarks with attention, iris), so it works offline.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from face3d.engine import landmark_ids as ids
from face3d.engine.contract import EngineError
from face3d.errors import MULTIPLE_FACE_FOUND, NO_FACE_FOUND

FloatArray = npt.NDArray[np.float64]


class FaceMeshDetector:
    """One Face Mesh graph, loaded once. Not thread-safe (neither is MediaPipe's graph)."""

    def __init__(self) -> None:
        from mediapipe.python.solutions import face_mesh  # heavy: loads the graph and models

        # Two faces at most: enough to tell one face from several, the API's MULTIPLE_FACE_FOUND.
        self._mesh: Any = face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=2, refine_landmarks=True
        )

    def detect(self, rgb: npt.NDArray[np.uint8], slot: int) -> FloatArray:
        """The face's 478 landmarks in the camera frame (pixels, depth scaled like x).

        Integer coordinates are pixel centres (OpenCV's convention, as in `face3d.render`): the
        image spans [-0.5, width - 0.5]. MediaPipe's normalised coordinates span the image from
        edge to edge, hence the half-pixel shift.
        """
        height, width = rgb.shape[:2]
        found = self._mesh.process(rgb).multi_face_landmarks or []
        if not found:
            raise EngineError(NO_FACE_FOUND, slot, "no face found in the image")
        if len(found) > 1:
            raise EngineError(MULTIPLE_FACE_FOUND, slot, "more than one face in the image")
        points = np.array([(p.x, p.y, p.z) for p in found[0].landmark], dtype=np.float64)
        if points.shape != (ids.LANDMARK_COUNT, 3):
            raise RuntimeError(f"Face Mesh gave {points.shape[0]} landmarks, not 478")
        pixels = points * np.array([width, height, width], dtype=np.float64)
        pixels[:, :2] -= 0.5
        return np.asarray(pixels)

    def close(self) -> None:
        self._mesh.close()
