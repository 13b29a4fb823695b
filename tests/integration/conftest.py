"""The handler under moto (S3, SQS, Secrets Manager), with the 3dface API mocked over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest
import responses
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from face3d import handler

REGION = "us-east-1"
BUCKET = "face3d-pipeline-123456789012-us-east-1"
SECRET_ID = "face3d/facepp"
ENDPOINT = "https://facepp.test/facepp/v1/3dface"
API_KEY, API_SECRET = "test-key", "test-secret-never-logged"


@dataclass
class LambdaContext:
    """What the handler reads of Lambda's context object."""

    aws_request_id: str = "req-1"
    remaining_ms: int = 170_000
    function_name: str = "face3d-reconstruct"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:face3d"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@dataclass
class Pipeline:
    s3: Any
    sqs: Any
    secrets: Any
    queue_url: str
    api: responses.RequestsMock
    invocations: list[dict[str, Any]] = field(default_factory=list)

    def put(self, key: str, data: bytes) -> dict[str, Any]:
        """Upload `key` and return the S3 event that the upload sends."""
        answer = self.s3.put_object(Bucket=BUCKET, Key=key, Body=data)
        return s3_event(key, answer["ETag"].strip('"'), len(data), answer.get("VersionId"))

    def invoke(self, event: dict[str, Any], request_id: str = "req-1") -> dict[str, Any]:
        result: dict[str, Any] = handler.lambda_handler(event, LambdaContext(request_id))
        return result

    def read(self, key: str) -> bytes:
        body: bytes = self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        return body

    def keys(self, prefix: str = "") -> list[str]:
        answer = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        return sorted(item["Key"] for item in answer.get("Contents", []))

    def messages(self) -> list[dict[str, Any]]:
        """Every message on the DLQ, each with its body parsed and attributes flattened."""
        found = []
        while True:
            answer = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
                VisibilityTimeout=300,
            )
            batch = answer.get("Messages", [])
            if not batch:
                return found
            for message in batch:
                attributes = {
                    name: value["StringValue"]
                    for name, value in message.get("MessageAttributes", {}).items()
                }
                found.append({"body": json.loads(message["Body"]), "attributes": attributes})


def s3_event(
    key: str, etag: str, size: int, version_id: str | None = None, bucket: str = BUCKET
) -> dict[str, Any]:
    """An S3 ObjectCreated:Put event as Lambda receives it (key URL-encoded the S3 way)."""
    obj: dict[str, Any] = {
        "key": quote_plus(key, safe="/"),
        "size": size,
        "eTag": etag,
        "sequencer": "0065A1B2C3D4E5F6",
    }
    if version_id:
        obj["versionId"] = version_id
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": REGION,
                "eventTime": "2026-11-24T12:00:00.000Z",
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "AWS:EXAMPLE"},
                "requestParameters": {"sourceIPAddress": "203.0.113.10"},
                "responseElements": {
                    "x-amz-request-id": "C3D13FE58DE4C810",
                    "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5",
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "face3d-upload",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "EXAMPLE"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": obj,
                },
            }
        ]
    }


@pytest.fixture
def pipeline(monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    for name, value in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_SERVICE_NAME": "face3d",
        "POWERTOOLS_METRICS_NAMESPACE": "Face3D",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "FACEPP_SECRET_ID": SECRET_ID,
        "FACEPP_ENDPOINT": ENDPOINT,
        "FUNCTION_TIMEOUT_S": "180",
        "MAX_ASYNC_RETRIES": "2",
        "MAX_ATTEMPTS": "2",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("FACEPP_API_KEY", "FACEPP_API_SECRET", "RESULT_BUCKET", "INPUT_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    # Backoff between retries must not slow the suite down.
    monkeypatch.setattr("face3d.client.time.sleep", lambda seconds: None)
    parameters.clear_caches()
    handler.processor.cache_clear()
    with mock_aws(), responses.RequestsMock(assert_all_requests_are_fired=False) as api:
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        sqs = boto3.client("sqs", region_name=REGION)
        queue_url = sqs.create_queue(QueueName="face3d-dlq")["QueueUrl"]
        monkeypatch.setenv("DLQ_URL", queue_url)
        secrets = boto3.client("secretsmanager", region_name=REGION)
        secrets.create_secret(
            Name=SECRET_ID, SecretString=json.dumps({"api_key": API_KEY, "api_secret": API_SECRET})
        )
        yield Pipeline(s3, sqs, secrets, queue_url, api)
    handler.processor.cache_clear()
    parameters.clear_caches()
