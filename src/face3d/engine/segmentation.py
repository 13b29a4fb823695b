"""Which pixels around a face belong to the person: MediaPipe's selfie segmentation, as the
mediapipe wheel ships it (`modules/selfie_segmentation`, nothing downloaded).

The model reads a 256x256 picture of a person standing up; run on a whole photo it would spend
its few pixels on the room, and on a photo turned on its side it sees no person at all. It runs
on the face's upright crop instead (`crops.py`: turned so the face stands upright, twice the
face's size), so the mask is sharp where the texture is sampled: about 4 ms a view.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import cv2
import numpy as np
import numpy.typing as npt

from face3d.engine.crops import UprightCrop
from face3d.geometry import FloatArray

ERODE_PIXELS: Final = 2  # of the 256-pixel crop, where the face is about 128 wide: 1.5%


@dataclass(frozen=True)
class PersonMask:
    """Per pixel of a crop, how sure the model is that it shows the person (0..1)."""

    mask: npt.NDArray[np.float32]  # (side, side)
    to_crop: FloatArray  # (2, 3) affine: photo pixel (x, y, 1) to the mask's pixel

    def at(self, x: FloatArray, y: FloatArray) -> npt.NDArray[np.float32]:
        """The mask at photo pixels (bilinear; 0 outside the crop)."""
        count = len(x)
        # cv2.remap takes 2-D maps under 32767 a side: the points as rows of 1024.
        padded = -(-count // 1024) * 1024
        cx = np.full(padded, -1.0, np.float32)
        cy = np.full(padded, -1.0, np.float32)
        (ax, bx, tx), (ay, by, ty) = self.to_crop
        cx[:count] = ax * x + bx * y + tx
        cy[:count] = ay * x + by * y + ty
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

    def mask(self, crop: UprightCrop) -> PersonMask:
        """The person mask over a face's upright crop. Outside the photo the crop is plain grey,
        which the model reads as background; texture.py samples nothing there anyway (it checks
        the photo's bounds)."""
        found = np.asarray(self._graph.process(crop.rgb).segmentation_mask, dtype=np.float32)
        # The model's edge runs through the pixels that mix person and background (hair against a
        # wall, a cheek against a bright window): pulled in by ERODE_PIXELS, the texture samples
        # none of them, and the mirror image or the skin colour fills what they would have shown.
        side = 2 * ERODE_PIXELS + 1
        pulled_in = cv2.erode(found, np.ones((side, side), np.uint8), borderValue=(0.0,))
        return PersonMask(np.asarray(pulled_in, dtype=np.float32), crop.to_crop)

    def close(self) -> None:
        self._graph.close()
