"""Issue 8: result integrity under faults (DESIGN.md sections 4 to 6), one fault at a time.

Every test checks what a consumer and an operator see: `consistent_result` reads result.json and
the files it lists by version id, and checks the latest objects are those; the DLQ holds one
message per failed set; the API is paid once per set.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from face3d.errors import TransientError
from face3d.function import processing
from tests import photos
from tests.fakes import error_payload, success_payload
from tests.integration.faults import Faults, Killed, Rule
from tests.integration.harness import (
    BUCKET,
    ENDPOINT,
    FUNCTION_TIMEOUT_S,
    OUTPUT_FILES,
    RESULT_FILES,
    Pipeline,
    consistent_result,
    expect_failure,
    manifest,
    redrive,
)

NO_FACE = error_payload("NO_FACE_FOUND:image_base64_1")


def killed(pipeline: Pipeline, faults: Faults, event: dict[str, Any], request_id: str) -> None:
    """Invoke; the invocation must be cut off. The next one starts afresh."""
    with pytest.raises(Killed):
        pipeline.invoke(event, request_id)
    faults.revive()


def age_claim(pipeline: Pipeline, subject: str, seconds: float) -> None:
    """Make the subject's claim look `seconds` older, as a dead holder's would become."""
    for key, claim in pipeline.claims().items():
        if claim["subject"] == subject:
            claim["updated_at"] -= seconds
            pipeline.write_claim(key, claim)


def succeed_once(pipeline: Pipeline, key: str = "incoming/ada.jpg") -> dict[str, Any]:
    pipeline.api.post(ENDPOINT, json=success_payload())
    pipeline.invoke(pipeline.put(key, photos.astronaut_jpeg()), "req-first")
    document = consistent_result(pipeline, "ada")
    assert document is not None
    return document


# Defect 1: torn results.


def test_a_new_photo_whose_writes_keep_failing_leaves_the_older_result_whole(
    pipeline: Pipeline, faults: Faults
) -> None:
    before = succeed_once(pipeline)
    event = pipeline.put("incoming/ada.jpg", photos.grace_hopper_jpeg())
    faults.fail("PutObject", "results/ada/face.mtl", times=None)  # on every retry

    for _ in (1, 2):
        assert isinstance(pipeline.fail(event, "req-2"), TransientError)
        assert consistent_result(pipeline, "ada") == before
    assert pipeline.invoke(event, "req-2") == {"failed": 1}  # the last attempt parks it

    assert consistent_result(pipeline, "ada") == before
    expect_failure(pipeline, subject="ada", code="S3_ERROR", retryable=True, error_json=False)
    assert len(pipeline.api.calls) == 2  # the first set once, the new one once in 3 attempts


# Defect 2: stale writers.


def newer_manifest_processed(pipeline: Pipeline, outcome: list[dict[str, Any]]) -> None:
    newer = pipeline.put(
        "incoming/ada/manifest.json",
        manifest({"texture": False, "mtl": False, "metadata": {"v": 2}}),
    )
    outcome.append(pipeline.invoke(newer, "req-newer"))


def two_manifests(pipeline: Pipeline) -> dict[str, Any]:
    pipeline.put("incoming/ada/front.jpg", photos.astronaut_jpeg())
    answers = iter([success_payload(), success_payload(texture=False, mtl=False)])
    pipeline.api.add_callback(
        "POST", ENDPOINT, callback=lambda _: (200, {}, json.dumps(next(answers)))
    )
    return pipeline.put("incoming/ada/manifest.json", manifest({"metadata": {"v": 1}}))


@pytest.mark.parametrize(
    "held_back",
    [
        pytest.param("results/ada/face.obj", id="outputs-written-after-the-newer-result"),
        pytest.param("results/ada/result.json", id="commit-after-the-newer-commit"),
    ],
)
def test_an_older_set_whose_writes_come_late_never_replaces_the_newer_result(
    pipeline: Pipeline, faults: Faults, held_back: str
) -> None:
    older = two_manifests(pipeline)
    newer: list[dict[str, Any]] = []
    # The older invocation is held back at this write until the newer set has finished.
    faults.delay("PutObject", held_back, lambda: newer_manifest_processed(pipeline, newer))

    assert pipeline.invoke(older, "req-older") == {"superseded": 1}

    assert newer == [{"succeeded": 1}]
    document = consistent_result(pipeline, "ada")
    assert document is not None
    assert sorted(document["outputs"]) == ["face.obj"]  # the newer set's options
    assert pipeline.results("ada") == ["face.obj", "result.json"]


def front_etag(document: dict[str, Any]) -> str:
    return str(document["inputs"]["front"]["etag"])


@pytest.mark.parametrize(
    "held_back",
    [
        pytest.param("results/ada/face.obj", id="outputs-written-after-the-newer-result"),
        pytest.param("results/ada/result.json", id="commit-after-the-newer-commit"),
    ],
)
def test_an_older_set_whose_manifest_was_uploaded_again_unchanged_never_replaces_the_newer(
    pipeline: Pipeline, faults: Faults, held_back: str
) -> None:
    """A view replaced, then the very same manifest again (as `make soak` found): the newer set
    has the older manifest's ETag, so only the folder tells the two sets apart."""
    pipeline.put("incoming/ada/front.jpg", photos.astronaut_jpeg())
    older = pipeline.put("incoming/ada/manifest.json", manifest())
    pipeline.api.post(ENDPOINT, json=success_payload())
    newer: list[dict[str, Any]] = []
    newer_front: list[str] = []

    def newer_set() -> None:
        replaced = pipeline.put("incoming/ada/front.jpg", photos.grace_hopper_jpeg())
        newer_front.append(replaced["Records"][0]["s3"]["object"]["eTag"])
        event = pipeline.put("incoming/ada/manifest.json", manifest())  # the same bytes
        newer.append(pipeline.invoke(event, "req-newer"))

    # The older invocation is held back at this write until the newer set has finished.
    faults.delay("PutObject", held_back, newer_set)

    assert pipeline.invoke(older, "req-older") == {"superseded": 1}

    assert newer == [{"succeeded": 1}]
    document = consistent_result(pipeline, "ada")
    assert document is not None
    assert front_etag(document) == newer_front[0]
    assert len(pipeline.api.calls) == 2
    assert pipeline.messages() == []


def test_the_same_manifest_uploaded_again_over_the_same_views_is_the_same_set(
    pipeline: Pipeline, faults: Faults
) -> None:
    pipeline.put("incoming/ada/front.jpg", photos.astronaut_jpeg())
    first = pipeline.put("incoming/ada/manifest.json", manifest())
    pipeline.api.post(ENDPOINT, json=success_payload())
    again: list[dict[str, Any]] = []

    def identical_upload() -> None:
        event = pipeline.put("incoming/ada/manifest.json", manifest())
        again.append(pipeline.invoke(event, "req-again"))

    faults.delay("PutObject", "results/ada/result.json", identical_upload)

    assert pipeline.invoke(first, "req-first") == {"succeeded": 1}

    assert again == [{"duplicate": 1}]  # the set is held: one call, one result
    assert consistent_result(pipeline, "ada") is not None
    assert len(pipeline.api.calls) == 1


def test_a_view_replaced_without_the_manifest_again_leaves_the_set_in_flight_standing(
    pipeline: Pipeline, faults: Faults
) -> None:
    """A folder set is closed by its manifest only: a view changed later waits for it."""
    pipeline.put("incoming/ada/front.jpg", photos.astronaut_jpeg())
    event = pipeline.put("incoming/ada/manifest.json", manifest())
    pipeline.api.post(ENDPOINT, json=success_payload())
    read_front: list[str] = []

    def replace_view() -> None:
        read_front.append(pipeline.head("incoming/ada/front.jpg")["ETag"].strip('"'))
        pipeline.put("incoming/ada/front.jpg", photos.grace_hopper_jpeg())

    faults.delay("PutObject", "results/ada/result.json", replace_view)

    assert pipeline.invoke(event, "req-1") == {"succeeded": 1}

    document = consistent_result(pipeline, "ada")
    assert document is not None
    assert front_etag(document) == read_front[0]  # the set as its manifest closed it


@pytest.mark.parametrize("newer_outcome", ["succeeded", "failed"])
def test_an_older_failure_recorded_late_never_stands_beside_the_newer_outcome(
    pipeline: Pipeline, faults: Faults, newer_outcome: str
) -> None:
    pipeline.put("incoming/ada/front.jpg", photos.astronaut_jpeg())
    older = pipeline.put("incoming/ada/manifest.json", manifest({"views": {"front": "x.jpg"}}))
    newer: list[dict[str, Any]] = []
    pipeline.api.post(ENDPOINT, json=success_payload())

    def newer_set() -> None:
        document = {} if newer_outcome == "succeeded" else {"views": {"front": "y.jpg"}}
        event = pipeline.put("incoming/ada/manifest.json", manifest(document))
        newer.append(pipeline.invoke(event, "req-newer"))

    # The older set's error.json is held back until the newer set has its outcome.
    faults.delay("PutObject", "results/ada/error.json", newer_set)

    # The older set did fail (its message went out first), but its error.json does not stand.
    assert pipeline.invoke(older, "req-older") == {"failed": 1}

    assert newer == [{newer_outcome: 1}]
    messages = [m["body"]["error"]["message"] for m in pipeline.messages()]
    assert len([m for m in messages if "x.jpg" in m]) == 1
    names = pipeline.results("ada")
    if newer_outcome == "succeeded":
        assert names == RESULT_FILES  # no older error.json beside the newer result
        assert consistent_result(pipeline, "ada") is not None
    else:
        assert names == ["error.json"]
        assert "y.jpg" in pipeline.json("results/ada/error.json")["error"]["message"]


# Defect 3: paid once.


@pytest.mark.parametrize(
    "key", ["results/ada/face.obj", "results/ada/face.mtl", "results/ada/tex.jpg", "result.json"]
)
def test_s3_failing_on_each_result_write_in_turn_is_paid_once(
    pipeline: Pipeline, faults: Faults, key: str
) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    event = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())
    faults.fail("PutObject", key)

    assert isinstance(pipeline.fail(event, "req-1"), TransientError)
    assert consistent_result(pipeline, "ada") is None  # nothing half-written stays current
    assert pipeline.invoke(event, "req-1") == {"succeeded": 1}

    assert len(pipeline.api.calls) == 1
    assert consistent_result(pipeline, "ada") is not None
    assert pipeline.results("ada") == RESULT_FILES
    assert pipeline.messages() == []


def test_storing_the_answer_failing_does_not_stop_the_result(
    pipeline: Pipeline, faults: Faults
) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    faults.fail("PutObject", ".answer")

    assert pipeline.invoke(pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())) == {
        "succeeded": 1
    }

    assert consistent_result(pipeline, "ada") is not None
    assert len(pipeline.api.calls) == 1


def test_a_set_parked_after_its_answer_is_redriven_without_a_second_call(
    pipeline: Pipeline, faults: Faults
) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    event = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())
    rule = faults.fail("PutObject", "results/ada/face.obj", times=None)
    for _ in (1, 2):
        assert isinstance(pipeline.fail(event, "req-1"), TransientError)
    assert pipeline.invoke(event, "req-1") == {"failed": 1}
    expect_failure(pipeline, subject="ada", code="S3_ERROR", retryable=True, error_json=False)
    faults.rules.remove(rule)  # S3 is well again; the operator redrives

    assert pipeline.invoke(redrive(event), "req-9") == {"succeeded": 1}

    assert len(pipeline.api.calls) == 1
    assert consistent_result(pipeline, "ada") is not None
    assert pipeline.messages() == []


@pytest.mark.parametrize("retry", ["lambda-retry", "takeover"])
def test_killed_after_the_answer_the_next_delivery_completes_without_a_call(
    pipeline: Pipeline, faults: Faults, capsys: pytest.CaptureFixture[str], retry: str
) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    event = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())
    faults.kill("PutObject", "results/ada/tex.jpg")  # after the answer and face.obj, face.mtl

    killed(pipeline, faults, event, "req-1")
    assert pipeline.claim_of("ada")["state"] == "held"  # nobody released it
    if retry == "takeover":  # another delivery, once the dead holder's claim is stale
        assert pipeline.invoke(event, "req-2") == {"duplicate": 1}
        age_claim(pipeline, "ada", FUNCTION_TIMEOUT_S + 1)
    request_id = "req-1" if retry == "lambda-retry" else "req-3"

    assert pipeline.invoke(event, request_id) == {"succeeded": 1}

    assert len(pipeline.api.calls) == 1
    assert '"AnswersReused":[1.0]' in capsys.readouterr().out  # the metric counts the saved call
    assert consistent_result(pipeline, "ada") is not None
    # The killed attempt's face.obj and face.mtl stay behind as older, noncurrent versions,
    # which no result.json lists (the lifecycle rule expires them).
    assert len(pipeline.versions("results/ada/face.obj")) == 2


def test_killed_after_its_claim_the_next_delivery_calls_once(
    pipeline: Pipeline, faults: Faults
) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    event = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())
    faults.kill("GetObject", "incoming/ada.jpg")  # the image download, right after the claim

    killed(pipeline, faults, event, "req-1")
    assert len(pipeline.api.calls) == 0
    assert pipeline.invoke(event, "req-1") == {"succeeded": 1}

    assert len(pipeline.api.calls) == 1
    assert consistent_result(pipeline, "ada") is not None


def test_killed_before_the_answer_was_stored_is_the_one_window_paid_twice(
    pipeline: Pipeline, faults: Faults
) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    event = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())
    faults.kill("PutObject", ".answer")

    killed(pipeline, faults, event, "req-1")
    assert pipeline.invoke(event, "req-1") == {"succeeded": 1}

    assert len(pipeline.api.calls) == 2  # documented: a window of one PutObject
    assert consistent_result(pipeline, "ada") is not None


# Defect 4: malformed successes.


def huge_matrix_entry() -> str:
    payload = success_payload()
    payload["transfer_matrix"][0][0] = "__HUGE__"
    return json.dumps(payload).replace('"__HUGE__"', "9" * 401)


def deeply_nested() -> str:
    return json.dumps(success_payload())[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}"


@pytest.mark.parametrize("body", [huge_matrix_entry, deeply_nested], ids=["401-digits", "deep"])
def test_a_malformed_success_is_a_transient_bad_response_then_our_envelope(
    pipeline: Pipeline, body: Any
) -> None:
    pipeline.api.post(ENDPOINT, body=body(), content_type="application/json")
    event = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())

    for _ in (1, 2):
        error = pipeline.fail(event, "req-1")
        assert isinstance(error, TransientError)
        assert error.code == "BAD_RESPONSE"
    assert pipeline.invoke(event, "req-1") == {"failed": 1}

    expect_failure(pipeline, subject="ada", code="BAD_RESPONSE", retryable=True, error_json=False)


# Defect 9: strict JSON.


def test_a_manifest_number_that_overflows_is_invalid_and_nothing_holds_infinity(
    pipeline: Pipeline,
) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    pipeline.put("incoming/ada/front.jpg", photos.astronaut_jpeg())
    event = pipeline.put("incoming/ada/manifest.json", b'{"metadata": {"x": 1e400}}')

    assert pipeline.invoke(event) == {"failed": 1}

    expect_failure(
        pipeline, subject="ada", code="INVALID_MANIFEST", retryable=False, error_json=True
    )
    assert len(pipeline.api.calls) == 0
    assert "Infinity" not in pipeline.read("results/ada/error.json").decode()


def test_metadata_nested_990_deep_is_invalid_not_a_crash(pipeline: Pipeline) -> None:
    pipeline.put("incoming/ada/front.jpg", photos.astronaut_jpeg())
    data = b'{"metadata": {"a": ' + b"[" * 990 + b"]" * 990 + b"}}"

    assert pipeline.invoke(pipeline.put("incoming/ada/manifest.json", data)) == {"failed": 1}

    expect_failure(
        pipeline, subject="ada", code="INVALID_MANIFEST", retryable=False, error_json=True
    )


# Defect 5: one failure record per set.


def test_error_json_refused_after_the_message_was_sent_gives_one_message(
    pipeline: Pipeline, faults: Faults
) -> None:
    pipeline.api.post(ENDPOINT, json=NO_FACE, status=400)
    event = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())
    faults.fail("PutObject", "results/ada/error.json")

    assert isinstance(pipeline.fail(event, "req-1"), TransientError)
    assert pipeline.invoke(event, "req-1") == {"failed": 1}

    expect_failure(pipeline, subject="ada", code="NO_FACE_FOUND", retryable=False, error_json=True)
    assert len(pipeline.api.calls) == 1
    assert pipeline.invoke(event, "req-2") == {"duplicate": 1}
    assert pipeline.messages() == []


def test_error_json_refused_on_the_last_attempt_sends_no_second_record(
    pipeline: Pipeline, faults: Faults
) -> None:
    pipeline.api.post(ENDPOINT, json=error_payload("INTERNAL_ERROR"), status=500)
    event = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())
    for _ in (1, 2):
        assert isinstance(pipeline.fail(event, "req-1"), TransientError)
    pipeline.api.replace("POST", ENDPOINT, json=NO_FACE, status=400)
    faults.fail("PutObject", "results/ada/error.json")

    # Raising now would add Lambda's own failure record to the queue: the last attempt returns.
    assert pipeline.invoke(event, "req-1") == {"failed": 1}
    (message,) = pipeline.messages()
    assert message["body"]["error"]["code"] == "NO_FACE_FOUND"

    # The next delivery of the set writes error.json from the recorded envelope, sends nothing.
    assert pipeline.invoke(event, "req-2") == {"failed": 1}
    assert pipeline.json("results/ada/error.json") == message["body"]
    assert pipeline.messages() == []


def test_killed_between_the_message_and_error_json_gives_one_message(
    pipeline: Pipeline, faults: Faults
) -> None:
    pipeline.api.post(ENDPOINT, json=NO_FACE, status=400)
    event = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())
    faults.kill("PutObject", "results/ada/error.json")

    killed(pipeline, faults, event, "req-1")
    assert pipeline.invoke(event, "req-1") == {"failed": 1}

    expect_failure(pipeline, subject="ada", code="NO_FACE_FOUND", retryable=False, error_json=True)
    assert len(pipeline.api.calls) == 1


def test_killed_right_after_sending_is_the_one_window_of_a_second_message(
    pipeline: Pipeline, faults: Faults
) -> None:
    pipeline.api.post(ENDPOINT, json=NO_FACE, status=400)
    event = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())
    # The claim's PutObject that records the message is its second write after the claim.
    faults.kill("PutObject", ".json", skip=1)

    killed(pipeline, faults, event, "req-1")
    assert pipeline.invoke(event, "req-1") == {"failed": 1}

    assert len(pipeline.messages()) == 2  # documented: a window of one call


# Defect 6: a success is never reported as a failure.


@pytest.mark.parametrize(("code", "status"), [("AccessDenied", 403), ("InternalError", 500)])
def test_an_older_error_json_that_cannot_be_deleted_leaves_the_success_a_success(
    pipeline: Pipeline, faults: Faults, code: str, status: int
) -> None:
    pipeline.api.post(ENDPOINT, json=NO_FACE, status=400)
    pipeline.invoke(pipeline.put("incoming/ada.jpg", photos.grace_hopper_jpeg()), "req-1")
    expect_failure(pipeline, subject="ada", code="NO_FACE_FOUND", retryable=False, error_json=True)
    pipeline.api.replace("POST", ENDPOINT, json=success_payload())
    event = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())
    rule = faults.fail(
        "DeleteObject", "results/ada/error.json", code=code, status=status, times=None
    )

    for request_id in ("req-2", "req-2"):  # the last attempt too: 2 of 3 here
        assert pipeline.invoke(event, request_id) in ({"succeeded": 1}, {"duplicate": 1})

    assert pipeline.messages() == []
    assert consistent_result(pipeline, "ada") is not None
    assert "error.json" in pipeline.results("ada")  # stale, until the clean-up succeeds
    faults.rules.remove(rule)

    assert pipeline.invoke(event, "req-3") == {"duplicate": 1}  # the next delivery cleans up

    assert pipeline.results("ada") == RESULT_FILES
    assert len(pipeline.api.calls) == 2


# Defect 7: steps before the claim.


@pytest.mark.parametrize(
    ("operation", "key"),
    [
        pytest.param("GetObject", "incoming/ada/manifest.json", id="manifest-read"),
        pytest.param("ListObjectsV2", None, id="folder-listing"),
        pytest.param("HeadObject", "incoming/ada/manifest.json", id="result-check"),
    ],
)
def test_s3_access_denied_before_the_claim_is_a_configuration_failure_recorded_once(
    pipeline: Pipeline, faults: Faults, operation: str, key: str | None
) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    pipeline.put("incoming/ada/front.jpg", photos.astronaut_jpeg())
    event = pipeline.put("incoming/ada/manifest.json", manifest())
    if operation == "HeadObject":
        faults.deny("HeadObject", "results/ada/result.json")
    else:
        faults.deny(operation, key)

    assert pipeline.invoke(event, "req-1") == {"failed": 1}
    assert pipeline.invoke(event, "req-2") == {"duplicate": 1}  # S3 delivers it again

    body = expect_failure(
        pipeline, subject="ada", code="S3_ERROR", retryable=True, error_json=False
    )
    assert "access denied" in body["error"]["message"]
    assert len(pipeline.api.calls) == 0


def test_s3_access_denied_on_a_single_image_is_recorded_once_and_redriven(
    pipeline: Pipeline, faults: Faults
) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    event = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())
    rule = faults.deny("HeadObject", "incoming/ada.jpg")

    assert pipeline.invoke(event, "req-1") == {"failed": 1}
    assert pipeline.invoke(event, "req-2") == {"duplicate": 1}
    body = expect_failure(
        pipeline, subject="ada", code="S3_ERROR", retryable=True, error_json=False
    )
    assert [source["key"] for source in body["inputs"]] == ["incoming/ada.jpg"]
    faults.rules.remove(rule)  # the operator fixes the role, and redrives

    assert pipeline.invoke(redrive(event), "req-3") == {"succeeded": 1}
    assert consistent_result(pipeline, "ada") is not None


def test_s3_failing_before_the_claim_on_every_attempt_is_recorded_once(
    pipeline: Pipeline, faults: Faults
) -> None:
    pipeline.put("incoming/ada/front.jpg", photos.astronaut_jpeg())
    event = pipeline.put("incoming/ada/manifest.json", manifest())
    faults.fail("GetObject", "incoming/ada/manifest.json", times=None)

    for _ in (1, 2):
        assert isinstance(pipeline.fail(event, "req-1"), TransientError)
    assert pipeline.invoke(event, "req-1") == {"failed": 1}

    expect_failure(pipeline, subject="ada", code="S3_ERROR", retryable=True, error_json=False)


# Defect 11: the write reserve.


def test_an_invocation_with_a_few_seconds_left_still_tries(pipeline: Pipeline) -> None:
    # 5 s left: the old fixed reserve of 10 s gave the set back without a call.
    pipeline.api.post(ENDPOINT, json=success_payload())
    event = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())

    assert pipeline.invoke(event, "req-1", remaining_ms=5_000) == {"succeeded": 1}

    assert len(pipeline.api.calls) == 1
    assert consistent_result(pipeline, "ada") is not None


# The other faults, one at a time.


@pytest.mark.parametrize(
    ("operation", "key"),
    [
        pytest.param("GetObject", "incoming/ada/front.jpg", id="view-read"),
        pytest.param("GetObject", "incoming/ada/manifest.json", id="manifest-read"),
        pytest.param("HeadObject", "results/ada/result.json", id="result-check"),
        pytest.param("ListObjectsV2", None, id="folder-listing"),
    ],
)
def test_s3_reads_failing_once_are_retried_by_lambda(
    pipeline: Pipeline, faults: Faults, operation: str, key: str | None
) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    pipeline.put("incoming/ada/front.jpg", photos.astronaut_jpeg())
    event = pipeline.put("incoming/ada/manifest.json", manifest())
    faults.fail(operation, key, code="SlowDown", status=503)

    assert isinstance(pipeline.fail(event, "req-1"), TransientError)
    assert pipeline.invoke(event, "req-1") == {"succeeded": 1}

    assert len(pipeline.api.calls) == 1
    assert consistent_result(pipeline, "ada") is not None
    assert pipeline.messages() == []


def test_sqs_refusing_the_message_fails_the_invocation_and_the_retry_sends_one(
    pipeline: Pipeline, faults: Faults
) -> None:
    pipeline.api.post(ENDPOINT, json=NO_FACE, status=400)
    event = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())
    faults.fail("SendMessage", code="AWS.SimpleQueueService.InternalError")

    error = pipeline.fail(event, "req-1")  # Lambda keeps the event

    assert isinstance(error, TransientError)
    assert error.code == "SQS_ERROR"
    assert "error.json" not in pipeline.results("ada")
    assert pipeline.invoke(event, "req-1") == {"failed": 1}
    expect_failure(pipeline, subject="ada", code="NO_FACE_FOUND", retryable=False, error_json=True)


def test_secrets_manager_unavailable_is_retried_then_recorded_once(
    pipeline: Pipeline, faults: Faults
) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    event = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())
    faults.fail("GetSecretValue", code="InternalServiceError", times=None)

    for _ in (1, 2):
        error = pipeline.fail(event, "req-1")
        assert isinstance(error, TransientError)
        assert error.code == "SECRETS_MANAGER_ERROR"
    assert pipeline.invoke(event, "req-1") == {"failed": 1}

    expect_failure(
        pipeline, subject="ada", code="SECRETS_MANAGER_ERROR", retryable=True, error_json=False
    )
    assert len(pipeline.api.calls) == 0


def test_a_claim_that_cannot_be_written_gives_the_event_back(
    pipeline: Pipeline, faults: Faults
) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    event = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())
    faults.fail("PutObject", ".json")  # the claim

    assert isinstance(pipeline.fail(event, "req-1"), TransientError)
    assert pipeline.invoke(event, "req-1") == {"succeeded": 1}
    assert len(pipeline.api.calls) == 1


def test_a_claim_that_cannot_be_settled_leaves_the_success_a_success(
    pipeline: Pipeline, faults: Faults
) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    event = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())
    # The claim's second write: marking it done.
    faults.fail("PutObject", "results/.claims/*.json", skip=1)

    assert pipeline.invoke(event, "req-1") == {"succeeded": 1}

    assert consistent_result(pipeline, "ada") is not None
    assert pipeline.only_claim()[1]["state"] == "held"  # stale in time; result.json stands
    assert pipeline.invoke(event, "req-2") == {"duplicate": 1}
    assert len(pipeline.api.calls) == 1
    assert pipeline.messages() == []


def test_a_newer_set_that_cannot_be_checked_for_before_the_claim_does_not_stop_the_set(
    pipeline: Pipeline, faults: Faults
) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    event = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())
    # A single image's first listing is the look for a newer set of the subject before the claim.
    faults.fail("ListObjectsV2", code="SlowDown", status=503)

    assert pipeline.invoke(event, "req-1") == {"succeeded": 1}

    assert consistent_result(pipeline, "ada") is not None
    assert faults.count("ListObjectsV2") == 2  # checked again, as always, before the commit


def test_result_json_changing_under_every_commit_gives_the_set_back_paid_once(
    pipeline: Pipeline, faults: Faults
) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    event = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())

    writes = iter(range(5))

    def another_writer() -> None:  # each time other bytes, so another ETag
        pipeline.s3.put_object(
            Bucket=BUCKET,
            Key="results/ada/result.json",
            Body=json.dumps({"outputs": {}, "write": next(writes)}).encode(),
            Metadata={"fingerprint": "0" * 64},
        )

    for lost in range(5):  # every compare-and-swap loses
        faults.rules.append(
            Rule("PutObject", "results/ada/result.json", skip=lost, meanwhile=another_writer)
        )

    error = pipeline.fail(event, "req-1")

    assert isinstance(error, TransientError)
    assert "kept changing" in error.message
    assert pipeline.results("ada") == ["result.json"]  # its outputs taken back
    assert pipeline.only_claim()[1]["state"] == "released"
    assert pipeline.invoke(event, "req-1") == {"succeeded": 1}
    assert consistent_result(pipeline, "ada") is not None
    assert len(pipeline.api.calls) == 1
    assert pipeline.messages() == []


def test_a_bug_gives_the_set_back_and_takes_back_what_it_wrote(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    event = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())
    real_build_result = processing.build_result
    bugs = [RuntimeError("a bug between the outputs and result.json")]

    def build_result(**fields: Any) -> dict[str, Any]:
        if bugs:
            raise bugs.pop()
        return real_build_result(**fields)

    monkeypatch.setattr(processing, "build_result", build_result)

    assert isinstance(pipeline.fail(event, "req-1"), RuntimeError)

    assert pipeline.results("ada") == []  # the outputs it wrote are deleted
    assert pipeline.only_claim()[1]["state"] == "released"
    assert pipeline.invoke(event, "req-2") == {"succeeded": 1}  # taken at once, not stale
    assert consistent_result(pipeline, "ada") is not None
    assert len(pipeline.api.calls) == 1  # from the stored answer
    assert pipeline.messages() == []


def pattern(key: str | None) -> str | None:
    """A call's key with the set's fingerprint left open: claims and answers are named by it."""
    if key is not None and "/.claims/" in key:
        return "results/.claims/*" + key[key.rindex(".") :]
    return key


def test_a_kill_at_any_call_of_a_success_ends_in_one_consistent_result(
    pipeline: Pipeline, faults: Faults
) -> None:
    """Cut off at each AWS call of a successful invocation in turn, then retried by Lambda."""
    pipeline.api.post(ENDPOINT, json=success_payload())
    photo = photos.astronaut_jpeg()
    pipeline.invoke(pipeline.put("incoming/ada.jpg", photo + b"0"), "req-a")
    faults.calls.clear()
    # The calls of a success over an older result (a new photo of ada).
    pipeline.invoke(pipeline.put("incoming/ada.jpg", photo + b"1"), "req-b")
    calls = [(operation, pattern(key)) for operation, key in faults.calls]
    assert len(calls) > 10
    for index, (operation, key) in enumerate(calls):
        event = pipeline.put("incoming/ada.jpg", photo + f"round {index}".encode())
        pipeline.api.calls.reset()
        faults.kill(operation, key, skip=calls[:index].count((operation, key)))
        try:
            pipeline.invoke(event, f"req-{index}")
        except Killed:
            faults.revive()
            # Killed after its commit, the set is finished: the retry finds it so.
            outcome = pipeline.invoke(event, f"req-{index}")
            assert outcome in ({"succeeded": 1}, {"duplicate": 1}), (operation, key)
        faults.clear()
        document = consistent_result(pipeline, "ada")
        assert document is not None, (operation, key)
        current = pipeline.head("incoming/ada.jpg")["ETag"].strip('"')
        assert document["inputs"]["front"]["etag"] == current, (operation, key)
        paid = 2 if key is not None and key.endswith(".answer") else 1
        assert len(pipeline.api.calls) <= paid, (operation, key)
    assert pipeline.messages() == []


def test_a_result_written_before_version_ids_is_replaced_whole(pipeline: Pipeline) -> None:
    # What the function wrote before results were published by version: outputs without a
    # fingerprint, and a result.json that lists no version ids.
    for name in OUTPUT_FILES:
        pipeline.s3.put_object(
            Bucket=BUCKET, Key=f"results/ada/{name}", Body=b"old " + name.encode()
        )
    outputs = {
        name: {"key": f"results/ada/{name}", "size": 1, "sha256": "0"} for name in OUTPUT_FILES
    }
    pipeline.s3.put_object(
        Bucket=BUCKET,
        Key="results/ada/result.json",
        Body=json.dumps({"schema": "face3d.result/v1", "outputs": outputs}).encode(),
        Metadata={"fingerprint": "0" * 64},
    )
    pipeline.api.post(ENDPOINT, json=success_payload(texture=False, mtl=False))
    pipeline.put("incoming/ada/front.jpg", photos.astronaut_jpeg())
    event = pipeline.put("incoming/ada/manifest.json", manifest({"texture": False, "mtl": False}))

    assert pipeline.invoke(event) == {"succeeded": 1}

    assert pipeline.results("ada") == ["face.obj", "result.json"]
    assert consistent_result(pipeline, "ada") is not None
    assert len(pipeline.versions("results/ada/face.mtl")) == 1  # hidden, its history kept
