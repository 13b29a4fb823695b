"""DESIGN.md section 2: which uploads make a set, and what is sent for it."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image

from face3d.contract import View
from tests import photos
from tests.fakes import SAMPLE_MATRIX, success_payload
from tests.integration.faults import Faults
from tests.integration.harness import (
    API_KEY,
    API_SECRET,
    BUCKET,
    ENDPOINT,
    RESULT_FILES,
    Pipeline,
    ReadSpy,
    expect_failure,
    field_text,
    image_fields,
    image_format,
    log_lines,
    manifest,
    merge_events,
    sent_image,
)


def dimensions(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


# One-image sets.


def _webp() -> bytes:
    return photos.as_webp(photos.astronaut_jpeg())


@pytest.mark.parametrize(
    ("name", "photo", "original_format"),
    [
        pytest.param(name, photo, original_format, id=name)
        for name, photo, original_format in [
            ("ada.jpg", photos.astronaut_jpeg, "JPEG"),
            ("ada.JPG", photos.astronaut_jpeg, "JPEG"),
            ("ada.jpeg", photos.grace_hopper_jpeg, "JPEG"),
            ("ada.JpEg", photos.grace_hopper_jpeg, "JPEG"),
            ("ada.png", photos.grace_hopper_png, "PNG"),
            ("ada.PNG", photos.grace_hopper_png, "PNG"),
            ("ada.webp", _webp, "WEBP"),
            ("ada.WebP", _webp, "WEBP"),
        ]
    ],
)
def test_a_single_image_is_processed_at_once_and_arrives_as_jpeg(
    pipeline: Pipeline, name: str, photo: Callable[[], bytes], original_format: str
) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())

    assert pipeline.invoke(pipeline.put(f"incoming/{name}", photo())) == {"succeeded": 1}

    (call,) = pipeline.api.calls
    assert image_fields(call) == ["image_base64_1"]
    assert image_format(sent_image(call, 1)) == "JPEG"
    assert field_text(call, "api_key") == API_KEY
    assert field_text(call, "api_secret") == API_SECRET
    assert field_text(call, "texture") == "1"
    assert field_text(call, "mtl") == "1"
    assert pipeline.results("ada") == RESULT_FILES
    document = pipeline.json("results/ada/result.json")
    assert document["subject"] == "ada"
    assert document["views"] == ["front"]
    front = document["inputs"]["front"]
    assert front["key"] == f"incoming/{name}"
    assert front["original_format"] == original_format
    if original_format != "JPEG":
        assert f"converted {original_format}->JPEG" in front["transformations"]
    assert pipeline.messages() == []


# Folder sets: views wait, the manifest closes the set.


@pytest.mark.parametrize("name", ["front.jpg", "left.png", "right.WEBP", "front.JPEG"])
def test_a_folder_view_only_waits_for_the_manifest(
    pipeline: Pipeline, json_logs: io.StringIO, name: str
) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())

    result = pipeline.invoke(pipeline.put(f"incoming/ada/{name}", photos.astronaut_jpeg()))

    assert result == {"waiting": 1}
    assert len(pipeline.api.calls) == 0
    assert pipeline.written() == {}
    assert pipeline.messages() == []
    (line,) = log_lines(json_logs)
    assert "waits for incoming/ada/manifest.json" in line["message"]


def test_the_manifest_closes_a_three_view_set(pipeline: Pipeline) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload([View.FRONT, View.LEFT, View.RIGHT]))
    views = {
        "front.jpg": photos.astronaut_jpeg(),
        "left.png": photos.grace_hopper_png(),
        "right.jpg": photos.resized_jpeg(photos.astronaut_jpeg(), 400, 500),
    }
    for name, data in views.items():
        assert pipeline.invoke(pipeline.put(f"incoming/ada/{name}", data)) == {"waiting": 1}
    assert len(pipeline.api.calls) == 0

    assert pipeline.invoke(pipeline.put("incoming/ada/manifest.json", manifest())) == {
        "succeeded": 1
    }

    (call,) = pipeline.api.calls
    assert image_fields(call) == ["image_base64_1", "image_base64_2", "image_base64_3"]
    assert dimensions(sent_image(call, 1)) == (512, 512)
    assert dimensions(sent_image(call, 2)) == (512, 600)
    assert dimensions(sent_image(call, 3)) == (400, 500)
    assert all(image_format(sent_image(call, n)) == "JPEG" for n in (1, 2, 3))
    document = pipeline.json("results/ada/result.json")
    assert document["views"] == ["front", "left", "right"]
    assert list(document["transfer_matrix"]) == ["front", "left", "right"]
    assert {view: entry["key"] for view, entry in document["inputs"].items()} == {
        "front": "incoming/ada/front.jpg",
        "left": "incoming/ada/left.png",
        "right": "incoming/ada/right.jpg",
    }
    assert pipeline.results("ada") == RESULT_FILES


def test_a_folder_sets_manifest_and_views_are_each_downloaded_once(
    pipeline: Pipeline, faults: Faults
) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload([View.FRONT, View.LEFT]))
    pipeline.put("incoming/ada/front.jpg", photos.astronaut_jpeg())
    pipeline.put("incoming/ada/left.png", photos.grace_hopper_png())
    event = pipeline.put("incoming/ada/manifest.json", manifest())
    faults.calls.clear()

    assert pipeline.invoke(event) == {"succeeded": 1}

    for key in ("manifest.json", "front.jpg", "left.png"):
        assert faults.count("GetObject", f"incoming/ada/{key}") == 1, key
    # The manifest is looked at again only for a newer set: before the claim, and before the
    # commit of result.json.
    assert faults.count("HeadObject", "incoming/ada/manifest.json") == 2


def test_front_and_right_keep_their_api_numbers(pipeline: Pipeline) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload([View.FRONT, View.RIGHT]))
    pipeline.put("incoming/ada/front.jpg", photos.astronaut_jpeg())
    pipeline.put("incoming/ada/right.jpg", photos.grace_hopper_jpeg())

    pipeline.invoke(pipeline.put("incoming/ada/manifest.json", manifest()))

    (call,) = pipeline.api.calls
    assert image_fields(call) == ["image_base64_1", "image_base64_3"]
    assert dimensions(sent_image(call, 3)) == (512, 600)  # Grace Hopper travelled as image 3
    document = pipeline.json("results/ada/result.json")
    assert document["views"] == ["front", "right"]
    matrices = document["transfer_matrix"]
    assert list(matrices) == ["front", "right"]
    # The API answers one matrix per image sent, in API order: the second one is right's.
    assert matrices["front"][0] == pytest.approx(SAMPLE_MATRIX[0:4])
    assert matrices["right"][0] == pytest.approx([v + 1 for v in SAMPLE_MATRIX[0:4]])
    assert all(len(row) == 4 for rows in matrices.values() for row in rows)
    assert all(len(rows) == 4 for rows in matrices.values())


def test_manifest_views_map_views_to_other_file_names(pipeline: Pipeline) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload([View.FRONT, View.LEFT]))
    # A file named front.jpg is there too: the manifest's mapping wins over names.
    pipeline.put("incoming/ada/front.jpg", photos.resized_jpeg(photos.astronaut_jpeg(), 300, 300))
    assert pipeline.invoke(pipeline.put("incoming/ada/IMG_0001.jpg", photos.astronaut_jpeg())) == {
        "ignored": 1
    }
    pipeline.put("incoming/ada/profile.png", photos.grace_hopper_png())
    document = {"views": {"front": "IMG_0001.jpg", "left": "profile.png"}}

    pipeline.invoke(pipeline.put("incoming/ada/manifest.json", manifest(document)))

    (call,) = pipeline.api.calls
    assert image_fields(call) == ["image_base64_1", "image_base64_2"]
    assert dimensions(sent_image(call, 1)) == (512, 512)
    assert dimensions(sent_image(call, 2)) == (512, 600)
    inputs = pipeline.json("results/ada/result.json")["inputs"]
    assert inputs["front"]["key"] == "incoming/ada/IMG_0001.jpg"
    assert inputs["left"]["key"] == "incoming/ada/profile.png"


def test_an_empty_manifest_finds_the_views_by_name_in_any_case(pipeline: Pipeline) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload([View.FRONT, View.LEFT]))
    pipeline.put("incoming/ada/front.JPG", photos.astronaut_jpeg())
    pipeline.put("incoming/ada/left.Png", photos.grace_hopper_png())
    pipeline.put("incoming/ada/notes.txt", b"taken on Tuesday")

    pipeline.invoke(pipeline.put("incoming/ada/manifest.json", b"{}"))

    (call,) = pipeline.api.calls
    assert image_fields(call) == ["image_base64_1", "image_base64_2"]
    inputs = pipeline.json("results/ada/result.json")["inputs"]
    assert inputs["front"]["key"] == "incoming/ada/front.JPG"
    assert inputs["left"]["key"] == "incoming/ada/left.Png"


@pytest.mark.parametrize(
    ("texture", "mtl", "files"),
    [
        (False, False, ["face.obj", "result.json"]),
        (False, True, ["face.mtl", "face.obj", "result.json"]),
        (True, True, RESULT_FILES),
    ],
)
def test_texture_and_mtl_options_are_sent_and_followed(
    pipeline: Pipeline, texture: bool, mtl: bool, files: list[str]
) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload(texture=texture, mtl=mtl))
    pipeline.put("incoming/ada/front.jpg", photos.astronaut_jpeg())

    document = {"texture": texture, "mtl": mtl}
    pipeline.invoke(pipeline.put("incoming/ada/manifest.json", manifest(document)))

    (call,) = pipeline.api.calls
    assert field_text(call, "texture") == ("1" if texture else "0")
    assert field_text(call, "mtl") == ("1" if mtl else "0")
    assert pipeline.results("ada") == files
    result = pipeline.json("results/ada/result.json")
    assert result["options"] == {"texture": texture, "mtl": mtl}
    assert sorted(result["outputs"]) == [name for name in files if name != "result.json"]
    obj = pipeline.read("results/ada/face.obj").decode()
    assert ("mtllib face.mtl" in obj) is mtl


def test_the_manifest_metadata_is_copied_into_result_json(pipeline: Pipeline) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    pipeline.put("incoming/ada/front.jpg", photos.astronaut_jpeg())
    metadata = {"operator": "Zoë", "session": 7, "tags": ["studio", "A"], "nested": {"k": None}}

    pipeline.invoke(pipeline.put("incoming/ada/manifest.json", manifest({"metadata": metadata})))

    assert pipeline.json("results/ada/result.json")["metadata"] == metadata


# Bad manifests and missing views: permanent failures, recorded once, without an API call.


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"not json", id="not-json"),
        pytest.param(b"", id="empty-file"),
        pytest.param(b"\xff\xfe{}", id="not-utf8"),
        pytest.param(b"[]", id="not-an-object"),
        pytest.param(b'{"colour": "blue"}', id="unknown-field"),
        pytest.param(b'{"texture": "please"}', id="texture-not-bool"),
        pytest.param(b'{"views": {"top": "top.jpg"}}', id="unknown-view"),
        pytest.param(b'{"views": {"front": "front.txt"}}', id="not-a-photo-name"),
        pytest.param(b'{"views": {"front": "manifest.json"}}', id="the-manifest-itself"),
        pytest.param(b'{"views": "front.jpg"}', id="views-not-an-object"),
        pytest.param(json.dumps({"metadata": {"notes": "x" * 5000}}).encode(), id="metadata-5kb"),
    ],
)
def test_a_bad_manifest_is_invalid_manifest(pipeline: Pipeline, data: bytes) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    pipeline.put("incoming/ada/front.jpg", photos.astronaut_jpeg())

    result = pipeline.invoke(pipeline.put("incoming/ada/manifest.json", data))

    assert result == {"failed": 1}
    assert len(pipeline.api.calls) == 0
    body = expect_failure(
        pipeline,
        subject="ada",
        code="INVALID_MANIFEST",
        retryable=False,
        error_json=True,
        trigger="incoming/ada/manifest.json",
    )
    assert body["error"]["http_status"] is None
    assert pipeline.results("ada") == ["error.json"]


def test_a_manifest_over_64_kb_is_invalid_manifest(pipeline: Pipeline) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    pipeline.put("incoming/ada/front.jpg", photos.astronaut_jpeg())
    data = b"{" + b" " * 70_000 + b"}"  # valid JSON, too large

    result = pipeline.invoke(pipeline.put("incoming/ada/manifest.json", data))

    assert result == {"failed": 1}
    expect_failure(
        pipeline, subject="ada", code="INVALID_MANIFEST", retryable=False, error_json=True
    )


@pytest.mark.parametrize(
    "name",
    ["../other/front.jpg", "other/front.jpg", "/incoming/other/front.jpg", "..\\other\\front.jpg"],
)
def test_a_manifest_cannot_name_a_file_outside_its_folder(
    pipeline: Pipeline, reads: ReadSpy, name: str
) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    pipeline.put("incoming/other/front.jpg", photos.astronaut_jpeg())
    pipeline.put("incoming/ada/front.jpg", photos.astronaut_jpeg())

    document = {"views": {"front": name}}
    result = pipeline.invoke(pipeline.put("incoming/ada/manifest.json", manifest(document)))

    assert result == {"failed": 1}
    assert len(pipeline.api.calls) == 0
    assert "incoming/other/front.jpg" not in reads.keys
    body = expect_failure(
        pipeline, subject="ada", code="INVALID_MANIFEST", retryable=False, error_json=True
    )
    assert all(source["key"] != "incoming/other/front.jpg" for source in body["inputs"])
    assert pipeline.keys("results/other/") == []


def test_a_manifest_naming_a_missing_file_is_missing_view(pipeline: Pipeline) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    pipeline.put("incoming/ada/front.jpg", photos.astronaut_jpeg())

    document = {"views": {"front": "front.jpg", "left": "left-side.jpg"}}
    result = pipeline.invoke(pipeline.put("incoming/ada/manifest.json", manifest(document)))

    assert result == {"failed": 1}
    assert len(pipeline.api.calls) == 0
    body = expect_failure(
        pipeline, subject="ada", code="MISSING_VIEW", retryable=False, error_json=True
    )
    assert body["error"]["view"] == "left"
    assert "left-side.jpg" in body["error"]["message"]


@pytest.mark.parametrize(
    "document",
    [
        pytest.param({}, id="by-name"),
        pytest.param({"views": {"left": "left.jpg", "right": "right.jpg"}}, id="views"),
    ],
)
def test_a_folder_set_without_front_is_missing_view(
    pipeline: Pipeline, document: dict[str, Any]
) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    pipeline.put("incoming/ada/left.jpg", photos.astronaut_jpeg())
    pipeline.put("incoming/ada/right.jpg", photos.grace_hopper_jpeg())

    result = pipeline.invoke(pipeline.put("incoming/ada/manifest.json", manifest(document)))

    assert result == {"failed": 1}
    assert len(pipeline.api.calls) == 0
    body = expect_failure(
        pipeline, subject="ada", code="MISSING_VIEW", retryable=False, error_json=True
    )
    assert body["error"]["view"] == "front"


# Subjects: one path segment, spaces and non-ASCII allowed, keys URL-encoded in events.


@pytest.mark.parametrize("subject", ["Ada Lovelace", "Zoë Ångström-Søn", "李 雷", "a+b & c%20d"])
def test_a_subject_with_spaces_and_non_ascii_lands_under_its_decoded_name(
    pipeline: Pipeline, subject: str
) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())

    event = pipeline.put(f"incoming/{subject}.jpg", photos.astronaut_jpeg())
    assert event["Records"][0]["s3"]["object"]["key"] != f"incoming/{subject}.jpg"  # encoded
    pipeline.invoke(event)

    assert pipeline.results(subject) == RESULT_FILES
    document = pipeline.json(f"results/{subject}/result.json")
    assert document["subject"] == subject
    assert document["inputs"]["front"]["key"] == f"incoming/{subject}.jpg"
    assert document["outputs"]["face.obj"]["key"] == f"results/{subject}/face.obj"


def test_a_folder_subject_with_spaces_and_non_ascii(pipeline: Pipeline) -> None:
    subject = "José María + 2"
    pipeline.api.post(ENDPOINT, json=success_payload([View.FRONT, View.LEFT]))
    assert pipeline.invoke(
        pipeline.put(f"incoming/{subject}/front.jpg", photos.astronaut_jpeg())
    ) == {"waiting": 1}
    pipeline.put(f"incoming/{subject}/left.jpg", photos.grace_hopper_jpeg())

    pipeline.invoke(pipeline.put(f"incoming/{subject}/manifest.json", manifest()))

    assert image_fields(pipeline.api.calls[0]) == ["image_base64_1", "image_base64_2"]
    assert pipeline.results(subject) == RESULT_FILES
    assert pipeline.json(f"results/{subject}/result.json")["subject"] == subject


# What is ignored: one log line, no API call, nothing written, nothing on the DLQ.


def test_the_s3_test_event_is_ignored(pipeline: Pipeline, json_logs: io.StringIO) -> None:
    event = {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": "2026-11-24T12:00:00.000Z",
        "Bucket": BUCKET,
        "RequestId": "5582815E1AEA5ADF",
        "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
    }

    pipeline.invoke(event)

    assert len(pipeline.api.calls) == 0
    assert pipeline.keys() == []
    assert pipeline.messages() == []
    (line,) = log_lines(json_logs)
    assert "s3:TestEvent" in line["message"]


@pytest.mark.parametrize(
    "key",
    [
        "uploads/ada.jpg",
        "results/ada/front.jpg",
        "Incoming/ada.jpg",
        "incoming/ada.txt",
        "incoming/ada",
        "incoming/ada/back.jpg",
        "incoming/ada/notes.txt",
        "incoming/ada/front.mov",
        "incoming/ada/",
        "incoming/ada/Manifest.json",
        "incoming/ada/result.json",
        "incoming/ada/old/front.jpg",
        "incoming/ada/old/manifest.json",
        "incoming/bad\x07name.jpg",
        "incoming/.jpg",
        "incoming/../manifest.json",
        "incoming/./front.jpg",
        "incoming//manifest.json",
        "incoming/" + "é" * 128 + ".jpg",  # a 256-byte subject
    ],
)
def test_other_keys_are_ignored(pipeline: Pipeline, json_logs: io.StringIO, key: str) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())

    result = pipeline.invoke(pipeline.put(key, photos.astronaut_jpeg()))

    assert result == {"ignored": 1}
    assert len(pipeline.api.calls) == 0
    assert pipeline.keys() == [key]  # nothing written
    assert pipeline.messages() == []
    (line,) = log_lines(json_logs)
    assert "ignored" in line["message"]


def test_several_records_in_one_event_are_each_handled(pipeline: Pipeline) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    event = merge_events(
        pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg()),
        pipeline.put("incoming/grace.png", photos.grace_hopper_png()),
        pipeline.put("incoming/tiny.jpg", photos.tiny_jpeg()),
        pipeline.put("incoming/bob/front.jpg", photos.astronaut_jpeg()),
        pipeline.put("elsewhere/x.jpg", photos.astronaut_jpeg()),
    )

    result = pipeline.invoke(event)

    assert result == {"succeeded": 2, "failed": 1, "waiting": 1, "ignored": 1}
    assert len(pipeline.api.calls) == 2
    assert pipeline.results("ada") == RESULT_FILES
    assert pipeline.results("grace") == RESULT_FILES
    assert pipeline.results("bob") == []
    expect_failure(
        pipeline, subject="tiny", code="INVALID_IMAGE_SIZE", retryable=False, error_json=True
    )


def test_a_255_byte_subject_is_a_subject(pipeline: Pipeline) -> None:
    subject = "é" * 127 + "a"  # 255 bytes of UTF-8
    assert len(subject.encode()) == 255
    pipeline.api.post(ENDPOINT, json=success_payload())

    assert pipeline.invoke(pipeline.put(f"incoming/{subject}.jpg", photos.astronaut_jpeg())) == {
        "succeeded": 1
    }

    assert pipeline.results(subject) == RESULT_FILES


def test_objects_in_sub_folders_are_not_views_of_the_set(pipeline: Pipeline) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    pipeline.put("incoming/ada/old/front.jpg", photos.astronaut_jpeg())
    pipeline.put("incoming/ada/left.jpg", photos.astronaut_jpeg())

    assert pipeline.invoke(pipeline.put("incoming/ada/manifest.json", manifest())) == {"failed": 1}

    assert len(pipeline.api.calls) == 0
    body = expect_failure(
        pipeline, subject="ada", code="MISSING_VIEW", retryable=False, error_json=True
    )
    assert body["error"]["view"] == "front"


def test_the_configured_prefixes_are_followed(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INPUT_PREFIX", "faces/in/")
    monkeypatch.setenv("RESULT_PREFIX", "faces/out/")
    pipeline.api.post(ENDPOINT, json=success_payload())

    assert pipeline.invoke(pipeline.put("incoming/bob.jpg", photos.astronaut_jpeg())) == {
        "ignored": 1
    }
    assert pipeline.invoke(pipeline.put("faces/in/ada.jpg", photos.astronaut_jpeg())) == {
        "succeeded": 1
    }

    assert len(pipeline.api.calls) == 1
    assert pipeline.keys("faces/out/ada/") == [f"faces/out/ada/{name}" for name in RESULT_FILES]
    assert pipeline.keys("results/") == []
    document = pipeline.json("faces/out/ada/result.json")
    assert document["outputs"]["face.obj"]["key"] == "faces/out/ada/face.obj"
    # What the function writes is outside its input prefix: it cannot trigger it again.
    stored = pipeline.keys()
    written = [key for key in stored if not key.startswith(("incoming/", "faces/in/"))]
    assert written
    for key in written:
        assert pipeline.invoke(pipeline.put(key, pipeline.read(key))) == {"ignored": 1}
    assert len(pipeline.api.calls) == 1


def test_a_subject_named_like_the_claims_folder_keeps_its_results(pipeline: Pipeline) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    pipeline.invoke(pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg()))

    assert pipeline.invoke(pipeline.put("incoming/.claims.jpg", photos.astronaut_jpeg())) == {
        "succeeded": 1
    }

    # The subject shares its folder with the claims, which consumers ignore; the lifecycle rule
    # expires only objects tagged as claims, never the subject's results.
    names = pipeline.results(".claims")
    assert [n for n in names if n in RESULT_FILES] == RESULT_FILES
    for name in names:
        key = f"results/.claims/{name}"
        tags = pipeline.s3.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]
        assert (tags == [{"Key": "face3d", "Value": "claim"}]) == (name not in RESULT_FILES), key


def test_two_images_for_one_view_need_the_manifest_to_name_one(pipeline: Pipeline) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    pipeline.put("incoming/ada/front.jpg", photos.astronaut_jpeg())
    pipeline.put("incoming/ada/front.png", photos.grace_hopper_png())

    assert pipeline.invoke(pipeline.put("incoming/ada/manifest.json", manifest())) == {"failed": 1}

    assert len(pipeline.api.calls) == 0
    body = expect_failure(
        pipeline, subject="ada", code="INVALID_MANIFEST", retryable=False, error_json=True
    )
    assert "front.jpg" in body["error"]["message"]
    assert "front.png" in body["error"]["message"]

    # Naming one in the manifest settles it.
    document = {"views": {"front": "front.png"}}
    assert pipeline.invoke(pipeline.put("incoming/ada/manifest.json", manifest(document))) == {
        "succeeded": 1
    }
    assert dimensions(sent_image(pipeline.api.calls[0], 1)) == (512, 600)
