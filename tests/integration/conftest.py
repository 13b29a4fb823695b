"""Fixtures for the handler under moto; their helpers live in tests/integration/harness.py."""

from __future__ import annotations

import functools
import io
import json
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import moto.s3.models
import pytest
import responses
from moto import mock_aws
from moto.s3.responses import S3Response

from face3d.client.http import FaceppClient
from face3d.function import aws, handler
from face3d.function.storage import Storage
from tests.integration.faults import Faults, detach
from tests.integration.harness import (
    API_KEY,
    API_SECRET,
    BUCKET,
    ENDPOINT,
    FUNCTION_TIMEOUT_S,
    REGION,
    SECRET_ID,
    Pipeline,
    ReadSpy,
    S3Clock,
    WriteSpy,
    clear_parameter_caches,
    fresh_secret_cache,
    secrets_provider,
    shared_client,
)


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
        "INPUT_BUCKET": BUCKET,  # as the template sets it: events for other buckets are ignored
        "FUNCTION_TIMEOUT_S": str(FUNCTION_TIMEOUT_S),
        "MAX_ASYNC_RETRIES": "2",
        "MAX_ATTEMPTS": "2",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("FACEPP_API_KEY", "FACEPP_API_SECRET", "RESULT_BUCKET", "INPUT_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    # Backoff between retries must not slow the suite down.
    monkeypatch.setattr("face3d.client.http.time.sleep", lambda seconds: None)
    # That alone does not reach the client, which bound time.sleep as its default `sleep`:
    # build the handler's client with a sleep that records the delays instead.
    backoff: list[float] = []
    monkeypatch.setattr(
        handler, "FaceppClient", functools.partial(FaceppClient, sleep=backoff.append)
    )
    monkeypatch.setattr(boto3, "client", shared_client)
    fresh_secret_cache()
    handler.install(None)
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
        yield Pipeline(s3, sqs, secrets, queue_url, api, backoff=backoff)
    handler.install(None)
    clear_parameter_caches()


@pytest.fixture
def faults(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> Iterator[Faults]:
    """Faults in the function's own AWS calls (S3, SQS, Secrets Manager), and kills."""
    injected = Faults()
    hooked: list[Any] = []
    real_client = aws.client

    def client(service: str, region: str | None = None) -> Any:
        built = real_client(service, region)
        injected.attach(built)
        hooked.append(built)
        return built

    monkeypatch.setattr(aws, "client", client)
    secrets_client = secrets_provider().client
    injected.attach(secrets_client)
    hooked.append(secrets_client)
    yield injected
    for built in hooked:
        detach(built)


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> WriteSpy:
    """Spies on every S3 write the pipeline makes (claims included)."""
    spy = WriteSpy()
    real_write = Storage.write

    def write(self: Storage, bucket: str, key: str, data: bytes, **kwargs: Any) -> str:
        etag = real_write(self, bucket, key, data, **kwargs)
        spy.keys.append(key)
        return etag

    monkeypatch.setattr(Storage, "write", write)
    return spy


@pytest.fixture
def atomic_conditional_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Makes moto's conditional PUT atomic, as S3's is: moto checks, then writes, unlocked."""
    lock = threading.Lock()
    real_put: Callable[..., Any] = S3Response.put_object

    def put_object(self: S3Response) -> Any:
        with lock:
            return real_put(self)

    monkeypatch.setattr(S3Response, "put_object", put_object)


@pytest.fixture
def json_logs(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """What Powertools prints to stdout (JSON log lines), as CloudWatch would receive it.

    Powertools' handler holds the stream that was stdout when it was imported, which pytest's
    capsys does not replace: point it at a buffer for the test.
    """
    buffer = io.StringIO()
    powertools = logging.getLogger(handler.SERVICE)
    assert powertools.handlers
    for log_handler in powertools.handlers:
        assert isinstance(log_handler, logging.StreamHandler)
        monkeypatch.setattr(log_handler, "stream", buffer)
    return buffer


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> ReadSpy:
    spy = ReadSpy()
    real_read = Storage.read

    def read(self: Storage, bucket: str, key: str, **kwargs: Any) -> tuple[bytes, Any]:
        spy.keys.append(key)
        return real_read(self, bucket, key, **kwargs)

    monkeypatch.setattr(Storage, "read", read)
    return spy


@pytest.fixture
def s3_clock(monkeypatch: pytest.MonkeyPatch) -> S3Clock:
    """The time moto's S3 stamps objects with (LastModified), moved on only by the test."""
    clock = S3Clock()
    monkeypatch.setattr(moto.s3.models, "utcnow", clock.now)
    return clock
