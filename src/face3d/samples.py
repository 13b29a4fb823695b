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

from PIL import ExifTags, Image, ImageChops, ImageFilter

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


# The stored orientation of a phone's portrait photo: the sensor's landscape frame, turned upright
# by the viewer (EXIF orientation 6: shown after turning 90 degrees clockwise).
_PORTRAIT_ORIENTATION = 6


@cache
def phone_photo_jpeg(
    jpeg: bytes, width: int = 4032, height: int = 3024, *, seed: int, portrait: bool = False
) -> bytes:
    """`jpeg` as a 12-MP phone camera stores it: `width`x`height` as stored, quality 92.

    The photo is upscaled to fill the frame (cropped, never stretched) and given the sensor noise
    of real phone photos, so that it compresses like one (3 to 5 MB at 4032x3024): shot noise
    that grows with brightness over a read-noise floor, mostly in luminance, correlated over a
    pixel or two by demosaicing. A `portrait` photo is upright `height`x`width`, stored turned
    with EXIF orientation 6, as phones store it.
    """
    import numpy as np

    upright = (height, width) if portrait else (width, height)
    photo = _filled(decode(jpeg).convert("RGB"), upright)
    rng = np.random.default_rng(seed)
    pixels = np.asarray(photo, dtype=np.float32)
    shape = (upright[1], upright[0])
    # Luminance noise shared by the channels, plus weaker per-channel (chroma) noise.
    noise = rng.standard_normal((*shape, 1), dtype=np.float32) + 0.3 * rng.standard_normal(
        (*shape, 3), dtype=np.float32
    )
    # Blurred as 8-bit around 128 (Pillow's filter is fast), then brought back to unit variance.
    field = Image.fromarray(np.clip(noise * 40 + 128, 0, 255).astype(np.uint8))
    correlated = np.asarray(field.filter(ImageFilter.GaussianBlur(0.8)), dtype=np.float32) - 128
    correlated /= correlated.std()
    # Poisson-Gaussian: variance = read noise squared + gain x signal.
    sigma = np.sqrt(4.0 + 0.8 * pixels.mean(axis=2, keepdims=True))
    noisy = Image.fromarray(np.clip(pixels + correlated * sigma, 0, 255).astype(np.uint8))
    if not portrait:
        return encode(noisy, quality=92)
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = _PORTRAIT_ORIENTATION
    exif[ExifTags.Base.Make] = "face3d samples"
    return encode(noisy.transpose(Image.Transpose.ROTATE_90), quality=92, exif=exif.tobytes())


@cache
def phone_view_jpegs(width: int = 4032, height: int = 3024) -> tuple[bytes, bytes, bytes]:
    """Front, left and right views as a phone stores them (see `phone_photo_jpeg`).

    The front view is a portrait photo (stored turned, EXIF orientation 6), the side views are
    landscape. At the default 12 MP each is 3 to 5 MB: far over the request budget together.
    """
    return (
        phone_photo_jpeg(astronaut_jpeg(), width, height, seed=1, portrait=True),
        phone_photo_jpeg(grace_hopper_jpeg(), width, height, seed=2),
        phone_photo_jpeg(astronaut_jpeg(), width, height, seed=3),
    )


def _filled(photo: Image.Image, size: tuple[int, int]) -> Image.Image:
    """`photo` scaled to cover `size` and cropped to it, keeping the upper part (the face)."""
    scale = max(size[0] / photo.width, size[1] / photo.height)
    scaled = photo.resize(
        (max(size[0], round(photo.width * scale)), max(size[1], round(photo.height * scale))),
        Image.Resampling.BICUBIC,
    )
    left = (scaled.width - size[0]) // 2
    top = (scaled.height - size[1]) // 4
    return scaled.crop((left, top, left + size[0], top + size[1]))


def _skimage_data() -> Any:
    try:
        from skimage import data
    except ImportError as exc:
        raise ConfigurationError(INVALID_CONFIGURATION, f"sample photos: {_INSTALL}") from exc
    return data
