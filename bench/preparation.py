"""Preparation of a three-view set against (a) the floor and (b) a naive preparation.

(a) decoding the three photos once, whole, as any preparation must read them; (b) the obvious
way: decode whole, Lanczos to at most 4096 px, lower the quality in steps of 5 from 95 until the
request fits. Also shown: the ladder as it was before issue 11 (tests/preparation_reference.py),
and the peak memory of a process that prepares the set and does nothing else.

Child process: `python -m bench.preparation time|memory INPUTS_DIR REPEATS`.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from bench.inputs import views
from bench.measure import interleaved, median_ms, peak_rss_mb, report
from face3d.client.preparation import (
    PreparationLimits,
    PreparedImage,
    SourceImage,
    base64_length,
    prepare_images,
)
from face3d.contract import MAX_IMAGE_SIDE, View


def decode_once(photos: list[bytes]) -> None:
    for photo in photos:
        with Image.open(io.BytesIO(photo)) as image:
            image.load()


def naive_preparation(photos: list[bytes], limits: PreparationLimits) -> list[bytes]:
    """Full decode, Lanczos to at most 4096 px, quality 95, 90, ... until the request fits."""
    images = []
    for photo in photos:
        image = ImageOps.exif_transpose(Image.open(io.BytesIO(photo))).convert("RGB")
        if max(image.size) > MAX_IMAGE_SIDE:
            scale = MAX_IMAGE_SIDE / max(image.size)
            size = (round(image.width * scale), round(image.height * scale))
            image = image.resize(size, Image.Resampling.LANCZOS)
        images.append(image)
    available = limits.request_budget - limits.reserved_bytes
    for quality in range(95, 0, -5):
        jpegs = []
        for image in images:
            buffer = io.BytesIO()
            image.save(buffer, "JPEG", quality=quality, optimize=True)
            jpegs.append(buffer.getvalue())
        if sum(base64_length(len(jpeg)) for jpeg in jpegs) <= available:
            break
    return jpegs


def prepare(photos: list[bytes]) -> list[PreparedImage]:
    return prepare_images([SourceImage(v, p) for v, p in zip(View, photos, strict=True)])


def timing(directory: Path, repeats: int) -> dict[str, Any]:
    photos = views(directory)
    limits = PreparationLimits()
    # The floor alternates with the preparation alone: a slow case between them would leave
    # its freed memory to the one after it, which would pay for the pages again.
    seconds = interleaved(
        {"preparation": lambda: prepare(photos), "floor": lambda: decode_once(photos)}, repeats
    )
    slow: dict[str, Callable[[], object]] = {"naive": lambda: naive_preparation(photos, limits)}
    try:
        from tests.preparation_reference import reference_preparation

        slow["before"] = lambda: reference_preparation(photos, limits)
    except ImportError:  # run outside the repository: no yardstick
        pass
    # Slow enough to be timed a few times only.
    seconds.update(interleaved(slow, min(repeats, 3)))
    prepared = prepare(photos)
    return {
        **{f"{name}_ms": median_ms(samples) for name, samples in seconds.items()},
        "views": [
            {"width": p.width, "height": p.height, "quality": p.quality, "bytes": p.size}
            for p in prepared
        ],
        "input_bytes": [len(photo) for photo in photos],
    }


def memory(directory: Path) -> dict[str, float]:
    photos = views(directory)
    before = peak_rss_mb()
    prepare(photos)
    return {"peak_rss_mb": peak_rss_mb(), "before_mb": before}


def main(argv: list[str]) -> int:
    kind, directory, repeats = argv[0], Path(argv[1]), int(argv[2])
    report(timing(directory, repeats) if kind == "time" else memory(directory))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
