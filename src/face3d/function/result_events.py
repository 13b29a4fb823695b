"""The EventBridge adapter: one event per terminal outcome (DESIGN.md section 9).

`result_ready` and `set_failed` build the PutEvents entries (pure); `ResultEvents` sends them,
best effort: a set's outcome is stored before its event is sent, so a failure to send is logged
and reported to the caller (the handler counts it), never raised.

Each outcome is told once: after it is stored, by the invocation that stored it, so a duplicate
delivery of a finished set tells nobody again. A set whose invocation died between storing its
outcome and sending is told by no event; each detail carries the fingerprint, for consumers that
reconcile from the bucket.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from face3d.function import aws
from face3d.function.objects import StoredObject

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

logger = logging.getLogger(__name__)

SOURCE = "face3d"
RESULT_READY = "Face3D Result Ready"
SET_FAILED = "Face3D Set Failed"
RESULT_READY_SCHEMA = "face3d.result-ready/v1"
SET_FAILED_SCHEMA = "face3d.set-failed/v1"
# Of an input, what a consumer may see: where it was. Its ETag and version id name one version
# of a private upload (a rule may forward events to another account), and only an operator,
# reading the DLQ message or error.json, needs them.
PUBLIC_INPUT_FIELDS = ("view", "key")


def result_ready(
    bus: str, *, bucket: str, result: StoredObject, document: Mapping[str, Any]
) -> PutEventsRequestEntryTypeDef:
    """The event for a committed `result.json` (`result`, holding `document`) in `bucket`."""
    outputs = document.get("outputs", {})
    detail = {
        "schema": RESULT_READY_SCHEMA,
        "subject": document["subject"],
        "bucket": bucket,
        "fingerprint": document["fingerprint"],
        "result": {"key": result.key, "version_id": result.version_id},
        "outputs": {
            name: {field: record.get(field) for field in ("key", "version_id", "size", "sha256")}
            for name, record in outputs.items()
        },
        "request_id": document.get("request_id"),
        "finished_at": document.get("finished_at"),
    }
    return _entry(bus, RESULT_READY, detail)


def set_failed(bus: str, envelope: Mapping[str, Any]) -> PutEventsRequestEntryTypeDef:
    """The event for a recorded failure: its envelope (`face3d.failure/v1`, the DLQ message),
    each input reduced to its public fields."""
    detail = {
        **envelope,
        "schema": SET_FAILED_SCHEMA,
        "inputs": [
            {field: source.get(field) for field in PUBLIC_INPUT_FIELDS}
            for source in envelope.get("inputs", [])
        ],
    }
    return _entry(bus, SET_FAILED, detail)


def _entry(bus: str, detail_type: str, detail: Mapping[str, Any]) -> PutEventsRequestEntryTypeDef:
    return {
        "EventBusName": bus,
        "Source": SOURCE,
        "DetailType": detail_type,
        "Detail": json.dumps(detail, ensure_ascii=False),
    }


class ResultEvents:
    """Sends result events to one bus; `bus` None sends none (events are off)."""

    def __init__(self, events: EventBridgeClient | None, bus: str | None) -> None:
        self._events = events
        self.bus = bus if events is not None else None

    @classmethod
    def connect(cls, bus: str | None, region: str | None = None) -> ResultEvents:
        return cls(aws.client("events", region) if bus else None, bus)

    @classmethod
    def off(cls) -> ResultEvents:
        return cls(None, None)

    def result_ready(
        self, bucket: str, result: StoredObject, document: Mapping[str, Any]
    ) -> bool | None:
        """Tell that the set's result is committed: True sent, False not, None events off."""
        if self.bus is None:
            return None
        return self._send(result_ready(self.bus, bucket=bucket, result=result, document=document))

    def set_failed(self, envelope: Mapping[str, Any]) -> bool | None:
        """Tell that the set failed for good: True sent, False not, None events off."""
        if self.bus is None:
            return None
        return self._send(set_failed(self.bus, envelope))

    def _send(self, entry: PutEventsRequestEntryTypeDef) -> bool:
        assert self._events is not None
        try:
            answer = self._events.put_events(Entries=[entry])
        except (ClientError, BotoCoreError) as exc:
            logger.error(
                "could not send the %r event to bus %s: %s", entry["DetailType"], self.bus, exc
            )
            return False
        if answer.get("FailedEntryCount", 0):
            (failed,) = answer["Entries"]
            logger.error(
                "bus %s refused the %r event: %s %s",
                self.bus,
                entry["DetailType"],
                failed.get("ErrorCode"),
                failed.get("ErrorMessage"),
            )
            return False
        logger.info("sent the %r event to bus %s", entry["DetailType"], self.bus)
        return True
