"""Preparing real photos for the 3dface API (DESIGN.md section 3)."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Callable, Sequence

import numpy as np
import pytest
from PIL import Image, ImageFile

from face3d.client.preparation import (
    PreparationLimits,
    PreparedImage,
    SourceImage,
    base64_length,
    prepare_images,
)
from face3d.contract import View
from face3d.errors import (
    IMAGE_ERROR_UNSUPPORTED_FORMAT,
    IMAGE_FILE_TOO_LARGE,
    INVALID_IMAGE_SIZE,
    Face3DError,
)
from tests import photos
from tests.unit.client.prepared import (
    DEFAULT,
    SAME_PHOTO,
    Photo,
    assert_acceptable,
    difference,
)


def astronaut() -> bytes:
    return photos.astronaut_jpeg()


def grace_hopper() -> bytes:
    return photos.grace_hopper_jpeg()


def prepare_one(
    data: bytes, view: View = View.FRONT, limits: PreparationLimits = DEFAULT
) -> PreparedImage:
    [prepared] = prepare_images([SourceImage(view, data, name=f"incoming/subject/{view}")], limits)
    return prepared


def refusal(sources: Sequence[SourceImage], limits: PreparationLimits = DEFAULT) -> Face3DError:
    with pytest.raises(Face3DError) as caught:
        prepare_images(sources, limits)
    return caught.value


def assert_refused(error: Face3DError, code: str, view: View) -> None:
    assert error.code == code
    assert error.param == f"image_base64_{view.number}"
    assert error.view is view
    assert error.label == f"{code}:{view}"
    assert not error.retryable


def among_good_views(view: View, data: bytes) -> list[SourceImage]:
    """The photo under test as `view`, beside good views, so that the right one is blamed."""
    good = [SourceImage(v, astronaut(), f"{v}.jpg") for v in View if v is not view]
    return [*good, SourceImage(view, data, f"incoming/subject/{view}")]


def chroma(data: bytes) -> float:
    pixels = np.asarray(photos.decode(data).convert("RGB"), dtype=float)
    return float((pixels.max(axis=2) - pixels.min(axis=2)).mean())


# -- what comes out --------------------------------------------------------------------------


def gray(data: bytes) -> Image.Image:
    return photos.decode(data).convert("L")


KINDS: dict[str, tuple[Callable[[], bytes], str, tuple[str, ...], Callable[[], Photo]]] = {
    # name: (photo, Pillow format, transformations before re-encoding, how it must look)
    "jpeg": (astronaut, "JPEG", (), astronaut),
    "camera jpeg with comment": (
        grace_hopper,
        "JPEG",
        ("removed metadata (comment)",),
        grace_hopper,
    ),
    "progressive jpeg": (
        lambda: photos.as_progressive_jpeg(astronaut()),
        "JPEG",
        (),
        astronaut,
    ),
    "png": (lambda: photos.as_png(astronaut()), "PNG", ("converted PNG->JPEG",), astronaut),
    "webp": (lambda: photos.as_webp(astronaut()), "WEBP", ("converted WEBP->JPEG",), astronaut),
    "mpo (first frame)": (
        lambda: photos.as_mpo(astronaut()),
        "MPO",
        ("converted MPO->JPEG",),
        astronaut,
    ),
    "grayscale jpeg": (
        lambda: photos.as_grayscale_jpeg(astronaut()),
        "JPEG",
        ("converted L->RGB",),
        lambda: gray(astronaut()),
    ),
    "16-bit grayscale png": (
        lambda: photos.as_sixteen_bit_png(astronaut()),
        "PNG",
        ("converted I;16->RGB", "converted PNG->JPEG"),
        lambda: gray(astronaut()),
    ),
    "adobe cmyk jpeg": (
        lambda: photos.as_cmyk_jpeg(astronaut()),
        "JPEG",
        ("converted CMYK->RGB",),
        astronaut,
    ),
    "srgb icc profile": (
        lambda: photos.with_icc_profile(astronaut(), photos.srgb_icc()),
        "JPEG",
        ("removed metadata (icc_profile)",),
        astronaut,
    ),
    "unreadable icc profile": (
        lambda: photos.with_icc_profile(astronaut(), b"not an ICC profile" * 8),
        "JPEG",
        ("ignored an unreadable ICC profile", "removed metadata (icc_profile)"),
        astronaut,
    ),
    "lab icc profile": (
        lambda: photos.with_icc_profile(astronaut(), photos.lab_icc()),
        "JPEG",
        (
            "ignored ICC profile Lab identity built-in (no conversion to sRGB)",
            "removed metadata (icc_profile)",
        ),
        astronaut,
    ),
}


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_of_photo_becomes_a_plain_jpeg_that_looks_the_same(kind: str) -> None:
    make, original_format, done, looks_like = KINDS[kind]
    data = make()

    prepared = prepare_one(data)

    assert_acceptable([prepared])
    assert prepared.original_format == original_format
    assert prepared.original_bytes == len(data)
    assert (prepared.width, prepared.height) == (prepared.original_width, prepared.original_height)
    assert prepared.quality == 88
    assert prepared.transformations == (*done, "re-encoded at quality 88")
    assert difference(prepared.jpeg, looks_like()) < SAME_PHOTO


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_applied_and_location_stripped(orientation: int) -> None:
    upright = prepare_one(grace_hopper())
    stored = photos.with_exif_orientation(grace_hopper(), orientation)

    turned = prepare_one(stored)

    assert_acceptable([turned])  # among others: no EXIF, so no GPS position, is left
    stored_size = (512, 600) if orientation == 3 else (600, 512)
    assert (turned.original_width, turned.original_height) == stored_size
    assert (turned.width, turned.height) == (upright.width, upright.height) == (512, 600)
    assert turned.transformations == (
        f"rotated (EXIF orientation {orientation})",
        "removed metadata (exif, comment)",
        "re-encoded at quality 88",
    )
    near = difference(turned.jpeg, upright.jpeg)
    wrongly_turned = [
        photos.decode(upright.jpeg).transpose(method)
        for method in (
            Image.Transpose.ROTATE_90,
            Image.Transpose.ROTATE_180,
            Image.Transpose.ROTATE_270,
            Image.Transpose.FLIP_LEFT_RIGHT,
        )
    ]
    assert near < SAME_PHOTO
    assert min(difference(turned.jpeg, wrong) for wrong in wrongly_turned) > 5 * near


def test_transparency_is_composited_on_white() -> None:
    data = photos.with_transparent_border_png(astronaut(), border=48)

    prepared = prepare_one(data)

    assert_acceptable([prepared])
    assert prepared.transformations == (
        "converted RGBA->RGB",
        "composited transparency on white",
        "converted PNG->JPEG",
        "re-encoded at quality 88",
    )
    pixels = np.asarray(photos.decode(prepared.jpeg), dtype=float)
    assert pixels[:40, :, :].mean() > 250  # black under the transparent border: must not show
    inside = photos.decode(astronaut()).crop((64, 64, 448, 448))
    assert difference(photos.decode(prepared.jpeg).crop((64, 64, 448, 448)), inside) < SAME_PHOTO


def test_display_p3_is_converted_to_srgb() -> None:
    plain = prepare_one(astronaut())

    converted = prepare_one(photos.with_icc_profile(astronaut(), photos.display_p3_icc()))

    assert_acceptable([converted])
    assert converted.transformations == (
        "converted to sRGB from Display P3",
        "removed metadata (icc_profile)",
        "re-encoded at quality 88",
    )
    # The same numbers mean more saturated colours in P3 than in sRGB.
    assert chroma(converted.jpeg) > 1.1 * chroma(plain.jpeg)
    assert difference(converted.jpeg, plain.jpeg) < 4 * SAME_PHOTO


PHONE_FORMATS = {"HEIF": "heic", "AVIF": "avif"}


@pytest.mark.parametrize("pillow_format", PHONE_FORMATS)
def test_phone_photos_in_heic_and_avif_become_upright_srgb_jpegs_without_location(
    pillow_format: str,
) -> None:
    upright = prepare_one(grace_hopper())
    data = photos.as_phone_photo(grace_hopper(), pillow_format, orientation=6)
    name = f"incoming/ada/front.{PHONE_FORMATS[pillow_format].upper()}"  # any case

    [prepared] = prepare_images([SourceImage(View.FRONT, data, name)])

    assert_acceptable([prepared])  # among others: no EXIF, so no GPS position, is left
    assert prepared.original_format == pillow_format
    assert (prepared.width, prepared.height) == (upright.width, upright.height) == (512, 600)
    assert prepared.transformations[0] == "rotated (EXIF orientation 6)"
    assert "converted to sRGB from Display P3" in prepared.transformations
    assert f"converted {pillow_format}->JPEG" in prepared.transformations
    removed = next(t for t in prepared.transformations if t.startswith("removed metadata"))
    assert "exif" in removed
    assert "icc_profile" in removed
    assert prepared.transformed
    # Turned upright and back in sRGB: it looks like the photo it was made from.
    near = difference(prepared.jpeg, upright.jpeg)
    assert near < SAME_PHOTO
    turned = photos.decode(upright.jpeg).transpose(Image.Transpose.ROTATE_90)
    assert difference(prepared.jpeg, turned) > 5 * near
    assert "Test Camera" not in str(prepared.describe())


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("front.jpg", astronaut),
        ("front.JPEG", astronaut),
        ("front.Png", lambda: photos.as_png(astronaut())),
        ("front.WEBP", lambda: photos.as_webp(astronaut())),
        ("front.heic", lambda: photos.as_phone_photo(astronaut(), "HEIF")),
        ("front.heif", lambda: photos.as_phone_photo(astronaut(), "HEIF")),
        ("front.heif", lambda: photos.as_phone_photo(astronaut(), "AVIF")),  # AVIF is HEIF too
        ("front.AVIF", lambda: photos.as_phone_photo(astronaut(), "AVIF")),
        ("front", lambda: photos.as_phone_photo(astronaut(), "AVIF")),  # no extension: any
        ("front.jfif", lambda: photos.as_png(astronaut())),  # not a photo extension: any
    ],
)
def test_a_photo_is_read_as_the_format_its_name_says(name: str, make: Callable[[], bytes]) -> None:
    [prepared] = prepare_images([SourceImage(View.FRONT, make(), name)])

    assert_acceptable([prepared])
    assert difference(prepared.jpeg, astronaut()) < SAME_PHOTO


@pytest.mark.parametrize(
    ("name", "make", "says"),
    [
        ("left.jpg", lambda: photos.as_png(astronaut()), "holds PNG data, not the JPEG"),
        ("left.png", astronaut, "holds JPEG data, not the PNG"),
        ("left.heic", astronaut, "holds JPEG data, not the HEIF"),
        ("left.avif", lambda: photos.as_phone_photo(astronaut(), "HEIF"), "holds HEIF data"),
        ("left.webp", lambda: photos.as_gif(astronaut()), "is not a readable WebP image"),
        ("left.HEIC", lambda: photos.TEXT_NAMED_JPG, "is not a readable HEIF image"),
    ],
)
def test_bytes_that_are_not_what_the_name_says_are_refused(
    name: str, make: Callable[[], bytes], says: str
) -> None:
    sources = [
        SourceImage(View.FRONT, astronaut(), "front.jpg"),
        SourceImage(View.LEFT, make(), name),
    ]

    error = refusal(sources)

    assert_refused(error, IMAGE_ERROR_UNSUPPORTED_FORMAT, View.LEFT)
    assert error.message.startswith(f"{name} {says}")


# -- sizes and the request budget ------------------------------------------------------------


@pytest.fixture(scope="module")
def photo_48mp() -> bytes:
    return photos.upscaled_48mp_jpeg()


def test_a_48_megapixel_photo_is_downscaled_to_the_api_maximum(photo_48mp: bytes) -> None:
    prepared = prepare_one(photo_48mp)

    assert_acceptable([prepared])
    assert (prepared.original_width, prepared.original_height) == (6000, 8000)
    # It is smooth enough to fit the budget at the API's largest size.
    assert (prepared.width, prepared.height) == (3072, 4096)
    assert prepared.transformations == (
        "removed metadata (comment)",
        "downscaled 6000x8000->3072x4096",
        "re-encoded at quality 88",
    )
    assert difference(prepared.jpeg, grace_hopper()) < SAME_PHOTO


def test_a_large_jpeg_is_decoded_at_reduced_scale_when_it_ends_smaller(
    photo_48mp: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[tuple[int, int]] = []
    load = ImageFile.ImageFile.load

    def spying_load(image: ImageFile.ImageFile) -> object:
        if image.tile:  # pixels still to decode
            decoded.append(image.size)
        return load(image)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spying_load)
    limits = PreparationLimits(request_budget=400_000)

    prepared = prepare_one(photo_48mp, limits=limits)

    assert_acceptable([prepared], limits)
    assert 1000 <= max(prepared.width, prepared.height) <= 2000
    assert decoded
    assert max(width * height for width, height in decoded) <= 3000 * 4000


def test_preparation_is_deterministic(photo_48mp: bytes) -> None:
    limits = PreparationLimits(request_budget=400_000)

    first, second = prepare_one(photo_48mp, limits=limits), prepare_one(photo_48mp, limits=limits)

    assert first == second


@pytest.fixture(scope="module")
def three_large_views() -> list[SourceImage]:
    """Three 12-MP views with the fine grain of real sensor output: they fit only re-encoded."""
    return [
        SourceImage(view, data, f"{view}.jpg")
        for view, data in zip(View, photos.large_view_jpegs(), strict=True)
    ]


def test_three_large_views_share_the_request_budget(three_large_views: list[SourceImage]) -> None:
    available = DEFAULT.request_budget - DEFAULT.reserved_bytes
    assert sum(base64_length(len(source.data)) for source in three_large_views) > 3 * available

    prepared = prepare_images(three_large_views)

    assert_acceptable(prepared)
    assert [image.view for image in prepared] == [View.FRONT, View.LEFT, View.RIGHT]
    # One step of the ladder for all views, still at least 1000 px as the budget allows it.
    assert len({(image.width, image.height, image.quality) for image in prepared}) == 1
    width, height = prepared[0].width, prepared[0].height
    assert 1000 <= height < 4032
    assert abs(width / height - 3024 / 4032) < 0.01
    for image, source in zip(prepared, three_large_views, strict=True):
        assert f"downscaled 3024x4032->{width}x{height}" in image.transformations
        assert difference(image.jpeg, source.data) < SAME_PHOTO
    # Not needlessly small: the steps of the ladder are closer than a factor of 2 in bytes.
    assert sum(base64_length(image.size) for image in prepared) > available / 2


def test_a_shrinking_budget_gives_up_resolution_first_then_quality_then_resolution() -> None:
    photo = photos.resized_jpeg(astronaut(), 2048, 2048)
    outcomes = []
    for budget in (1_500_000, 500_000, 250_000, 170_000, 135_000, 120_000, 60_000, 30_000):
        limits = PreparationLimits(request_budget=budget)
        prepared = prepare_one(photo, limits=limits)
        assert_acceptable([prepared], limits)
        outcomes.append((prepared.width, prepared.quality))
    sides = [side for side, _ in outcomes]
    assert sides == sorted(sides, reverse=True)
    assert all(quality == 88 for side, quality in outcomes if side > 1024)
    assert any(side == 1024 and quality < 88 for side, quality in outcomes)
    assert any(side < 1000 for side, _ in outcomes)
    # Below 1000 px only once quality at 1024 px is spent.
    lowest_at_1024 = min(quality for side, quality in outcomes if side == 1024)
    assert all(quality > lowest_at_1024 for side, quality in outcomes if side < 1000)


def test_the_limits_are_exact_and_the_reserved_bytes_count() -> None:
    roomy = prepare_one(astronaut())
    needed = base64_length(roomy.size) + DEFAULT.reserved_bytes

    assert prepare_one(astronaut(), limits=PreparationLimits(request_budget=needed)) == roomy
    assert prepare_one(astronaut(), limits=PreparationLimits(max_file_bytes=roomy.size)) == roomy
    for squeezed in (
        PreparationLimits(request_budget=needed - 1),
        PreparationLimits(max_file_bytes=roomy.size - 1),
    ):
        assert prepare_one(astronaut(), limits=squeezed).size < roomy.size


def test_an_elongated_photo_keeps_its_short_side_at_the_minimum() -> None:
    limits = PreparationLimits(request_budget=60_000)

    prepared = prepare_one(photos.resized_jpeg(astronaut(), 2000, 250), limits=limits)

    assert_acceptable([prepared], limits)
    assert (prepared.width, prepared.height) == (1600, 200)


def test_shrunk_takes_a_quarter_off_the_request_budget() -> None:
    limits = PreparationLimits(request_budget=200_000, max_input_bytes=5_000_000)

    smaller = limits.shrunk()

    assert smaller.request_budget == 150_000
    assert dataclasses.replace(smaller, request_budget=200_000) == limits
    sources = [SourceImage(View.FRONT, astronaut()), SourceImage(View.LEFT, grace_hopper())]
    roomy, tight = prepare_images(sources, limits), prepare_images(sources, smaller)
    assert_acceptable(roomy, limits)
    assert_acceptable(tight, smaller)
    assert sum(image.size for image in tight) < sum(image.size for image in roomy)


def test_output_follows_api_order_whatever_the_input_order() -> None:
    front = SourceImage(View.FRONT, astronaut())
    right = SourceImage(View.RIGHT, grace_hopper())

    in_order = prepare_images([front, right])
    reversed_order = prepare_images([right, front])

    assert [image.view for image in reversed_order] == [View.FRONT, View.RIGHT]
    assert reversed_order == in_order


@pytest.mark.parametrize("views", [[], [View.FRONT, View.FRONT], [*View, View.LEFT]])
def test_views_must_be_one_to_three_distinct_ones(views: list[View]) -> None:
    with pytest.raises(ValueError, match="distinct views"):
        prepare_images([SourceImage(view, astronaut()) for view in views])


# -- refusals --------------------------------------------------------------------------------

UNDECODABLE: dict[str, tuple[View, Callable[[], bytes]]] = {
    "zero bytes": (View.FRONT, lambda: b""),
    "text named .jpg": (View.LEFT, lambda: photos.TEXT_NAMED_JPG),
    "truncated jpeg": (View.RIGHT, photos.truncated_jpeg),
    "gif": (View.LEFT, lambda: photos.as_gif(astronaut())),
}


@pytest.mark.parametrize("case", UNDECODABLE)
def test_what_cannot_be_decoded_is_refused(case: str) -> None:
    view, make = UNDECODABLE[case]

    error = refusal(among_good_views(view, make()))

    assert_refused(error, IMAGE_ERROR_UNSUPPORTED_FORMAT, view)
    assert isinstance(error.__cause__, OSError | SyntaxError | ValueError)
    assert f"incoming/subject/{view}" in error.message
    assert "Not a photo" not in str(error)  # never the file's content


SIZE_REFUSALS: dict[
    str, tuple[View, Callable[[], bytes], PreparationLimits, type[Exception] | None]
] = {
    # name: (view, photo, limits, what raised first)
    "150 px": (View.RIGHT, photos.tiny_jpeg, DEFAULT, None),
    "too elongated for the bounds": (
        View.LEFT,
        lambda: photos.resized_jpeg(astronaut(), 5000, 240),
        DEFAULT,
        None,
    ),
    "bomb over max_pixels": (View.FRONT, lambda: photos.png_bomb(9000), DEFAULT, None),
    "bomb Pillow warns about": (
        View.LEFT,
        lambda: photos.png_bomb(10_000),
        PreparationLimits(max_pixels=150_000_000),
        Image.DecompressionBombWarning,
    ),
    "bomb Pillow refuses": (
        View.RIGHT,
        lambda: photos.png_bomb(20_000),
        PreparationLimits(max_pixels=500_000_000),
        Image.DecompressionBombError,
    ),
}


@pytest.mark.parametrize("case", SIZE_REFUSALS)
def test_images_of_the_wrong_size_are_refused(case: str) -> None:
    view, make, limits, cause = SIZE_REFUSALS[case]

    error = refusal(among_good_views(view, make()), limits)

    assert_refused(error, INVALID_IMAGE_SIZE, view)
    assert type(error.__cause__) is cause or (cause is None and error.__cause__ is None)


def test_an_object_over_the_download_cap_is_refused() -> None:
    data = photos.with_detail_jpeg(grace_hopper(), 1200, 1400, seed=7)
    limits = PreparationLimits(max_input_bytes=len(data) - 1)

    error = refusal(among_good_views(View.LEFT, data), limits)

    assert_refused(error, IMAGE_FILE_TOO_LARGE, View.LEFT)
    assert_acceptable(
        [prepare_one(data, limits=dataclasses.replace(limits, max_input_bytes=len(data)))]
    )


@pytest.mark.parametrize(
    "limits",
    [PreparationLimits(request_budget=4096 + 8_000), PreparationLimits(max_file_bytes=5_000)],
    ids=["request budget", "file size"],
)
def test_what_cannot_fit_even_at_the_smallest_step_is_refused(limits: PreparationLimits) -> None:
    error = refusal([SourceImage(View.RIGHT, astronaut())], limits)

    assert_refused(error, IMAGE_FILE_TOO_LARGE, View.RIGHT)


def test_the_largest_view_is_blamed_when_the_set_cannot_fit() -> None:
    # At the smallest step the square photos are 256x256; the elongated one stays 1600x200.
    sources = [
        SourceImage(View.FRONT, astronaut()),
        SourceImage(View.LEFT, photos.resized_jpeg(astronaut(), 2000, 250)),
        SourceImage(View.RIGHT, grace_hopper()),
    ]

    error = refusal(sources, PreparationLimits(request_budget=4096 + 20_000))

    assert_refused(error, IMAGE_FILE_TOO_LARGE, View.LEFT)


# -- the small print -------------------------------------------------------------------------


def test_base64_length_matches_base64() -> None:
    assert [base64_length(n) for n in range(50)] == [
        len(base64.b64encode(bytes(n))) for n in range(50)
    ]


def test_reprs_never_show_image_bytes() -> None:
    source = SourceImage(View.FRONT, astronaut(), "incoming/subject/front.jpg")
    prepared = prepare_one(astronaut())

    for text in (repr(source), repr(prepared)):
        assert "\\x" not in text
        assert "data=" not in text
        assert "jpeg=" not in text
        assert len(text) < 400


def test_describe_is_a_json_ready_record_of_what_was_done() -> None:
    data = photos.with_exif_orientation(grace_hopper(), 6)
    prepared = prepare_one(data, View.LEFT)

    record = json.loads(json.dumps(prepared.describe()))

    assert record == {
        "view": "left",
        "original_format": "JPEG",
        "original_bytes": len(data),
        "original_width": 600,
        "original_height": 512,
        "bytes": len(prepared.jpeg),
        "width": 512,
        "height": 600,
        "quality": 88,
        "transformations": list(prepared.transformations),
    }


@pytest.mark.parametrize(
    "changes",
    [
        {"min_side": 0},
        {"min_side": 5000},
        {"reserved_bytes": 2_000_000},
        {"reserved_bytes": -1},
        {"max_file_bytes": 0},
        {"max_pixels": 0},
    ],
)
def test_nonsensical_limits_are_rejected(changes: dict[str, int]) -> None:
    with pytest.raises(ValueError, match=r"must|need"):
        PreparationLimits(**changes)
