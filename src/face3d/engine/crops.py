"""The upright crop: a photo turned and cut so that a face stands upright in the middle.

Both the orientation checks (`orientation.py`) and the person mask (`segmentation.py`) look at a
face through it: MediaPipe's detectors and its selfie segmentation are made for people standing
up, and read 128 to 256 pixels, so a face lying on its side in a large photo is best shown to
them turned upright and at about their input's size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np

from face3d.engine import landmark_ids as ids
from face3d.geometry import FloatArray, ImageArray

CROP_SIZE: Final = 256  # pixels; the detectors read 128 (short range) and 192 (full range)
CROP_FACES: Final = 2.0  # the crop's side, in face sizes
# Where the crop reaches past the photo (a face cut by its border), it is mid grey: black would
# draw a hard edge through the face that the detectors read as a feature.
OUTSIDE: Final = (128, 128, 128)


@dataclass(frozen=True)
class UprightCrop:
    """The photo turned and cut so that a face stands upright in the middle, CROP_SIZE square."""

    rgb: ImageArray
    landmarks: FloatArray  # (n, 2) the face's landmarks in the crop's pixels
    to_crop: FloatArray  # (2, 3) affine: photo pixel (x, y, 1) to crop pixel

    @classmethod
    def of(cls, rgb: ImageArray, landmarks: FloatArray) -> UprightCrop | None:
        """The crop for these landmarks (photo pixels); None where they have no eye line."""
        points = landmarks[:, :2]
        eyes = (points[ids.RIGHT_IRIS_CENTRE] + points[ids.LEFT_IRIS_CENTRE]) / 2
        mouth = (points[ids.UPPER_INNER_LIP] + points[ids.LOWER_INNER_LIP]) / 2
        length = float(np.linalg.norm(eyes - mouth))
        if not np.isfinite(length) or length < 1e-6:
            return None
        # The crop's y axis (down) runs from the eyes to the mouth; its x axis is y turned a
        # quarter clockwise, so that the crop is the photo rotated, never mirrored.
        down = (mouth - eyes) / length
        across = np.array([down[1], -down[0]])
        along_x, along_y = (points - eyes) @ across, (points - eyes) @ down
        size = max(float(np.ptp(along_x)), float(np.ptp(along_y)), 1.0)
        centre = eyes + across * (along_x.max() + along_x.min()) / 2
        centre = centre + down * (along_y.max() + along_y.min()) / 2
        step = CROP_FACES * size / CROP_SIZE
        half = (CROP_SIZE - 1) / 2
        # Crop pixel (u, v) shows photo pixel centre + step * ((u - half) across + (v - half) down).
        to_photo = np.array(
            [
                [step * across[0], step * down[0], centre[0] - half * step * (across[0] + down[0])],
                [step * across[1], step * down[1], centre[1] - half * step * (across[1] + down[1])],
            ]
        )
        source, to_source = _shrunk_around(rgb, to_photo, step)
        crop = cv2.warpAffine(
            source,
            to_source,
            (CROP_SIZE, CROP_SIZE),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=OUTSIDE,
        )
        to_crop = cv2.invertAffineTransform(to_photo)
        in_crop = points @ to_crop[:, :2].T + to_crop[:, 2]
        return cls(
            np.ascontiguousarray(crop),
            np.asarray(in_crop, dtype=np.float64),
            np.asarray(to_crop, dtype=np.float64),
        )


def _shrunk_around(
    rgb: ImageArray, to_photo: FloatArray, step: float
) -> tuple[ImageArray, FloatArray]:
    """The part of the photo the crop shows, shrunk by area averaging where the crop is much
    coarser than the photo (a warp samples, and would alias a large face into noise), and the
    crop-to-it transform."""
    corners = np.array([[0, 0, 1], [CROP_SIZE, 0, 1], [0, CROP_SIZE, 1], [CROP_SIZE, CROP_SIZE, 1]])
    seen = corners @ to_photo.T
    height, width = rgb.shape[:2]
    left, top = (max(int(np.floor(v)) - 1, 0) for v in seen.min(axis=0))
    right = min(int(np.ceil(seen[:, 0].max())) + 2, width)
    bottom = min(int(np.ceil(seen[:, 1].max())) + 2, height)
    if right <= left or bottom <= top:
        return rgb, to_photo
    part = rgb[top:bottom, left:right]
    to_part = to_photo - np.array([[0, 0, left], [0, 0, top]])
    factor = int(step)
    if factor < 2:
        return np.ascontiguousarray(part), to_part
    small = cv2.resize(
        part,
        (max(part.shape[1] // factor, 1), max(part.shape[0] // factor, 1)),
        interpolation=cv2.INTER_AREA,
    )
    # Small pixel (i, j) averages part pixels factor * (i, j) .. factor * (i, j) + factor - 1.
    scale = np.array([small.shape[1] / part.shape[1], small.shape[0] / part.shape[0]])
    to_small = to_part * scale[:, None]
    to_small[:, 2] += 0.5 * scale - 0.5
    return np.ascontiguousarray(small), to_small
