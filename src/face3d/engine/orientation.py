"""Finding the face the right way up, and checking every answer before it is given.

A photo turned by 90 degrees without an EXIF tag is common (scanners, some phones, images saved
by editors that drop the tag). Face Mesh often copes, but sometimes its detector misjudges the
eye line and the landmark model, handed a crop turned the wrong way, answers with a face-shaped
but scrambled set of points. So every answer is checked (`check`), independently of the landmark
model that gave it:

* keypoints: the face detector's own eyes, nose tip and mouth (BlazeFace, a separate model) must
  lie where the landmarks put them, within `MAX_KEYPOINT_ERROR` of the distance between the eyes;
  the full-range detector's boxes come with the detection, and where none covers the face of an
  upright photo the short-range detector is asked (it is Face Mesh's own detector, so a turned
  photo must be confirmed by the full-range one: a coffee cup turned sideways can fool the
  short-range detector and the landmark model alike);
* shape: fitted into the model frame and compared with the reference face (`reference_face.py`)
  after the best similarity, the landmarks may deviate by at most `MAX_SHAPE_RMS_MM` (RMS): a
  scrambled mesh is far from any face.

When the photo as given fails (no face, or an answer that fails the checks), the photo is tried
turned by a quarter, three quarters and a half turn, and the first orientation whose answer
passes is reconstructed; its landmarks are turned back into the photo's own pixels, so that the
matrices and landmarks still refer to the photo as sent. If none passes, the answer is
NO_FACE_FOUND for that image: never a model that does not match the photo.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from face3d.engine import landmark_ids as ids
from face3d.engine.faces import FaceBox, FullRangeFaceDetector
from face3d.engine.landmarks import Detection, FaceMeshDetector
from face3d.engine.pose import VIEWER_FROM_CAMERA, fit_similarity, head_frame
from face3d.engine.reference_face import reference_landmarks
from face3d.engine.result import EngineError
from face3d.errors import MULTIPLE_FACE_FOUND, NO_FACE_FOUND
from face3d.geometry import FloatArray, ImageArray

MAX_KEYPOINT_ERROR: Final = 0.35  # of the distance between the eyes
MAX_SHAPE_RMS_MM: Final = 9.0
# Quarter turns counter-clockwise (np.rot90's k), in the order tried.
TURNS: Final = (0, 1, 3, 2)


@dataclass(frozen=True)
class Check:
    keypoint_error: float  # worst of eyes, nose, mouth, in eye distances; inf: no detector face
    shape_rms_mm: float

    @property
    def passed(self) -> bool:
        return self.keypoint_error <= MAX_KEYPOINT_ERROR and self.shape_rms_mm <= MAX_SHAPE_RMS_MM


@dataclass(frozen=True)
class Found:
    landmarks: FloatArray  # (478, 3) in the photo's own pixels
    turns: int  # quarter turns counter-clockwise the photo was looked at with
    check: Check


class FaceFinder:
    """Face Mesh with its face counting, and the short-range detector for the checks."""

    def __init__(self) -> None:
        self._mesh = FaceMeshDetector()
        try:
            self._near = FullRangeFaceDetector(model_selection=0)
        except BaseException:
            self._mesh.close()
            raise

    def find(self, rgb: ImageArray, slot: int) -> Found:
        """The face's landmarks in `rgb`, checked; refused as the API refuses."""
        failed: Found | None = None
        for turns in TURNS:
            turned = np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb
            try:
                detection = self._mesh.detect(turned, slot)
            except EngineError as error:
                # Faces are counted on the photo as given; turned, a second face may hide.
                if turns == 0 and error.code == MULTIPLE_FACE_FOUND:
                    raise
                continue
            found = Found(
                unturned(detection.landmarks, turns, rgb.shape[1], rgb.shape[0]),
                turns,
                self.check(turned, detection, ask_near=turns == 0),
            )
            if found.check.passed:
                return found
            failed = failed or found
        if failed is not None:
            raise EngineError(
                NO_FACE_FOUND,
                slot,
                "a face was found but failed the checks (keypoints "
                f"{failed.check.keypoint_error:.2f}, shape {failed.check.shape_rms_mm:.1f} mm)",
            )
        raise EngineError(NO_FACE_FOUND, slot, "no face found in the image")

    def check(self, rgb: ImageArray, detection: Detection, *, ask_near: bool = True) -> Check:
        landmarks = detection.landmarks
        error = keypoint_error(landmarks, detection.boxes)
        if not np.isfinite(error) and ask_near:
            error = keypoint_error(landmarks, tuple(self._near.detect(rgb)))
        return Check(error, shape_rms(landmarks))

    def close(self) -> None:
        try:
            self._near.close()
        finally:
            self._mesh.close()


def keypoint_error(landmarks: FloatArray, boxes: tuple[FaceBox, ...]) -> float:
    """The detector's eyes, nose tip and mouth against the landmarks', in eye distances (the
    best of the boxes that cover the face; inf where none does)."""
    right_eye, left_eye = landmarks[ids.RIGHT_IRIS_CENTRE, :2], landmarks[ids.LEFT_IRIS_CENTRE, :2]
    mouth = (landmarks[ids.UPPER_INNER_LIP, :2] + landmarks[ids.LOWER_INNER_LIP, :2]) / 2
    ours = np.stack([right_eye, left_eye, landmarks[ids.NOSE_TIP, :2], mouth])
    eyes = max(float(np.linalg.norm(left_eye - right_eye)), 1e-6)
    centre = (float(ours[:, 0].mean()), float(ours[:, 1].mean()))
    errors = [
        float(np.linalg.norm(np.array(box.keypoints[:4]) - ours, axis=1).max()) / eyes
        for box in boxes
        if len(box.keypoints) >= 4 and box.contains(centre)
    ]
    return min(errors, default=float("inf"))


def shape_rms(landmarks: FloatArray) -> float:
    """RMS distance (mm) of the landmarks, in the model frame, from the reference face after the
    best similarity."""
    viewer = landmarks @ VIEWER_FROM_CAMERA.T
    shape = head_frame(viewer).apply(viewer)[: ids.MESH_LANDMARK_COUNT]
    reference = reference_landmarks()
    aligned = fit_similarity(shape, reference).apply(shape)
    return float(np.sqrt(np.mean(np.sum((aligned - reference) ** 2, axis=1))))


def unturned(points: FloatArray, turns: int, width: int, height: int) -> FloatArray:
    """Pixels found in the photo turned `turns` quarter turns counter-clockwise (np.rot90), in
    the photo's own pixels. Depth is unchanged: turning in the image plane keeps handedness."""
    out = points.copy()
    w, h = width, height
    # np.rot90 once: turned pixel (x', y') shows the photo's pixel (w - 1 - y', x').
    sizes = []
    for _ in range(turns):
        sizes.append((w, h))
        w, h = h, w
    for w_before, _h in reversed(sizes):
        x, y = out[:, 0].copy(), out[:, 1].copy()
        out[:, 0] = w_before - 1 - y
        out[:, 1] = x
    return out
