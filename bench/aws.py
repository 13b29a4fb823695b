"""Local AWS for the benchmarks (moto), the function's environment, and the SDK calls it makes.

A baseline that does "the same S3, SQS and Secrets Manager calls" replays the calls that the
handler made, recorded from botocore itself: whatever the handler's code path, the baseline
keeps pace with it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from face3d.function.events import object_created_event

REGION = "us-east-1"
BUCKET = "face3d-bench-000000000000-us-east-1"
SECRET_ID = "face3d/facepp"  # noqa: S105 (the secret's name)
QUEUE = "face3d-bench-dlq"
CREDENTIALS = {"api_key": "bench-key", "api_secret": "bench-secret"}


def function_environment(endpoint: str, queue_url: str) -> dict[str, str]:
    """The variables the template gives the function, for local AWS and the given API."""
    return {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "POWERTOOLS_SERVICE_NAME": "face3d",
        "POWERTOOLS_METRICS_NAMESPACE": "Face3D",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "FACEPP_SECRET_ID": SECRET_ID,
        "FACEPP_ENDPOINT": endpoint,
        "DLQ_URL": queue_url,
        "FUNCTION_TIMEOUT_S": "180",
    }


def create_resources(endpoint_url: str | None = None) -> str:
    """The bucket (versioned), the dead-letter queue and the secret; returns the queue's URL."""
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=endpoint_url)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    secrets = boto3.client("secretsmanager", region_name=REGION, endpoint_url=endpoint_url)
    secrets.create_secret(Name=SECRET_ID, SecretString=json.dumps(CREDENTIALS))
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=endpoint_url)
    return str(sqs.create_queue(QueueName=QUEUE)["QueueUrl"])


def upload(s3: Any, key: str, data: bytes) -> dict[str, Any]:
    """Put `key` and return the S3 event its upload sends."""
    answer = s3.put_object(Bucket=BUCKET, Key=key, Body=data)
    return object_created_event(
        BUCKET, key, etag=answer["ETag"].strip('"'), size=len(data), region=REGION,
        version_id=answer.get("VersionId"),
    )  # fmt: skip


@dataclass
class LambdaContext:
    """What the handler reads of Lambda's context object."""

    aws_request_id: str = "bench"
    function_name: str = "face3d-bench"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:face3d-bench"

    def get_remaining_time_in_millis(self) -> int:
        return 170_000


@dataclass
class Call:
    service: str
    operation: str
    params: dict[str, Any]


@dataclass
class CallLog:
    calls: list[Call] = field(default_factory=list)
    recording: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


_LOG = CallLog()
_original_make_api_call = BaseClient._make_api_call


def _recording_make_api_call(self: BaseClient, operation_name: str, api_params: Any) -> Any:
    if _LOG.recording:
        with _LOG.lock:
            _LOG.calls.append(
                Call(self.meta.service_model.service_name, operation_name, dict(api_params))
            )
    return _original_make_api_call(self, operation_name, api_params)


@contextmanager
def recorded_calls() -> Iterator[list[Call]]:
    """The AWS calls this process makes meanwhile, any client, any session."""
    BaseClient._make_api_call = _recording_make_api_call  # type: ignore[method-assign]
    _LOG.calls = []
    _LOG.recording = True
    try:
        yield _LOG.calls
    finally:
        _LOG.recording = False
        BaseClient._make_api_call = _original_make_api_call  # type: ignore[method-assign]


def replay(calls: list[Call], clients: dict[str, Any]) -> None:
    """Make `calls` again with plain boto3 clients (by service), reading every body.

    A conditional write that lost, or a HEAD of what is missing, costs what it cost the handler.
    """
    for call in calls:
        method = getattr(clients[call.service], _snake(call.operation))
        try:
            answer = method(**call.params)
        except ClientError:
            continue
        body = answer.get("Body") if isinstance(answer, dict) else None
        if body is not None:
            body.read()
            body.close()


def _snake(operation: str) -> str:
    from botocore import xform_name

    return str(xform_name(operation))
