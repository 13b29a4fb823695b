"""MediaPipe Face Mesh, as the wheel ships it: 478 landmarks per face, nothing downloaded.

The legacy `solutions.face_mesh` graph runs models bundled in the mediapipe wheel (face
detection, face landmarks with attention, iris), so it works offline. Faces are counted with
the full-range face detector the wheel also ships: see `face3d.engine.faces` for the rule.
Where that detector finds a face and Face Mesh's own (short-range, 128x128) detector does not, as
for a face small in a tall picture, dark, or cut by the picture's border, Face Mesh looks again
at a square around the detector's face.
"""

from __future__ import annotations

from typing import Any, Final

import cv2
import numpy as np
import numpy.typing as npt

from face3d.engine import landmark_ids as ids
from face3d.engine.faces import FaceBox, FullRangeFaceDetector, count_faces
from face3d.engine.result import EngineError
from face3d.errors import MULTIPLE_FACE_FOUND, NO_FACE_FOUND
from face3d.geometry import FloatArray

# A face the full-range detector finds and Face Mesh does not is looked at again in a square
# this many times its size, at most this many pixels wide (Face Mesh reads 192 of them).
CLOSER_LOOK_FACES: Final = 2.5
CLOSER_LOOK_PIXELS: Final = 1024


class FaceMeshDetector:
    """Face Mesh and the full-range face detector, each loaded once.

    Not thread-safe (neither is MediaPipe's graph).
    """

    def __init__(self) -> None:
        from mediapipe.python.solutions import face_mesh  # heavy: loads the graph and models

        # Two faces at most: the reconstructed one, and one to judge it against (the full-range
        # detector finds the others).
        self._mesh: Any = face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=2, refine_landmarks=True
        )
        try:
            self._faces = FullRangeFaceDetector()
        except BaseException:
            self._mesh.close()
            raise

    def detect(self, rgb: npt.NDArray[np.uint8], slot: int) -> FloatArray:
        """The face's 478 landmarks in the camera frame (pixels, depth scaled like x), (478, 3).

        Integer coordinates are pixel centres (OpenCV's convention, as in `face3d.viewer`): the
        image spans [-0.5, width - 0.5]. MediaPipe's normalised coordinates span the image from
        edge to edge, hence the half-pixel shift. Where Face Mesh finds two faces and the
        second is too small to count, the larger one is the face.
        """
        height, width = rgb.shape[:2]
        found = self._mesh.process(rgb).multi_face_landmarks or []
        faces = [_pixels(face, width, height) for face in found]
        boxes = [FaceBox.around(face) for face in faces]
        # Largest first; a stable sort keeps MediaPipe's order between equal sizes.
        order = sorted(range(len(faces)), key=lambda index: -boxes[index].size)
        meshed = [boxes[index] for index in order]
        detected = self._faces.detect(rgb)
        if count_faces(meshed, detected) > 1:
            raise EngineError(MULTIPLE_FACE_FOUND, slot, "more than one face in the image")
        if faces:
            return faces[order[0]]
        closer = (
            self._closer_look(rgb, max(detected, key=lambda box: box.size)) if detected else None
        )
        if closer is None:
            raise EngineError(NO_FACE_FOUND, slot, "no face found in the image")
        return closer

    def _closer_look(self, rgb: npt.NDArray[np.uint8], box: FaceBox) -> FloatArray | None:
        """Face Mesh on a square around a face the full-range detector found and Face Mesh's own
        detector did not: a face small in a tall picture, or cut by its border (the square
        reaches past the border, black). The landmarks of the face on the square's middle, in
        the photo's pixels; None where there is none."""
        side = CLOSER_LOOK_FACES * box.size
        scale = min(1.0, CLOSER_LOOK_PIXELS / side)
        origin = np.array(box.centre) - side / 2
        pixels = max(round(side * scale), 1)
        warp = np.array([[scale, 0, -origin[0] * scale], [0, scale, -origin[1] * scale]])
        square = cv2.warpAffine(rgb, warp, (pixels, pixels), flags=cv2.INTER_AREA)
        found = self._mesh.process(square).multi_face_landmarks or []
        middle = ((pixels - 1) / 2, (pixels - 1) / 2)
        for face in found:
            points = _pixels(face, pixels, pixels)
            if FaceBox.around(points).contains(middle):
                points[:, :2] = points[:, :2] / scale + origin
                points[:, 2] /= scale
                return points
        return None

    def faces(self, rgb: npt.NDArray[np.uint8]) -> list[FaceBox]:
        """The full-range detector's faces in `rgb` (it is loaded once, for both uses)."""
        return self._faces.detect(rgb)

    def close(self) -> None:
        try:
            self._faces.close()
        finally:
            self._mesh.close()


def _pixels(face: Any, width: int, height: int) -> FloatArray:
    points = np.array([(p.x, p.y, p.z) for p in face.landmark], dtype=np.float64)
    if points.shape != (ids.LANDMARK_COUNT, 3):
        raise RuntimeError(f"Face Mesh gave {points.shape[0]} landmarks, not 478")
    pixels = points * np.array([width, height, width], dtype=np.float64)
    pixels[:, :2] -= 0.5
    return np.asarray(pixels)
