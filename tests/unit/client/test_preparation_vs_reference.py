"""Fast preparation against the old, exhaustive ladder: never fewer pixels, never lower quality."""

from __future__ import annotations

import io
from collections.abc import Sequence

import pytest
from PIL import Image, ImageFile, ImageOps

from face3d.client.preparation import PreparationLimits, PreparedImage, SourceImage, prepare_images
from face3d.contract import View
from face3d.samples import phone_view_jpegs
from tests import photos
from tests.preparation_reference import Outcome, reference_preparation
from tests.unit.client.prepared import SAME_PHOTO, assert_acceptable, difference


def upright_thumbnail(photo: bytes) -> Image.Image:
    """A small upright copy of a large JPEG, decoded at the coarsest scale (fast)."""
    image = Image.open(io.BytesIO(photo))
    image.draft("RGB", (256, 256))
    return ImageOps.exif_transpose(image)


def prepared_and_reference(
    views: Sequence[View], data: Sequence[bytes], limits: PreparationLimits
) -> tuple[list[PreparedImage], list[Outcome]]:
    prepared = prepare_images([SourceImage(v, d) for v, d in zip(views, data, strict=True)], limits)
    return prepared, reference_preparation(data, limits)


def assert_at_least_as_good(prepared: Sequence[PreparedImage], old: Sequence[Outcome]) -> None:
    for image, outcome in zip(prepared, old, strict=True):
        assert image.width * image.height >= outcome.width * outcome.height
        assert image.quality >= outcome.quality
        # Same pixels and quality as the old ladder gave means the same step, the same sizes.
        if (image.width, image.height, image.quality) == outcome[:3]:
            assert abs(image.size - outcome.size) < 0.03 * outcome.size


def test_the_benchmark_set_keeps_the_pixels_and_quality_of_the_old_ladder() -> None:
    data = phone_view_jpegs()  # three 12-MP phone photos, the front one stored turned

    prepared, old = prepared_and_reference(list(View), data, PreparationLimits())

    assert_acceptable(prepared)
    assert_at_least_as_good(prepared, old)
    assert (prepared[0].width, prepared[0].height) == (old[0].width, old[0].height)
    assert prepared[0].height > prepared[0].width  # upright: a portrait
    for image, photo in zip(prepared, data, strict=True):
        assert difference(image.jpeg, upright_thumbnail(photo)) < SAME_PHOTO


@pytest.fixture(scope="module")
def three_megapixel_views() -> tuple[bytes, bytes, bytes]:
    return phone_view_jpegs(2016, 1512)


@pytest.mark.parametrize("budget", [1_500_000, 700_000, 300_000, 140_000, 60_000])
@pytest.mark.parametrize("count", [1, 3])
def test_every_budget_keeps_the_pixels_and_quality_of_the_old_ladder(
    three_megapixel_views: tuple[bytes, bytes, bytes], budget: int, count: int
) -> None:
    limits = PreparationLimits(request_budget=budget)
    data = three_megapixel_views[:count]

    prepared, old = prepared_and_reference(list(View)[:count], data, limits)

    assert_acceptable(prepared, limits)
    assert_at_least_as_good(prepared, old)


def test_a_smooth_photo_keeps_the_pixels_and_quality_of_the_old_ladder() -> None:
    data = [photos.resized_jpeg(photos.grace_hopper_jpeg(), 1700, 2000)]
    for budget in (600_000, 250_000, 100_000):
        limits = PreparationLimits(request_budget=budget)

        prepared, old = prepared_and_reference([View.FRONT], data, limits)

        assert_acceptable(prepared, limits)
        assert_at_least_as_good(prepared, old)


def test_each_phone_photo_is_decoded_once_at_half_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    data = phone_view_jpegs()
    decoded: list[tuple[int, int]] = []
    encoded: list[tuple[int, int]] = []
    load, save = ImageFile.ImageFile.load, Image.Image.save

    def spying_load(image: ImageFile.ImageFile) -> object:
        if image.tile:  # pixels still to decode
            decoded.append(image.size)
        return load(image)

    def spying_save(image: Image.Image, *args: object, **kwargs: object) -> None:
        encoded.append(image.size)
        save(image, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ImageFile.ImageFile, "load", spying_load)
    monkeypatch.setattr(Image.Image, "save", spying_save)

    prepared = prepare_images([SourceImage(v, d) for v, d in zip(View, data, strict=True)])

    assert decoded == [(2016, 1512)] * 3
    # One whole encoding per view at the step taken; anything else is a small sample.
    whole = [
        size for size in encoded if size[0] * size[1] >= prepared[1].width * prepared[1].height
    ]
    assert len(whole) == 3
