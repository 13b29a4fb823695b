"""Finding the face the right way up, and checking every answer before it is given.

A photo turned by 90 or 180 degrees without an EXIF tag is common (scanners, some phones, images
saved by editors that drop the tag). Face Mesh often copes, but its detector sometimes misjudges
the eye line (a wide smile upside down reads as a pair of eyes), and the landmark model, handed a
crop turned the wrong way, answers with a face-shaped but scrambled set of points. Both face
detectors in the wheel can be fooled the same way on the photo as given, so their keypoints
agreeing with the landmarks proves nothing about which way is up. So every answer is checked
(`check`) on a picture made for the purpose: the *upright crop*, the photo turned so that the
answer's own face stands upright (eyes above the mouth, eye line level) and cut to twice the
face's size:

* upright: the short-range detector (BlazeFace, on a 128x128 input) scores the face in the
  upright crop higher than in the same crop turned by a quarter, a half and three quarters
  (`upright_margin` > 0). A right answer's crop shows a face standing up, and every detector
  likes that best; a scrambled answer's crop shows the real face upside down or lying on its
  side, and a turned copy of the crop scores higher. Measured on Face Mesh's answers for the
  corpus's 15 face photos turned by every 15 degrees, in all four quarter turns (1,132 answers,
  `tests/e2e/test_corpus.py` has the photos): all 736 right answers had a margin of 0.01 to
  0.24, all 396 others (median landmark off by a seventh of the eye distance or more) a margin
  of at most 0.14, and those scrambled (off by half the eye distance or more) at most -0.05;
* keypoints: a detector's eyes, nose tip and mouth in the upright crop lie where the landmarks
  put them, within `MAX_KEYPOINT_ERROR` of the distance between the eyes (the short-range
  detector's, or else the full-range detector's, a separate model: a face filling the photo is
  too large for the full-range detector, but not in the crop);
* shape: fitted into the model frame and compared with the reference face (`reference_face.py`)
  after the best similarity, the landmarks deviate by at most `MAX_SHAPE_RMS_MM` (RMS).

The photo as given is tried first; when it fails (no face, or an answer that fails the checks),
the photo is tried turned by a quarter, three quarters and a half turn, and the first answer that
passes is reconstructed, its landmarks turned back into the photo's own pixels, so that the
matrices and landmarks still refer to the photo as sent. If none passes, the answer is
NO_FACE_FOUND for that image: never a model that does not match the photo.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np

from face3d.engine import landmark_ids as ids
from face3d.engine.crops import CROP_SIZE, UprightCrop
from face3d.engine.faces import FaceBox, FullRangeFaceDetector
from face3d.engine.landmarks import FaceMeshDetector
from face3d.engine.pose import VIEWER_FROM_CAMERA, fit_similarity, head_frame
from face3d.engine.reference_face import reference_landmarks
from face3d.engine.result import EngineError
from face3d.errors import MULTIPLE_FACE_FOUND, NO_FACE_FOUND
from face3d.geometry import FloatArray, ImageArray

MAX_KEYPOINT_ERROR: Final = 0.35  # of the distance between the eyes
MAX_SHAPE_RMS_MM: Final = 9.0
# Quarter turns counter-clockwise (np.rot90's k), in the order tried.
TURNS: Final = (0, 1, 3, 2)
# cv2.rotate's code for np.rot90(image, k), k = 1, 2, 3 (counter-clockwise quarter turns).
_ROTATE: Final = {
    1: cv2.ROTATE_90_COUNTERCLOCKWISE,
    2: cv2.ROTATE_180,
    3: cv2.ROTATE_90_CLOCKWISE,
}


@dataclass(frozen=True)
class Check:
    keypoint_error: float  # worst of eyes, nose, mouth, in eye distances; inf: no detector face
    upright_margin: float  # upright crop's score minus its best turned copy's; < 0: not upright
    shape_rms_mm: float

    @property
    def passed(self) -> bool:
        return (
            self.keypoint_error <= MAX_KEYPOINT_ERROR
            and self.upright_margin > 0
            and self.shape_rms_mm <= MAX_SHAPE_RMS_MM
        )


@dataclass(frozen=True)
class Found:
    landmarks: FloatArray  # (478, 3) in the photo's own pixels
    turns: int  # quarter turns counter-clockwise the photo was looked at with
    check: Check
    crop: UprightCrop | None  # the face's upright crop the checks looked at


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
        several = False
        for turns in TURNS:
            turned = _turned(rgb, turns)
            try:
                found_turned = self._mesh.detect(turned, slot)
            except EngineError as error:
                if error.code != MULTIPLE_FACE_FOUND:
                    continue
                if turns == 0:
                    raise
                # A group photo turned on its side shows its faces only when turned back; a
                # single face found upright in another turn still wins over a false second face.
                several = True
                continue
            landmarks = unturned(found_turned, turns, rgb.shape[1], rgb.shape[0])
            found = self.check(rgb, landmarks, turns)
            if found.check.passed:
                return found
            failed = failed or found
        if several:
            raise EngineError(MULTIPLE_FACE_FOUND, slot, "more than one face in the image")
        if failed is not None:
            raise EngineError(
                NO_FACE_FOUND,
                slot,
                "a face was found but failed the checks (keypoints "
                f"{failed.check.keypoint_error:.2f}, upright margin "
                f"{failed.check.upright_margin:.2f}, shape {failed.check.shape_rms_mm:.1f} mm)",
            )
        raise EngineError(NO_FACE_FOUND, slot, "no face found in the image")

    def check(self, rgb: ImageArray, landmarks: FloatArray, turns: int = 0) -> Found:
        """Landmarks (photo pixels) found in `rgb`, with the checks made on their upright crop."""
        shape = shape_rms(landmarks)
        crop = UprightCrop.of(rgb, landmarks)
        if crop is None:
            return Found(landmarks, turns, Check(float("inf"), -1.0, shape), None)
        upright = self._near.detect(crop.rgb)
        scores = [_centre_score(upright)] + [
            _centre_score(self._near.detect(_turned(crop.rgb, k))) for k in (1, 2, 3)
        ]
        margin = scores[0] - max(scores[1:]) if scores[0] > 0 else -1.0
        error = keypoint_error(crop.landmarks, tuple(upright))
        if error > MAX_KEYPOINT_ERROR and margin > 0:
            error = min(error, keypoint_error(crop.landmarks, tuple(self._mesh.faces(crop.rgb))))
        return Found(landmarks, turns, Check(error, margin, shape), crop)

    def close(self) -> None:
        try:
            self._near.close()
        finally:
            self._mesh.close()


def _turned(rgb: ImageArray, turns: int) -> ImageArray:
    """np.rot90(rgb, turns), contiguous (cv2.rotate: a large photo turns in milliseconds)."""
    return rgb if turns == 0 else np.asarray(cv2.rotate(rgb, _ROTATE[turns]), dtype=np.uint8)


def _centre_score(boxes: list[FaceBox]) -> float:
    """The best score of the boxes on the crop's middle, where its face is; 0 for none."""
    middle = ((CROP_SIZE - 1) / 2, (CROP_SIZE - 1) / 2)
    return max((box.score for box in boxes if box.contains(middle)), default=0.0)


def keypoint_error(landmarks: FloatArray, boxes: tuple[FaceBox, ...]) -> float:
    """The detector's eyes, nose tip and mouth against the landmarks' ((n, 2+) pixels), in eye
    distances (the best of the boxes that cover the face; inf where none does)."""
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
