"""The benchmark's photos, made once per run from the real sample photos and kept in files.

Phone-like 12-MP JPEGs (`face3d.samples.phone_view_jpegs`: 4032x3024, about 4 MB each, with the
sensor noise of real phone photos, the front one stored turned with EXIF orientation 6), so that
they compress, decode and cost what users' photos do. `--quick` makes them 400x300.
"""

from __future__ import annotations

from pathlib import Path

from face3d import samples

FULL_SIZE = (4032, 3024)
QUICK_SIZE = (400, 300)
VIEW_FILES = ("front.jpg", "left.jpg", "right.jpg")
SMALL_FILE = "astronaut.jpg"  # the sample photo as it ships: for one-image sets


def write_inputs(directory: Path, *, quick: bool) -> Path:
    """The three views and the small photo written into `directory`; returns it."""
    width, height = QUICK_SIZE if quick else FULL_SIZE
    for name, data in zip(VIEW_FILES, samples.phone_view_jpegs(width, height), strict=True):
        (directory / name).write_bytes(data)
    (directory / SMALL_FILE).write_bytes(samples.astronaut_jpeg())
    return directory


def views(directory: Path) -> list[bytes]:
    return [(directory / name).read_bytes() for name in VIEW_FILES]


def small_photo(directory: Path) -> bytes:
    return (directory / SMALL_FILE).read_bytes()
