"""What every prepared image must be (DESIGN.md section 3), and telling photos apart."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from face3d.client.preparation import PreparationLimits, PreparedImage, base64_length
from tests import photos

Photo = bytes | Image.Image
DEFAULT = PreparationLimits()
# Mean absolute difference (0-255) between 64x64 thumbnails: the same photo after JPEG round
# trips stays well under it; a turned, mirrored or miscoloured one is far above.
SAME_PHOTO = 4.0


def thumbnail(data: Photo) -> np.ndarray:
    image = photos.decode(data) if isinstance(data, bytes) else data
    return np.asarray(image.convert("RGB").resize((64, 64), Image.Resampling.BOX), dtype=float)


def difference(a: Photo, b: Photo) -> float:
    return float(np.abs(thumbnail(a) - thumbnail(b)).mean())


def assert_acceptable(
    prepared: Sequence[PreparedImage], limits: PreparationLimits = DEFAULT
) -> None:
    """Everything DESIGN.md section 3 promises about the images that are sent."""
    for image in prepared:
        decoded = photos.decode(image.jpeg)
        assert decoded.format == "JPEG"
        assert decoded.mode == "RGB"
        assert "progressive" not in decoded.info  # baseline
        assert not decoded.getexif()
        assert not {"exif", "icc_profile", "xmp", "comment"} & decoded.info.keys()
        assert decoded.size == (image.width, image.height)
        assert limits.min_side <= min(decoded.size) <= max(decoded.size) <= limits.max_side
        assert image.size == len(image.jpeg) <= limits.max_file_bytes
        assert image.transformations[-1] == f"re-encoded at quality {image.quality}"
    total = sum(base64_length(image.size) for image in prepared)
    assert total <= limits.request_budget - limits.reserved_bytes
