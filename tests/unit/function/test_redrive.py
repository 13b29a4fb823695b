import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest
from moto import mock_aws

from face3d.client.results import InputObject
from face3d.contract import View
from face3d.errors import error_for
from face3d.function.events import REDRIVE_MARKER
from face3d.function.failures import build_failure
from face3d.function.redrive import Decision, decide, redrive

BUCKET = "face3d-pipeline-123456789012-us-east-1"


def envelope(code: str, key: str = "incoming/José 2.jpg") -> str:
    document = build_failure(
        error=error_for(code, http_status=403),
        subject="José 2",
        bucket=BUCKET,
        inputs=[InputObject(View.FRONT, key, "etag", None)],
        fingerprint="f" * 64,
        attempts=3,
        trigger_key=key,
        event_time="2026-11-24T12:00:00.000Z",
        failed_at=datetime(2026, 11, 24, tzinfo=UTC),
    )
    return json.dumps(document)


LAMBDA_FAILURE_RECORD = json.dumps(
    {
        "version": "1.0",
        "timestamp": "2026-11-24T12:03:00.000Z",
        "requestContext": {
            "requestId": "req-9",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:face3d:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": {"Records": [{"s3": {"object": {"key": "incoming/ada.jpg"}}}]},
        "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": "Task timed out after 180.00 seconds"},
    }
)


def test_a_retryable_envelope_replays_its_trigger_as_a_redrive() -> None:
    decision, event = decide(envelope("CONCURRENCY_LIMIT_EXCEEDED"))
    assert decision is Decision.REPLAY
    assert event is not None
    assert event[REDRIVE_MARKER] is True
    (record,) = event["Records"]
    assert record["s3"]["bucket"]["name"] == BUCKET
    assert unquote_plus(record["s3"]["object"]["key"]) == "incoming/José 2.jpg"
    assert record["eventTime"] == "2026-11-24T12:00:00.000Z"


def test_a_permanent_failure_is_not_replayed() -> None:
    assert decide(envelope("NO_FACE_FOUND")) == (Decision.NOT_RETRYABLE, None)


def test_lambda_failure_records_replay_their_original_event() -> None:
    decision, event = decide(LAMBDA_FAILURE_RECORD)
    assert decision is Decision.REPLAY
    assert event is not None
    assert event["Records"][0]["s3"]["object"]["key"] == "incoming/ada.jpg"
    assert event[REDRIVE_MARKER] is True


@pytest.mark.parametrize("body", ["not json", "[]", '{"schema": "other"}', "{}"])
def test_unrecognised_messages_are_left_alone(body: str) -> None:
    assert decide(body) == (Decision.UNKNOWN, None)


@pytest.fixture
def queue(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        yield sqs, sqs.create_queue(QueueName="dlq")["QueueUrl"]


def test_redrive_replays_retryable_messages_and_deletes_only_those(queue: tuple[Any, str]) -> None:
    sqs, url = queue
    for body in (
        envelope("AUTHENTICATION_ERROR"),
        envelope("NO_FACE_FOUND"),
        LAMBDA_FAILURE_RECORD,
        "garbage",
    ):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    replayed: list[dict[str, Any]] = []

    summary = redrive(sqs, url, replayed.append, limit=50)

    assert (summary.replayed, summary.not_retryable, summary.unknown) == (2, 1, 1)
    assert len(replayed) == 2
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    left = int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )
    assert left == 2


def test_a_failed_replay_keeps_the_message(queue: tuple[Any, str]) -> None:
    sqs, url = queue
    sqs.send_message(QueueUrl=url, MessageBody=envelope("INTERNAL_ERROR"))

    def broken(event: dict[str, Any]) -> None:
        raise RuntimeError("lambda unavailable")

    with pytest.raises(RuntimeError):
        redrive(sqs, url, broken, limit=5)
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"


def test_limit_bounds_the_messages_read(queue: tuple[Any, str]) -> None:
    sqs, url = queue
    for _ in range(5):
        sqs.send_message(QueueUrl=url, MessageBody=envelope("INTERNAL_ERROR"))
    replayed: list[dict[str, Any]] = []
    assert redrive(sqs, url, replayed.append, limit=3).replayed == 3
