"""The failure envelope (`face3d.failure/v1`): the DLQ message body and `error.json`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from face3d.client.results import InputObject, timestamp
from face3d.contract import FAILURE_SCHEMA
from face3d.errors import Face3DError


def build_failure(
    *,
    error: Face3DError,
    subject: str | None,
    bucket: str,
    inputs: Sequence[InputObject],
    fingerprint: str | None,
    attempts: int,
    trigger_key: str,
    event_time: str | None,
    failed_at: datetime,
) -> dict[str, Any]:
    """The envelope for one set's terminal failure. It never holds secrets or image data."""
    return {
        "schema": FAILURE_SCHEMA,
        "subject": subject,
        "bucket": bucket,
        "inputs": [
            {
                "view": source.view.value,
                "key": source.key,
                "etag": source.etag,
                "version_id": source.version_id,
            }
            for source in inputs
        ],
        "error": error.to_dict(),
        "kind": error.kind.value,
        "request_id": error.request_id,
        "attempts": attempts,
        "fingerprint": fingerprint,
        "trigger": {"key": trigger_key, "event_time": event_time},
        "failed_at": timestamp(failed_at),
    }


def message_attributes(envelope: dict[str, Any]) -> dict[str, dict[str, str]]:
    """SQS message attributes for filtering without reading the body."""
    error = envelope["error"]
    return {
        "schema": {"DataType": "String", "StringValue": envelope["schema"]},
        "error_code": {"DataType": "String", "StringValue": error["code"]},
        "retryable": {
            "DataType": "String",
            "StringValue": "true" if error["retryable"] else "false",
        },
    }
