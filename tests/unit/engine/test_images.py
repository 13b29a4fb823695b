"""Decoding uploads for the engine: what it refuses, with the API's codes, and what it accepts."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from face3d.engine.images import decode_rgb
from face3d.engine.result import EngineError
from face3d.errors import IMAGE_ERROR_UNSUPPORTED_FORMAT, INVALID_IMAGE_SIZE
from tests import photos


def refusal(data: bytes, slot: int = 2) -> EngineError:
    with pytest.raises(EngineError) as caught:
        decode_rgb(data, slot)
    return caught.value


@pytest.mark.parametrize(
    "data",
    [photos.TEXT_NAMED_JPG, b"", photos.truncated_jpeg()],
    ids=["text", "empty", "truncated"],
)
def test_undecodable_data_is_unsupported_format(data: bytes) -> None:
    error = refusal(data, slot=3)

    assert (error.code, error.slot) == (IMAGE_ERROR_UNSUPPORTED_FORMAT, 3)


@pytest.mark.parametrize(("width", "height"), [(150, 150), (199, 800), (4097, 300), (300, 5000)])
def test_sides_outside_the_api_limits_are_invalid_size(width: int, height: int) -> None:
    data = photos.encode(Image.new("RGB", (width, height), (90, 90, 90)), "PNG")

    assert refusal(data).code == INVALID_IMAGE_SIZE


def test_a_decompression_bomb_is_refused_by_its_header() -> None:
    assert refusal(photos.png_bomb(30_000)).code == INVALID_IMAGE_SIZE


@pytest.mark.parametrize(("width", "height"), [(200, 200), (4096, 200)])
def test_the_limits_themselves_are_accepted(width: int, height: int) -> None:
    data = photos.encode(Image.new("RGB", (width, height), (90, 90, 90)), "PNG")

    assert decode_rgb(data, 1).shape == (height, width, 3)


def test_exif_orientation_is_applied() -> None:
    upright = decode_rgb(photos.grace_hopper_jpeg(), 1)

    turned = decode_rgb(photos.with_exif_orientation(photos.grace_hopper_jpeg(), 6), 1)

    assert turned.shape == upright.shape
    assert np.abs(turned.astype(int) - upright.astype(int)).mean() < 4


@pytest.mark.parametrize(
    "data",
    [
        photos.grace_hopper_png(),
        photos.as_webp(photos.astronaut_jpeg()),
        photos.as_grayscale_jpeg(photos.astronaut_jpeg()),
        photos.as_cmyk_jpeg(photos.astronaut_jpeg()),
        photos.as_sixteen_bit_png(photos.astronaut_jpeg()),
        photos.with_transparent_border_png(photos.astronaut_jpeg()),
    ],
    ids=["png", "webp", "grayscale", "cmyk", "16-bit", "transparent"],
)
def test_whatever_pillow_decodes_becomes_rgb(data: bytes) -> None:
    pixels = decode_rgb(data, 1)

    assert pixels.dtype == np.uint8
    assert pixels.ndim == 3
    assert pixels.shape[2] == 3
    assert pixels.flags.c_contiguous
    assert 40 < pixels.mean() < 220


def test_transparency_is_flattened_on_white() -> None:
    pixels = decode_rgb(photos.with_transparent_border_png(photos.astronaut_jpeg()), 1)

    assert (pixels[:10, :10] == 255).all()


def test_sixteen_bit_samples_are_scaled_not_clipped() -> None:
    eight = decode_rgb(photos.as_grayscale_jpeg(photos.astronaut_jpeg()), 1).astype(int)
    sixteen = decode_rgb(photos.as_sixteen_bit_png(photos.astronaut_jpeg()), 1).astype(int)

    assert np.abs(sixteen - eight).mean() < 3
