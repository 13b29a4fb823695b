"""The preparation ladder as it was before it was made fast (issue 11), kept as a yardstick.

It tried the ladder's steps by binary search, decoding each photo again for every size (at the
scale `draft` picks for it), resizing it with Lanczos and encoding it whole at every step tried.
Slow, but plainly right: tests check that the fast preparation gives every view at least the
pixels and the JPEG quality this gives it. Plain RGB photos only (what the benchmark uses): no
colour profiles, transparency or refusals.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import NamedTuple

from PIL import Image, ImageOps

from face3d.client.preparation import PreparationLimits, base64_length


class Step(NamedTuple):
    long_side: int
    quality: int


# Copied, not imported: a change to the product's ladder must not move the yardstick.
LADDER = (
    *(Step(side, 88) for side in (4096, 3584, 3072, 2560, 2048, 1792, 1536, 1280, 1024)),
    *(Step(1024, quality) for quality in (80, 72, 65)),
    *(Step(side, 72) for side in (896, 768, 640, 512, 384, 256)),
)


class Outcome(NamedTuple):
    width: int  # upright
    height: int
    quality: int
    size: int  # bytes


def reference_preparation(photos: Sequence[bytes], limits: PreparationLimits) -> list[Outcome]:
    """What the old ladder made of `photos` (JPEG bytes, one request), in the given order."""
    available = limits.request_budget - limits.reserved_bytes

    def encoded(step: Step) -> list[tuple[tuple[int, int], bytes]]:
        return [_encoded(photo, step, limits) for photo in photos]

    def fits(step: Step) -> bool:
        sizes = [len(jpeg) for _, jpeg in encoded(step)]
        total = sum(base64_length(size) for size in sizes)
        return total <= available and max(sizes) <= limits.max_file_bytes

    low, high = 0, len(LADDER)
    while low < high:
        middle = (low + high) // 2
        if fits(LADDER[middle]):
            high = middle
        else:
            low = middle + 1
    if high == len(LADDER):
        raise ValueError("the photos do not fit even at the last step")
    step = LADDER[high]
    return [Outcome(*size, step.quality, len(jpeg)) for size, jpeg in encoded(step)]


def _encoded(photo: bytes, step: Step, limits: PreparationLimits) -> tuple[tuple[int, int], bytes]:
    image = Image.open(io.BytesIO(photo))
    stored = _target_size(image.size, min(step.long_side, limits.max_side), limits.min_side)
    image.draft("RGB", stored)
    image.load()
    transposed = ImageOps.exif_transpose(image).convert("RGB")
    size = stored if transposed.size == image.size else (stored[1], stored[0])
    if transposed.size != size:
        transposed = transposed.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    buffer = io.BytesIO()
    transposed.save(
        buffer, "JPEG", quality=step.quality, optimize=True, progressive=False, subsampling="4:2:0"
    )
    return size, buffer.getvalue()


def _target_size(size: tuple[int, int], long_side: int, min_side: int) -> tuple[int, int]:
    width, height = size
    scale = min(1.0, long_side / max(width, height))
    scale = max(scale, min_side / min(width, height))
    return round(width * scale), round(height * scale)
