"""S3 notification events as Lambda receives them (pure): for redrives, the demo and tests."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote_plus

# Set at the top level of an event replayed from the dead-letter queue: a set parked after a
# retryable failure is taken up again only by such an event.
REDRIVE_MARKER = "face3d_redrive"
# Set beside it by `face3d redrive --include-permanent`: a set that failed permanently is tried
# again too (once whatever judged it, the endpoint or a limit, was fixed).
RETRY_FAILED_MARKER = "face3d_retry_failed"


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
