"""Every shape in which AWS tells of an upload, read into one list of uploads (pure).

DESIGN.md section 2: S3 event notifications, S3 "Object Created" events from EventBridge, and
SQS messages wrapping either (S3 -> SQS, S3 -> SNS -> SQS, EventBridge -> SQS); an SNS
notification sent to the function directly too. Whatever the shape, each record becomes one
item: an `ObjectCreated` (bucket and URL-decoded key), or an `Ignored` saying why. A record that
is malformed, for another bucket, or of a shape we do not know is ignored; nothing here raises on
what an event holds, so one bad record never stops the others.

Records are read with Powertools' data classes, which wrap the event without validating it: a
field that is missing raises KeyError, one of the wrong kind TypeError, and both become the
reason a record is ignored. (Powertools' parser models would refuse the notifications moto
sends, which lack fields we never use, such as `userIdentity`.)

Also builds S3 notification events, for `face3d redrive`, the demo and the tests.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3EventBridgeNotificationEvent, SQSRecord
from aws_lambda_powertools.utilities.data_classes.s3_event import S3EventRecord
from aws_lambda_powertools.utilities.data_classes.sns_event import SNSEventRecord

# Set at the top level of an event replayed from the dead-letter queue: a set parked after a
# retryable failure is taken up again only by such an event.
REDRIVE_MARKER = "face3d_redrive"
# Set beside it by `face3d redrive --include-permanent`: a set that failed permanently is tried
# again too (once whatever judged it, the endpoint or a limit, was fixed).
RETRY_FAILED_MARKER = "face3d_retry_failed"
TEST_EVENT = "s3:TestEvent"
# Errors a data class raises for a field that is missing or of the wrong kind.
_SHAPE_ERRORS = (KeyError, TypeError, AttributeError, ValueError)
# SNS and SQS each wrap one document: more nesting than this is not AWS's doing.
_MAX_DEPTH = 4


@dataclass(frozen=True)
class Replay:
    """What a replayed event asks for, from the markers `face3d redrive` sets on it."""

    redrive: bool = False  # a parked set may be taken up again
    retry_failed: bool = False  # and a set that failed permanently too

    def marked_by(self, document: Mapping[str, Any]) -> Replay:
        redrive = self.redrive or document.get(REDRIVE_MARKER) is True
        retry_failed = self.retry_failed or document.get(RETRY_FAILED_MARKER) is True
        return Replay(redrive, redrive and retry_failed)


NOT_REPLAYED = Replay()


@dataclass(frozen=True)
class ObjectCreated:
    """One upload, whatever shape told of it."""

    bucket: str
    key: str  # URL-decoded
    event_time: str | None  # as the record gives it; None when it gives none
    via: str  # how it came, outermost first: "s3", "eventbridge", "sqs/sns/s3", ...
    replay: Replay = NOT_REPLAYED
    etag: str = ""  # the uploaded object's, as the event tells it ("" when it does not)


@dataclass(frozen=True)
class Ignored:
    """A record, message or event that names no upload of ours, and why."""

    reason: str
    via: str
    key: str | None = None

    def describe(self) -> str:
        where = f"{self.via} record" + (f" {self.key}" if self.key else "")
        return f"ignored {where}: {self.reason}"


Item = ObjectCreated | Ignored


def read_event(event: object, *, input_bucket: str | None) -> list[Item]:
    """Every item of an event the function was invoked with, other than an SQS batch.

    `input_bucket` is the bucket the function serves; None serves any (local runs).
    """
    return _Reader(input_bucket).document(event, via="", replay=NOT_REPLAYED, depth=0)


def read_message(body: object, *, input_bucket: str | None) -> list[Item]:
    """Every item of one SQS message body (S3 notification, EventBridge or SNS envelope)."""
    reader = _Reader(input_bucket)
    if not isinstance(body, str):
        return [Ignored("the message body is not text", "sqs")]
    return reader.json_text(body, via="sqs", replay=NOT_REPLAYED, depth=1)


def is_sqs_batch(event: object) -> bool:
    """Whether `event` is a batch from an SQS event source mapping (partial failures apply)."""
    if not isinstance(event, Mapping):
        return False
    records = event.get("Records")
    return (
        isinstance(records, list)
        and bool(records)
        and all(
            isinstance(record, Mapping)
            and record.get("eventSource") == "aws:sqs"
            and isinstance(record.get("messageId"), str)
            and isinstance(record.get("body"), str)
            for record in records
        )
    )


class _Reader:
    def __init__(self, input_bucket: str | None) -> None:
        self._input_bucket = input_bucket

    def document(self, document: object, *, via: str, replay: Replay, depth: int) -> list[Item]:
        """The items of one event document, of whichever shape."""
        if not isinstance(document, Mapping):
            return [Ignored(f"not an event object ({_kind(document)})", via or "event")]
        if depth > _MAX_DEPTH:
            return [Ignored("wrapped too deeply", via)]
        replay = replay.marked_by(document)
        if document.get("Event") == TEST_EVENT:  # S3 sends it once, when the notification is set
            return [Ignored(f"{TEST_EVENT}, sent when a notification is set up", _via(via, "s3"))]
        if "Records" in document:
            return self._records(document, via=via, replay=replay, depth=depth)
        if "detail-type" in document or "detail" in document:
            event = S3EventBridgeNotificationEvent(dict(document))
            return [self._eventbridge(event, via=_via(via, "eventbridge"), replay=replay)]
        if document.get("Type") == "Notification" and "Message" in document:
            # An SNS notification as SQS receives it (without raw message delivery).
            message = document.get("Message")
            if not isinstance(message, str):
                return [Ignored("the SNS message is not text", _via(via, "sns"))]
            return self.json_text(message, via=_via(via, "sns"), replay=replay, depth=depth + 1)
        return [Ignored(f"an event of unknown shape ({_keys(document)})", via or "event")]

    def json_text(self, text: str, *, via: str, replay: Replay, depth: int) -> list[Item]:
        try:
            document = json.loads(text)
        except (ValueError, RecursionError):
            return [Ignored("not JSON", via)]
        return self.document(document, via=via, replay=replay, depth=depth)

    def _records(
        self, document: Mapping[str, Any], *, via: str, replay: Replay, depth: int
    ) -> list[Item]:
        records = document.get("Records")
        if not isinstance(records, list) or not records:
            return [Ignored("Records is not a list of records", via or "event")]
        items: list[Item] = []
        for record in records:
            if not isinstance(record, Mapping):
                items.append(Ignored(f"not a record object ({_kind(record)})", via or "event"))
                continue
            record = dict(record)
            source = record.get("eventSource") or record.get("EventSource")
            if source == "aws:s3":
                s3_record = S3EventRecord(record)
                items.append(self._s3(s3_record, via=_via(via, "s3"), replay=replay))
            elif source == "aws:sqs":
                items.extend(self._sqs(SQSRecord(record), via=via, replay=replay, depth=depth))
            elif source == "aws:sns":
                items.extend(self._sns(SNSEventRecord(record), via=via, replay=replay, depth=depth))
            else:
                items.append(Ignored(f"a record from {source!r}, not S3", via or "event"))
        return items

    def _s3(self, record: S3EventRecord, *, via: str, replay: Replay) -> Item:
        try:
            name = record.event_name
            bucket = record.s3.bucket.name
            raw_key = record.s3.get_object.key
            etag = record.s3.get_object.get("eTag")
        except _SHAPE_ERRORS as exc:
            return Ignored(f"malformed S3 record ({_problem(exc)})", via)
        if not isinstance(name, str) or not name.startswith("ObjectCreated:"):
            return Ignored(f"not an ObjectCreated event ({name!r})", via)
        return self._upload(
            bucket, raw_key, record.get("eventTime"), etag=etag, via=via, replay=replay
        )

    def _eventbridge(
        self, event: S3EventBridgeNotificationEvent, *, via: str, replay: Replay
    ) -> Item:
        try:
            source, detail_type = event.source, event.detail_type
            if source != "aws.s3" or detail_type != "Object Created":
                return Ignored(f"not an S3 Object Created event ({source!r}, {detail_type!r})", via)
            bucket = event.detail.bucket.name
            raw_key = event.detail.object.get("key")
            etag = event.detail.object.get("etag")
        except _SHAPE_ERRORS as exc:
            return Ignored(f"malformed EventBridge event ({_problem(exc)})", via)
        return self._upload(bucket, raw_key, event.get("time"), etag=etag, via=via, replay=replay)

    def _sqs(self, record: SQSRecord, *, via: str, replay: Replay, depth: int) -> list[Item]:
        via = _via(via, "sqs")
        try:
            body = record.body
        except _SHAPE_ERRORS as exc:
            return [Ignored(f"malformed SQS record ({_problem(exc)})", via)]
        if not isinstance(body, str):
            return [Ignored("the message body is not text", via)]
        return self.json_text(body, via=via, replay=replay, depth=depth + 1)

    def _sns(self, record: SNSEventRecord, *, via: str, replay: Replay, depth: int) -> list[Item]:
        via = _via(via, "sns")
        try:
            message = record.sns.message
        except _SHAPE_ERRORS as exc:
            return [Ignored(f"malformed SNS record ({_problem(exc)})", via)]
        if not isinstance(message, str):
            return [Ignored("the SNS message is not text", via)]
        return self.json_text(message, via=via, replay=replay, depth=depth + 1)

    def _upload(
        self,
        bucket: object,
        raw_key: object,
        event_time: object,
        *,
        etag: object,
        via: str,
        replay: Replay,
    ) -> Item:
        if not isinstance(bucket, str) or not bucket:
            return Ignored(f"the bucket name is not text ({_kind(bucket)})", via)
        if not isinstance(raw_key, str) or not raw_key:
            return Ignored(f"the object key is not text ({_kind(raw_key)})", via)
        # S3 URL-encodes keys (spaces as '+'); Powertools decodes the first record's key only.
        key = unquote_plus(raw_key)
        if self._input_bucket is not None and bucket != self._input_bucket:
            return Ignored(
                f"for bucket {bucket!r}, not the input bucket {self._input_bucket!r}", via, key
            )
        time = event_time if isinstance(event_time, str) and event_time else None
        tag = etag.strip('"') if isinstance(etag, str) else ""
        return ObjectCreated(bucket, key, time, via, replay, tag)


def _via(outer: str, inner: str) -> str:
    return f"{outer}/{inner}" if outer else inner


def _kind(value: object) -> str:
    return "missing" if value is None else type(value).__name__


def _keys(document: Mapping[Any, Any]) -> str:
    names = sorted(str(name)[:40] for name in document)
    shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
    return f"keys: {shown}" if names else "empty"


def _problem(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"no {exc.args[0]!r}" if exc.args else "a field is missing"
    return f"{type(exc).__name__}: {str(exc)[:80]}"


def object_created_event(
    bucket: str,
    key: str,
    *,
    etag: str = "",
    size: int = 0,
    version_id: str | None = None,
    event_time: str = "1970-01-01T00:00:00.000Z",
    region: str = "us-east-1",
) -> dict[str, Any]:
    """One `ObjectCreated:Put` record; the key is URL-encoded the way S3 encodes it."""
    obj: dict[str, Any] = {
        "key": quote_plus(key, safe="/"),
        "size": size,
        "eTag": etag,
        "sequencer": "0000000000000000",
    }
    if version_id:
        obj["versionId"] = version_id
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventTime": event_time,
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "face3d"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {"x-amz-request-id": "face3d", "x-amz-id-2": "face3d"},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "face3d-upload",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "face3d"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": obj,
                },
            }
        ]
    }
