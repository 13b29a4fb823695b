"""Turning whatever photos users drop into what the 3dface API accepts (DESIGN.md section 3).

Pure functions, bytes in and bytes out. Every prepared image is a baseline RGB JPEG, upright,
without metadata (location data never leaves the bucket), with each side within the API's bounds,
and the images of one request fit its size budget together after base64. Images that cannot be
made acceptable are refused with the API's own error codes, naming the view, before any call.
"""

from __future__ import annotations

import io
import posixpath
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any, Final, NamedTuple

from PIL import ExifTags, Image, ImageCms, ImageFile, ImageOps

from face3d.contract import (
    MAX_IMAGE_SIDE,
    MIN_IMAGE_SIDE,
    SAFE_IMAGE_BYTES,
    SAFE_REQUEST_BYTES,
    View,
    in_api_order,
)
from face3d.errors import (
    IMAGE_ERROR_UNSUPPORTED_FORMAT,
    IMAGE_FILE_TOO_LARGE,
    INVALID_IMAGE_SIZE,
    Face3DError,
    error_for,
)

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
_DECODE_ERRORS: Final = (OSError, SyntaxError, ValueError)
# From PNG, "I" too holds 16-bit samples (older Pillow versions open 16-bit grayscale so).
_SIXTEEN_BIT_MODES: Final = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})
# Keys under which Pillow keeps metadata it would otherwise write back out.
_METADATA_KEYS: Final = ("exif", "icc_profile", "xmp", "XML:com.adobe.xmp", "comment")
_ORIENTATION_VERBS: Final = {
    2: "mirrored",
    3: "rotated",
    4: "mirrored",
    5: "rotated and mirrored",
    6: "rotated",
    7: "rotated and mirrored",
    8: "rotated",
}
_TRANSPOSING_ORIENTATIONS: Final = frozenset({5, 6, 7, 8})
# ICC colour spaces we can convert from, and the Pillow mode their pixels must be in.
_PROFILE_MODES: Final = {"RGB ": "RGB", "CMYK": "CMYK", "GRAY": "L"}
# Pillow's advice: 3.0 is indistinguishable from plain LANCZOS, and much faster on big shrinks.
_REDUCING_GAP: Final = 3.0


@dataclass(frozen=True)
class SourceImage:
    """A photo as the user dropped it."""

    view: View
    data: bytes = field(repr=False)
    name: str = ""  # file name or S3 key, for messages only


@dataclass(frozen=True)
class PreparedImage:
    """A photo ready to travel as `image_base64_N`, and what was done to get it there."""

    view: View
    jpeg: bytes = field(repr=False)
    width: int
    height: int
    quality: int
    original_format: str
    original_bytes: int
    original_width: int  # as stored, before the EXIF orientation is applied
    original_height: int
    transformations: tuple[str, ...]
    # Whether preparation did more than the re-encoding every image gets (the metric counts it).
    transformed: bool

    @property
    def size(self) -> int:
        return len(self.jpeg)

    def describe(self) -> dict[str, Any]:
        """JSON-ready record of the input and what was done to it, for `result.json`."""
        return {
            "view": self.view.value,
            "original_format": self.original_format,
            "original_bytes": self.original_bytes,
            "original_width": self.original_width,
            "original_height": self.original_height,
            "bytes": self.size,
            "width": self.width,
            "height": self.height,
            "quality": self.quality,
            "transformations": list(self.transformations),
        }


@dataclass(frozen=True)
class PreparationLimits:
    """What preparation must stay within; the defaults are the API's documented limits."""

    request_budget: int = SAFE_REQUEST_BYTES  # the whole multipart request entity, base64 included
    reserved_bytes: int = 4096  # multipart framing plus the api_key/api_secret/texture/mtl fields
    max_file_bytes: int = SAFE_IMAGE_BYTES  # per prepared JPEG: the API takes files up to 2 MB
    max_input_bytes: int = 30_000_000  # cap on a source object's size (the download cap)
    max_pixels: int = 64_000_000  # decompression-bomb guard; 6000x8000 photos must pass
    max_side: int = MAX_IMAGE_SIDE
    min_side: int = MIN_IMAGE_SIDE

    def __post_init__(self) -> None:
        if not 0 < self.min_side <= self.max_side:
            raise ValueError(f"need 0 < min_side <= max_side, got {self.min_side}, {self.max_side}")
        if not 0 <= self.reserved_bytes < self.request_budget:
            raise ValueError(
                f"need 0 <= reserved_bytes < request_budget, "
                f"got {self.reserved_bytes}, {self.request_budget}"
            )
        if min(self.max_file_bytes, self.max_input_bytes, self.max_pixels) <= 0:
            raise ValueError("max_file_bytes, max_input_bytes and max_pixels must be positive")

    def shrunk(self) -> PreparationLimits:
        """These limits with a budget a quarter smaller, for the retry after a 413 (DESIGN §6)."""
        return replace(self, request_budget=self.request_budget * 3 // 4)


def base64_length(n: int) -> int:
    """Length of the base64 text (with padding) of `n` bytes."""
    return 4 * ((n + 2) // 3)


def prepare_images(
    sources: Sequence[SourceImage], limits: PreparationLimits = PreparationLimits()
) -> list[PreparedImage]:
    """Prepare one to three views for one API request, returned in API order.

    Raises `Face3DError` (IMAGE_FILE_TOO_LARGE, IMAGE_ERROR_UNSUPPORTED_FORMAT, INVALID_IMAGE_SIZE)
    naming the view at fault, and ValueError when the views are not one to three distinct ones.
    """
    candidates = [_Candidate(source, limits) for source in _in_api_order(sources)]
    step = _first_fitting_step(candidates, limits)
    return [candidate.prepared(step) for candidate in candidates]


def _in_api_order(sources: Sequence[SourceImage]) -> list[SourceImage]:
    views = [source.view for source in sources]
    if not views or len(set(views)) != len(views):
        raise ValueError(f"need one to three distinct views, got {[str(v) for v in views]}")
    by_view = {source.view: source for source in sources}
    return [by_view[view] for view in in_api_order(views)]


class _Step(NamedTuple):
    long_side: int
    quality: int


# One ladder for all views of a request, from best to smallest. A face needs pixels more than it
# needs quality 95, so resolution gives way first, down to about 1000 px; heavy blocking hurts
# too, so quality gives way only there, and below 1000 px a smaller image at moderate quality
# beats a blocky one. 72 is the highest quality at which 896 px still comes out smaller than
# 1024 px at 65 on real photos: encoded sizes keep falling along the ladder.
_LADDER: Final = (
    *(_Step(side, 88) for side in (4096, 3584, 3072, 2560, 2048, 1792, 1536, 1280, 1024)),
    *(_Step(1024, quality) for quality in (80, 72, 65)),
    *(_Step(side, 72) for side in (896, 768, 640, 512, 384, 256)),
)


def _first_fitting_step(candidates: Sequence[_Candidate], limits: PreparationLimits) -> _Step:
    """The best step of the ladder at which every view fits, by binary search.

    Sizes fall along the ladder, so a binary search needs O(log n) encodings per view instead of
    one per step; it only ever returns a step it has seen fit, so the guarantees hold even where
    a photo breaks the monotony.
    """

    available = limits.request_budget - limits.reserved_bytes

    def fits(step: _Step) -> bool:
        total = 0
        for candidate in candidates:
            size = len(candidate.encoded(step))
            total += base64_length(size)
            if size > limits.max_file_bytes or total > available:
                return False
        return True

    low, high = 0, len(_LADDER)  # steps before `low` do not fit; `high` fits, or is past the end
    while low < high:
        middle = (low + high) // 2
        if fits(_LADDER[middle]):
            high = middle
        else:
            low = middle + 1
    if high == len(_LADDER):
        raise _does_not_fit(candidates, limits)
    return _LADDER[high]


def _does_not_fit(candidates: Sequence[_Candidate], limits: PreparationLimits) -> Face3DError:
    last = _LADDER[-1]
    sizes = {candidate: len(candidate.encoded(last)) for candidate in candidates}
    largest = max(candidates, key=sizes.__getitem__)
    total = sum(base64_length(size) for size in sizes.values())
    return _refusal(
        IMAGE_FILE_TOO_LARGE,
        largest.source,
        f"is still {sizes[largest]} bytes at the smallest size and quality tried "
        f"({last.long_side} px, quality {last.quality}; at most {limits.max_file_bytes} per "
        f"file), and the request's images take {total} bytes of base64 where "
        f"{limits.request_budget - limits.reserved_bytes} are available",
    )


class _Candidate:
    """One view on its way to the API: its source, its decoded pixels and the encodings tried.

    A JPEG is decoded at the coarsest DCT scale that still covers the size wanted (`draft`), so a
    48-MP photo that ends at 2048 px is never decoded whole. Pixels for a size depend on nothing
    but that size, so the result does not depend on the order the sizes were tried in.
    """

    def __init__(self, source: SourceImage, limits: PreparationLimits) -> None:
        self.source = source
        self._limits = limits
        self._unread: ImageFile.ImageFile | None = _open_checked(source, limits)
        assert self._unread.format is not None  # Pillow names the format of every image it opens
        self._format = self._unread.format
        self._stored_size = self._unread.size
        self._decoded: Image.Image | None = None
        self._decoded_size = (0, 0)  # as stored, before orientation: what `draft` speaks in
        self._transposed = False
        self._transformations: tuple[str, ...] = ()
        self._resized: Image.Image | None = None
        self._encodings: dict[tuple[tuple[int, int], int], bytes] = {}

    def encoded(self, step: _Step) -> bytes:
        stored = self._stored_target(step)
        key = (stored, step.quality)
        if key not in self._encodings:
            self._encodings[key] = _encode(self._pixels(stored), step.quality)
        return self._encodings[key]

    def prepared(self, step: _Step) -> PreparedImage:
        jpeg = self.encoded(step)
        width, height = self._oriented(self._stored_target(step))
        upright_width, upright_height = self._oriented(self._stored_size)
        transformations = list(self._transformations)
        if (width, height) != (upright_width, upright_height):
            transformations.append(f"downscaled {upright_width}x{upright_height}->{width}x{height}")
        if self._format != "JPEG":
            transformations.append(f"converted {self._format}->JPEG")
        transformed = bool(transformations)
        transformations.append(f"re-encoded at quality {step.quality}")
        return PreparedImage(
            view=self.source.view,
            jpeg=jpeg,
            width=width,
            height=height,
            quality=step.quality,
            original_format=self._format,
            original_bytes=len(self.source.data),
            original_width=self._stored_size[0],
            original_height=self._stored_size[1],
            transformations=tuple(transformations),
            transformed=transformed,
        )

    def _stored_target(self, step: _Step) -> tuple[int, int]:
        # Sizes are worked out as stored: the bounds treat width and height alike, so they hold
        # once the orientation swaps them, and `draft` takes stored sizes.
        long_side = min(step.long_side, self._limits.max_side)
        return _target_size(self._stored_size, long_side, self._limits.min_side)

    def _oriented(self, size: tuple[int, int]) -> tuple[int, int]:
        return (size[1], size[0]) if self._transposed else size

    def _pixels(self, stored: tuple[int, int]) -> Image.Image:
        # Opening reads only the header, and a JPEG drafts once, before its load: each size
        # opens the data again to learn the scale it would decode at.
        image = self._unread or _open(self.source)
        self._unread = None
        image.draft("RGB", stored)
        decoded = self._decoded
        if decoded is None or image.size != self._decoded_size:
            decoded = self._decode(image)
        size = self._oriented(stored)
        if decoded.size == size:
            return decoded
        if self._resized is None or self._resized.size != size:
            self._resized = decoded.resize(
                size, Image.Resampling.LANCZOS, reducing_gap=_REDUCING_GAP
            )
        return self._resized

    def _decode(self, image: ImageFile.ImageFile) -> Image.Image:
        try:
            image.load()
        except _DECODE_ERRORS as exc:
            raise _refusal(
                IMAGE_ERROR_UNSUPPORTED_FORMAT, self.source, f"cannot be decoded ({exc})"
            ) from exc
        transformations: list[str] = []
        self._decoded_size = image.size
        self._transposed = _apply_orientation(image, transformations)
        self._decoded = _to_plain_srgb(image, transformations)
        self._transformations = tuple(transformations)
        self._resized = None
        return self._decoded


def _open(source: SourceImage) -> ImageFile.ImageFile:
    # Pillow warns about images over its own MAX_IMAGE_PIXELS and refuses those over twice that,
    # whatever `max_pixels` says: both are refusals here, and its global setting is left alone.
    formats = expected_formats(source.name)
    try:
        return _open_as(source.data, formats)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise _refusal(INVALID_IMAGE_SIZE, source, f"is a decompression bomb ({exc})") from exc
    except _DECODE_ERRORS as exc:
        raise _refusal(
            IMAGE_ERROR_UNSUPPORTED_FORMAT, source, _unreadable(source.data, formats)
        ) from exc


def expected_formats(name: str) -> tuple[str, ...]:
    """The Pillow formats a file of this name may hold: by its extension, else any we read."""
    _stem, dot, extension = posixpath.basename(name).rpartition(".")
    return FORMATS_BY_EXTENSION.get(extension.lower(), _FORMATS) if dot else _FORMATS


def _open_as(data: bytes, formats: tuple[str, ...]) -> ImageFile.ImageFile:
    if "HEIF" in formats:
        _register_heif_opener()
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        return Image.open(io.BytesIO(data), formats=formats)


def _unreadable(data: bytes, formats: tuple[str, ...]) -> str:
    """Why data that none of `formats` opens was refused: another format, or none at all."""
    wanted = " or ".join(dict.fromkeys(_format_name(f) for f in formats))
    if formats != _FORMATS:
        try:
            with _open_as(data, _FORMATS) as image:
                found = image.format
        except (*_DECODE_ERRORS, Image.DecompressionBombWarning, Image.DecompressionBombError):
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


def _open_checked(source: SourceImage, limits: PreparationLimits) -> ImageFile.ImageFile:
    """The source opened (header only) once its size, format and dimensions pass."""
    if len(source.data) > limits.max_input_bytes:
        raise _refusal(
            IMAGE_FILE_TOO_LARGE,
            source,
            f"is {len(source.data)} bytes, over the {limits.max_input_bytes}-byte cap",
        )
    image = _open(source)
    width, height = image.size
    # The header is all that has been read: a bomb is refused before it takes any memory.
    if width * height > limits.max_pixels:
        raise _refusal(
            INVALID_IMAGE_SIZE,
            source,
            f"is {width}x{height}, over {limits.max_pixels} pixels (decompression-bomb guard)",
        )
    if min(width, height) < limits.min_side:
        raise _refusal(
            INVALID_IMAGE_SIZE,
            source,
            f"is {width}x{height}; each side must be at least {limits.min_side} px",
        )
    if max(width, height) * limits.min_side > limits.max_side * min(width, height):
        raise _refusal(
            INVALID_IMAGE_SIZE,
            source,
            f"is {width}x{height}, too elongated to have each side between "
            f"{limits.min_side} and {limits.max_side} px",
        )
    return image


def _refusal(code: str, source: SourceImage, detail: str) -> Face3DError:
    param = f"image_base64_{source.view.number}"
    label = source.name or f"the {source.view} image"
    return error_for(code, f"{label} {detail}", param=param, view=source.view)


def _target_size(size: tuple[int, int], long_side: int, min_side: int) -> tuple[int, int]:
    """`size` scaled down so its long side is at most `long_side`, but no side below `min_side`.

    Never scales up. The caller has checked that `size` can keep each side within bounds.
    """
    width, height = size
    scale = min(1.0, long_side / max(width, height))
    scale = max(scale, min_side / min(width, height))
    return round(width * scale), round(height * scale)


def _apply_orientation(image: Image.Image, transformations: list[str]) -> bool:
    """Makes `image` upright in place; whether that swapped its width and height."""
    orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    verb = _ORIENTATION_VERBS.get(orientation)
    if verb is None:
        # pillow-heif decodes HEIF upright (the container's own rotation, which the EXIF
        # orientation mirrors) and keeps the orientation it applied here.
        applied = image.info.get("original_orientation")
        if applied in _ORIENTATION_VERBS:
            transformations.append(f"{_ORIENTATION_VERBS[applied]} (EXIF orientation {applied})")
        return False
    ImageOps.exif_transpose(image, in_place=True)
    transformations.append(f"{verb} (EXIF orientation {orientation})")
    return orientation in _TRANSPOSING_ORIENTATIONS


def _to_plain_srgb(image: Image.Image, transformations: list[str]) -> Image.Image:
    """`image` as 8-bit sRGB on white, with no metadata left to be written out."""
    mode, info = image.mode, dict(image.info)
    if mode != "RGB":
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
    if image.mode != "RGB":
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


def _encode(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    # Everything explicit so that output does not drift with Pillow's defaults.
    image.save(
        buffer,
        format="JPEG",
        quality=quality,
        optimize=True,
        progressive=False,
        subsampling="4:2:0",
    )
    return buffer.getvalue()
