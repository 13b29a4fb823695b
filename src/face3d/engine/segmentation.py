"""Which pixels around a face belong to the person: MediaPipe's selfie segmentation, as the
mediapipe wheel ships it (`modules/selfie_segmentation`, nothing downloaded).

The model reads a 256x256 picture; run on a whole photo it would spend its few pixels on the
room. It runs on a square crop around the face instead (twice the face's size), so the mask is
sharp where the texture is sampled: about 4 ms a view.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import cv2
import numpy as np
import numpy.typing as npt

from face3d.geometry import FloatArray, ImageArray

CROP_SIZE: Final = 256
CROP_SCALE: Final = 2.0  # the crop's side, in face sizes


@dataclass(frozen=True)
class PersonMask:
    """Per pixel of a square crop, how sure the model is that it shows the person (0..1)."""

    mask: npt.NDArray[np.float32]  # (CROP_SIZE, CROP_SIZE)
    origin: tuple[float, float]  # photo pixel (x, y) of the crop's pixel (0, 0)
    step: float  # photo pixels per crop pixel

    def at(self, x: FloatArray, y: FloatArray) -> npt.NDArray[np.float32]:
        """The mask at photo pixels (bilinear; 0 outside the crop)."""
        count = len(x)
        # cv2.remap takes 2-D maps under 32767 a side: the points as rows of 1024.
        padded = -(-count // 1024) * 1024
        cx = np.full(padded, -1.0, np.float32)
        cy = np.full(padded, -1.0, np.float32)
        cx[:count] = (x - self.origin[0]) / self.step
        cy[:count] = (y - self.origin[1]) / self.step
        sampled = cv2.remap(
            self.mask,
            cx.reshape(-1, 1024),
            cy.reshape(-1, 1024),
            interpolation=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
        )
        return np.asarray(sampled.ravel()[:count], dtype=np.float32)


class PersonSegmenter:
    """The selfie segmentation graph, loaded once. Not thread-safe (MediaPipe's graph)."""

    def __init__(self) -> None:
        from mediapipe.python.solutions import selfie_segmentation  # heavy: loads the graph

        self._graph: Any = selfie_segmentation.SelfieSegmentation(model_selection=0)

    def around(self, rgb: ImageArray, landmarks: FloatArray) -> PersonMask:
        """The person mask in a square around the face whose landmarks (pixels) are given."""
        low, high = landmarks[:, :2].min(axis=0), landmarks[:, :2].max(axis=0)
        centre = (low + high) / 2
        side = CROP_SCALE * float(max(high - low))
        step = side / CROP_SIZE
        origin = (float(centre[0] - side / 2), float(centre[1] - side / 2))
        # The crop by an affine warp: outside the photo it is black, which the model reads as
        # background, and the photo's own edge samples as nothing (texture.py checks bounds).
        warp = np.array([[1 / step, 0, -origin[0] / step], [0, 1 / step, -origin[1] / step]])
        crop = cv2.warpAffine(
            rgb,
            warp,
            (CROP_SIZE, CROP_SIZE),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
        )
        mask = self._graph.process(np.ascontiguousarray(crop)).segmentation_mask
        return PersonMask(np.asarray(mask, dtype=np.float32), origin, step)

    def close(self) -> None:
        self._graph.close()
