"""Counting the faces in an image, for the API's MULTIPLE_FACE_FOUND.

Face Mesh finds faces with MediaPipe's short-range detector (BlazeFace on a 128x128 input, made
for faces within about 2 m of the camera). It misses faces that fill a smaller share of the
picture: two portraits side by side in a 1024x600 picture give it one face. So each image also
goes once through the full-range detector (`face_detection_full_range`, 192x192 input, faces up
to about 5 m), which the mediapipe wheel ships under `mediapipe/modules/face_detection/`: about
6 ms an image on this machine's CPU, whatever the image size (MediaPipe scales the image down
first), beside about 6 ms for Face Mesh itself.

The rule, for Face Mesh's faces and the detector's together:

* the face that is reconstructed (Face Mesh's largest) always counts;
* any other face (Face Mesh's second, or a detector box scoring at least `MIN_SCORE`: 0.5,
  MediaPipe's own default; every real second face in the tests scores 0.6 or more, and the
  single-face photos give no other box even at 0.05) counts when its size is at least
  `MIN_SIZE_RATIO` (a third) of the largest face's, size being the longer side of its box: at
  least a ninth of the largest face's box area;
* a detector box whose centre lies inside one of Face Mesh's faces is that face again;
* two faces or more are MULTIPLE_FACE_FOUND, checked before NO_FACE_FOUND: several faces is the
  API's answer whether or not one of them could be meshed.

Why a size ratio: a face's size in the picture goes as one over its distance from the camera, so
a face a third as large is about three times as far away. A person posing with the subject, or
beside them in a picture made of two portraits, is well above that; a bystander in a crowd far
behind the subject is below it, and a usable portrait is not refused for them. A quarter of the
area (half the size) would be too tight: the astronaut's face in her photo is half the size of
Grace Hopper's in hers, so a 1024x600 picture of the two side by side sits right at that bound
(area ratio 0.248 in the detector's boxes).
The largest face is the one of either model: the full-range model sometimes misses a face that
fills the frame (Face Mesh's short-range model finds it), and a second face is judged against
the subject, not against what the detector saw.

Limits: faces smaller than about a tenth of the picture's longer side are too small for the
detector's 192x192 input and are not seen at all (they would not count anyway beside a subject
three times their size, unless the subject is small too); Face Mesh keeps its two most
confident faces.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

MIN_SCORE: Final = 0.5
MIN_SIZE_RATIO: Final = 1 / 3


@dataclass(frozen=True)
class FaceBox:
    """A face's box in pixels (integer coordinates at pixel centres, as the landmarks).

    A detector's box also has its keypoints, (6, 2) pixels: the subject's right eye, left eye,
    nose tip, mouth centre, right ear tragion, left ear tragion (BlazeFace's order), and its score.
    """

    left: float
    top: float
    width: float
    height: float
    keypoints: tuple[tuple[float, float], ...] = ()
    score: float = 0.0

    @classmethod
    def around(cls, points: npt.NDArray[np.float64]) -> FaceBox:
        """The box around a face's landmarks, (n, 2+) pixels."""
        low = points[:, :2].min(axis=0)
        high = points[:, :2].max(axis=0)
        return cls(float(low[0]), float(low[1]), float(high[0] - low[0]), float(high[1] - low[1]))

    @property
    def size(self) -> float:
        """The longer side: the detector's boxes are square, a mesh's is about as tall as it."""
        return max(self.width, self.height)

    @property
    def centre(self) -> tuple[float, float]:
        return self.left + self.width / 2, self.top + self.height / 2

    def contains(self, point: tuple[float, float]) -> bool:
        x, y = point
        return self.left <= x <= self.left + self.width and self.top <= y <= self.top + self.height


def count_faces(meshed: Sequence[FaceBox], detected: Sequence[FaceBox]) -> int:
    """How many faces the image holds by the rule above.

    `meshed`: Face Mesh's faces, the one reconstructed first; `detected`: the full-range
    detector's boxes scoring at least MIN_SCORE.
    """
    faces = list(meshed) + [
        box for box in detected if not any(face.contains(box.centre) for face in meshed)
    ]
    if not faces:
        return 0
    bound = MIN_SIZE_RATIO * max(face.size for face in faces)
    reconstructed = 1 if meshed else 0  # counts whatever its size
    return reconstructed + sum(1 for face in faces[reconstructed:] if face.size >= bound)


class FullRangeFaceDetector:
    """MediaPipe's full-range face detector, loaded once. Not thread-safe (MediaPipe's graph)."""

    def __init__(self, model_selection: int = 1) -> None:
        from mediapipe.python.solutions import face_detection  # heavy: loads the graph

        self._graph: Any = face_detection.FaceDetection(
            model_selection=model_selection, min_detection_confidence=MIN_SCORE
        )

    def detect(self, rgb: npt.NDArray[np.uint8]) -> list[FaceBox]:
        """The boxes of the faces found with a score of at least MIN_SCORE, in pixels."""
        height, width = rgb.shape[:2]
        boxes = []
        for detection in self._graph.process(rgb).detections or []:
            if detection.score[0] < MIN_SCORE:
                continue
            box = detection.location_data.relative_bounding_box
            # Normalised coordinates span the image edge to edge: pixel centres are 0.5 in.
            keypoints = tuple(
                (point.x * width - 0.5, point.y * height - 0.5)
                for point in detection.location_data.relative_keypoints
            )
            boxes.append(
                FaceBox(
                    box.xmin * width - 0.5,
                    box.ymin * height - 0.5,
                    box.width * width,
                    box.height * height,
                    keypoints,
                    float(detection.score[0]),
                )
            )
        return boxes

    def close(self) -> None:
        self._graph.close()
