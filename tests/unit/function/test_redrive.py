import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest
from moto import mock_aws

from face3d.client.results import InputObject
from face3d.contract import View
from face3d.errors import error_for
from face3d.function.events import (
    REDRIVE_MARKER,
    RETRY_FAILED_MARKER,
    ObjectCreated,
    object_created_event,
    read_event,
)
from face3d.function.failures import build_failure
from face3d.function.redrive import Decision, decide, redrive

BUCKET = "face3d-pipeline-123456789012-us-east-1"
EVENTS = Path(__file__).resolve().parents[3] / "events"


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
        "requestPayload": object_created_event(BUCKET, "incoming/ada.jpg", etag="e" * 32),
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


def test_a_retryable_envelope_without_an_event_time_replays_with_its_failure_time() -> None:
    document = json.loads(envelope("INTERNAL_ERROR"))
    document["trigger"]["event_time"] = None

    decision, event = decide(json.dumps(document))

    assert decision is Decision.REPLAY
    assert event is not None
    assert event["Records"][0]["eventTime"] == document["failed_at"]


def _event_file(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return document


def _body(name: str, index: int = 0) -> str:
    """The body of one message of an SQS batch in events/: what a redrive policy moves."""
    body: str = _event_file(name)["Records"][index]["body"]
    return body


@pytest.mark.parametrize(
    ("body", "key"),
    [
        # The upload queue gave up on a message: its body, moved as it was.
        (_body("sqs-s3-notification.json"), "incoming/alan.png"),
        (_body("sqs-sns-s3-notification.json"), "incoming/José Núñez 2.jpg"),
        (_body("sqs-eventbridge.json"), "incoming/grace/manifest.json"),
        # The EventBridge rule could not deliver an event: the event itself.
        (json.dumps(_event_file("eventbridge-object-created.json")), "incoming/ada.jpg"),
        # Lambda gave up on an event from the rule: its on-failure record.
        (
            json.dumps(
                {
                    **json.loads(LAMBDA_FAILURE_RECORD),
                    "requestPayload": _event_file("eventbridge-object-created.json"),
                }
            ),
            "incoming/ada.jpg",
        ),
    ],
)
def test_events_in_every_shape_the_queue_receives_them_are_replayed(body: str, key: str) -> None:
    decision, event = decide(body)

    assert decision is Decision.REPLAY
    assert event is not None
    (item,) = read_event(event, input_bucket=BUCKET)  # what the replayed function reads
    assert isinstance(item, ObjectCreated)
    assert item.key == key
    assert item.replay.redrive


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        '{"schema": "other"}',
        "{}",
        json.dumps(_event_file("s3-test-event.json")),
        _body("sqs-batch-with-malformed-record.json", 1),  # a notification naming no key
        json.dumps(
            {**json.loads(LAMBDA_FAILURE_RECORD), "requestPayload": {"Records": [{"s3": {}}]}}
        ),
    ],
)
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


def test_a_failed_replay_keeps_the_message_visible(queue: tuple[Any, str]) -> None:
    sqs, url = queue
    sqs.send_message(QueueUrl=url, MessageBody=envelope("INTERNAL_ERROR"))

    def broken(event: dict[str, Any]) -> None:
        raise RuntimeError("lambda unavailable")

    with pytest.raises(RuntimeError):
        redrive(sqs, url, broken, limit=5)
    assert len(received(sqs, url)) == 1


def received(sqs: Any, url: str) -> list[str]:
    """The bodies a receive-message right now returns (and hides for a minute)."""
    bodies: list[str] = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60).get(
            "Messages", []
        )
        if not batch:
            return bodies
        bodies.extend(message["Body"] for message in batch)


def test_messages_not_replayed_are_visible_again_at_once(queue: tuple[Any, str]) -> None:
    sqs, url = queue
    kept = [envelope("NO_FACE_FOUND"), "garbage"]
    for body in (*kept, envelope("INTERNAL_ERROR")):
        sqs.send_message(QueueUrl=url, MessageBody=body)

    redrive(sqs, url, lambda event: None, limit=50)

    assert sorted(received(sqs, url)) == sorted(kept)


def test_a_dry_run_replays_and_deletes_nothing(queue: tuple[Any, str]) -> None:
    sqs, url = queue
    bodies = [envelope("INTERNAL_ERROR"), LAMBDA_FAILURE_RECORD, envelope("NO_FACE_FOUND")]
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    replayed: list[dict[str, Any]] = []

    summary = redrive(sqs, url, replayed.append, limit=50, dry_run=True)

    assert replayed == []
    assert (summary.replayed, summary.not_retryable) == (2, 1)
    assert summary.line().startswith("would replay 2 message(s)")
    assert sorted(summary.keys) == ["incoming/José 2.jpg", "incoming/ada.jpg"]
    assert sorted(received(sqs, url)) == sorted(bodies)


def test_include_permanent_replays_permanent_failures_marked_as_such(
    queue: tuple[Any, str],
) -> None:
    sqs, url = queue
    sqs.send_message(QueueUrl=url, MessageBody=envelope("NO_FACE_FOUND"))
    sqs.send_message(QueueUrl=url, MessageBody=envelope("INTERNAL_ERROR", "incoming/alan.jpg"))
    replayed: list[dict[str, Any]] = []

    summary = redrive(sqs, url, replayed.append, limit=50, include_permanent=True)

    assert (summary.replayed, summary.not_retryable) == (2, 0)
    marks = sorted(bool(event.get(RETRY_FAILED_MARKER)) for event in replayed)
    assert marks == [False, True]
    assert received(sqs, url) == []


S3_RECORD = object_created_event(BUCKET, "incoming/grace/manifest.json", etag="abc", size=2)
EVENTBRIDGE_EVENT = {
    "version": "0",
    "id": "17793124-05d4-b198-2fde-7ededc63b103",
    "detail-type": "Object Created",
    "source": "aws.s3",
    "account": "123456789012",
    "time": "2026-11-24T12:00:00Z",
    "region": "us-east-1",
    "resources": [f"arn:aws:s3:::{BUCKET}"],
    "detail": {
        "version": "0",
        "bucket": {"name": BUCKET},
        "object": {"key": "incoming/José 2.jpg", "size": 5, "etag": "e1", "sequencer": "1"},
        "request-id": "N4N7GDK58NMKJ12R",
        "requester": "123456789012",
        "reason": "PutObject",
    },
}
SNS_NOTIFICATION = {
    "Type": "Notification",
    "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
    "TopicArn": "arn:aws:sns:us-east-1:123456789012:face3d-uploads",
    "Message": json.dumps(S3_RECORD),
}


@pytest.mark.parametrize(
    ("body", "key"),
    [
        (json.dumps(S3_RECORD), "incoming/grace/manifest.json"),  # S3 → SQS trigger's DLQ
        (json.dumps(SNS_NOTIFICATION), "incoming/grace/manifest.json"),  # S3 → SNS → SQS
        (json.dumps(EVENTBRIDGE_EVENT), "incoming/José 2.jpg"),  # EventBridge → SQS
        (
            json.dumps({**json.loads(LAMBDA_FAILURE_RECORD), "requestPayload": EVENTBRIDGE_EVENT}),
            "incoming/José 2.jpg",
        ),  # an EventBridge-triggered invocation that failed
    ],
)
def test_the_triggers_messages_replay_as_the_upload_they_name(body: str, key: str) -> None:
    decision, event = decide(body)

    assert decision is Decision.REPLAY
    assert event is not None
    assert event[REDRIVE_MARKER] is True
    (upload,) = read_event(event, input_bucket=BUCKET)
    assert isinstance(upload, ObjectCreated)
    assert (upload.bucket, upload.key, upload.replay.redrive) == (BUCKET, key, True)


def test_limit_bounds_the_messages_read(queue: tuple[Any, str]) -> None:
    sqs, url = queue
    for _ in range(5):
        sqs.send_message(QueueUrl=url, MessageBody=envelope("INTERNAL_ERROR"))
    replayed: list[dict[str, Any]] = []
    assert redrive(sqs, url, replayed.append, limit=3).replayed == 3
