"""Replaying dead-letter messages whose sets can be retried (`face3d redrive`).

The queue holds our own failure envelopes (`face3d.failure/v1`), and events the function could
not handle, in the shape that put them there: the records Lambda's on-failure destination writes
(the original event under `requestPayload`: an S3 notification or an EventBridge event), and the
bare event itself when the EventBridge rule could not deliver it or the upload queue gave up on a
message (an S3 notification, an EventBridge event or an SNS envelope). Each is replayed as an
event the function reads (events.py), marked as a redrive so that a parked set is taken up again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from face3d.contract import FAILURE_SCHEMA
from face3d.errors import LAMBDA_ERROR, SQS_ERROR, TransientError
from face3d.function import aws
from face3d.function.events import (
    REDRIVE_MARKER,
    has_uploads,
    object_created_event,
    read_event,
)

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

Replay = Callable[[dict[str, Any]], None]
_EPOCH = "1970-01-01T00:00:00.000Z"


@dataclass
class RedriveSummary:
    replayed: int = 0
    not_retryable: int = 0
    unknown: int = 0

    def line(self) -> str:
        return (
            f"replayed {self.replayed} message(s); left {self.not_retryable} not retryable "
            f"and {self.unknown} unrecognised on the queue"
        )


class Decision(StrEnum):
    REPLAY = "replay"
    NOT_RETRYABLE = "not-retryable"  # the input is at fault: replaying cannot help
    UNKNOWN = "unknown"


def decide(body: str) -> tuple[Decision, dict[str, Any] | None]:
    """Whether to replay a message, and the event to replay."""
    try:
        message = json.loads(body)
    except ValueError:
        return Decision.UNKNOWN, None
    if not isinstance(message, dict):
        return Decision.UNKNOWN, None
    if message.get("schema") == FAILURE_SCHEMA:
        if not (message.get("error") or {}).get("retryable"):
            return Decision.NOT_RETRYABLE, None
        trigger = message.get("trigger") or {}
        if not isinstance(trigger.get("key"), str) or not isinstance(message.get("bucket"), str):
            return Decision.UNKNOWN, None
        event_time = trigger.get("event_time") or message.get("failed_at") or _EPOCH
        event = object_created_event(message["bucket"], trigger["key"], event_time=event_time)
    elif isinstance(message.get("requestPayload"), dict) and "requestContext" in message:
        event = dict(message["requestPayload"])
    else:
        event = message
    # Replayed only if the function would find an upload in it: anything else stays for a person.
    if not has_uploads(read_event(event, input_bucket=None)):
        return Decision.UNKNOWN, None
    return Decision.REPLAY, {**event, REDRIVE_MARKER: True}


def redrive(sqs: SQSClient, queue_url: str, replay: Replay, *, limit: int) -> RedriveSummary:
    """Replay up to `limit` retryable messages, deleting each only after its replay succeeded.

    Messages that are not retryable or not recognised stay on the queue, invisible for a while,
    for a person to read.
    """
    summary = RedriveSummary()
    seen = 0
    while seen < limit:
        try:
            batch = sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=min(10, limit - seen),
                VisibilityTimeout=300,
                WaitTimeSeconds=1,
            ).get("Messages", [])
        except (ClientError, BotoCoreError) as exc:
            raise TransientError(SQS_ERROR, f"cannot read the queue: {exc}") from exc
        if not batch:
            break
        for message in batch:
            seen += 1
            decision, event = decide(message.get("Body", ""))
            if decision is Decision.NOT_RETRYABLE:
                summary.not_retryable += 1
                continue
            if event is None:
                summary.unknown += 1
                continue
            replay(event)
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            summary.replayed += 1
    return summary


def sqs_client(region: str | None = None) -> SQSClient:
    client: SQSClient = aws.client("sqs", region)
    return client


def lambda_replay(function_name: str) -> Replay:
    """Replays an event by invoking the function asynchronously, as S3 would."""
    client = aws.client("lambda")

    def invoke(event: dict[str, Any]) -> None:
        try:
            client.invoke(
                FunctionName=function_name,
                InvocationType="Event",
                Payload=json.dumps(event).encode(),
            )
        except (ClientError, BotoCoreError) as exc:
            raise TransientError(LAMBDA_ERROR, f"cannot invoke {function_name}: {exc}") from exc

    return invoke
