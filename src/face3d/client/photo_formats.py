"""The photo formats users may drop, and opening one as the format its name says.

Phones save HEIC (pillow-heif) and AVIF (Pillow's own); cameras and editors JPEG, PNG, WebP.
"""

from __future__ import annotations

import io
import posixpath
import warnings
from functools import cache
from typing import Final

from PIL import Image, ImageFile

# Pillow's openers for the formats users may drop, by the extension a photo's name ends in (any
# case): a file whose bytes are not what its name says is refused (DESIGN.md section 2). The JPEG
# opener also opens MPO, the JPEG with extra frames that phones write (Pillow has no opener of
# that name: asking for one fails). HEIF is pillow-heif's (iPhones save HEIC, which Pillow cannot
# read); AVIF is Pillow's own. A `.heif` file may hold AV1 pictures: that is AVIF's container.
FORMATS_BY_EXTENSION: Final = {
    "jpg": ("JPEG",),
    "jpeg": ("JPEG",),
    "png": ("PNG",),
    "webp": ("WEBP",),
    "heic": ("HEIF",),
    "heif": ("HEIF", "AVIF"),
    "avif": ("AVIF",),
}
PHOTO_EXTENSIONS: Final = frozenset(FORMATS_BY_EXTENSION)
# For a name without one of those extensions (a file given on the command line): any of them.
_FORMATS: Final = ("JPEG", "PNG", "WEBP", "HEIF", "AVIF")
_FORMAT_NAMES: Final = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WebP"}
# What Pillow raises for data it cannot decode: truncated, corrupt or not an image at all.
DECODE_ERRORS: Final = (OSError, SyntaxError, ValueError)


def expected_formats(name: str) -> tuple[str, ...]:
    """The Pillow formats a file of this name may hold: by its extension, else any we read."""
    _stem, dot, extension = posixpath.basename(name).rpartition(".")
    return FORMATS_BY_EXTENSION.get(extension.lower(), _FORMATS) if dot else _FORMATS


def open_as(data: bytes, formats: tuple[str, ...]) -> ImageFile.ImageFile:
    if "HEIF" in formats:
        _register_heif_opener()
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        return Image.open(io.BytesIO(data), formats=formats)


def unreadable(data: bytes, formats: tuple[str, ...]) -> str:
    """Why data that none of `formats` opens was refused: another format, or none at all."""
    wanted = " or ".join(dict.fromkeys(_format_name(f) for f in formats))
    if formats != _FORMATS:
        try:
            with open_as(data, _FORMATS) as image:
                found = image.format
        except (*DECODE_ERRORS, Image.DecompressionBombWarning, Image.DecompressionBombError):
            found = None
        if found:
            return f"holds {_format_name(found)} data, not the {wanted} its name says"
    return f"is not a readable {wanted} image"


def _format_name(pillow_format: str) -> str:
    return _FORMAT_NAMES.get(pillow_format, pillow_format)


@cache
def _register_heif_opener() -> None:
    # Registered on first use: the import costs a cold start nothing until a HEIC arrives. Only
    # the primary picture is decoded (not thumbnails, depth maps or auxiliary images).
    from pillow_heif import register_heif_opener

    register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)
