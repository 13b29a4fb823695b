"""The failure envelope `face3d.failure/v1` (DESIGN.md section 6): DLQ body and error.json."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from face3d.client.results import InputObject
from face3d.contract import FAILURE_SCHEMA, View
from face3d.errors import (
    AUTHENTICATION_ERROR,
    CONCURRENCY_LIMIT_EXCEEDED,
    INVALID_MANIFEST,
    NO_FACE_FOUND,
    Face3DError,
    PermanentError,
    RequestEntityTooLargeError,
    error_for,
)
from face3d.function.failures import build_failure, message_attributes

BUCKET = "face3d-pipeline-123456789012-us-east-1"
FAILED_AT = datetime(2025, 3, 14, 9, 26, 53, 589_000, tzinfo=UTC)
INPUTS = (
    InputObject(View.FRONT, "incoming/grace/front.jpg", '"9b2cf535f27731c974343645a3985328"', "v1"),
    InputObject(View.LEFT, "incoming/grace/left.png", '"2f1a"', "v2"),
    InputObject(View.RIGHT, "incoming/grace/right.webp", '"77aa"', None),
)


def _envelope(error: Face3DError, **overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "error": error,
        "subject": "grace",
        "bucket": BUCKET,
        "inputs": INPUTS,
        "fingerprint": "c0ffee" * 10,
        "attempts": 1,
        "trigger_key": "incoming/grace/manifest.json",
        "event_time": "2025-03-14T09:26:50.123Z",
        "failed_at": FAILED_AT,
    }
    arguments.update(overrides)
    return build_failure(**arguments)


def test_a_no_face_failure_names_the_view_and_is_not_retryable() -> None:
    error = error_for(
        NO_FACE_FOUND,
        "no face in image 2",
        param="image_base64_2",
        http_status=400,
        request_id="r-1",
    )
    envelope = _envelope(error, attempts=1)
    assert envelope["schema"] == FAILURE_SCHEMA == "face3d.failure/v1"
    assert envelope["subject"] == "grace"
    assert envelope["bucket"] == BUCKET
    assert envelope["error"] == {
        "code": "NO_FACE_FOUND",
        "param": "image_base64_2",
        "view": "left",
        "http_status": 400,
        "message": "no face in image 2",
        "retryable": False,
    }
    assert envelope["request_id"] == "r-1"
    assert envelope["attempts"] == 1
    assert envelope["trigger"] == {
        "key": "incoming/grace/manifest.json",
        "event_time": "2025-03-14T09:26:50.123Z",
    }
    assert envelope["failed_at"] == "2025-03-14T09:26:53.589Z"


def test_inputs_carry_key_etag_and_version_id() -> None:
    envelope = _envelope(error_for(NO_FACE_FOUND, param="image_base64_1"))
    assert envelope["inputs"] == [
        {
            "view": "front",
            "key": "incoming/grace/front.jpg",
            "etag": '"9b2cf535f27731c974343645a3985328"',
            "version_id": "v1",
        },
        {"view": "left", "key": "incoming/grace/left.png", "etag": '"2f1a"', "version_id": "v2"},
        {"view": "right", "key": "incoming/grace/right.webp", "etag": '"77aa"', "version_id": None},
    ]


@pytest.mark.parametrize(
    ("param", "view"),
    [("image_base64_1", "front"), ("image_base64_2", "left"), ("image_base64_3", "right")],
)
def test_the_param_names_its_view(param: str, view: str) -> None:
    error = _envelope(error_for(NO_FACE_FOUND, param=param))["error"]
    assert (error["code"], error["param"], error["view"]) == ("NO_FACE_FOUND", param, view)


def test_the_code_is_bare_even_when_the_error_has_a_view() -> None:
    error = error_for("INVALID_IMAGE_SIZE", param="image_base64_3", http_status=400)
    assert str(error).startswith("INVALID_IMAGE_SIZE:right")
    assert _envelope(error)["error"]["code"] == "INVALID_IMAGE_SIZE"


def test_an_error_without_param_or_view_leaves_them_null() -> None:
    error = PermanentError(INVALID_MANIFEST, "manifest.json must be a JSON object")
    envelope = _envelope(error, inputs=(), trigger_key="incoming/grace/manifest.json")
    assert envelope["error"]["param"] is None
    assert envelope["error"]["view"] is None
    assert envelope["error"]["http_status"] is None
    assert envelope["request_id"] is None
    assert envelope["inputs"] == []


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (error_for(NO_FACE_FOUND, param="image_base64_1", http_status=400), False),
        (error_for(INVALID_MANIFEST, "bad"), False),
        (RequestEntityTooLargeError("Request Entity Too Large", http_status=413), False),
        (error_for(CONCURRENCY_LIMIT_EXCEEDED, http_status=403), True),
        (error_for("INTERNAL_ERROR", http_status=500), True),
        # A configuration error is redriven once fixed.
        (error_for(AUTHENTICATION_ERROR, http_status=401), True),
        (error_for("SECRET_NOT_FOUND"), True),
    ],
)
def test_retryable_follows_the_error_class(error: Face3DError, retryable: bool) -> None:
    envelope = _envelope(error, attempts=3)
    assert envelope["error"]["retryable"] is retryable
    attributes = message_attributes(envelope)
    assert attributes["retryable"] == {
        "DataType": "String",
        "StringValue": "true" if retryable else "false",
    }
    assert attributes["error_code"] == {"DataType": "String", "StringValue": error.code}


def test_message_attributes_are_strings_for_sqs() -> None:
    attributes = message_attributes(_envelope(error_for(NO_FACE_FOUND, param="image_base64_2")))
    assert {"error_code", "retryable"} <= attributes.keys()
    for attribute in attributes.values():
        assert attribute["DataType"] == "String"
        assert isinstance(attribute["StringValue"], str)
        assert attribute["StringValue"]


def test_message_attributes_read_a_decoded_envelope() -> None:
    # `face3d redrive` and error.json readers see the envelope after a JSON round trip.
    envelope = json.loads(json.dumps(_envelope(error_for(CONCURRENCY_LIMIT_EXCEEDED))))
    attributes = message_attributes(envelope)
    assert attributes["error_code"]["StringValue"] == "CONCURRENCY_LIMIT_EXCEEDED"
    assert attributes["retryable"]["StringValue"] == "true"


def test_the_envelope_is_json_and_round_trips() -> None:
    error = error_for(
        NO_FACE_FOUND, "kein Gesicht, 顔がない", param="image_base64_2", request_id="r-9"
    )
    envelope = _envelope(error, subject="José Núñez 2", attempts=2)
    text = json.dumps(envelope, allow_nan=False)
    assert json.loads(text) == envelope


def test_failed_at_is_iso_utc_with_z() -> None:
    eastern = timezone(timedelta(hours=-5))
    moment = datetime(2025, 3, 14, 4, 26, 53, 589_000, tzinfo=eastern)
    failed_at = _envelope(error_for(NO_FACE_FOUND), failed_at=moment)["failed_at"]
    assert failed_at == "2025-03-14T09:26:53.589Z"
    assert datetime.fromisoformat(failed_at) == moment


def test_the_attempts_passed_are_recorded() -> None:
    error = error_for(CONCURRENCY_LIMIT_EXCEEDED, http_status=403)
    assert _envelope(error, attempts=4)["attempts"] == 4


def test_a_missing_event_time_and_subject_are_null() -> None:
    envelope = _envelope(error_for("S3_ERROR"), subject=None, event_time=None)
    assert envelope["subject"] is None
    assert envelope["trigger"]["event_time"] is None
    json.dumps(envelope)


def test_the_envelope_holds_no_image_data_or_secret() -> None:
    error = error_for(AUTHENTICATION_ERROR, "api_key rejected", http_status=401)
    text = json.dumps(_envelope(error))
    for forbidden in ("api_secret", "image_base64_1", "base64,", "/9j/"):
        assert forbidden not in text
