"""Real photos that ship inside packages, and phone-sized photos made from them.

One home for `face3d demo`, the tests and `make bench`: scikit-image's astronaut (Eileen
Collins, 512x512) and coffee cup, and matplotlib's portrait of Grace Hopper (512x600, a real
camera JPEG). Nothing is downloaded: the packages are the `demo` extra (`dev` includes it), and
without them every function here raises `INVALID_CONFIGURATION` saying what to install. Each
builder returns the bytes a user would drop and is cached.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path
from typing import Any

from PIL import Image, ImageChops

from face3d.errors import INVALID_CONFIGURATION, ConfigurationError

_INSTALL = "pip install 'face3d-pipeline[demo]' (make demo and make test do)"


def decode(data: bytes) -> Image.Image:
    """`data` decoded by Pillow, fully loaded."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def encode(image: Image.Image, image_format: str = "JPEG", **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **params)
    return buffer.getvalue()


@cache
def astronaut_jpeg() -> bytes:
    return encode(Image.fromarray(_skimage_data().astronaut()), quality=92)


@cache
def coffee_jpeg() -> bytes:
    """A cup of coffee: a real photo without a face."""
    return encode(Image.fromarray(_skimage_data().coffee()), quality=92)


@cache
def grace_hopper_jpeg() -> bytes:
    """The sample file itself, as the camera and an editor left it."""
    try:
        from matplotlib import cbook
    except ImportError as exc:
        raise ConfigurationError(INVALID_CONFIGURATION, f"sample photos: {_INSTALL}") from exc
    # Asked for a path: by default, matplotlib versions differ (an open file or a path).
    return Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).read_bytes()


@cache
def grace_hopper_png() -> bytes:
    return encode(decode(grace_hopper_jpeg()).convert("RGB"), "PNG")


@cache
def resized_jpeg(jpeg: bytes, width: int, height: int) -> bytes:
    return encode(decode(jpeg).resize((width, height), Image.Resampling.LANCZOS), quality=92)


@cache
def with_detail_jpeg(jpeg: bytes, width: int, height: int, seed: int) -> bytes:
    """The photo upscaled to `width`x`height` with fine grain, so it stays costly to encode.

    A plain upscale is smooth and compresses very well; real 12-MP phone photos do not.
    """
    import numpy as np

    upscaled = decode(jpeg).resize((width, height), Image.Resampling.BICUBIC)
    grain = np.random.default_rng(seed).integers(0, 33, (height, width, 3), dtype=np.uint8)
    detailed = ImageChops.add(upscaled, Image.fromarray(grain), scale=1.0, offset=-16)
    return encode(detailed, quality=90)


@cache
def upscaled_48mp_jpeg() -> bytes:
    """Grace Hopper at 6000x8000, the size of a 48-MP phone photo (smooth: it compresses well)."""
    return resized_jpeg(grace_hopper_jpeg(), 6000, 8000)


@cache
def large_view_jpegs() -> tuple[bytes, bytes, bytes]:
    """Front, left and right views at 3024x4032 with grain, about 3.7 MB each.

    Together they are far over the request budget as dropped: they fit only downscaled.
    """
    front = with_detail_jpeg(astronaut_jpeg(), 3024, 4032, seed=1)
    left = with_detail_jpeg(grace_hopper_jpeg(), 3024, 4032, seed=2)
    right = with_detail_jpeg(astronaut_jpeg(), 3024, 4032, seed=3)
    return front, left, right


def _skimage_data() -> Any:
    try:
        from skimage import data
    except ImportError as exc:
        raise ConfigurationError(INVALID_CONFIGURATION, f"sample photos: {_INSTALL}") from exc
    return data
