"""The loopback services the soak runs against: moto's S3, SQS and Secrets Manager as real HTTP
endpoints (`ThreadedMotoServer`), and the offline engine (`face3d serve`) in a subprocess."""

from __future__ import annotations

import copy
import io
import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from tests.e2e.servers import EngineServer, moto_server, serve_process

REGION = "us-east-1"
BUCKET = "face3d-soak-000000000000-us-east-1"
QUEUE = "face3d-soak-dlq"
SECRET_ID = "face3d/soak"  # noqa: S105 (the secret's name)
# The harness's own clients (uploads, reader, checks): patient, and never killed.
HARNESS_CONFIG = Config(
    connect_timeout=5,
    read_timeout=60,
    retries={"mode": "standard", "max_attempts": 8},
    max_pool_connections=20,
)


@dataclass(frozen=True)
class Aws:
    endpoint: str
    queue_url: str

    def client(self, service: str) -> Any:
        return boto3.client(  # type: ignore[call-overload]
            service,
            region_name=REGION,
            endpoint_url=self.endpoint,
            aws_access_key_id="soak",
            aws_secret_access_key="soak",  # noqa: S106 (moto accepts anything)
            config=HARNESS_CONFIG,
        )


@contextmanager
def local_aws(api_key: str, api_secret: str) -> Iterator[Aws]:
    """moto on a free loopback port, with the versioned bucket, the DLQ and the API secret.

    The process's AWS variables point the function's own clients (built by the handler from
    the SDK's chain) at it while the block runs.
    """
    with (
        _atomic_conditional_puts(),
        _listing_without_copying_bodies(),
        moto_server() as endpoint,
        _environment(
            AWS_ENDPOINT_URL=endpoint,
            AWS_ACCESS_KEY_ID="soak",
            AWS_SECRET_ACCESS_KEY="soak",  # noqa: S106
            AWS_DEFAULT_REGION=REGION,
            AWS_REGION=REGION,
        ),
    ):
        aws = Aws(endpoint, "")
        s3 = aws.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        queue_url = aws.client("sqs").create_queue(QueueName=QUEUE)["QueueUrl"]
        aws.client("secretsmanager").create_secret(
            Name=SECRET_ID,
            SecretString=json.dumps({"api_key": api_key, "api_secret": api_secret}),
        )
        yield Aws(endpoint, queue_url)


@contextmanager
def _atomic_conditional_puts() -> Iterator[None]:
    """S3's conditional PUT is atomic; moto's checks, then writes, unlocked. Without this lock
    two racing claims could both win in moto, and the soak would blame the pipeline for moto."""
    from moto.s3.responses import S3Response

    lock = threading.Lock()
    real_put: Callable[..., Any] = S3Response.put_object

    def put_object(self: S3Response) -> Any:
        with lock:
            return real_put(self)

    S3Response.put_object = put_object  # type: ignore[method-assign]
    try:
        yield
    finally:
        S3Response.put_object = real_put  # type: ignore[method-assign]


@contextmanager
def _listing_without_copying_bodies() -> Iterator[None]:
    """moto's ListObjectVersions deep-copies every version of every key in the bucket, bodies
    included, on each call (whatever the prefix): over a soak's versioned bucket that is GBs a
    call, and the soak ran out of memory. The listing only reads the copies' metadata, so a copy
    that shares the body is enough; S3's own listing costs nothing of the kind."""
    from moto.s3 import models

    class _SharedBodyCopies:
        def deepcopy(self, versions: list[Any] | None) -> list[Any]:  # one key's versions
            twins: list[Any] = []
            # moto races a key being written: no list yet reads as the key not there yet.
            for version in versions or ():
                twin = object.__new__(type(version))
                twin.__dict__.update(version.__dict__)
                # A twin closes its body when collected: give it one of its own, empty.
                if "_value_buffer" in twin.__dict__:
                    twin.__dict__.update(_value_buffer=io.BytesIO(), multipart=None, disposed=True)
                twins.append(twin)
            return twins

        def __getattr__(self, name: str) -> Any:
            return getattr(copy, name)

    real = vars(models)["copy"]
    setattr(models, "copy", _SharedBodyCopies())  # noqa: B010 (moto's private module name)
    try:
        yield
    finally:
        setattr(models, "copy", real)  # noqa: B010


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        # boto3's default session keeps the configuration (the endpoint above among it) that it
        # read when first used: forget it with the variables, or later clients keep the soak's.
        boto3.DEFAULT_SESSION = None
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def engine_server(
    *, api_key: str, api_secret: str, qps: int | None, fail_rate: float, latency_ms: int, seed: int
) -> Iterator[EngineServer]:
    """`face3d serve --qps --fail-rate --latency-ms --seed` on a free loopback port."""
    options = [
        "--api-key", api_key, "--api-secret", api_secret, "--threads", "4",
        "--fail-rate", str(fail_rate), "--latency-ms", str(latency_ms), "--seed", str(seed),
    ]  # fmt: skip
    if qps is not None:
        options += ["--qps", str(qps)]
    with serve_process(options) as server:
        yield server
