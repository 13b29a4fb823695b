"""DESIGN.md section 2: every photo a phone takes is read, and no photo is dropped in silence.

HEIC/HEIF and AVIF reconstruct like JPEG; a photo we cannot read (GIF, TIFF, BMP, bytes that are
not what the name says) ends in `IMAGE_ERROR_UNSUPPORTED_FORMAT:<view>` with `error.json` and a
DLQ message; view names and extensions match in any case; keys that are plainly not photos stay
ignored with one log line.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest

from face3d.contract import View
from tests import photos
from tests.fakes import success_payload
from tests.integration.harness import (
    ENDPOINT,
    RESULT_FILES,
    Pipeline,
    ReadSpy,
    expect_failure,
    image_fields,
    image_format,
    log_lines,
    manifest,
    sent_image,
)


def heic() -> bytes:
    return photos.as_phone_photo(photos.grace_hopper_jpeg(), "HEIF", orientation=6)


def avif() -> bytes:
    return photos.as_phone_photo(photos.astronaut_jpeg(), "AVIF", orientation=8)


@pytest.mark.parametrize(
    ("name", "photo", "original_format", "size"),
    [
        ("ada.heic", heic, "HEIF", (512, 600)),
        ("ada.HEIC", heic, "HEIF", (512, 600)),
        ("ada.heif", heic, "HEIF", (512, 600)),
        ("ada.avif", avif, "AVIF", (512, 512)),
        ("ada.AVIF", avif, "AVIF", (512, 512)),
    ],
)
def test_a_phone_photo_in_heic_or_avif_is_reconstructed(
    pipeline: Pipeline,
    name: str,
    photo: Callable[[], bytes],
    original_format: str,
    size: tuple[int, int],
) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())

    assert pipeline.invoke(pipeline.put(f"incoming/{name}", photo())) == {"succeeded": 1}

    (call,) = pipeline.api.calls
    sent = sent_image(call, 1)
    assert image_format(sent) == "JPEG"
    assert photos.decode(sent).size == size  # upright
    assert not photos.decode(sent).getexif()  # no GPS position left
    front = pipeline.json("results/ada/result.json")["inputs"]["front"]
    assert front["key"] == f"incoming/{name}"
    assert front["original_format"] == original_format
    assert "converted to sRGB from Display P3" in front["transformations"]
    assert f"converted {original_format}->JPEG" in front["transformations"]
    assert any(t.startswith("rotated (EXIF orientation") for t in front["transformations"])
    assert pipeline.results("ada") == RESULT_FILES
    assert pipeline.messages() == []


def test_a_folder_set_of_phone_photos_with_views_named_in_any_case(pipeline: Pipeline) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload([View.FRONT, View.LEFT]))
    assert pipeline.invoke(pipeline.put("incoming/caps/Front.HEIC", heic())) == {"waiting": 1}
    assert pipeline.invoke(pipeline.put("incoming/caps/LEFT.avif", avif())) == {"waiting": 1}
    pipeline.put("incoming/caps/notes.txt", b"taken with a phone")

    assert pipeline.invoke(pipeline.put("incoming/caps/manifest.json", manifest())) == {
        "succeeded": 1
    }

    (call,) = pipeline.api.calls
    assert image_fields(call) == ["image_base64_1", "image_base64_2"]
    inputs = pipeline.json("results/caps/result.json")["inputs"]
    assert {view: entry["key"] for view, entry in inputs.items()} == {
        "front": "incoming/caps/Front.HEIC",
        "left": "incoming/caps/LEFT.avif",
    }


@pytest.mark.parametrize("manifest_views", [None, {"front": "Front.JPG"}])
def test_front_jpg_in_capitals_is_the_front_view(
    pipeline: Pipeline, manifest_views: dict[str, str] | None
) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    pipeline.put("incoming/caps/Front.JPG", photos.astronaut_jpeg())
    document = {} if manifest_views is None else {"views": manifest_views}

    result = pipeline.invoke(pipeline.put("incoming/caps/manifest.json", manifest(document)))

    assert result == {"succeeded": 1}
    assert pipeline.json("results/caps/result.json")["inputs"]["front"]["key"] == (
        "incoming/caps/Front.JPG"
    )


# No silent drops: photos we cannot read end in a failure record.


@pytest.mark.parametrize(
    ("name", "photo"),
    [
        ("ada.gif", lambda: photos.as_gif(photos.astronaut_jpeg())),
        ("ada.GIF", lambda: photos.as_gif(photos.astronaut_jpeg())),
        ("ada.tif", lambda: photos.as_tiff(photos.astronaut_jpeg())),
        ("ada.tiff", lambda: photos.as_tiff(photos.astronaut_jpeg())),
        ("ada.bmp", lambda: photos.as_bmp(photos.astronaut_jpeg())),
        ("ada.jxl", lambda: b"\xff\x0a not really JPEG XL"),
    ],
)
def test_a_photo_in_a_format_we_cannot_read_fails_unread_with_a_record(
    pipeline: Pipeline, reads: ReadSpy, name: str, photo: Callable[[], bytes]
) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())

    assert pipeline.invoke(pipeline.put(f"incoming/{name}", photo())) == {"failed": 1}

    assert len(pipeline.api.calls) == 0
    assert f"incoming/{name}" not in reads.keys  # refused by its name, never downloaded
    body = expect_failure(
        pipeline,
        subject="ada",
        code="IMAGE_ERROR_UNSUPPORTED_FORMAT",
        retryable=False,
        error_json=True,
        trigger=f"incoming/{name}",
    )
    assert (body["error"]["view"], body["error"]["param"]) == ("front", "image_base64_1")
    extension = name.rpartition(".")[2].lower()
    assert f".{extension} photos cannot be read" in body["error"]["message"]
    assert body["inputs"][0]["key"] == f"incoming/{name}"
    assert pipeline.results("ada") == ["error.json"]


@pytest.mark.parametrize(
    ("name", "photo", "says"),
    [
        ("ada.jpg", lambda: photos.grace_hopper_png(), "holds PNG data, not the JPEG"),
        ("ada.png", photos.astronaut_jpeg, "holds JPEG data, not the PNG"),
        ("ada.heic", photos.astronaut_jpeg, "holds JPEG data, not the HEIF"),
        ("ada.avif", heic, "holds HEIF data, not the AVIF"),
        ("ada.webp", lambda: b"RIFF....WEBPVP8 broken", "is not a readable WebP image"),
    ],
)
def test_bytes_that_are_not_what_the_name_says_fail(
    pipeline: Pipeline, name: str, photo: Callable[[], bytes], says: str
) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())

    assert pipeline.invoke(pipeline.put(f"incoming/{name}", photo())) == {"failed": 1}

    assert len(pipeline.api.calls) == 0
    body = expect_failure(
        pipeline,
        subject="ada",
        code="IMAGE_ERROR_UNSUPPORTED_FORMAT",
        retryable=False,
        error_json=True,
    )
    assert body["error"]["view"] == "front"
    assert says in body["error"]["message"]


def test_a_folder_view_we_cannot_read_fails_the_set_naming_the_view(pipeline: Pipeline) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    pipeline.put("incoming/ada/front.jpg", photos.astronaut_jpeg())
    pipeline.put("incoming/ada/Left.TIF", photos.as_tiff(photos.grace_hopper_jpeg()))

    assert pipeline.invoke(pipeline.put("incoming/ada/manifest.json", manifest())) == {"failed": 1}

    assert len(pipeline.api.calls) == 0
    body = expect_failure(
        pipeline,
        subject="ada",
        code="IMAGE_ERROR_UNSUPPORTED_FORMAT",
        retryable=False,
        error_json=True,
        trigger="incoming/ada/manifest.json",
    )
    assert (body["error"]["view"], body["error"]["param"]) == ("left", "image_base64_2")
    assert "incoming/ada/Left.TIF" in body["error"]["message"]


def test_a_manifest_naming_a_gif_fails_the_set_naming_the_view(pipeline: Pipeline) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    pipeline.put("incoming/ada/me.gif", photos.as_gif(photos.astronaut_jpeg()))

    pipeline.invoke(
        pipeline.put("incoming/ada/manifest.json", manifest({"views": {"front": "me.gif"}}))
    )

    body = expect_failure(
        pipeline,
        subject="ada",
        code="IMAGE_ERROR_UNSUPPORTED_FORMAT",
        retryable=False,
        error_json=True,
    )
    assert body["error"]["view"] == "front"


def test_a_readable_view_is_chosen_over_an_unreadable_one_of_the_same_name(
    pipeline: Pipeline,
) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    pipeline.put("incoming/ada/front.gif", photos.as_gif(photos.astronaut_jpeg()))
    pipeline.put("incoming/ada/front.heic", heic())

    assert pipeline.invoke(pipeline.put("incoming/ada/manifest.json", manifest())) == {
        "succeeded": 1
    }

    front = pipeline.json("results/ada/result.json")["inputs"]["front"]
    assert front["key"] == "incoming/ada/front.heic"


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("incoming/ada.txt", "not a photo (.txt)"),
        ("incoming/ada/notes.txt", "not a front, left or right photo, nor manifest.json"),
        ("incoming/ada/", "a folder marker"),
    ],
)
def test_keys_that_are_plainly_not_photos_stay_ignored_with_one_log_line(
    pipeline: Pipeline, json_logs: io.StringIO, key: str, reason: str
) -> None:
    assert pipeline.invoke(pipeline.put(key, b"")) == {"ignored": 1}

    assert pipeline.keys() == [key]
    assert pipeline.messages() == []
    (line,) = log_lines(json_logs)
    assert line["message"] == f"ignored {key}: {reason}"
