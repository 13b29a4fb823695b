"""Turning whatever photos users drop into what the 3dface API accepts (DESIGN.md section 3).

Pure functions, bytes in and bytes out. Every prepared image is a baseline RGB JPEG, upright,
without metadata (location data never leaves the bucket), with each side within the API's bounds,
and the images of one request fit its size budget together after base64. Images that cannot be
made acceptable are refused with the API's own error codes, naming the view, before any call.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from PIL import ExifTags, Image, ImageFile

from face3d.client.colour import to_plain_srgb
from face3d.client.ladder import (
    LADDER,
    Budget,
    Estimate,
    Step,
    base64_length,
    best_step,
    predicted_bytes,
)
from face3d.client.photo_formats import (
    DECODE_ERRORS,
    expected_formats,
    open_as,
    unreadable,
)
from face3d.client.scaling import Pixels, Sample
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

# EXIF orientation -> what turns the stored pixels upright (as ImageOps.exif_transpose), in words.
_UPRIGHTING: Final = {
    2: (Image.Transpose.FLIP_LEFT_RIGHT, "mirrored"),
    3: (Image.Transpose.ROTATE_180, "rotated"),
    4: (Image.Transpose.FLIP_TOP_BOTTOM, "mirrored"),
    5: (Image.Transpose.TRANSPOSE, "rotated and mirrored"),
    6: (Image.Transpose.ROTATE_270, "rotated"),
    7: (Image.Transpose.TRANSVERSE, "rotated and mirrored"),
    8: (Image.Transpose.ROTATE_90, "rotated"),
}
_SWAPPING: Final = frozenset(
    {
        Image.Transpose.TRANSPOSE,
        Image.Transpose.ROTATE_270,
        Image.Transpose.TRANSVERSE,
        Image.Transpose.ROTATE_90,
    }
)
# A source JPEG re-encoded at quality 88 below its own size weighs about this much of its own
# bytes per pixel (phone photos): the first guess, before anything is decoded.
_REENCODED_SHARE: Final = 0.8
# A first guess for other formats, whose file size says nothing of the JPEG's: a detailed photo.
_GUESSED_BYTES_PER_PIXEL: Final = 0.3


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


def prepare_images(
    sources: Sequence[SourceImage], limits: PreparationLimits = PreparationLimits()
) -> list[PreparedImage]:
    """Prepare one to three views for one API request, returned in API order.

    Raises `Face3DError` (IMAGE_FILE_TOO_LARGE, IMAGE_ERROR_UNSUPPORTED_FORMAT, INVALID_IMAGE_SIZE)
    naming the view at fault, and ValueError when the views are not one to three distinct ones.
    """
    candidates = [_Candidate(source, limits) for source in _in_api_order(sources)]
    budget = Budget(limits.request_budget - limits.reserved_bytes, limits.max_file_bytes)
    index = best_step(candidates, budget)
    if index is None:
        raise _does_not_fit(candidates, limits)
    return [candidate.prepared(LADDER[index]) for candidate in candidates]


def _in_api_order(sources: Sequence[SourceImage]) -> list[SourceImage]:
    views = [source.view for source in sources]
    if not views or len(set(views)) != len(views):
        raise ValueError(f"need one to three distinct views, got {[str(v) for v in views]}")
    by_view = {source.view: source for source in sources}
    return [by_view[view] for view in in_api_order(views)]


def _does_not_fit(candidates: Sequence[_Candidate], limits: PreparationLimits) -> Face3DError:
    last = LADDER[-1]
    sizes = {candidate: candidate.exact(last) for candidate in candidates}
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
    12-MP photo that ends at 1536 px is decoded at half its size, and never whole. Each scale is
    decoded once, and every size is made from it with one good filter (`reduce` first where the
    shrink is large). Pixels for a size depend on nothing but that size, so the result does not
    depend on the order the sizes were tried in. Sizes are worked out as stored: the bounds treat
    width and height alike, so they hold once the orientation swaps them, and `draft` takes
    stored sizes.
    """

    def __init__(self, source: SourceImage, limits: PreparationLimits) -> None:
        self.source = source
        self._limits = limits
        self._unread: ImageFile.ImageFile | None = _open_checked(source, limits)
        assert self._unread.format is not None  # Pillow names the format of every image it opens
        self._format = self._unread.format
        self._stored_size = self._unread.size
        self._bytes_per_pixel = _bytes_per_pixel_guess(
            self._format, len(source.data), self._stored_size
        )
        self._scales: dict[tuple[int, int], tuple[int, int]] = {}  # target -> decoded, as stored
        self._decoded: dict[tuple[int, int], Pixels] = {}  # by size as stored (before turning)
        self._uprighting: Image.Transpose | None = None  # known once decoded
        self._transformations: tuple[str, ...] = ()
        self._resized: dict[tuple[int, int], Image.Image] = {}  # upright, by size as stored
        self._samples: dict[tuple[tuple[int, int], tuple[int, int]], Sample | None] = {}
        self._encodings: dict[tuple[tuple[int, int], int], bytes] = {}

    # What the search asks (ladder.SizedView).

    def predicted(self, step: Step) -> float:
        return predicted_bytes(self.pixels(step), step.quality, self._bytes_per_pixel)

    def pixels(self, step: Step) -> int:
        width, height = self._stored_target(step)
        return width * height

    def downscaled(self, step: Step) -> bool:
        return self._stored_target(step) != self._stored_size

    def estimated(self, step: Step, *, decode: bool) -> Estimate:
        stored = self._stored_target(step)
        if (stored, step.quality) in self._encodings:
            return Estimate(self.exact(step))
        decoded = self._decoded_for(stored, coarser=not decode)
        lower_bound = decoded.size != self._decoded_size(stored)
        # Sampled as stored: turned upright, a JPEG weighs much the same.
        key = (stored, decoded.size)
        if key not in self._samples:
            self._samples[key] = decoded.sample(stored)
        sample = self._samples[key]
        if sample is None:  # small enough to encode whole
            return Estimate(self.exact(step))
        return Estimate(sample.estimate(_encode(sample.image, step.quality)), lower_bound)

    def exact(self, step: Step) -> int:
        return len(self.encoded(step))

    def encoded(self, step: Step) -> bytes:
        stored = self._stored_target(step)
        key = (stored, step.quality)
        if key not in self._encodings:
            self._encodings[key] = _encode(self._pixels(stored), step.quality)
        return self._encodings[key]

    def prepared(self, step: Step) -> PreparedImage:
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

    def _stored_target(self, step: Step) -> tuple[int, int]:
        long_side = min(step.long_side, self._limits.max_side)
        return _target_size(self._stored_size, long_side, self._limits.min_side)

    def _oriented(self, size: tuple[int, int]) -> tuple[int, int]:
        return (size[1], size[0]) if self._uprighting in _SWAPPING else size

    def _pixels(self, stored: tuple[int, int]) -> Image.Image:
        # Turned upright last, when there are fewest pixels to turn.
        if stored not in self._resized:
            pixels = self._decoded_for(stored).resized(stored)
            if self._uprighting is not None:
                pixels = pixels.transpose(self._uprighting)
            self._resized[stored] = pixels
        return self._resized[stored]

    def _decoded_size(self, stored: tuple[int, int]) -> tuple[int, int]:
        """The size (as stored) that the photo decodes at for `stored`."""
        if stored not in self._scales:
            self._opened(stored)
        return self._scales[stored]

    def _opened(self, stored: tuple[int, int]) -> ImageFile.ImageFile:
        # Opening reads only the header, and a JPEG drafts once, before its load: each size
        # opens the data again to learn the scale it would decode at.
        image = self._unread or _open(self.source)
        self._unread = None
        # YCbCr: what a JPEG holds and what it is encoded from (RGB, CMYK and gray ones stay so).
        image.draft("YCbCr", stored)
        self._scales[stored] = image.size
        return image

    def _decoded_for(self, stored: tuple[int, int], *, coarser: bool = False) -> Pixels:
        """Pixels (as stored, not yet upright) decoded at the scale that `stored` needs; with
        `coarser`, pixels already decoded at a coarser scale do too."""
        scale = self._decoded_size(stored)
        if scale in self._decoded:
            return self._decoded[scale]
        smaller = [size for size in self._decoded if size[0] < scale[0]]
        if coarser and smaller:
            return self._decoded[max(smaller)]
        self._decoded[scale] = self._decode(self._opened(stored))
        return self._decoded[scale]

    def _decode(self, image: ImageFile.ImageFile) -> Pixels:
        try:
            image.load()
        except DECODE_ERRORS as exc:
            raise _refusal(
                IMAGE_ERROR_UNSUPPORTED_FORMAT, self.source, f"cannot be decoded ({exc})"
            ) from exc
        transformations: list[str] = []
        self._uprighting = _uprighting(image, transformations)
        decoded = to_plain_srgb(image, transformations)
        self._transformations = tuple(transformations)
        return Pixels(decoded)


def _bytes_per_pixel_guess(image_format: str, data_bytes: int, size: tuple[int, int]) -> float:
    if image_format not in ("JPEG", "MPO"):
        return _GUESSED_BYTES_PER_PIXEL
    return _REENCODED_SHARE * data_bytes / (size[0] * size[1])


def _open(source: SourceImage) -> ImageFile.ImageFile:
    # Pillow warns about images over its own MAX_IMAGE_PIXELS and refuses those over twice that,
    # whatever `max_pixels` says: both are refusals here, and its global setting is left alone.
    formats = expected_formats(source.name)
    try:
        return open_as(source.data, formats)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise _refusal(INVALID_IMAGE_SIZE, source, f"is a decompression bomb ({exc})") from exc
    except DECODE_ERRORS as exc:
        raise _refusal(
            IMAGE_ERROR_UNSUPPORTED_FORMAT, source, unreadable(source.data, formats)
        ) from exc


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


def _uprighting(image: Image.Image, transformations: list[str]) -> Image.Transpose | None:
    """What turns `image` upright as its EXIF orientation says (None: it is upright)."""
    orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    if orientation not in _UPRIGHTING:
        # pillow-heif decodes HEIF upright (the container's own rotation, which the EXIF
        # orientation mirrors) and keeps the orientation it applied here.
        applied = image.info.get("original_orientation")
        if applied in _UPRIGHTING:
            transformations.append(f"{_UPRIGHTING[applied][1]} (EXIF orientation {applied})")
        return None
    method, verb = _UPRIGHTING[orientation]
    transformations.append(f"{verb} (EXIF orientation {orientation})")
    return method


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
