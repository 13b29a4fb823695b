"""Reading any event into uploads (face3d.function.events): every shape AWS delivers uploads in,
and every malformed or foreign record ignored with a reason, never an exception."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from face3d.function.events import (
    REDRIVE_MARKER,
    RETRY_FAILED_MARKER,
    Ignored,
    Item,
    ObjectCreated,
    Replay,
    is_sqs_batch,
    object_created_event,
    read_event,
    read_message,
)

BUCKET = "face3d-pipeline-123456789012-us-east-1"
TIME = "2026-11-24T12:00:00.000Z"


ETAG = "e" * 32


def s3_event(key: str = "incoming/ada.jpg", bucket: str = BUCKET) -> dict[str, Any]:
    return object_created_event(bucket, key, etag=ETAG, size=5, event_time=TIME)


def s3_record(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = s3_event()["Records"][0]
    record.update(changes)
    return record


def eventbridge(key: str = "incoming/ada.jpg", **changes: Any) -> dict[str, Any]:
    event = {
        "version": "0",
        "id": "a1f3c2e4-5b6d-4e7f-8a9b-0c1d2e3f4a5b",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2026-11-24T12:00:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{BUCKET}"],
        "detail": {
            "version": "0",
            "bucket": {"name": BUCKET},
            "object": {"key": key, "size": 5, "etag": ETAG, "sequencer": "0A"},
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "123456789012",
            "reason": "PutObject",
        },
    }
    event.update(changes)
    return event


def sns_envelope(message: object) -> dict[str, Any]:
    return {
        "Type": "Notification",
        "MessageId": "6b1f3e2a",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:uploads",
        "Message": message if isinstance(message, str) else json.dumps(message),
        "Timestamp": TIME,
    }


def sqs_record(body: object, message_id: str = "m-1") -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": "AQEB",
        "body": body if isinstance(body, str) else json.dumps(body),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "md5OfBody": "0" * 32,
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:uploads",
        "awsRegion": "us-east-1",
    }


def read(event: object, input_bucket: str | None = BUCKET) -> list[Item]:
    return read_event(event, input_bucket=input_bucket)


def only(items: list[Item]) -> Item:
    assert len(items) == 1, items
    return items[0]


def upload(
    key: str = "incoming/ada.jpg", via: str = "s3", time: str | None = TIME
) -> ObjectCreated:
    return ObjectCreated(BUCKET, key, time, via, etag=ETAG)


# Every shape an upload comes in.


def test_an_s3_notification() -> None:
    assert read(s3_event()) == [upload()]


def test_every_records_key_is_url_decoded() -> None:
    event = {"Records": [*s3_event("incoming/José Núñez 2.jpg")["Records"], *s3_event()["Records"]]}
    assert event["Records"][0]["s3"]["object"]["key"] == "incoming/Jos%C3%A9+N%C3%BA%C3%B1ez+2.jpg"

    assert read(event) == [upload("incoming/José Núñez 2.jpg"), upload()]


def test_an_eventbridge_object_created_event() -> None:
    assert read(eventbridge("incoming/Jos%C3%A9+2.jpg")) == [
        upload("incoming/José 2.jpg", "eventbridge", "2026-11-24T12:00:00Z")
    ]


@pytest.mark.parametrize(
    ("body", "via"),
    [
        (s3_event(), "sqs/s3"),
        (sns_envelope(s3_event()), "sqs/sns/s3"),
        (eventbridge(), "sqs/eventbridge"),
    ],
)
def test_an_sqs_message_wrapping_any_shape(body: dict[str, Any], via: str) -> None:
    batch = {"Records": [sqs_record(body)]}
    assert is_sqs_batch(batch)

    (item,) = read_message(batch["Records"][0]["body"], input_bucket=BUCKET)

    assert isinstance(item, ObjectCreated)
    assert (item.key, item.via) == ("incoming/ada.jpg", via)
    # Read as a whole event (as a redrive of it would be), the batch says the same.
    assert read(batch) == [item]


def test_an_sns_notification_to_the_function() -> None:
    event = {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:uploads:1",
                "Sns": sns_envelope(s3_event()),
            }
        ]
    }
    assert read(event) == [upload(via="sns/s3")]


def test_moto_notifications_lacking_fields_we_do_not_use_are_read() -> None:
    record = s3_record()
    for name in ("userIdentity", "requestParameters", "responseElements"):
        del record[name]
    del record["s3"]["bucket"]["ownerIdentity"]
    assert read({"Records": [record]}) == [upload()]


def test_an_eventbridge_time_that_is_not_text_leaves_the_time_unknown() -> None:
    assert read(eventbridge(time=1795785757.1)) == [upload(via="eventbridge", time=None)]


@pytest.mark.parametrize("time", [None, "", 17])
def test_a_record_without_an_event_time_is_still_an_upload(time: object) -> None:
    record = s3_record()
    if time is None:
        del record["eventTime"]
    else:
        record["eventTime"] = time
    assert read({"Records": [record]}) == [upload(time=None)]


# The redrive marker.


def test_the_redrive_marker_reaches_every_upload_however_wrapped() -> None:
    for event in (s3_event(), eventbridge(), {"Records": [sqs_record(sns_envelope(s3_event()))]}):
        items = read({**event, REDRIVE_MARKER: True})
        assert items
        assert all(isinstance(item, ObjectCreated) and item.replay.redrive for item in items)
    assert not any(isinstance(i, ObjectCreated) and i.replay.redrive for i in read(s3_event()))


def test_retrying_failed_sets_needs_both_markers() -> None:
    both = only(read({**s3_event(), REDRIVE_MARKER: True, RETRY_FAILED_MARKER: True}))
    alone = only(read({**s3_event(), RETRY_FAILED_MARKER: True}))
    assert isinstance(both, ObjectCreated)
    assert isinstance(alone, ObjectCreated)
    assert both.replay == Replay(redrive=True, retry_failed=True)
    assert alone.replay == Replay()


def test_a_marker_that_is_not_true_is_no_redrive() -> None:
    (item,) = read({**s3_event(), REDRIVE_MARKER: "yes"})
    assert isinstance(item, ObjectCreated)
    assert not item.replay.redrive


# What is ignored, and why: never an exception.


def reason(items: list[Item]) -> str:
    item = only(items)
    assert isinstance(item, Ignored), item
    assert item.describe().startswith("ignored ")
    return item.reason


@pytest.mark.parametrize(
    ("event", "why"),
    [
        ({}, "an event of unknown shape (empty)"),
        ([], "not an event object (list)"),
        ("incoming/ada.jpg", "not an event object (str)"),
        (None, "not an event object (missing)"),
        (42, "not an event object (int)"),
        (
            {"resource": "/", "path": "/", "httpMethod": "POST", "body": "{}"},
            "an event of unknown shape (keys: body, httpMethod, path, resource)",
        ),
        (
            {"version": "2.0", "routeKey": "$default", "rawPath": "/", "requestContext": {}},
            "an event of unknown shape (keys: rawPath, requestContext, routeKey, version)",
        ),
        ({"Records": []}, "Records is not a list of records"),
        ({"Records": "incoming/ada.jpg"}, "Records is not a list of records"),
        ({"Records": [7]}, "not a record object (int)"),
        ({"Records": [{}]}, "a record from None, not S3"),
        ({"Records": [{"eventSource": "aws:dynamodb"}]}, "a record from 'aws:dynamodb', not S3"),
        (
            {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": BUCKET},
            "s3:TestEvent, sent when a notification is set up",
        ),
    ],
)
def test_events_of_no_known_shape_are_ignored(event: object, why: str) -> None:
    assert reason(read(event)) == why


def _without(path: list[str]) -> dict[str, Any]:
    record = s3_record()
    holder = record
    for name in path[:-1]:
        holder = holder[name]
    del holder[path[-1]]
    return {"Records": [record]}


def _with(path: list[str], value: object) -> dict[str, Any]:
    record = s3_record()
    holder = record
    for name in path[:-1]:
        holder = holder[name]
    holder[path[-1]] = value
    return {"Records": [record]}


@pytest.mark.parametrize(
    ("event", "why"),
    [
        (_without(["s3"]), "malformed S3 record (no 's3')"),
        (_without(["s3", "object"]), "malformed S3 record (no 'object')"),
        (_without(["s3", "object", "key"]), "malformed S3 record (no 'key')"),
        (_without(["s3", "bucket"]), "malformed S3 record (no 'bucket')"),
        (_without(["s3", "bucket", "name"]), "malformed S3 record (no 'name')"),
        (_without(["eventName"]), "malformed S3 record (no 'eventName')"),
        (_with(["s3"], "incoming/ada.jpg"), "malformed S3 record (TypeError: "),
        (_with(["s3", "object", "key"], 12345), "the object key is not text (int)"),
        (_with(["s3", "object", "key"], None), "the object key is not text (missing)"),
        (_with(["s3", "object", "key"], ""), "the object key is not text (str)"),
        (_with(["s3", "bucket", "name"], ["b"]), "the bucket name is not text (list)"),
        (_with(["eventName"], "ObjectRemoved:Delete"), "not an ObjectCreated event"),
        (_with(["eventName"], 3), "not an ObjectCreated event (3)"),
    ],
)
def test_malformed_s3_records_are_ignored_naming_why(event: dict[str, Any], why: str) -> None:
    assert reason(read(event)).startswith(why)


@pytest.mark.parametrize(
    ("event", "why"),
    [
        (eventbridge(source="aws.ec2"), "not an S3 Object Created event ('aws.ec2'"),
        (eventbridge(**{"detail-type": "Object Deleted"}), "not an S3 Object Created event"),
        (eventbridge(detail={}), "malformed EventBridge event (no 'bucket')"),
        (eventbridge(detail="x"), "malformed EventBridge event (TypeError"),
        (eventbridge(7), "the object key is not text (int)"),
        ({"detail": {}}, "malformed EventBridge event (no 'source')"),
    ],
)
def test_other_and_malformed_eventbridge_events_are_ignored(
    event: dict[str, Any], why: str
) -> None:
    assert reason(read(event)).startswith(why)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not an event object (list)"),
        ('{"hello": "world"}', "an event of unknown shape (keys: hello)"),
        (json.dumps(sns_envelope("not json")), "not JSON"),
        (json.dumps({"Type": "Notification", "Message": 5}), "the SNS message is not text"),
        (
            json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"}),
            "s3:TestEvent, sent when a notification is set up",
        ),
        ("[" * 100_000, "not JSON"),
    ],
)
def test_sqs_messages_naming_no_upload_are_ignored(body: str, why: str) -> None:
    assert reason(read_message(body, input_bucket=BUCKET)) == why


def test_a_message_body_that_is_not_text_is_ignored() -> None:
    assert reason(read_message(None, input_bucket=BUCKET)) == "the message body is not text"


def test_wrapping_deeper_than_aws_does_is_ignored() -> None:
    body: dict[str, Any] = s3_event()
    for _ in range(6):
        body = sns_envelope(body)
    assert reason(read_message(json.dumps(body), input_bucket=BUCKET)) == "wrapped too deeply"


def test_uploads_to_another_bucket_are_ignored_naming_both_buckets() -> None:
    items = read(s3_event(bucket="someone-elses-bucket"))

    item = only(items)
    assert isinstance(item, Ignored)
    assert item.reason == f"for bucket 'someone-elses-bucket', not the input bucket '{BUCKET}'"
    assert item.key == "incoming/ada.jpg"
    # Without an input bucket (local runs) any bucket is served.
    assert isinstance(only(read(s3_event(bucket="someone-elses-bucket"), None)), ObjectCreated)


def test_one_bad_record_never_hides_the_valid_ones_beside_it() -> None:
    bad = _with(["s3", "object", "key"], 12345)["Records"][0]
    foreign = s3_event(bucket="someone-elses-bucket")["Records"][0]
    event = {
        "Records": [
            *s3_event("incoming/ada.jpg")["Records"],
            bad,
            "not a record",
            foreign,
            *s3_event("incoming/grace.png")["Records"],
        ]
    }

    items = read(event)

    assert [item.key for item in items if isinstance(item, ObjectCreated)] == [
        "incoming/ada.jpg",
        "incoming/grace.png",
    ]
    assert [type(item) for item in items] == [
        ObjectCreated,
        Ignored,
        Ignored,
        Ignored,
        ObjectCreated,
    ]


def test_a_batch_is_an_sqs_batch_only_when_every_record_is_an_sqs_message() -> None:
    good = sqs_record(s3_event())
    assert is_sqs_batch({"Records": [good, sqs_record(eventbridge(), "m-2")]})
    assert not is_sqs_batch({"Records": []})
    assert not is_sqs_batch(s3_event())
    assert not is_sqs_batch({"Records": [good, s3_record()]})
    no_id = copy.deepcopy(good)
    del no_id["messageId"]
    assert not is_sqs_batch({"Records": [no_id]})
    no_body = {**good, "body": 5}
    assert not is_sqs_batch({"Records": [no_body, good]})
    assert not is_sqs_batch([good])
    # Not a batch: read as an event, its bad message is ignored and the good ones read.
    items = read({"Records": [no_body, no_id, good]})
    assert [type(item) for item in items] == [Ignored, ObjectCreated, ObjectCreated]
    assert isinstance(items[0], Ignored)
    assert items[0].reason == "the message body is not text"
