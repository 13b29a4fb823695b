"""DESIGN.md section 4: the result layout, result.json, and what replaces what."""

from __future__ import annotations

import base64
import hashlib
import io
import json

import pytest
from PIL import Image

from face3d.contract import View
from tests import photos
from tests.fakes import SAMPLE_MATRIX, success_payload
from tests.integration.harness import (
    BUCKET,
    ENDPOINT,
    OUTPUT_FILES,
    Pipeline,
    WriteSpy,
    expect_failure,
    is_timestamp,
    manifest,
    sent_image,
)

RESULT_FILES = [*OUTPUT_FILES, "result.json"]


def rows(matrix: list[float]) -> list[list[float]]:
    return [matrix[i : i + 4] for i in range(0, 16, 4)]


def test_result_json_is_written_last(pipeline: Pipeline, writes: WriteSpy) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())

    pipeline.invoke(pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg()))

    written = writes.results()
    assert sorted(written) == sorted(f"results/ada/{name}" for name in RESULT_FILES)
    assert written[-1] == "results/ada/result.json"


def test_result_json_describes_the_set(pipeline: Pipeline) -> None:
    payload = success_payload(request_id="1576058873,abc-123", time_used=1234)
    pipeline.api.post(ENDPOINT, json=payload)
    photo = photos.with_exif_orientation(photos.grace_hopper_jpeg(), 6)  # stored 600x512
    event = pipeline.put("incoming/ada.jpg", photo)
    head = pipeline.head("incoming/ada.jpg")

    pipeline.invoke(event)

    document = pipeline.json("results/ada/result.json")
    assert document["schema"] == "face3d.result/v1"
    assert document["subject"] == "ada"
    assert document["status"] == "succeeded"
    assert document["request_id"] == "1576058873,abc-123"
    assert document["time_used"] == 1234
    assert document["views"] == ["front"]
    assert document["transfer_matrix"] == {"front": rows(SAMPLE_MATRIX)}
    assert document["endpoint"] == ENDPOINT
    assert document["metadata"] == {}
    assert is_timestamp(document["started_at"])
    assert is_timestamp(document["finished_at"])
    assert document["started_at"] <= document["finished_at"]

    # Each output as stored: key, version id, size and sha256 of the very bytes in the bucket.
    assert sorted(document["outputs"]) == sorted(OUTPUT_FILES)
    for name, record in document["outputs"].items():
        stored = pipeline.read(f"results/ada/{name}")
        assert record == {
            "key": f"results/ada/{name}",
            "version_id": pipeline.head(f"results/ada/{name}")["VersionId"],
            "size": len(stored),
            "sha256": hashlib.sha256(stored).hexdigest(),
        }
    assert pipeline.read("results/ada/face.obj") == base64.b64decode(payload["obj_file"])
    assert pipeline.read("results/ada/face.mtl") == base64.b64decode(payload["mtl_file"])
    assert pipeline.read("results/ada/tex.jpg") == base64.b64decode(payload["texture_img"])

    # The input as it was in the bucket, and what was done to it.
    front = document["inputs"]["front"]
    assert front["key"] == "incoming/ada.jpg"
    assert front["etag"] == head["ETag"].strip('"')
    assert front["version_id"] == head["VersionId"]
    assert front["original_bytes"] == len(photo)
    assert (front["original_width"], front["original_height"]) == (600, 512)
    assert (front["width"], front["height"]) == (512, 600)  # upright
    assert "rotated (EXIF orientation 6)" in front["transformations"]
    assert any("removed metadata" in step and "exif" in step for step in front["transformations"])
    sent = Image.open(io.BytesIO(sent_image(pipeline.api.calls[0], 1)))
    assert sent.size == (512, 600)
    assert not sent.getexif()  # location data never leaves the bucket

    # The fingerprint, on the document and as the object's metadata.
    assert len(document["fingerprint"]) == 64
    metadata = pipeline.head("results/ada/result.json")["Metadata"]
    assert metadata["fingerprint"] == document["fingerprint"]


def test_a_cmyk_input_shows_its_conversion(pipeline: Pipeline) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())

    pipeline.invoke(pipeline.put("incoming/ada.jpg", photos.as_cmyk_jpeg(photos.astronaut_jpeg())))

    front = pipeline.json("results/ada/result.json")["inputs"]["front"]
    assert front["original_format"] == "JPEG"
    assert "converted CMYK->RGB" in front["transformations"]
    assert Image.open(io.BytesIO(sent_image(pipeline.api.calls[0], 1))).mode == "RGB"


def test_result_json_of_a_folder_set_lists_every_view(pipeline: Pipeline) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload([View.FRONT, View.LEFT, View.RIGHT]))
    views = {
        "front": ("front.jpg", photos.astronaut_jpeg()),
        "left": ("left.png", photos.grace_hopper_png()),
        "right": ("right.webp", photos.as_webp(photos.grace_hopper_jpeg())),
    }
    for name, data in views.values():
        pipeline.put(f"incoming/ada/{name}", data)
    heads = {view: pipeline.head(f"incoming/ada/{name}") for view, (name, _) in views.items()}

    pipeline.invoke(pipeline.put("incoming/ada/manifest.json", manifest({"metadata": {"n": 1}})))

    document = pipeline.json("results/ada/result.json")
    assert document["views"] == ["front", "left", "right"]
    assert document["metadata"] == {"n": 1}
    assert document["transfer_matrix"] == {
        "front": rows(SAMPLE_MATRIX),
        "left": rows([v + 1 for v in SAMPLE_MATRIX]),
        "right": rows([v + 2 for v in SAMPLE_MATRIX]),
    }
    for view, (name, data) in views.items():
        entry = document["inputs"][view]
        assert entry["key"] == f"incoming/ada/{name}"
        assert entry["etag"] == heads[view]["ETag"].strip('"')
        assert entry["version_id"] == heads[view]["VersionId"]
        assert entry["original_bytes"] == len(data)
    assert "converted PNG->JPEG" in document["inputs"]["left"]["transformations"]
    assert "converted WEBP->JPEG" in document["inputs"]["right"]["transformations"]


def test_results_go_to_the_configured_result_bucket(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline.s3.create_bucket(Bucket="face3d-results")
    monkeypatch.setenv("RESULT_BUCKET", "face3d-results")
    pipeline.api.post(ENDPOINT, json=success_payload())

    pipeline.invoke(pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg()))

    assert pipeline.keys() == ["incoming/ada.jpg"]
    stored = pipeline.s3.list_objects_v2(Bucket="face3d-results", Prefix="results/ada/")
    assert sorted(item["Key"] for item in stored["Contents"]) == sorted(
        f"results/ada/{name}" for name in RESULT_FILES
    )
    assert BUCKET != "face3d-results"


def test_a_success_deletes_an_older_error_json(pipeline: Pipeline) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    pipeline.put("incoming/ada/front.jpg", photos.TEXT_NAMED_JPG)
    pipeline.invoke(pipeline.put("incoming/ada/manifest.json", manifest()))
    expect_failure(
        pipeline,
        subject="ada",
        code="IMAGE_ERROR_UNSUPPORTED_FORMAT",
        retryable=False,
        error_json=True,
    )

    pipeline.put("incoming/ada/front.jpg", photos.astronaut_jpeg())
    assert pipeline.invoke(pipeline.put("incoming/ada/manifest.json", manifest())) == {
        "succeeded": 1
    }

    assert pipeline.results("ada") == sorted(RESULT_FILES)
    assert pipeline.messages() == []


def test_a_failure_leaves_an_older_success_in_place(pipeline: Pipeline) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    pipeline.put("incoming/ada/front.jpg", photos.astronaut_jpeg())
    pipeline.invoke(pipeline.put("incoming/ada/manifest.json", manifest()))
    before = {name: pipeline.read(f"results/ada/{name}") for name in RESULT_FILES}

    pipeline.put("incoming/ada/front.jpg", photos.tiny_jpeg())
    assert pipeline.invoke(pipeline.put("incoming/ada/manifest.json", manifest())) == {"failed": 1}

    assert pipeline.results("ada") == sorted([*RESULT_FILES, "error.json"])
    assert {name: pipeline.read(f"results/ada/{name}") for name in RESULT_FILES} == before
    failure = expect_failure(
        pipeline, subject="ada", code="INVALID_IMAGE_SIZE", retryable=False, error_json=True
    )
    result = json.loads(before["result.json"])
    # The fingerprints tell which set each document belongs to, on the document and its HEAD.
    assert failure["fingerprint"] != result["fingerprint"]
    error_head = pipeline.head("results/ada/error.json")
    assert error_head["Metadata"]["fingerprint"] == failure["fingerprint"]
    result_head = pipeline.head("results/ada/result.json")
    assert result_head["Metadata"]["fingerprint"] == result["fingerprint"]
    assert len(pipeline.api.calls) == 1


def test_a_new_result_replaces_the_older_one_and_its_extra_files(pipeline: Pipeline) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    pipeline.put("incoming/ada/front.jpg", photos.astronaut_jpeg())
    pipeline.invoke(pipeline.put("incoming/ada/manifest.json", manifest()))
    first = pipeline.json("results/ada/result.json")

    pipeline.api.replace("POST", ENDPOINT, json=success_payload(texture=False, mtl=False))
    document = {"texture": False, "mtl": False}
    pipeline.invoke(pipeline.put("incoming/ada/manifest.json", manifest(document)))

    assert pipeline.results("ada") == ["face.obj", "result.json"]
    second = pipeline.json("results/ada/result.json")
    assert second["fingerprint"] != first["fingerprint"]
    assert second["options"] == {"texture": False, "mtl": False}
    assert sorted(second["outputs"]) == ["face.obj"]
    assert "mtllib" not in pipeline.read("results/ada/face.obj").decode()
