"""Decoded photos to plain 8-bit sRGB on white, with no metadata left to be written out."""

from __future__ import annotations

import io
from functools import cache
from typing import Final

from PIL import Image, ImageCms

# From PNG, "I" too holds 16-bit samples (older Pillow versions open 16-bit grayscale so).
_SIXTEEN_BIT_MODES: Final = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})
# Keys under which Pillow keeps metadata it would otherwise write back out.
_METADATA_KEYS: Final = ("exif", "icc_profile", "xmp", "XML:com.adobe.xmp", "comment")
# ICC colour spaces we can convert from, and the Pillow mode their pixels must be in.
_PROFILE_MODES: Final = {"RGB ": "RGB", "CMYK": "CMYK", "GRAY": "L"}


def to_plain_srgb(image: Image.Image, transformations: list[str]) -> Image.Image:
    """`image` as 8-bit sRGB on white (RGB, or YCbCr as a JPEG was decoded), with no metadata
    left to be written out."""
    mode, info = image.mode, dict(image.info)
    if mode not in ("RGB", "YCbCr"):
        transformations.append(f"converted {mode}->RGB")
    if mode in _SIXTEEN_BIT_MODES:
        # Pillow clips 16-bit values when it converts to 8 bits: scale them down instead.
        image = image.convert("I").point(lambda value: value / 257).convert("L")
    if image.has_transparency_data:
        image = _on_white(image)
        transformations.append("composited transparency on white")
    icc_profile = info.get("icc_profile")
    if icc_profile:
        image = _from_profile(image, icc_profile, transformations)
    if image.mode not in ("RGB", "YCbCr"):
        image = image.convert("RGB")
    removed = [key for key in _METADATA_KEYS if info.get(key)]
    if removed:
        transformations.append(f"removed metadata ({', '.join(removed)})")
    image.info.clear()
    return image


def _on_white(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    flat = Image.new("RGB", image.size, "white")
    flat.paste(rgba, mask=rgba.getchannel("A"))
    return flat


def _from_profile(
    image: Image.Image, icc_profile: bytes, transformations: list[str]
) -> Image.Image:
    """`image` converted to sRGB from the colour space its ICC profile describes.

    Phones write Display P3: sent as is, its colours would be read as sRGB and look washed out.
    A profile that cannot be used is ignored rather than costing the user the photo.
    """
    try:
        profile = ImageCms.getOpenProfile(io.BytesIO(icc_profile))
    except ImageCms.PyCMSError:
        transformations.append("ignored an unreadable ICC profile")
        return image
    # The description is the user's text: keep it to one short line.
    description = " ".join((profile.profile.profile_description or "unnamed").split())[:80]
    if "srgb" in description.lower():
        return image
    mode = _PROFILE_MODES.get(profile.profile.xcolor_space)
    converted = None if mode is None else _profile_to_srgb(image, profile, mode)
    if converted is None:
        transformations.append(f"ignored ICC profile {description} (no conversion to sRGB)")
        return image
    transformations.append(f"converted to sRGB from {description}")
    return converted


def _profile_to_srgb(
    image: Image.Image, profile: ImageCms.ImageCmsProfile, mode: str
) -> Image.Image | None:
    try:
        transform = ImageCms.buildTransform(
            profile, _srgb_profile(), mode, "RGB", ImageCms.Intent.PERCEPTUAL
        )
    except ImageCms.PyCMSError:
        return None
    return transform.apply(image if image.mode == mode else image.convert(mode))


@cache
def _srgb_profile() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
