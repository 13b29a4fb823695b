"""DESIGN.md section 2: every shape AWS delivers uploads in, under moto.

S3 notifications, EventBridge's "Object Created" events and SQS batches wrapping either (directly
or through SNS) produce the same result; an SQS batch reports only the messages whose sets were
given back (`batchItemFailures`); malformed, foreign and unknown records are ignored with one log
line each, beside valid records that are still processed; no event shape crashes the invocation.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from face3d.function import handler
from face3d.function.events import object_created_event
from tests import photos
from tests.fakes import error_payload, success_payload
from tests.integration.harness import (
    BUCKET,
    ENDPOINT,
    OUTPUT_FILES,
    REGION,
    RESULT_FILES,
    LambdaContext,
    Pipeline,
    ScriptedApi,
    eventbridge_event,
    expect_failure,
    log_lines,
    merge_events,
    sns_envelope,
    sqs_batch,
    sqs_message,
)

EVENTS = Path(__file__).resolve().parents[2] / "events"
SUCCESS = (200, success_payload())
INTERNAL_ERROR = (500, error_payload("INTERNAL_ERROR"))
NO_FAILURES: dict[str, Any] = {"batchItemFailures": []}


def ignored_lines(json_logs: io.StringIO) -> list[str]:
    return [
        line["message"]
        for line in log_lines(json_logs)
        if str(line.get("message", "")).startswith("ignored")
    ]


def event_file(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return document


def outputs(pipeline: Pipeline, subject: str) -> dict[str, str]:
    """The sha256 of every output file of `subject`: what a consumer would read."""
    return {
        name: hashlib.sha256(pipeline.read(f"results/{subject}/{name}")).hexdigest()
        for name in OUTPUT_FILES
    }


# One upload, every shape: the same result.


def _s3(pipeline: Pipeline, key: str, data: bytes) -> dict[str, Any]:
    return pipeline.put(key, data)


def _eventbridge(pipeline: Pipeline, key: str, data: bytes) -> dict[str, Any]:
    answer = pipeline.s3.put_object(Bucket=BUCKET, Key=key, Body=data)
    return eventbridge_event(key, answer["ETag"].strip('"'), len(data))


def _sqs_s3(pipeline: Pipeline, key: str, data: bytes) -> dict[str, Any]:
    return sqs_batch(pipeline.put(key, data))


def _sqs_sns_s3(pipeline: Pipeline, key: str, data: bytes) -> dict[str, Any]:
    return sqs_batch(sns_envelope(pipeline.put(key, data)))


def _sqs_eventbridge(pipeline: Pipeline, key: str, data: bytes) -> dict[str, Any]:
    return sqs_batch(_eventbridge(pipeline, key, data))


SHAPES: dict[str, Callable[[Pipeline, str, bytes], dict[str, Any]]] = {
    "s3": _s3,
    "eventbridge": _eventbridge,
    "sqs-s3": _sqs_s3,
    "sqs-sns-s3": _sqs_sns_s3,
    "sqs-eventbridge": _sqs_eventbridge,
}


def _reference(pipeline: Pipeline, key: str, data: bytes) -> tuple[str, dict[str, str]]:
    """What the plain S3 notification produces: the fingerprint and the outputs."""
    assert pipeline.invoke(pipeline.put(key, data)) == {"succeeded": 1}
    document = pipeline.json("results/José 2/result.json")
    return document["fingerprint"], outputs(pipeline, "José 2")


@pytest.mark.parametrize("shape", SHAPES)
def test_an_upload_in_any_shape_produces_the_same_result(pipeline: Pipeline, shape: str) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    key, data = "incoming/José 2.jpg", photos.astronaut_jpeg()
    fingerprint, reference = _reference(pipeline, key, data)
    # A new bucket state for the same set: the earlier outcome is forgotten.
    for name in pipeline.keys("results/"):
        pipeline.s3.delete_object(Bucket=BUCKET, Key=name)

    answer = pipeline.invoke(SHAPES[shape](pipeline, key, data))

    assert answer == (NO_FAILURES if shape.startswith("sqs") else {"succeeded": 1})
    assert len(pipeline.api.calls) == 2
    document = pipeline.json("results/José 2/result.json")
    assert document["fingerprint"] == fingerprint
    assert document["inputs"]["front"]["key"] == key
    assert outputs(pipeline, "José 2") == reference
    assert pipeline.messages() == []


# The sample events of events/, each under moto.


def _put_samples(pipeline: Pipeline) -> None:
    """The objects the sample events name, as real photos."""
    pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())
    pipeline.put("incoming/alan.png", photos.grace_hopper_png())
    pipeline.put("incoming/José Núñez 2.jpg", photos.grace_hopper_jpeg())
    pipeline.put("incoming/grace/front.jpg", photos.grace_hopper_jpeg())
    pipeline.put("incoming/grace/manifest.json", b"{}")


@pytest.mark.parametrize(
    ("name", "answer", "subjects"),
    [
        ("eventbridge-object-created.json", {"succeeded": 1}, ["ada"]),
        ("sqs-s3-notification.json", NO_FAILURES, ["alan"]),
        ("sqs-sns-s3-notification.json", NO_FAILURES, ["José Núñez 2"]),
        ("sqs-eventbridge.json", NO_FAILURES, ["grace"]),
        ("sqs-batch-with-malformed-record.json", NO_FAILURES, ["ada", "alan"]),
    ],
)
def test_each_sample_event_of_a_new_shape_does_what_events_readme_says(
    pipeline: Pipeline,
    json_logs: io.StringIO,
    name: str,
    answer: dict[str, Any],
    subjects: list[str],
) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    _put_samples(pipeline)

    assert pipeline.invoke(event_file(name)) == answer

    assert len(pipeline.api.calls) == len(subjects)
    for subject in subjects:
        assert pipeline.results(subject) == RESULT_FILES
    assert pipeline.messages() == []
    if name == "sqs-batch-with-malformed-record.json":
        assert ignored_lines(json_logs) == ["ignored sqs/s3 record: malformed S3 record (no 'key')"]


# SQS: partial batch failures.


def test_only_the_message_whose_set_was_given_back_is_delivered_again(
    pipeline: Pipeline,
) -> None:
    # The first set's two calls fail (MAX_ATTEMPTS=2), every later call succeeds.
    api = ScriptedApi(INTERNAL_ERROR, INTERNAL_ERROR, SUCCESS)
    pipeline.api.add_callback("POST", ENDPOINT, callback=api)
    batch = sqs_batch(
        pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg()),
        pipeline.put("incoming/grace.png", photos.grace_hopper_png()),
        pipeline.put("incoming/tiny.jpg", photos.tiny_jpeg()),  # fails permanently
    )

    assert pipeline.invoke(batch, "req-1") == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}

    assert pipeline.results("grace") == RESULT_FILES
    assert pipeline.results("ada") == []
    # The permanent failure is recorded, and its message is not delivered again.
    expect_failure(
        pipeline, subject="tiny", code="INVALID_IMAGE_SIZE", retryable=False, error_json=True
    )
    # SQS delivers m-1 again, in a new invocation: it takes the released claim at once.
    again = {"Records": [sqs_message(batch["Records"][0]["body"], "m-1", receive_count=2)]}
    assert pipeline.invoke(again, "req-2") == NO_FAILURES
    assert pipeline.results("ada") == RESULT_FILES
    assert pipeline.claim_of("ada")["attempts"] == 2
    assert len(pipeline.api.calls) == 4
    assert pipeline.messages() == []


def test_a_batch_whose_every_message_was_given_back_reports_them_all(
    pipeline: Pipeline,
) -> None:
    pipeline.api.post(ENDPOINT, json=error_payload("INTERNAL_ERROR"), status=500)
    batch = sqs_batch(
        pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg()),
        pipeline.put("incoming/grace.jpg", photos.grace_hopper_jpeg()),
    )

    answer = pipeline.invoke(batch)

    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-2"}]}
    assert pipeline.messages() == []


def test_the_last_attempt_through_sqs_publishes_and_its_message_is_not_retried(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The queue's maxReceiveCount is 1 + MAX_ASYNC_RETRIES: the last receive is the last attempt.
    monkeypatch.setenv("MAX_ASYNC_RETRIES", "0")
    pipeline.api.post(ENDPOINT, json=error_payload("INTERNAL_ERROR"), status=500)
    batch = sqs_batch(pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg()))

    assert pipeline.invoke(batch) == NO_FAILURES

    body = expect_failure(
        pipeline, subject="ada", code="INTERNAL_ERROR", retryable=True, error_json=False
    )
    assert body["attempts"] == 1
    assert pipeline.only_claim()[1]["state"] == "parked"


def test_moto_s3_notifies_an_sqs_queue_and_the_batch_it_delivers_is_processed(
    pipeline: Pipeline, json_logs: io.StringIO
) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    queue_url = pipeline.sqs.create_queue(QueueName="face3d-uploads")["QueueUrl"]
    queue_arn = f"arn:aws:sqs:{REGION}:123456789012:face3d-uploads"
    pipeline.s3.put_bucket_notification_configuration(
        Bucket=BUCKET,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "incoming/"}]}},
                }
            ]
        },
    )
    pipeline.s3.put_object(
        Bucket=BUCKET, Key="incoming/ada lovelace.jpg", Body=photos.astronaut_jpeg()
    )
    pipeline.s3.put_object(
        Bucket=BUCKET,
        Key="incoming/grace.heic",
        Body=photos.as_phone_photo(photos.grace_hopper_jpeg(), "HEIF"),
    )

    batch = _receive_as_batch(pipeline, queue_url, queue_arn)

    assert len(batch["Records"]) == 3  # S3's s3:TestEvent first, then the two uploads
    assert pipeline.invoke(batch) == NO_FAILURES
    assert pipeline.results("ada lovelace") == RESULT_FILES
    assert pipeline.results("grace") == RESULT_FILES
    assert ignored_lines(json_logs) == [
        "ignored sqs/s3 record: s3:TestEvent, sent when a notification is set up"
    ]


def _receive_as_batch(pipeline: Pipeline, queue_url: str, queue_arn: str) -> dict[str, Any]:
    """What an event source mapping hands the function for the messages on `queue_url`."""
    received = pipeline.sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
    )["Messages"]
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message["Attributes"],
                "messageAttributes": {},
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
            for message in received
        ]
    }


# Malformed, foreign and unknown: ignored with one log line, never a crash.


@pytest.mark.parametrize(
    ("event", "why"),
    [
        ({}, "an event of unknown shape (empty)"),
        ([], "not an event object (list)"),
        (None, "not an event object (missing)"),
        (
            {"resource": "/", "path": "/", "httpMethod": "GET", "headers": {}, "body": None},
            "an event of unknown shape (keys: body, headers, httpMethod, path, resource)",
        ),
        ({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}]}, "malformed"),
        (
            {"source": "aws.s3", "detail-type": "Object Deleted", "detail": {}},
            "not an S3 Object Created event",
        ),
    ],
)
def test_no_event_shape_crashes_the_invocation(
    pipeline: Pipeline, json_logs: io.StringIO, event: object, why: str
) -> None:
    assert pipeline.invoke(event) == {"ignored": 1}  # type: ignore[arg-type]

    assert pipeline.keys() == []
    assert pipeline.messages() == []
    (line,) = ignored_lines(json_logs)
    assert why in line


def plain_event(key: str) -> dict[str, Any]:
    """An S3 notification for `key`, whether or not the object exists."""
    return object_created_event(BUCKET, key, etag="e" * 32, size=1)


def test_bad_records_are_ignored_and_the_valid_ones_beside_them_processed(
    pipeline: Pipeline, json_logs: io.StringIO
) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    no_s3 = plain_event("incoming/x.jpg")
    del no_s3["Records"][0]["s3"]
    no_bucket = plain_event("incoming/x.jpg")
    del no_bucket["Records"][0]["s3"]["bucket"]
    numeric_key = plain_event("incoming/x.jpg")
    numeric_key["Records"][0]["s3"]["object"]["key"] = 12345
    no_time = pipeline.put("incoming/grace.jpg", photos.grace_hopper_jpeg())
    del no_time["Records"][0]["eventTime"]
    event = merge_events(
        no_s3,
        pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg()),
        no_bucket,
        numeric_key,
        no_time,
    )

    assert pipeline.invoke(event) == {"ignored": 3, "succeeded": 2}

    assert pipeline.results("ada") == RESULT_FILES
    assert pipeline.results("grace") == RESULT_FILES  # a missing eventTime costs nothing
    assert ignored_lines(json_logs) == [
        "ignored s3 record: malformed S3 record (no 's3')",
        "ignored s3 record: malformed S3 record (no 'bucket')",
        "ignored s3 record: the object key is not text (int)",
    ]


def test_uploads_to_another_bucket_are_ignored(pipeline: Pipeline, json_logs: io.StringIO) -> None:
    other = "someone-elses-bucket"
    pipeline.s3.create_bucket(Bucket=other)
    pipeline.s3.put_object(Bucket=other, Key="incoming/ada.jpg", Body=photos.astronaut_jpeg())
    pipeline.api.post(ENDPOINT, json=success_payload())
    event = plain_event("incoming/ada.jpg")
    event["Records"][0]["s3"]["bucket"]["name"] = other

    for shaped in (event, sqs_batch(event), eventbridge_event("incoming/ada.jpg", "e", 1, other)):
        assert pipeline.invoke(shaped) in ({"ignored": 1}, NO_FAILURES)

    assert len(pipeline.api.calls) == 0
    assert pipeline.s3.list_objects_v2(Bucket=other)["KeyCount"] == 1
    assert pipeline.keys() == []
    lines = ignored_lines(json_logs)
    assert len(lines) == 3
    assert all(f"for bucket '{other}', not the input bucket '{BUCKET}'" in line for line in lines)


def test_an_s3_test_event_through_sqs_is_ignored_and_its_message_deleted(
    pipeline: Pipeline,
) -> None:
    test_event = event_file("s3-test-event.json")

    assert pipeline.invoke(sqs_batch(test_event)) == NO_FAILURES
    assert pipeline.keys() == []


def test_a_redriven_event_of_any_shape_retries_its_parked_set(pipeline: Pipeline) -> None:
    pipeline.api.post(ENDPOINT, json=error_payload("AUTHORIZATION_ERROR:Denied"), status=403)
    event = _eventbridge(pipeline, "incoming/ada.jpg", photos.astronaut_jpeg())
    assert pipeline.invoke(event) == {"failed": 1}
    (message,) = pipeline.messages()
    assert message["body"]["error"]["code"] == "AUTHORIZATION_ERROR"
    assert message["body"]["trigger"] == {"key": "incoming/ada.jpg", "event_time": event["time"]}
    pipeline.api.replace("POST", ENDPOINT, json=success_payload())
    assert pipeline.invoke(event) == {"duplicate": 1}  # parked: a plain delivery leaves it

    assert pipeline.invoke({**event, "face3d_redrive": True}) == {"succeeded": 1}

    assert pipeline.results("ada") == RESULT_FILES


def test_the_handler_answers_a_batch_with_an_empty_body_list_as_no_batch(
    pipeline: Pipeline,
) -> None:
    context = LambdaContext("req-1")
    assert handler.lambda_handler({"Records": []}, context) == {"ignored": 1}  # type: ignore[arg-type]


def test_moto_s3_through_sns_and_through_eventbridge_to_sqs_is_processed(
    pipeline: Pipeline,
) -> None:
    """S3 -> SNS -> SQS, and S3 -> EventBridge rule -> SQS, wired in moto as in AWS."""
    pipeline.api.post(ENDPOINT, json=success_payload())
    queue_url = pipeline.sqs.create_queue(QueueName="face3d-uploads")["QueueUrl"]
    queue_arn = f"arn:aws:sqs:{REGION}:123456789012:face3d-uploads"
    sns = boto3.client("sns", region_name=REGION)
    topic_arn = sns.create_topic(Name="face3d-uploads")["TopicArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    events = boto3.client("events", region_name=REGION)
    pattern = {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [BUCKET]}, "object": {"key": [{"prefix": "incoming/"}]}},
    }
    events.put_rule(Name="face3d-uploads", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="face3d-uploads", Targets=[{"Id": "queue", "Arn": queue_arn}])
    pipeline.s3.put_bucket_notification_configuration(
        Bucket=BUCKET,
        NotificationConfiguration={
            "TopicConfigurations": [
                {
                    "TopicArn": topic_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "incoming/"}]}},
                }
            ],
            "EventBridgeConfiguration": {},
        },
    )
    _receive_as_batch(pipeline, queue_url, queue_arn)  # S3's s3:TestEvent, through SNS
    pipeline.s3.put_object(Bucket=BUCKET, Key="incoming/ada.jpg", Body=photos.astronaut_jpeg())

    batch = _receive_as_batch(pipeline, queue_url, queue_arn)

    bodies = [json.loads(record["body"]) for record in batch["Records"]]
    assert sorted(body.get("Type") or body.get("detail-type") for body in bodies) == [
        "Notification",
        "Object Created",
    ]
    assert pipeline.invoke(batch) == NO_FAILURES
    # Two deliveries of one upload: one call, one result.
    assert len(pipeline.api.calls) == 1
    assert pipeline.results("ada") == RESULT_FILES
