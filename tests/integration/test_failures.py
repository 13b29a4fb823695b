"""DESIGN.md section 6 (and 7): every failure class, what it leaves behind, and what never leaks."""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
import requests

from face3d.client.http import Credentials
from face3d.errors import SQS_ERROR, ConfigurationError, TransientError
from face3d.function import handler
from face3d.function.dead_letters import DeadLetterQueue
from face3d.function.secrets import fetch_credentials
from tests import photos
from tests.fakes import error_payload, success_payload
from tests.integration.faults import Faults
from tests.integration.harness import (
    API_KEY,
    API_SECRET,
    ENDPOINT,
    RESULT_FILES,
    SECRET_ID,
    LambdaContext,
    Pipeline,
    ScriptedApi,
    body_size,
    expect_failure,
    field_text,
    manifest,
    request_field,
    sent_image,
)

SUCCESS = (200, success_payload())
TOO_LARGE = (413, "Request Entity Too Large")
ROTATED = "rotated-secret-never-logged"


def put_front_and_left(pipeline: Pipeline, left: bytes | None = None) -> dict[str, Any]:
    """A two-view folder set; returns the manifest's event."""
    pipeline.put("incoming/ada/front.jpg", photos.astronaut_jpeg())
    pipeline.put("incoming/ada/left.jpg", photos.grace_hopper_jpeg() if left is None else left)
    return pipeline.put("incoming/ada/manifest.json", manifest())


def expected_inputs(pipeline: Pipeline, keys: dict[str, str]) -> list[dict[str, Any]]:
    """The envelope's `inputs` for views at `keys`, as the bucket describes them now."""
    inputs = []
    for view, key in keys.items():
        head = pipeline.head(key)
        inputs.append(
            {
                "view": view,
                "key": key,
                "etag": head["ETag"].strip('"'),
                "version_id": head["VersionId"],
            }
        )
    return inputs


# Permanent input errors: error.json and one DLQ message; the invocation succeeds.


@pytest.mark.parametrize(
    ("message", "code", "param"),
    [
        ("NO_FACE_FOUND: image_base64_1", "NO_FACE_FOUND", "image_base64_1"),
        ("MULTIPLE_FACE_FOUND:image_base64_1", "MULTIPLE_FACE_FOUND", "image_base64_1"),
        ("BAD_ARGUMENTS:texture", "BAD_ARGUMENTS", "texture"),
        ("INVALID_IMAGE_SIZE:image_base64_1", "INVALID_IMAGE_SIZE", "image_base64_1"),
    ],
)
def test_a_permanent_api_error_is_recorded_once(
    pipeline: Pipeline, message: str, code: str, param: str
) -> None:
    pipeline.api.post(ENDPOINT, json=error_payload(message), status=400)
    event = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())

    assert pipeline.invoke(event) == {"failed": 1}

    assert len(pipeline.api.calls) == 1  # never retried
    body = expect_failure(
        pipeline,
        subject="ada",
        code=code,
        retryable=False,
        error_json=True,
        trigger="incoming/ada.jpg",
    )
    assert body["error"]["param"] == param
    assert body["error"]["view"] == ("front" if param == "image_base64_1" else None)
    assert body["error"]["http_status"] == 400
    assert body["request_id"] == "1470378968,c6f50ec6"
    assert body["attempts"] == 1
    assert body["inputs"] == expected_inputs(pipeline, {"front": "incoming/ada.jpg"})
    assert pipeline.results("ada") == ["error.json"]
    assert pipeline.only_claim()[1]["state"] == "failed"


def test_a_permanent_error_names_the_view_of_its_param(pipeline: Pipeline) -> None:
    pipeline.api.post(
        ENDPOINT, json=error_payload("MULTIPLE_FACE_FOUND:image_base64_2"), status=400
    )

    assert pipeline.invoke(put_front_and_left(pipeline)) == {"failed": 1}

    body = expect_failure(
        pipeline,
        subject="ada",
        code="MULTIPLE_FACE_FOUND",
        retryable=False,
        error_json=True,
        trigger="incoming/ada/manifest.json",
    )
    assert body["error"]["param"] == "image_base64_2"
    assert body["error"]["view"] == "left"
    assert [(i["view"], i["key"]) for i in body["inputs"]] == [
        ("front", "incoming/ada/front.jpg"),
        ("left", "incoming/ada/left.jpg"),
    ]


def test_the_failure_of_a_folder_set_names_its_input_versions(
    pipeline: Pipeline, faults: Faults
) -> None:
    pipeline.api.post(ENDPOINT, json=error_payload("NO_FACE_FOUND:image_base64_2"), status=400)

    pipeline.invoke(put_front_and_left(pipeline))

    body = expect_failure(
        pipeline, subject="ada", code="NO_FACE_FOUND", retryable=False, error_json=True
    )
    assert body["inputs"] == expected_inputs(
        pipeline, {"front": "incoming/ada/front.jpg", "left": "incoming/ada/left.jpg"}
    )
    # The versions are the downloads': the views are not looked at again.
    assert faults.count("HeadObject", "incoming/ada/*.jpg") == 0


def test_a_view_that_cannot_be_looked_at_leaves_its_version_unknown_in_the_failure(
    pipeline: Pipeline, faults: Faults
) -> None:
    # A view we cannot read fails the set before any download: the versions come from HEADs.
    pipeline.put("incoming/ada/front.jpg", photos.astronaut_jpeg())
    pipeline.put("incoming/ada/left.gif", photos.as_gif(photos.grace_hopper_jpeg()))
    event = pipeline.put("incoming/ada/manifest.json", manifest())
    faults.fail("HeadObject", "incoming/ada/front.jpg", code="SlowDown", status=503)

    assert pipeline.invoke(event) == {"failed": 1}

    body = expect_failure(
        pipeline,
        subject="ada",
        code="IMAGE_ERROR_UNSUPPORTED_FORMAT",
        retryable=False,
        error_json=True,
    )
    front, left = expected_inputs(
        pipeline, {"front": "incoming/ada/front.jpg", "left": "incoming/ada/left.gif"}
    )
    assert body["inputs"] == [{**front, "version_id": None}, left]


@pytest.mark.parametrize(
    ("name", "photo", "code"),
    [
        pytest.param("ada.jpg", photos.tiny_jpeg, "INVALID_IMAGE_SIZE", id="150px"),
        pytest.param(
            "ada.jpg", lambda: photos.TEXT_NAMED_JPG, "IMAGE_ERROR_UNSUPPORTED_FORMAT", id="text"
        ),
        pytest.param(
            "ada.jpg", photos.truncated_jpeg, "IMAGE_ERROR_UNSUPPORTED_FORMAT", id="truncated"
        ),
        pytest.param(
            "ada.jpg",
            lambda: photos.as_gif(photos.astronaut_jpeg()),
            "IMAGE_ERROR_UNSUPPORTED_FORMAT",
            id="gif-named-jpg",
        ),
        pytest.param("ada.png", lambda: photos.png_bomb(10_000), "INVALID_IMAGE_SIZE", id="bomb"),
    ],
)
def test_an_image_the_api_cannot_take_is_refused_before_any_call(
    pipeline: Pipeline, name: str, photo: Callable[[], bytes], code: str
) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())

    assert pipeline.invoke(pipeline.put(f"incoming/{name}", photo())) == {"failed": 1}

    assert len(pipeline.api.calls) == 0
    body = expect_failure(pipeline, subject="ada", code=code, retryable=False, error_json=True)
    assert body["error"]["param"] == "image_base64_1"
    assert body["error"]["view"] == "front"
    assert body["error"]["http_status"] is None
    assert body["request_id"] is None
    assert pipeline.results("ada") == ["error.json"]


def test_a_bad_left_view_is_refused_naming_left(pipeline: Pipeline) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())

    pipeline.invoke(put_front_and_left(pipeline, left=photos.TEXT_NAMED_JPG))

    assert len(pipeline.api.calls) == 0
    body = expect_failure(
        pipeline,
        subject="ada",
        code="IMAGE_ERROR_UNSUPPORTED_FORMAT",
        retryable=False,
        error_json=True,
    )
    assert body["error"]["param"] == "image_base64_2"
    assert body["error"]["view"] == "left"


def test_an_object_over_the_download_cap_is_refused_unread(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_DOWNLOAD_BYTES", "50000")
    pipeline.api.post(ENDPOINT, json=success_payload())
    photo = photos.astronaut_jpeg()
    assert len(photo) > 50_000

    assert pipeline.invoke(pipeline.put("incoming/ada.jpg", photo)) == {"failed": 1}

    assert len(pipeline.api.calls) == 0
    body = expect_failure(
        pipeline, subject="ada", code="IMAGE_FILE_TOO_LARGE", retryable=False, error_json=True
    )
    assert body["error"]["view"] == "front"
    assert body["error"]["param"] == "image_base64_1"


# 413: prepare again a quarter smaller, once.


def test_a_413_prepares_the_images_again_smaller_and_retries_once(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUEST_BUDGET_BYTES", "100000")
    pipeline.api.add_callback("POST", ENDPOINT, callback=ScriptedApi(TOO_LARGE, SUCCESS))

    assert pipeline.invoke(pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())) == {
        "succeeded": 1
    }

    first, second = pipeline.api.calls
    assert body_size(second) < body_size(first)
    assert body_size(first) <= 100_000
    assert body_size(second) <= 75_000  # a quarter smaller
    assert len(sent_image(second, 1)) < len(sent_image(first, 1))
    assert pipeline.results("ada") == RESULT_FILES
    front = pipeline.json("results/ada/result.json")["inputs"]["front"]
    assert front["bytes"] == len(sent_image(second, 1))
    assert pipeline.messages() == []


def test_a_413_of_a_request_well_under_the_budget_is_retried_smaller_than_it(
    pipeline: Pipeline,
) -> None:
    # Defect 10: with the default budget (about 2 MB) a 130 kB request was prepared again
    # within 3/4 of the budget, and sent again unchanged.
    pipeline.api.add_callback("POST", ENDPOINT, callback=ScriptedApi(TOO_LARGE, SUCCESS))

    assert pipeline.invoke(pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())) == {
        "succeeded": 1
    }

    first, second = pipeline.api.calls
    assert body_size(first) < 1_000_000
    assert body_size(second) <= body_size(first) * 3 // 4


def test_a_second_413_is_permanent(pipeline: Pipeline) -> None:
    pipeline.api.add_callback("POST", ENDPOINT, callback=ScriptedApi(TOO_LARGE))

    assert pipeline.invoke(pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())) == {
        "failed": 1
    }

    assert len(pipeline.api.calls) == 2
    body = expect_failure(
        pipeline, subject="ada", code="REQUEST_ENTITY_TOO_LARGE", retryable=False, error_json=True
    )
    assert body["error"]["http_status"] == 413


# Transient errors: retried inside the invocation, then given back to Lambda.


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        pytest.param(
            {"json": error_payload("CONCURRENCY_LIMIT_EXCEEDED"), "status": 403},
            "CONCURRENCY_LIMIT_EXCEEDED",
            id="concurrency",
        ),
        pytest.param(
            {"json": error_payload("INTERNAL_ERROR"), "status": 500}, "INTERNAL_ERROR", id="500"
        ),
        pytest.param(
            {
                "body": "<html><body><h1>502 Bad Gateway</h1></body></html>",
                "status": 502,
                "content_type": "text/html",
            },
            "HTTP_ERROR",
            id="502-html",
        ),
        pytest.param(
            {"body": requests.exceptions.ConnectTimeout("connect timed out")},
            "TIMEOUT",
            id="connect-timeout",
        ),
        pytest.param(
            {"body": requests.exceptions.ReadTimeout("read timed out")},
            "TIMEOUT",
            id="read-timeout",
        ),
        pytest.param(
            {"body": requests.exceptions.ConnectionError("connection reset")},
            "CONNECTION_ERROR",
            id="connection-reset",
        ),
        pytest.param({"body": "{not json", "status": 200}, "BAD_RESPONSE", id="malformed"),
        pytest.param(
            {"json": {"request_id": "r", "time_used": 5}, "status": 200},
            "BAD_RESPONSE",
            id="no-obj-file",
        ),
    ],
)
def test_a_transient_error_is_retried_inside_then_given_back(
    pipeline: Pipeline, answer: dict[str, Any], code: str
) -> None:
    pipeline.api.post(ENDPOINT, **answer)

    error = pipeline.fail(pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg()))

    assert isinstance(error, TransientError)
    assert error.code == code
    assert len(pipeline.api.calls) == 2  # MAX_ATTEMPTS=2 in the fixture
    assert len(pipeline.backoff) == 1
    assert 0 <= pipeline.backoff[0] <= 0.5  # full jitter over the first backoff step
    assert pipeline.messages() == []
    assert pipeline.results("ada") == []
    assert pipeline.only_claim()[1]["state"] == "released"


def test_too_little_time_left_gives_the_set_back_without_a_call(pipeline: Pipeline) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    event = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())
    # 3.5 s left, of which over WRITE_RESERVE_S (2 s) is kept for writing: less than the 2 s
    # an attempt needs at least (RetryPolicy.min_attempt_time) is left for the call.
    context = LambdaContext("req-1", remaining_ms=3_500)

    with pytest.raises(TransientError) as caught:
        handler.lambda_handler(event, context)

    assert caught.value.code == "TIMEOUT"
    assert len(pipeline.api.calls) == 0
    assert pipeline.only_claim()[1]["state"] == "released"
    assert pipeline.messages() == []
    # With time enough, Lambda's retry goes through.
    assert pipeline.invoke(event, "req-1") == {"succeeded": 1}


def test_a_transient_error_then_success_inside_one_invocation(pipeline: Pipeline) -> None:
    api = ScriptedApi((403, error_payload("CONCURRENCY_LIMIT_EXCEEDED")), SUCCESS)
    pipeline.api.add_callback("POST", ENDPOINT, callback=api)

    assert pipeline.invoke(pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())) == {
        "succeeded": 1
    }

    assert len(pipeline.api.calls) == 2
    assert pipeline.results("ada") == RESULT_FILES
    assert pipeline.messages() == []


def test_a_failed_write_halfway_is_given_back_and_the_retry_completes_the_set(
    pipeline: Pipeline, faults: Faults
) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    faults.fail("PutObject", "results/ada/tex.jpg", code="SlowDown", status=503)
    event = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())

    error = pipeline.fail(event, "req-1")

    assert isinstance(error, TransientError)
    assert error.code == "S3_ERROR"
    assert "result.json" not in pipeline.results("ada")
    assert pipeline.messages() == []

    assert pipeline.invoke(event, "req-1") == {"succeeded": 1}

    assert len(pipeline.api.calls) == 1  # paid once: the retry wrote the stored answer
    assert pipeline.results("ada") == RESULT_FILES
    document = pipeline.json("results/ada/result.json")
    for name, record in document["outputs"].items():
        assert record["size"] == len(pipeline.read(f"results/ada/{name}"))
    assert pipeline.messages() == []


# Configuration errors: DLQ with retryable true, no error.json.


class CheckingApi:
    """An endpoint that accepts one api_secret and answers AUTHENTICATION_ERROR to others."""

    def __init__(self, valid_secret: str) -> None:
        self.valid_secret = valid_secret
        self.secrets: list[str] = []

    def __call__(self, request: Any) -> tuple[int, dict[str, str], str]:
        secret = request_field(request, "api_secret")
        self.secrets.append(secret)
        if secret == self.valid_secret:
            return 200, {}, json.dumps(success_payload())
        return 401, {}, json.dumps(error_payload("AUTHENTICATION_ERROR"))


@pytest.fixture
def secret_fetches(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """The `force` flag of every credentials fetch the function makes."""
    fetches: list[bool] = []

    def fetch(secret_id: str, *, force: bool = False, **options: Any) -> Credentials:
        fetches.append(force)
        return fetch_credentials(secret_id, force=force, **options)

    monkeypatch.setattr("face3d.function.handler.fetch_credentials", fetch)
    return fetches


def rotate_secret(pipeline: Pipeline, secret: str) -> None:
    value = json.dumps({"api_key": API_KEY, "api_secret": secret})
    pipeline.secrets.put_secret_value(SecretId=SECRET_ID, SecretString=value)


def test_authentication_error_refreshes_a_rotated_secret_once_and_succeeds(
    pipeline: Pipeline, secret_fetches: list[bool]
) -> None:
    api = CheckingApi(API_SECRET)
    pipeline.api.add_callback("POST", ENDPOINT, callback=api)
    # A warm container has the old secret cached ...
    assert pipeline.invoke(pipeline.put("incoming/warm.jpg", photos.astronaut_jpeg())) == {
        "succeeded": 1
    }
    # ... when the secret is rotated.
    rotate_secret(pipeline, ROTATED)
    api.valid_secret = ROTATED
    secret_fetches.clear()

    assert pipeline.invoke(pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())) == {
        "succeeded": 1
    }

    assert api.secrets == [API_SECRET, API_SECRET, ROTATED]
    assert secret_fetches.count(True) == 1
    assert pipeline.results("ada") == RESULT_FILES
    assert pipeline.messages() == []


@pytest.mark.parametrize("rotated", [False, True], ids=["not-rotated", "rotated-but-wrong-too"])
def test_authentication_error_that_a_refresh_does_not_cure_is_parked(
    pipeline: Pipeline, secret_fetches: list[bool], rotated: bool
) -> None:
    api = CheckingApi("a-secret-the-function-does-not-have")
    pipeline.api.add_callback("POST", ENDPOINT, callback=api)
    if rotated:
        pipeline.invoke(pipeline.put("incoming/warm.jpg", photos.astronaut_jpeg()))
        pipeline.messages()  # the warm-up's own failure
        rotate_secret(pipeline, ROTATED)
        api.secrets.clear()
        secret_fetches.clear()

    assert pipeline.invoke(pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())) == {
        "failed": 1
    }

    assert secret_fetches.count(True) == 1
    assert api.secrets == ([API_SECRET, ROTATED] if rotated else [API_SECRET])
    body = expect_failure(
        pipeline, subject="ada", code="AUTHENTICATION_ERROR", retryable=True, error_json=False
    )
    assert body["error"]["http_status"] == 401
    assert pipeline.results("ada") == []
    assert pipeline.claim_of("ada")["state"] == "parked"


def test_authorization_error_is_parked_without_error_json(pipeline: Pipeline) -> None:
    pipeline.api.post(
        ENDPOINT, json=error_payload("AUTHORIZATION_ERROR:Denied by Admin"), status=403
    )

    assert pipeline.invoke(pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())) == {
        "failed": 1
    }

    assert len(pipeline.api.calls) == 1
    body = expect_failure(
        pipeline, subject="ada", code="AUTHORIZATION_ERROR", retryable=True, error_json=False
    )
    assert body["error"]["http_status"] == 403
    assert "Denied by Admin" in body["error"]["message"]
    assert pipeline.results("ada") == []


@pytest.mark.parametrize(
    ("secret", "code"),
    [
        pytest.param(None, "SECRET_NOT_FOUND", id="missing"),
        pytest.param(
            f"api_key={API_KEY}&api_secret={API_SECRET}", "SECRET_MALFORMED", id="not-json"
        ),
        pytest.param(json.dumps({"api_key": API_KEY}), "SECRET_MALFORMED", id="no-api-secret"),
        pytest.param(json.dumps([API_KEY, API_SECRET]), "SECRET_MALFORMED", id="not-an-object"),
    ],
)
def test_a_missing_or_malformed_secret_is_parked_without_a_call(
    pipeline: Pipeline, secret: str | None, code: str
) -> None:
    if secret is None:
        pipeline.secrets.delete_secret(SecretId=SECRET_ID, ForceDeleteWithoutRecovery=True)
    else:
        pipeline.secrets.put_secret_value(SecretId=SECRET_ID, SecretString=secret)
    pipeline.api.post(ENDPOINT, json=success_payload())

    assert pipeline.invoke(pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())) == {
        "failed": 1
    }

    assert len(pipeline.api.calls) == 0
    body = expect_failure(pipeline, subject="ada", code=code, retryable=True, error_json=False)
    assert API_SECRET not in json.dumps(body)
    assert pipeline.results("ada") == []


# When the failure itself cannot be recorded, or the function cannot start.


def test_a_failure_to_publish_to_the_dlq_fails_the_invocation(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    def publish(self: DeadLetterQueue, envelope: dict[str, Any]) -> str:
        raise TransientError(SQS_ERROR, "could not publish to the dead-letter queue")

    monkeypatch.setattr(DeadLetterQueue, "publish", publish)
    pipeline.api.post(ENDPOINT, json=error_payload("NO_FACE_FOUND:image_base64_1"), status=400)

    error = pipeline.fail(pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg()))

    assert isinstance(error, TransientError)
    assert pipeline.only_claim()[1]["state"] == "released"


def test_a_deleted_queue_fails_the_invocation(pipeline: Pipeline) -> None:
    pipeline.api.post(
        ENDPOINT, json=error_payload("AUTHORIZATION_ERROR:Denied by Admin"), status=403
    )
    pipeline.sqs.delete_queue(QueueUrl=pipeline.queue_url)

    error = pipeline.fail(pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg()))

    assert isinstance(error, TransientError)
    assert error.code == "SQS_ERROR"


@pytest.mark.parametrize(
    ("answer", "status", "code", "retryable"),
    [
        pytest.param("AUTHORIZATION_ERROR:Denied by Admin", 403, "AUTHORIZATION_ERROR", True,
                     id="configuration"),
        pytest.param("NO_FACE_FOUND:image_base64_1", 400, "NO_FACE_FOUND", False, id="permanent"),
    ],
)  # fmt: skip
def test_the_retry_after_a_failed_publish_publishes_once(
    pipeline: Pipeline,
    monkeypatch: pytest.MonkeyPatch,
    answer: str,
    status: int,
    code: str,
    retryable: bool,
) -> None:
    real_publish = DeadLetterQueue.publish
    failures = [TransientError(SQS_ERROR, "SQS unavailable")]

    def publish(self: DeadLetterQueue, envelope: dict[str, Any]) -> str:
        if failures:
            raise failures.pop()
        return real_publish(self, envelope)

    monkeypatch.setattr(DeadLetterQueue, "publish", publish)
    pipeline.api.post(ENDPOINT, json=error_payload(answer), status=status)
    event = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())
    assert isinstance(pipeline.fail(event, "req-1"), TransientError)

    assert pipeline.invoke(event, "req-1") == {"failed": 1}  # Lambda's retry records it

    # error.json only where the input is at fault.
    expect_failure(
        pipeline, subject="ada", code=code, retryable=retryable, error_json=not retryable
    )


@pytest.mark.parametrize(
    ("change", "named"),
    [
        pytest.param({"DLQ_URL": None}, ["DLQ_URL"], id="no-dlq"),
        pytest.param({"FACEPP_SECRET_ID": None}, ["FACEPP_SECRET_ID"], id="no-secret-id"),
        pytest.param({"DLQ_URL": ""}, ["DLQ_URL"], id="empty-dlq"),
        pytest.param({"INPUT_PREFIX": "incoming"}, ["INPUT_PREFIX"], id="prefix-without-slash"),
        pytest.param(
            {"RESULT_PREFIX": "incoming/results/"},
            ["INPUT_PREFIX", "RESULT_PREFIX"],
            id="overlapping-prefixes",
        ),
        pytest.param(
            {"DLQ_URL": None, "MAX_ATTEMPTS": "many", "FACEPP_ENDPOINT": "ftp://x"},
            ["DLQ_URL", "MAX_ATTEMPTS", "FACEPP_ENDPOINT"],
            id="several",
        ),
    ],
)
def test_a_bad_settings_environment_fails_the_invocation_naming_the_variables(
    pipeline: Pipeline,
    monkeypatch: pytest.MonkeyPatch,
    change: dict[str, str | None],
    named: list[str],
) -> None:
    for name, value in change.items():
        if value is None:
            monkeypatch.delenv(name)
        else:
            monkeypatch.setenv(name, value)
    pipeline.api.post(ENDPOINT, json=success_payload())
    event = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())

    error = pipeline.fail(event)

    assert isinstance(error, ConfigurationError)
    assert error.code == "INVALID_CONFIGURATION"
    for name in named:
        assert name in str(error)
    assert len(pipeline.api.calls) == 0
    assert pipeline.keys() == ["incoming/ada.jpg"]


# Nothing secret leaves: no secret, no image data in any log line, message or object.


def _scenarios(pipeline: Pipeline) -> None:
    """A success, a permanent, a configuration and a transient failure, in one container."""
    scripted = {
        "ok": SUCCESS,
        "noface": (400, error_payload("NO_FACE_FOUND:image_base64_1")),
        "denied": (401, error_payload("AUTHENTICATION_ERROR")),
        "busy": (502, "<html><body>502 Bad Gateway</body></html>"),
    }

    def api(request: Any) -> tuple[int, dict[str, str], str]:
        status, body = scripted[order[len(answered)]]
        answered.append(status)
        if isinstance(body, str):
            return status, {"Content-Type": "text/html"}, body
        return status, {"Content-Type": "application/json"}, json.dumps(body)

    order = ["ok", "noface", "denied", "busy", "busy"]
    answered: list[int] = []
    pipeline.api.add_callback("POST", ENDPOINT, callback=api)
    pipeline.invoke(pipeline.put("incoming/ok.jpg", photos.grace_hopper_jpeg()))
    pipeline.invoke(pipeline.put("incoming/noface.png", photos.grace_hopper_png()))
    pipeline.invoke(pipeline.put("incoming/denied.jpg", photos.astronaut_jpeg()))
    pipeline.fail(pipeline.put("incoming/busy.jpg", photos.astronaut_jpeg()))
    assert answered == [200, 400, 401, 502, 502]


def _leaks(text: str, chunks: list[str]) -> list[str]:
    return [chunk for chunk in [API_SECRET, *chunks] if chunk in text]


def _base64_chunks(pipeline: Pipeline) -> list[str]:
    """Pieces of the base64 of every prepared JPEG that travelled."""
    chunks = []
    for call in pipeline.api.calls:
        encoded = field_text(call, "image_base64_1")
        middle = len(encoded) // 2
        chunks += [encoded[:40], encoded[middle : middle + 40], encoded[-40:]]
    return chunks


def test_no_log_line_message_or_object_holds_the_secret_or_image_data(
    pipeline: Pipeline,
    json_logs: io.StringIO,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG, logger="face3d")
    caplog.set_level(logging.DEBUG, logger="aws_lambda_powertools")

    _scenarios(pipeline)

    chunks = _base64_chunks(pipeline)
    assert len(chunks) == 15
    assert all(len(chunk) == 40 for chunk in chunks)
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    ours = [r for r in caplog.records if r.name.startswith(("face3d", "aws_lambda_powertools"))]
    assert any(r.name.startswith("face3d") for r in ours)
    for record in ours:
        assert _leaks(formatter.format(record), chunks) == [], record.getMessage()
    printed = json_logs.getvalue()
    assert '"level":"ERROR"' in printed  # the transient failure's traceback is in there
    assert _leaks(printed, chunks) == []
    captured = capsys.readouterr()
    assert _leaks(captured.out + captured.err, chunks) == []
    raw_messages = json.dumps(pipeline.messages())
    assert "NO_FACE_FOUND" in raw_messages
    assert "AUTHENTICATION_ERROR" in raw_messages
    assert _leaks(raw_messages, chunks) == []
    for key, data in pipeline.written().items():
        text = data.decode("latin-1")
        assert _leaks(text, chunks) == [], key
        assert base64.b64encode(sent_image(pipeline.api.calls[0], 1))[:40].decode() not in text
    assert API_SECRET not in json.dumps(pipeline.claims())


def test_debug_logging_does_not_leak_the_secret_through_the_aws_sdk(
    pipeline: Pipeline, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # everything, as the root logger at DEBUG does
    pipeline.api.post(ENDPOINT, json=success_payload())

    pipeline.invoke(pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg()))

    leaking = sorted({r.name for r in caplog.records if API_SECRET in r.getMessage()})
    assert leaking == []
