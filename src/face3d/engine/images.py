"""Decoding an uploaded image into RGB pixels, with the API's refusals.

The API takes JPEG; the engine takes anything Pillow decodes, turned upright by its EXIF
orientation (the pipeline has already done so for what it sends, and a viewer shows a photo that
way, so that is the image the matrices refer to).
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import numpy.typing as npt
from PIL import ExifTags, Image, ImageOps

from face3d.contract import MAX_IMAGE_SIDE, MIN_IMAGE_SIDE
from face3d.engine.result import EngineError
from face3d.errors import IMAGE_ERROR_UNSUPPORTED_FORMAT, INVALID_IMAGE_SIZE

# What Pillow raises for data it cannot decode: truncated, corrupt or not an image at all.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


def decode_rgb(data: bytes, slot: int) -> npt.NDArray[np.uint8]:
    """The image's pixels, (height, width, 3) RGB, upright; refused like the API refuses."""
    try:
        with warnings.catch_warnings():
            # Pillow only warns about a decompression bomb; the size check below refuses it.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as error:
        raise EngineError(INVALID_IMAGE_SIZE, slot, "the image is far too large") from error
    except _DECODE_ERRORS as error:
        raise EngineError(
            IMAGE_ERROR_UNSUPPORTED_FORMAT, slot, "cannot decode the image"
        ) from error
    # Checked on the header, before the pixels are decoded: a bomb never gets decompressed.
    width, height = image.size
    if not all(MIN_IMAGE_SIDE <= side <= MAX_IMAGE_SIDE for side in (width, height)):
        raise EngineError(
            INVALID_IMAGE_SIZE,
            slot,
            f"{width}x{height}: each side must be {MIN_IMAGE_SIDE} to {MAX_IMAGE_SIDE} pixels",
        )
    try:
        image.load()
        # exif_transpose and convert each copy the pixels even when there is nothing to do.
        upright: Image.Image = image
        if image.getexif().get(ExifTags.Base.Orientation, 1) != 1:
            upright = ImageOps.exif_transpose(image)
        plain = upright.mode == "RGB" and "transparency" not in upright.info
        rgb = upright if plain else _to_rgb(upright)
    except _DECODE_ERRORS as error:
        raise EngineError(
            IMAGE_ERROR_UNSUPPORTED_FORMAT, slot, "cannot decode the image"
        ) from error
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit samples: Pillow's "L" conversion clips instead of scaling.
        gray = np.asarray(image, dtype=np.float64) / 257.0
        return Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8)).convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")
