"""Replaying dead-letter messages whose sets can be retried (`face3d redrive`).

The queue holds our own failure envelopes (`face3d.failure/v1`), and events the function could
not handle, in the shape that put them there: the records Lambda's on-failure destination writes
(the original event under `requestPayload`: an S3 notification or an EventBridge event), and the
bare event itself when the EventBridge rule could not deliver it or the upload queue gave up on a
message (an S3 notification, an EventBridge event or an SNS envelope). Each is replayed as an
event the function reads (events.py), marked as a redrive so that a parked set is taken up again.

Messages that are not replayed (not retryable, not recognised, or a dry run) are made visible
again when the run ends, so that the next reader of the queue sees them at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from face3d.contract import FAILURE_SCHEMA
from face3d.errors import (
    INVALID_CONFIGURATION,
    LAMBDA_ERROR,
    SQS_ERROR,
    ConfigurationError,
    Face3DError,
    TransientError,
)
from face3d.function import aws
from face3d.function.events import (
    REDRIVE_MARKER,
    RETRY_FAILED_MARKER,
    ObjectCreated,
    object_created_event,
    read_event,
)

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

Replay = Callable[[dict[str, Any]], None]
# SQS's own limits: messages per receive, and entries per batch call.
_BATCH = 10
# How long a received message stays hidden while the run works on it.
_WORKING_VISIBILITY_S = 300
_EPOCH = "1970-01-01T00:00:00.000Z"


@dataclass
class RedriveSummary:
    replayed: int = 0
    not_retryable: int = 0
    unknown: int = 0
    dry_run: bool = False
    keys: list[str] = field(default_factory=list)  # the uploads replayed

    def line(self) -> str:
        verb = "would replay" if self.dry_run else "replayed"
        return (
            f"{verb} {self.replayed} message(s); left {self.not_retryable} not retryable "
            f"and {self.unknown} unrecognised on the queue"
        )


class Decision(StrEnum):
    REPLAY = "replay"
    NOT_RETRYABLE = "not-retryable"  # the input is at fault: replaying cannot help
    UNKNOWN = "unknown"


def decide(body: str, *, include_permanent: bool = False) -> tuple[Decision, dict[str, Any] | None]:
    """Whether to replay a message, and the event to replay.

    `include_permanent` replays permanent failures too, marked so that the function tries their
    sets again (after whatever judged them was fixed: the endpoint, the engine, a limit).
    """
    message = _json_object(body)
    if message is None:
        return Decision.UNKNOWN, None
    permanent = False
    if message.get("schema") == FAILURE_SCHEMA:
        permanent = not (message.get("error") or {}).get("retryable")
        if permanent and not include_permanent:
            return Decision.NOT_RETRYABLE, None
        trigger = message.get("trigger") or {}
        if not isinstance(trigger.get("key"), str) or not isinstance(message.get("bucket"), str):
            return Decision.UNKNOWN, None
        event_time = trigger.get("event_time") or message.get("failed_at") or _EPOCH
        event: dict[str, Any] = object_created_event(
            message["bucket"], trigger["key"], event_time=event_time
        )
    elif isinstance(message.get("requestPayload"), dict) and "requestContext" in message:
        event = dict(message["requestPayload"])
    else:
        event = message
    # Replayed only if the function would find an upload in it: anything else stays for a person.
    if not _uploads(event):
        return Decision.UNKNOWN, None
    event = {**event, REDRIVE_MARKER: True}
    if permanent:
        event[RETRY_FAILED_MARKER] = True
    return Decision.REPLAY, event


def _uploads(event: dict[str, Any]) -> list[ObjectCreated]:
    return [
        item for item in read_event(event, input_bucket=None) if isinstance(item, ObjectCreated)
    ]


def redrive(
    sqs: SQSClient,
    queue_url: str,
    replay: Replay,
    *,
    limit: int,
    dry_run: bool = False,
    include_permanent: bool = False,
) -> RedriveSummary:
    """Replay up to `limit` messages, deleting each only after its replay was accepted.

    The others (and all of them in a `dry_run`) become visible again when this returns or
    raises, so that a person or another run can read them straight away.
    """
    summary = RedriveSummary(dry_run=dry_run)
    kept: list[str] = []  # receipt handles of the messages left on the queue
    seen: set[str] = set()
    try:
        while len(seen) < limit:
            batch = _receive(sqs, queue_url, min(_BATCH, limit - len(seen)))
            fresh = [m for m in batch if m["MessageId"] not in seen]
            if not fresh:
                break
            for message in fresh:
                seen.add(message["MessageId"])
                decision, event = decide(
                    message.get("Body", ""), include_permanent=include_permanent
                )
                if event is None:
                    kept.append(message["ReceiptHandle"])
                    if decision is Decision.NOT_RETRYABLE:
                        summary.not_retryable += 1
                    else:
                        summary.unknown += 1
                    continue
                summary.keys.extend(_keys(event))
                if dry_run:
                    kept.append(message["ReceiptHandle"])
                else:
                    try:
                        replay(event)
                    except BaseException:
                        kept.append(message["ReceiptHandle"])
                        raise
                    _delete(sqs, queue_url, message["ReceiptHandle"])
                summary.replayed += 1
    finally:
        _show_again(sqs, queue_url, kept)
    return summary


def _receive(sqs: SQSClient, queue_url: str, count: int) -> list[Any]:
    try:
        return list(
            sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=count,
                VisibilityTimeout=_WORKING_VISIBILITY_S,
                WaitTimeSeconds=1,
            ).get("Messages", [])
        )
    except (ClientError, BotoCoreError) as exc:
        raise _sqs_error("read the queue", exc) from exc


def _delete(sqs: SQSClient, queue_url: str, receipt: str) -> None:
    try:
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=receipt)
    except (ClientError, BotoCoreError) as exc:
        raise _sqs_error("delete a replayed message", exc) from exc


def _show_again(sqs: SQSClient, queue_url: str, receipts: list[str]) -> None:
    """Visibility 0 for the messages left: the next receive-message shows them at once."""
    for start in range(0, len(receipts), _BATCH):
        entries = [
            {"Id": str(n), "ReceiptHandle": receipt, "VisibilityTimeout": 0}
            for n, receipt in enumerate(receipts[start : start + _BATCH])
        ]
        try:
            sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)  # type: ignore[arg-type]
        except (ClientError, BotoCoreError):
            # They become visible by themselves once the working timeout passes.
            continue


def _keys(event: dict[str, Any]) -> list[str]:
    return [upload.key for upload in _uploads(event)]


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except (ValueError, TypeError):
        return None
    return value if isinstance(value, dict) else None


def _sqs_error(action: str, exc: Exception) -> Face3DError:
    problem = aws.configuration_problem(exc)
    if problem is not None:
        return problem
    code = aws.error_code(exc)
    if code in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
        return ConfigurationError(INVALID_CONFIGURATION, "the dead-letter queue does not exist")
    return TransientError(SQS_ERROR, f"cannot {action}: {code or type(exc).__name__}")


def sqs_client(region: str | None = None) -> SQSClient:
    client: SQSClient = aws.client("sqs", region)
    return client


def lambda_replay(function_name: str, region: str | None = None) -> Replay:
    """Replays an event by invoking the function asynchronously, as S3 would."""
    client = aws.client("lambda", region)

    def invoke(event: dict[str, Any]) -> None:
        try:
            client.invoke(
                FunctionName=function_name,
                InvocationType="Event",
                Payload=json.dumps(event).encode(),
            )
        except (ClientError, BotoCoreError) as exc:
            problem = aws.configuration_problem(exc)
            if problem is not None:
                raise problem from exc
            code = aws.error_code(exc)
            if code in ("ResourceNotFoundException", "AccessDeniedException"):
                raise ConfigurationError(
                    INVALID_CONFIGURATION, f"cannot invoke {function_name}: {code}"
                ) from exc
            raise TransientError(LAMBDA_ERROR, f"cannot invoke {function_name}: {exc}") from exc

    return invoke
