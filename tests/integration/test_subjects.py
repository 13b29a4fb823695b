"""DESIGN.md section 2: one subject, one name. `incoming/grace.jpg` and the folder
`incoming/grace/` are the same subject, with one result folder; the newest complete set wins,
the older one is superseded and writes nothing, and the folder never holds a mix of the two."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from face3d.contract import View
from tests import photos
from tests.fakes import success_payload
from tests.integration.harness import ENDPOINT, RESULT_FILES, Pipeline, S3Clock

# Two answers told apart by their files: the single image's with texture, the folder's without.
SINGLE_ANSWER = success_payload()
FOLDER_ANSWER = success_payload([View.FRONT, View.LEFT], texture=False, mtl=False)
FOLDER_MANIFEST = json.dumps({"texture": False, "mtl": False}).encode()


def put_single(pipeline: Pipeline) -> dict[str, Any]:
    return pipeline.put("incoming/grace.jpg", photos.grace_hopper_jpeg())


def put_folder(pipeline: Pipeline) -> dict[str, Any]:
    pipeline.put("incoming/grace/front.jpg", photos.astronaut_jpeg())
    pipeline.put("incoming/grace/left.png", photos.grace_hopper_png())
    return pipeline.put("incoming/grace/manifest.json", FOLDER_MANIFEST)


def answer_by_views(request: Any) -> tuple[int, dict[str, str], str]:
    """The API's answer for the set in the request: one view, or two."""
    two = b'name="image_base64_2"' in request.body
    return (
        200,
        {"Content-Type": "application/json"},
        json.dumps(FOLDER_ANSWER if two else SINGLE_ANSWER),
    )


def assert_one_set_only(pipeline: Pipeline, trigger: str) -> None:
    """results/grace/ describes exactly the set `trigger` closed, and holds nothing else."""
    document = pipeline.json("results/grace/result.json")
    assert document["inputs"]["front"]["key"] == (
        "incoming/grace.jpg" if trigger == "incoming/grace.jpg" else "incoming/grace/front.jpg"
    )
    names = set(pipeline.results("grace"))
    assert names == {*document["outputs"], "result.json"}
    for name, record in document["outputs"].items():
        data = pipeline.read(f"results/grace/{name}")
        assert record["sha256"] == hashlib.sha256(data).hexdigest()
    folder = trigger != "incoming/grace.jpg"
    assert document["views"] == (["front", "left"] if folder else ["front"])
    assert names == ({"face.obj", "result.json"} if folder else set(RESULT_FILES))


def test_a_folder_set_uploaded_after_a_single_image_replaces_its_result(
    pipeline: Pipeline, s3_clock: S3Clock
) -> None:
    pipeline.api.add_callback("POST", ENDPOINT, callback=answer_by_views)
    assert pipeline.invoke(put_single(pipeline)) == {"succeeded": 1}
    assert_one_set_only(pipeline, "incoming/grace.jpg")
    s3_clock.tick(5)

    assert pipeline.invoke(put_folder(pipeline)) == {"succeeded": 1}

    assert_one_set_only(pipeline, "incoming/grace/manifest.json")
    assert len(pipeline.api.calls) == 2


def test_a_single_image_uploaded_after_a_folder_set_replaces_its_result(
    pipeline: Pipeline, s3_clock: S3Clock
) -> None:
    pipeline.api.add_callback("POST", ENDPOINT, callback=answer_by_views)
    assert pipeline.invoke(put_folder(pipeline)) == {"succeeded": 1}
    s3_clock.tick(5)

    assert pipeline.invoke(put_single(pipeline)) == {"succeeded": 1}

    assert_one_set_only(pipeline, "incoming/grace.jpg")


def test_an_older_set_delivered_late_is_superseded_without_a_call(
    pipeline: Pipeline, s3_clock: S3Clock
) -> None:
    pipeline.api.add_callback("POST", ENDPOINT, callback=answer_by_views)
    late = put_single(pipeline)
    s3_clock.tick(5)
    assert pipeline.invoke(put_folder(pipeline)) == {"succeeded": 1}

    assert pipeline.invoke(late) == {"superseded": 1}

    assert len(pipeline.api.calls) == 1
    assert_one_set_only(pipeline, "incoming/grace/manifest.json")
    assert pipeline.messages() == []


@pytest.mark.parametrize("first", ["single", "folder"])
def test_a_set_overtaken_during_its_call_writes_nothing(
    pipeline: Pipeline, s3_clock: S3Clock, first: str
) -> None:
    """The older set's API call is under way when the user uploads the subject's other name,
    and that newer set is processed at once; the older one then finishes, and must not write."""
    nested: list[dict[str, Any]] = []

    def api(request: Any) -> tuple[int, dict[str, str], str]:
        if not nested:  # the first set's call: meanwhile, the newer set arrives and is done
            nested.append({})
            s3_clock.tick(5)
            newer = put_folder(pipeline) if first == "single" else put_single(pipeline)
            nested[0] = pipeline.invoke(newer, "req-2")
        return answer_by_views(request)

    pipeline.api.add_callback("POST", ENDPOINT, callback=api)
    older = put_single(pipeline) if first == "single" else put_folder(pipeline)

    assert pipeline.invoke(older, "req-1") == {"superseded": 1}

    assert nested == [{"succeeded": 1}]
    assert_one_set_only(
        pipeline, "incoming/grace/manifest.json" if first == "single" else "incoming/grace.jpg"
    )
    assert pipeline.messages() == []


def test_uploaded_within_one_second_the_folder_set_wins_whatever_the_order(
    pipeline: Pipeline,
) -> None:
    pipeline.api.add_callback("POST", ENDPOINT, callback=answer_by_views)
    single = put_single(pipeline)  # no clock ticks: S3 stamps both with the same second
    folder = put_folder(pipeline)

    assert pipeline.invoke(single) == {"superseded": 1}
    assert pipeline.invoke(folder) == {"succeeded": 1}

    assert len(pipeline.api.calls) == 1
    assert_one_set_only(pipeline, "incoming/grace/manifest.json")


def test_of_two_single_images_of_one_subject_the_newer_wins(
    pipeline: Pipeline, s3_clock: S3Clock
) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    jpeg = put_single(pipeline)
    s3_clock.tick(2)
    png = pipeline.put("incoming/grace.PNG", photos.grace_hopper_png())

    assert pipeline.invoke(png) == {"succeeded": 1}
    assert pipeline.invoke(jpeg) == {"superseded": 1}

    assert pipeline.json("results/grace/result.json")["inputs"]["front"]["key"] == (
        "incoming/grace.PNG"
    )


def test_a_subject_whose_name_extends_another_is_not_its_rival(
    pipeline: Pipeline, s3_clock: S3Clock
) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    grace = put_single(pipeline)
    s3_clock.tick(2)
    pipeline.invoke(pipeline.put("incoming/grace.v2.jpg", photos.astronaut_jpeg()))

    assert pipeline.invoke(grace) == {"succeeded": 1}  # "grace.v2" is another subject

    assert pipeline.results("grace") == RESULT_FILES
    assert pipeline.results("grace.v2") == RESULT_FILES
