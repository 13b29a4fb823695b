"""DESIGN.md section 5: one terminal outcome, and one API call, per set."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import threading
import time
from typing import Any

import pytest
from PIL import Image

from face3d.errors import ConfigurationError, TransientError
from face3d.function import handler
from face3d.function.redrive import Decision, decide
from tests import photos
from tests.fakes import error_payload, success_payload
from tests.integration.faults import Faults
from tests.integration.harness import (
    ENDPOINT,
    FUNCTION_TIMEOUT_S,
    RESULT_FILES,
    Pipeline,
    ScriptedApi,
    consistent_result,
    expect_failure,
    manifest,
    merge_events,
    redrive,
    request_field,
    sent_image,
)

SUCCESS = (200, success_payload())
INTERNAL_ERROR = (500, error_payload("INTERNAL_ERROR"))


def claim_left_by(
    pipeline: Pipeline, event: dict[str, Any], *, holder: str, age: float, attempts: int = 1
) -> str:
    """Leave the set of `event` claimed (HELD) by `holder`, last updated `age` seconds ago.

    The claim is the pipeline's own: a first delivery fails transiently and releases it, and
    the claim is then rewritten as an invocation that is still working (or died) would leave it.
    Returns the claim's key; the API's call log is emptied.
    """
    pipeline.api.add_callback("POST", ENDPOINT, callback=ScriptedApi(INTERNAL_ERROR))
    assert isinstance(pipeline.fail(event, "req-setup"), TransientError)
    key, claim = pipeline.only_claim()
    assert claim["state"] == "released"
    claim.update(state="held", holder=holder, updated_at=time.time() - age, attempts=attempts)
    pipeline.write_claim(key, claim)
    pipeline.api.reset()
    return key


# Duplicates.


def test_a_duplicate_delivery_makes_no_second_call(pipeline: Pipeline, faults: Faults) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    event = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())

    assert pipeline.invoke(event, "req-1") == {"succeeded": 1}
    result = pipeline.read("results/ada/result.json")
    faults.calls.clear()
    assert pipeline.invoke(event, "req-2") == {"duplicate": 1}
    assert pipeline.invoke(event, "req-1") == {"duplicate": 1}

    assert len(pipeline.api.calls) == 1
    # Each finds result.json with one HEAD, and tidies the folder from that same look.
    assert faults.count("HeadObject", "results/ada/result.json") == 2
    assert pipeline.read("results/ada/result.json") == result
    assert len(pipeline.versions("results/ada/result.json")) == 1
    assert pipeline.messages() == []


def test_a_duplicate_delivery_of_a_failed_set_publishes_nothing_more(pipeline: Pipeline) -> None:
    pipeline.api.post(ENDPOINT, json=error_payload("NO_FACE_FOUND:image_base64_1"), status=400)
    event = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())
    assert pipeline.invoke(event, "req-1") == {"failed": 1}
    expect_failure(pipeline, subject="ada", code="NO_FACE_FOUND", retryable=False, error_json=True)

    assert pipeline.invoke(event, "req-2") == {"duplicate": 1}
    assert pipeline.invoke(redrive(event), "req-3") == {"duplicate": 1}  # not retryable

    assert len(pipeline.api.calls) == 1
    assert pipeline.messages() == []
    assert len(pipeline.versions("results/ada/error.json")) == 1


def test_an_identical_manifest_uploaded_again_is_a_duplicate(pipeline: Pipeline) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    pipeline.put("incoming/ada/front.jpg", photos.astronaut_jpeg())
    first = pipeline.put("incoming/ada/manifest.json", manifest({"metadata": {"a": 1}}))
    assert pipeline.invoke(first, "req-1") == {"succeeded": 1}

    again = pipeline.put("incoming/ada/manifest.json", manifest({"metadata": {"a": 1}}))
    assert (
        again["Records"][0]["s3"]["object"]["eTag"] == first["Records"][0]["s3"]["object"]["eTag"]
    )
    assert pipeline.invoke(again, "req-2") == {"duplicate": 1}

    assert len(pipeline.api.calls) == 1
    assert len(pipeline.versions("results/ada/result.json")) == 1


def test_going_back_to_an_earlier_photo_makes_it_current_again(pipeline: Pipeline) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    first = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())
    assert pipeline.invoke(first, "req-1") == {"succeeded": 1}
    earlier = pipeline.json("results/ada/result.json")["fingerprint"]
    second = pipeline.put("incoming/ada.jpg", photos.grace_hopper_jpeg())
    assert pipeline.invoke(second, "req-2") == {"succeeded": 1}

    back = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())  # the same bytes again
    assert pipeline.invoke(back, "req-3") == {"succeeded": 1}

    # Written again from the answer stored beside its claim: paid once.
    assert pipeline.json("results/ada/result.json")["fingerprint"] == earlier
    assert len(pipeline.api.calls) == 2
    assert consistent_result(pipeline, "ada") is not None
    # Late duplicates of either event change nothing: the photo there now has its result.
    assert pipeline.invoke(second, "req-4") == {"duplicate": 1}
    assert pipeline.invoke(back, "req-5") == {"duplicate": 1}
    assert len(pipeline.api.calls) == 2
    assert pipeline.json("results/ada/result.json")["fingerprint"] == earlier


def test_going_back_to_a_photo_that_failed_records_its_failure_again_unpaid(
    pipeline: Pipeline,
) -> None:
    no_face = (400, error_payload("NO_FACE_FOUND:image_base64_1"))
    pipeline.api.add_callback(
        "POST", ENDPOINT, callback=ScriptedApi(no_face, (200, success_payload()))
    )
    first = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())
    assert pipeline.invoke(first, "req-1") == {"failed": 1}
    failure = expect_failure(
        pipeline, subject="ada", code="NO_FACE_FOUND", retryable=False, error_json=True
    )
    second = pipeline.put("incoming/ada.jpg", photos.grace_hopper_jpeg())
    assert pipeline.invoke(second, "req-2") == {"succeeded": 1}
    assert "error.json" not in pipeline.results("ada")  # the success cleared it

    back = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())  # the same bytes again
    assert pipeline.invoke(back, "req-3") == {"failed": 1}

    # The photo there now has its outcome again: the same failure, neither paid nor reported
    # twice, beside the other photo's files (as any failure after a success).
    error = pipeline.json("results/ada/error.json")
    assert error["fingerprint"] == failure["fingerprint"]
    assert error["error"]["code"] == "NO_FACE_FOUND"
    assert len(pipeline.api.calls) == 2
    assert pipeline.messages() == []
    assert pipeline.json("results/ada/result.json")["fingerprint"] != failure["fingerprint"]
    assert pipeline.invoke(back, "req-4") == {"duplicate": 1}
    assert len(pipeline.api.calls) == 2


def test_a_changed_view_and_a_new_manifest_are_processed_again(pipeline: Pipeline) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    pipeline.put("incoming/ada/front.jpg", photos.astronaut_jpeg())
    pipeline.invoke(pipeline.put("incoming/ada/manifest.json", manifest()), "req-1")
    first = pipeline.json("results/ada/result.json")

    # A changed view alone waits for its manifest ...
    changed = pipeline.put("incoming/ada/front.jpg", photos.grace_hopper_jpeg())
    assert pipeline.invoke(changed, "req-2") == {"waiting": 1}
    assert len(pipeline.api.calls) == 1
    # ... and the manifest uploaded again (same bytes) processes the set again.
    assert pipeline.invoke(pipeline.put("incoming/ada/manifest.json", manifest()), "req-3") == {
        "succeeded": 1
    }

    assert len(pipeline.api.calls) == 2
    assert sent_image(pipeline.api.calls[0], 1) != sent_image(pipeline.api.calls[1], 1)
    second = pipeline.json("results/ada/result.json")
    assert second["fingerprint"] != first["fingerprint"]
    assert second["inputs"]["front"]["etag"] != first["inputs"]["front"]["etag"]
    assert second["inputs"]["front"]["original_height"] == 600  # Grace Hopper now
    assert pipeline.results("ada") == RESULT_FILES
    assert len(pipeline.versions("results/ada/result.json")) == 2


def test_a_changed_option_in_the_manifest_is_processed_again(pipeline: Pipeline) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    pipeline.put("incoming/ada/front.jpg", photos.astronaut_jpeg())
    pipeline.invoke(pipeline.put("incoming/ada/manifest.json", manifest()), "req-1")

    pipeline.invoke(pipeline.put("incoming/ada/manifest.json", manifest({"metadata": {"v": 2}})))

    assert len(pipeline.api.calls) == 2
    assert pipeline.json("results/ada/result.json")["metadata"] == {"v": 2}


# Concurrent deliveries.


def deliver_concurrently(
    pipeline: Pipeline, event: dict[str, Any], request_ids: list[str]
) -> list[dict[str, Any] | Exception]:
    """Invoke once per request id, all at the same moment, each in its own thread."""
    handler.processor()  # built once, as in a warm container
    barrier = threading.Barrier(len(request_ids), timeout=10)
    outcomes: dict[str, dict[str, Any] | Exception] = {}

    def deliver(request_id: str) -> None:
        barrier.wait()
        try:
            outcomes[request_id] = pipeline.invoke(event, request_id)
        except Exception as exc:  # noqa: BLE001 (reported below, not lost in the thread)
            outcomes[request_id] = exc

    threads = [threading.Thread(target=deliver, args=(rid,)) for rid in request_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    return sorted(outcomes.values(), key=str)


def found_the_claim_held(caplog: pytest.LogCaptureFixture) -> bool:
    """Whether an invocation gave way to another that held the set's claim at that moment."""
    messages = [record.getMessage() for record in caplog.records]
    return any(
        m.startswith("duplicate:") and (m.endswith(" is held") or "took set" in m) for m in messages
    )


def test_two_concurrent_invocations_of_one_set_make_one_call(
    pipeline: Pipeline, atomic_conditional_writes: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="face3d")
    api = ScriptedApi(SUCCESS, delay=0.5)  # slow enough for the two to overlap
    pipeline.api.add_callback("POST", ENDPOINT, callback=api)
    event = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())

    outcomes = deliver_concurrently(pipeline, event, ["req-1", "req-2"])

    assert outcomes == [{"duplicate": 1}, {"succeeded": 1}]
    assert len(pipeline.api.calls) == 1
    assert found_the_claim_held(caplog)  # the two really overlapped
    assert pipeline.results("ada") == RESULT_FILES
    assert pipeline.messages() == []


def test_two_invocations_taking_over_one_stale_claim_make_one_call(
    pipeline: Pipeline, atomic_conditional_writes: None, caplog: pytest.LogCaptureFixture
) -> None:
    event = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())
    key = claim_left_by(pipeline, event, holder="req-dead", age=FUNCTION_TIMEOUT_S + 60)
    caplog.set_level(logging.INFO, logger="face3d")
    pipeline.api.add_callback("POST", ENDPOINT, callback=ScriptedApi(SUCCESS, delay=0.5))

    outcomes = deliver_concurrently(pipeline, event, ["req-2", "req-3"])

    assert outcomes == [{"duplicate": 1}, {"succeeded": 1}]
    assert len(pipeline.api.calls) == 1
    assert found_the_claim_held(caplog)
    claim = pipeline.json(key)
    assert claim["state"] == "done"
    assert claim["attempts"] == 2


def test_a_delivery_while_another_invocation_is_calling_the_api_is_a_duplicate(
    pipeline: Pipeline,
) -> None:
    event = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())
    during: list[dict[str, Any]] = []
    claims_during: list[dict[str, Any]] = []

    def api(request: Any) -> tuple[int, dict[str, str], str]:
        # S3 delivers the event again while the first invocation waits for the API.
        claims_during.append(pipeline.only_claim()[1])
        during.append(pipeline.invoke(event, "req-2"))
        return 200, {"Content-Type": "application/json"}, json.dumps(success_payload())

    pipeline.api.add_callback("POST", ENDPOINT, callback=api)

    assert pipeline.invoke(event, "req-1") == {"succeeded": 1}

    assert during == [{"duplicate": 1}]
    assert claims_during[0]["state"] == "held"
    assert claims_during[0]["holder"] == "req-1"
    assert len(pipeline.api.calls) == 1
    assert pipeline.only_claim()[1]["state"] == "done"


# Claims left by others.


def test_a_fresh_claim_held_by_another_invocation_makes_a_duplicate(pipeline: Pipeline) -> None:
    event = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())
    key = claim_left_by(pipeline, event, holder="req-other", age=FUNCTION_TIMEOUT_S - 30)
    pipeline.api.post(ENDPOINT, json=success_payload())

    assert pipeline.invoke(event, "req-2") == {"duplicate": 1}

    assert len(pipeline.api.calls) == 0
    assert pipeline.json(key)["holder"] == "req-other"
    assert pipeline.results("ada") == []
    assert pipeline.messages() == []


def test_a_claim_older_than_the_function_timeout_is_taken_over(pipeline: Pipeline) -> None:
    event = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())
    key = claim_left_by(pipeline, event, holder="req-dead", age=FUNCTION_TIMEOUT_S + 5)
    pipeline.api.post(ENDPOINT, json=success_payload())

    assert pipeline.invoke(event, "req-2") == {"succeeded": 1}

    assert len(pipeline.api.calls) == 1
    assert pipeline.results("ada") == RESULT_FILES
    claim = pipeline.json(key)
    assert claim["state"] == "done"
    assert claim["holder"] == "req-2"
    assert claim["attempts"] == 2


def test_lambdas_retry_of_its_own_crashed_attempt_takes_the_claim_at_once(
    pipeline: Pipeline,
) -> None:
    event = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())
    # req-1 died (a crash or a timeout) while holding the claim; Lambda retries it as req-1.
    key = claim_left_by(pipeline, event, holder="req-1", age=5)
    pipeline.api.post(ENDPOINT, json=success_payload())

    assert pipeline.invoke(event, "req-1") == {"succeeded": 1}

    assert len(pipeline.api.calls) == 1
    assert pipeline.json(key)["state"] == "done"


# Giving a set back to Lambda, counting attempts, parking and redriving.


def test_a_transient_failure_gives_the_set_back_and_the_retry_takes_it_at_once(
    pipeline: Pipeline,
) -> None:
    api = ScriptedApi(INTERNAL_ERROR, INTERNAL_ERROR, SUCCESS)
    pipeline.api.add_callback("POST", ENDPOINT, callback=api)
    event = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())

    error = pipeline.fail(event, "req-1")

    assert isinstance(error, TransientError)
    assert error.code == "INTERNAL_ERROR"
    assert len(pipeline.api.calls) == 2  # MAX_ATTEMPTS inside the invocation
    key, claim = pipeline.only_claim()
    assert claim["state"] == "released"
    assert claim["attempts"] == 1
    assert pipeline.results("ada") == []
    assert pipeline.messages() == []

    # Lambda's asynchronous retry keeps the request id, and does not wait for the claim to age.
    assert pipeline.invoke(event, "req-1") == {"succeeded": 1}

    assert len(pipeline.api.calls) == 3
    assert pipeline.results("ada") == RESULT_FILES
    assert pipeline.json(key)["state"] == "done"
    assert pipeline.json(key)["attempts"] == 2
    assert pipeline.messages() == []


def test_the_last_asynchronous_attempt_publishes_instead_of_raising(pipeline: Pipeline) -> None:
    pipeline.api.post(ENDPOINT, json=error_payload("INTERNAL_ERROR"), status=500)
    event = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())

    for attempt in (1, 2):  # MAX_ASYNC_RETRIES=2: attempts 1 and 2 give the set back
        assert isinstance(pipeline.fail(event, "req-1"), TransientError)
        assert pipeline.only_claim()[1]["attempts"] == attempt
        assert pipeline.messages() == []
    assert pipeline.invoke(event, "req-1") == {"failed": 1}

    assert len(pipeline.api.calls) == 6
    body = expect_failure(
        pipeline, subject="ada", code="INTERNAL_ERROR", retryable=True, error_json=False
    )
    assert body["attempts"] == 3
    assert body["error"]["http_status"] == 500
    assert body["request_id"] == "1470378968,c6f50ec6"
    assert pipeline.only_claim()[1]["state"] == "parked"
    assert pipeline.results("ada") == []


def test_a_parked_set_is_retried_only_by_a_redrive(pipeline: Pipeline) -> None:
    pipeline.api.post(
        ENDPOINT, json=error_payload("AUTHORIZATION_ERROR:Insufficient Account Balance"), status=403
    )
    event = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())
    assert pipeline.invoke(event, "req-1") == {"failed": 1}
    expect_failure(
        pipeline, subject="ada", code="AUTHORIZATION_ERROR", retryable=True, error_json=False
    )
    assert pipeline.only_claim()[1]["state"] == "parked"

    # The operator tops the balance up; S3 happens to deliver the event again: still parked.
    pipeline.api.replace("POST", ENDPOINT, json=success_payload())
    assert pipeline.invoke(event, "req-2") == {"duplicate": 1}
    assert len(pipeline.api.calls) == 1

    # `face3d redrive` replays it from the DLQ.
    assert pipeline.invoke(redrive(event), "req-3") == {"succeeded": 1}

    assert len(pipeline.api.calls) == 2
    assert pipeline.results("ada") == RESULT_FILES
    claim = pipeline.only_claim()[1]
    assert claim["state"] == "done"
    assert claim["attempts"] == 1  # a redrive starts counting again
    assert pipeline.messages() == []
    assert pipeline.invoke(redrive(event), "req-4") == {"duplicate": 1}
    assert len(pipeline.api.calls) == 2


def test_one_record_given_back_does_not_stop_the_others(pipeline: Pipeline) -> None:
    def api(request: Any) -> tuple[int, dict[str, str], str]:
        # Grace Hopper's photo (512x600) meets a busy endpoint, the astronaut does not.
        size = Image.open(io.BytesIO(base64.b64decode(request_field(request, "image_base64_1"))))
        status, body = INTERNAL_ERROR if size.size == (512, 600) and busy else SUCCESS
        return status, {"Content-Type": "application/json"}, json.dumps(body)

    busy = True
    pipeline.api.add_callback("POST", ENDPOINT, callback=api)
    event = merge_events(
        pipeline.put("incoming/grace.jpg", photos.grace_hopper_jpeg()),
        pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg()),
    )

    assert isinstance(pipeline.fail(event, "req-1"), TransientError)

    assert pipeline.results("ada") == RESULT_FILES
    assert pipeline.results("grace") == []
    busy = False
    assert pipeline.invoke(event, "req-1") == {"succeeded": 1, "duplicate": 1}
    assert pipeline.results("grace") == RESULT_FILES
    assert len(pipeline.api.calls) == 4  # grace twice (MAX_ATTEMPTS), ada, grace again
    assert pipeline.messages() == []


# Redrives, as `face3d redrive` builds them from the queue's two shapes.


def test_a_dlq_message_redriven_retries_its_parked_set(pipeline: Pipeline) -> None:
    subject = "Zoë Ångström"
    pipeline.api.post(
        ENDPOINT, json=error_payload("AUTHORIZATION_ERROR:Denied by Client"), status=403
    )
    pipeline.put(f"incoming/{subject}/front.jpg", photos.astronaut_jpeg())
    pipeline.invoke(pipeline.put(f"incoming/{subject}/manifest.json", manifest()), "req-1")
    body = expect_failure(
        pipeline, subject=subject, code="AUTHORIZATION_ERROR", retryable=True, error_json=False
    )
    pipeline.api.replace("POST", ENDPOINT, json=success_payload())

    decision, replayed = decide(json.dumps(body))

    assert decision is Decision.REPLAY
    assert replayed is not None
    assert replayed["face3d_redrive"] is True
    assert pipeline.invoke(replayed, "req-2") == {"succeeded": 1}
    assert pipeline.results(subject) == RESULT_FILES
    assert len(pipeline.api.calls) == 2


def test_an_event_the_function_could_not_handle_is_redriven_from_lambdas_failure_record(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue_url = pipeline.queue_url
    monkeypatch.delenv("DLQ_URL")  # an operator's mistake: every attempt fails
    pipeline.api.post(ENDPOINT, json=success_payload())
    event = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())
    for _ in range(3):
        assert isinstance(pipeline.fail(event, "req-1"), ConfigurationError)
    failure_record = {  # what Lambda's on-failure destination sends to the queue
        "version": "1.0",
        "timestamp": "2026-11-24T12:01:00.000Z",
        "requestContext": {
            "requestId": "req-1",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:face3d:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
        "responsePayload": {"errorType": "ConfigurationError", "errorMessage": "DLQ_URL"},
    }
    monkeypatch.setenv("DLQ_URL", queue_url)  # fixed

    decision, replayed = decide(json.dumps(failure_record))

    assert decision is Decision.REPLAY
    assert replayed is not None
    assert pipeline.invoke(replayed, "req-9") == {"succeeded": 1}
    assert pipeline.results("ada") == RESULT_FILES
    assert len(pipeline.api.calls) == 1


def test_a_newer_manifest_is_not_overwritten_by_an_older_set_finishing_later(
    pipeline: Pipeline,
) -> None:
    pipeline.put("incoming/ada/front.jpg", photos.astronaut_jpeg())
    first = pipeline.put("incoming/ada/manifest.json", manifest({"metadata": {"v": 1}}))
    nested: list[dict[str, Any]] = []

    def api(request: Any) -> tuple[int, dict[str, str], str]:
        if not nested:  # the first set's call: meanwhile, the user uploads a new manifest
            nested.append({})
            newer = pipeline.put(
                "incoming/ada/manifest.json",
                manifest({"texture": False, "mtl": False, "metadata": {"v": 2}}),
            )
            nested[0] = pipeline.invoke(newer, "req-2")
            return 200, {}, json.dumps(success_payload())
        return 200, {}, json.dumps(success_payload(texture=False, mtl=False))

    pipeline.api.add_callback("POST", ENDPOINT, callback=api)
    pipeline.invoke(first, "req-1")

    assert nested == [{"succeeded": 1}]
    # What the bucket holds describes the current manifest (v2: no texture, no mtl) ...
    document = pipeline.json("results/ada/result.json")
    assert document["metadata"] == {"v": 2}
    assert pipeline.results("ada") == ["face.obj", "result.json"]
    # ... and every output matches the record of it.
    for name, record in document["outputs"].items():
        assert record["sha256"] == hashlib.sha256(pipeline.read(f"results/ada/{name}")).hexdigest()
