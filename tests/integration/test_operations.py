"""`face3d status`, `backfill` and `redrive` through the command line, against the handler under
moto: sets are brought into every state by the real function, then read and driven by the
commands as an operator would."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from face3d.cli.main import main
from face3d.function import backfill
from face3d.function import redrive as redrive_module
from tests import photos
from tests.fakes import error_payload, success_payload
from tests.integration.harness import BUCKET, ENDPOINT, Pipeline

SUCCESS = (200, success_payload())
ANSWERS: dict[str, tuple[int, dict[str, Any]]] = {
    "success": SUCCESS,
    "no-face": (400, error_payload("NO_FACE_FOUND")),
    "denied": (403, error_payload("AUTHORIZATION_ERROR:Denied by Admin")),
    "internal": (500, error_payload("INTERNAL_ERROR")),
}
STATES = ("waiting", "pending", "in-progress", "succeeded", "failed", "parked")


class Api:
    """The endpoint's answer, switched between invocations."""

    def __init__(self) -> None:
        self.answer = "success"
        self.calls = 0

    def __call__(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.calls += 1
        status, body = ANSWERS[self.answer]
        return status, {"Content-Type": "application/json"}, json.dumps(body)


@pytest.fixture
def api(pipeline: Pipeline) -> Api:
    endpoint = Api()
    pipeline.api.add_callback("POST", ENDPOINT, callback=endpoint)
    return endpoint


@pytest.fixture
def invocations(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The asynchronous invocations the commands make, recorded instead of sent to Lambda."""
    recorded: list[dict[str, Any]] = []

    def lambda_replay(function_name: str, region: str | None = None) -> Callable[..., None]:
        assert function_name == "face3d-reconstruct"
        return recorded.append

    monkeypatch.setattr(redrive_module, "lambda_replay", lambda_replay)
    return recorded


def every_state(pipeline: Pipeline, api: Api) -> None:
    """One subject in each state, each brought there by the function itself."""
    api.answer = "success"
    pipeline.invoke(pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg()))
    api.answer = "no-face"
    pipeline.invoke(pipeline.put("incoming/coffee.jpg", photos.grace_hopper_jpeg()))
    api.answer = "denied"
    pipeline.invoke(pipeline.put("incoming/grace.jpg", photos.grace_hopper_jpeg()))
    api.answer = "internal"  # given back to Lambda for a retry: its claim is released
    pipeline.fail(pipeline.put("incoming/alan.jpg", photos.astronaut_jpeg()))
    pipeline.put("incoming/katherine/front.jpg", photos.astronaut_jpeg())  # no manifest yet
    # Uploaded before the function was deployed: no event ever reached it.
    pipeline.s3.put_object(
        Bucket=BUCKET, Key="incoming/dorothy/front.jpg", Body=photos.grace_hopper_jpeg()
    )
    pipeline.s3.put_object(Bucket=BUCKET, Key="incoming/dorothy/manifest.json", Body=b"{}")
    api.answer = "success"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()  # the function's own log lines, from the invocations before
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def status_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code, out, _ = run(capsys, "status", "--bucket", BUCKET, "--json", *argv)
    assert code == 0
    document: dict[str, Any] = json.loads(out)
    return document


def test_status_counts_the_sets_in_every_state(
    pipeline: Pipeline, api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    every_state(pipeline, api)

    document = status_json(capsys)

    assert document["counts"] == dict.fromkeys(STATES, 1)
    assert document["sets"] == 6
    by_subject = {s["subject"]: s["state"] for s in document["subjects"]}
    assert by_subject == {
        "katherine": "waiting",
        "dorothy": "pending",
        "alan": "in-progress",
        "ada": "succeeded",
        "coffee": "failed",
        "grace": "parked",
    }
    result = pipeline.json("results/ada/result.json")
    ada = next(s for s in document["subjects"] if s["subject"] == "ada")
    assert ada["fingerprint"] == result["fingerprint"]
    assert ada["closed_by"] == "incoming/ada.jpg"

    code, out, err = run(capsys, "status", "--bucket", BUCKET)
    assert code == 0
    assert err == ""  # no progress bar when stderr is no terminal
    assert "parked for redrive" in out
    assert out.splitlines()[-1] == (
        "status: 6 set(s): 1 waiting, 1 pending, 1 in-progress, 1 succeeded, 1 failed, 1 parked"
    )


def test_status_of_one_subject_shows_its_result(
    pipeline: Pipeline, api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline.invoke(pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg()))
    result = pipeline.json("results/ada/result.json")

    document = status_json(capsys, "ada")

    assert document["state"] == "succeeded"
    assert document["complete"] is True
    assert document["fingerprint"] == result["fingerprint"]
    assert document["views"] == {"front": "incoming/ada.jpg"}
    (source,) = document["inputs"]
    assert source["key"] == "incoming/ada.jpg"
    assert source["etag"] == pipeline.head("incoming/ada.jpg")["ETag"].strip('"')
    assert document["claim"]["state"] == "done"
    assert document["claim"]["attempts"] == 1
    summary = document["result"]
    assert summary["key"] == "results/ada/result.json"
    assert summary["version_id"] == pipeline.versions("results/ada/result.json")[-1]
    assert summary["request_id"] == result["request_id"]
    assert summary["views"] == ["front"]
    assert summary["outputs"]["face.obj"] == {
        "key": "results/ada/face.obj",
        "size": len(pipeline.read("results/ada/face.obj")),
    }
    assert document["failure"] is None
    assert document["what_to_do"] is None

    code, out, _ = run(capsys, "status", "--bucket", BUCKET, "ada")
    assert code == 0
    assert f"fingerprint {result['fingerprint']}" in out
    assert out.splitlines()[-1] == "status: ada succeeded"


def test_status_of_a_failed_subject_says_what_to_do(
    pipeline: Pipeline, api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    api.answer = "no-face"
    pipeline.invoke(pipeline.put("incoming/coffee.jpg", photos.grace_hopper_jpeg()))

    document = status_json(capsys, "coffee")

    assert document["state"] == "failed"
    failure = document["failure"]
    assert failure["code"] == "NO_FACE_FOUND"
    assert failure["retryable"] is False
    assert "face" in failure["what_to_do"]
    assert document["what_to_do"] == failure["what_to_do"]
    assert document["result"] is None


def test_status_of_a_folder_waiting_for_its_manifest(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline.put("incoming/katherine/front.jpg", photos.astronaut_jpeg())
    pipeline.put("incoming/katherine/notes.txt", b"not a view")

    document = status_json(capsys, "katherine")

    assert document["state"] == "waiting"
    assert document["complete"] is False
    assert document["fingerprint"] is None
    assert [i["key"] for i in document["inputs"]] == [
        "incoming/katherine/front.jpg",
        "incoming/katherine/notes.txt",
    ]
    assert "manifest.json" in document["what_to_do"]


def test_status_of_an_unknown_subject_fails_with_its_code(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "status", "--bucket", BUCKET, "nobody")
    assert code == 1
    assert out == ""
    assert err.startswith("error: INVALID_INPUT: no subject 'nobody'")


def test_backfill_triggers_the_pending_set_once_however_often_it_runs(
    pipeline: Pipeline,
    api: Api,
    invocations: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    every_state(pipeline, api)
    args = ("backfill", "--bucket", BUCKET, "--function-name", "face3d-reconstruct", "--rate", "50")

    code, out, _ = run(capsys, *args)

    assert code == 0
    assert out.splitlines()[-1].startswith("backfill: triggered 1 of 1 pending set(s)")
    (event,) = invocations
    (record,) = event["Records"]
    assert record["eventSource"] == "aws:s3"
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["s3"]["bucket"]["name"] == BUCKET
    assert record["s3"]["object"]["key"] == "incoming/dorothy/manifest.json"
    assert record["s3"]["object"]["eTag"] == pipeline.head("incoming/dorothy/manifest.json")[
        "ETag"
    ].strip('"')
    # Queued, not yet run: the set counts as in progress, and a second run leaves it alone.
    assert pipeline.claim_of("dorothy")["state"] == "released"
    assert status_json(capsys, "dorothy")["state"] == "in-progress"
    code, out, _ = run(capsys, *args)
    assert code == 0
    assert out.splitlines()[-1].startswith("backfill: triggered 0 of 0 pending set(s)")
    assert len(invocations) == 1

    # The invocation runs: it takes the queued claim over and makes the one API call.
    calls = api.calls
    pipeline.invoke(event)
    assert api.calls == calls + 1
    assert pipeline.results("dorothy") == ["face.mtl", "face.obj", "result.json", "tex.jpg"]
    assert pipeline.claim_of("dorothy")["attempts"] == 1
    assert status_json(capsys)["counts"]["succeeded"] == 2
    code, out, _ = run(capsys, *args)
    assert out.splitlines()[-1].startswith("backfill: triggered 0 of 0 pending set(s)")
    assert len(invocations) == 1


def test_backfill_dry_run_and_manifest_change_nothing(
    pipeline: Pipeline,
    api: Api,
    invocations: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Any,
) -> None:
    every_state(pipeline, api)
    pipeline.s3.put_object(Bucket=BUCKET, Key="incoming/José Núñez+1.jpg", Body=b"photo")
    before = pipeline.keys()

    code, out, _ = run(capsys, "backfill", "--bucket", BUCKET, "--dry-run")
    assert code == 0
    assert "would trigger dorothy: incoming/dorothy/manifest.json" in out
    assert out.splitlines()[-1].startswith("backfill: would trigger 2 of 2 pending set(s)")

    manifest = tmp_path / "backfill.csv"
    code, out, _ = run(capsys, "backfill", "--bucket", BUCKET, "--manifest-out", str(manifest))
    assert code == 0
    assert out.strip() == (
        f"backfill: wrote 2 pending set(s) to {manifest} "
        "(S3 Batch Operations CSV manifest: bucket,key)"
    )
    assert manifest.read_text().splitlines() == [
        f"{BUCKET},incoming/Jos%C3%A9%20N%C3%BA%C3%B1ez%2B1.jpg",
        f"{BUCKET},incoming/dorothy/manifest.json",
    ]
    assert invocations == []
    assert pipeline.keys() == before


def test_backfill_needs_a_function_to_trigger(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "backfill", "--bucket", BUCKET)
    assert code == 3
    assert "FUNCTION_NAME" in err


def test_redrive_replays_parked_sets_and_leaves_the_rest_visible(
    pipeline: Pipeline,
    api: Api,
    invocations: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    every_state(pipeline, api)  # coffee failed (permanent), grace parked (retryable)
    args = ("redrive", "--queue-url", pipeline.queue_url, "--function-name", "face3d-reconstruct")

    code, out, _ = run(capsys, *args, "--dry-run")
    assert code == 0
    assert out.splitlines() == [
        "would replay incoming/grace.jpg",
        "redrive: would replay 1 message(s); left 1 not retryable and 0 unrecognised on the queue",
    ]
    assert invocations == []
    assert visible(pipeline) == 2  # at once after a dry run

    code, out, _ = run(capsys, *args)
    assert code == 0
    assert out.strip() == (
        "redrive: replayed 1 message(s); left 1 not retryable and 0 unrecognised on the queue"
    )
    (event,) = invocations
    left = pipeline.messages()  # at once: the one it did not replay is visible again
    assert [m["body"]["error"]["code"] for m in left] == ["NO_FACE_FOUND"]

    pipeline.invoke(event)  # the replay: grace's parked set is taken up again
    assert "result.json" in pipeline.results("grace")


def visible(pipeline: Pipeline) -> int:
    attributes = pipeline.sqs.get_queue_attributes(
        QueueUrl=pipeline.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def test_redrive_include_permanent_tries_a_failed_set_again(
    pipeline: Pipeline,
    api: Api,
    invocations: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    api.answer = "no-face"
    pipeline.invoke(pipeline.put("incoming/coffee.jpg", photos.astronaut_jpeg()))
    assert "error.json" in pipeline.results("coffee")
    api.answer = "success"  # say the endpoint was fixed

    code, out, _ = run(
        capsys,
        "redrive",
        "--queue-url",
        pipeline.queue_url,
        "--function-name",
        "face3d-reconstruct",
        "--include-permanent",
    )

    assert code == 0
    assert out.startswith("redrive: replayed 1 message(s); left 0 not retryable")
    (event,) = invocations
    assert event["face3d_retry_failed"] is True
    calls = api.calls
    pipeline.invoke(event)
    assert api.calls == calls + 1
    assert pipeline.results("coffee") == ["face.mtl", "face.obj", "result.json", "tex.jpg"]
    assert status_json(capsys, "coffee")["state"] == "succeeded"
    # A plain duplicate of the same failed set does not call again.
    pipeline.invoke(event)
    assert api.calls == calls + 1


def test_the_batch_operations_function_triggers_what_is_still_pending(
    pipeline: Pipeline,
    api: Api,
    invocations: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    every_state(pipeline, api)
    monkeypatch.setenv("FUNCTION_NAME", "face3d-reconstruct")
    tasks = [
        ("t1", "incoming/dorothy/manifest.json"),
        ("t2", "incoming/ada.jpg"),
        ("t3", "incoming/katherine/front.jpg"),
    ]
    event = {
        "invocationSchemaVersion": "1.0",
        "invocationId": "inv-1",
        "job": {"id": "job-1"},
        "tasks": [
            {"taskId": task, "s3Key": key, "s3BucketArn": f"arn:aws:s3:::{BUCKET}"}
            for task, key in tasks
        ],
    }

    answer = backfill.batch_handler(event, None)

    assert [(r["taskId"], r["resultCode"], r["resultString"]) for r in answer["results"]] == [
        ("t1", "Succeeded", "triggered"),
        ("t2", "Succeeded", "left alone: succeeded"),
        ("t3", "Succeeded", "not a set's closing upload: folder-view"),
    ]
    (invocation,) = invocations
    assert invocation["Records"][0]["s3"]["object"]["key"] == "incoming/dorothy/manifest.json"
    # A job retried, or run twice, triggers nothing more.
    again = backfill.batch_handler(event, None)
    assert again["results"][0]["resultString"] == "left alone: in-progress"
    assert len(invocations) == 1
