"""The handler under moto (S3, SQS, Secrets Manager), with the 3dface API mocked over HTTP: the
Pipeline the tests drive, event builders, API fakes and spies, and the failure check."""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import quote_plus

import boto3
import responses
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS
from aws_lambda_powertools.utilities.parameters.secrets import SecretsProvider
from PIL import Image

from face3d.function import handler
from face3d.function.events import object_created_event

REGION = "us-east-1"
BUCKET = "face3d-pipeline-123456789012-us-east-1"
SECRET_ID = "face3d/facepp"
ENDPOINT = "https://facepp.test/facepp/v1/3dface"
API_KEY, API_SECRET = "test-api-key-7d1c0b", "test-secret-never-logged"
EVENT_TIME = "2026-11-24T12:00:00.000Z"
CLAIMS_PREFIX = "results/.claims/"
OUTPUT_FILES = ("face.mtl", "face.obj", "tex.jpg")
RESULT_FILES = sorted([*OUTPUT_FILES, "result.json"])  # a finished set's folder
FUNCTION_TIMEOUT_S = 180  # the `pipeline` fixture's: claims older than this are stale


def manifest(document: dict[str, Any] | None = None) -> bytes:
    """A manifest.json's bytes: `document`, or an empty object."""
    return json.dumps(document or {}).encode()


def log_lines(json_logs: io.StringIO) -> list[dict[str, Any]]:
    """The JSON lines Powertools printed (the `json_logs` fixture's buffer)."""
    return [json.loads(line) for line in json_logs.getvalue().splitlines() if line.strip()]


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
    # The client's backoff delays between attempts (not slept: recorded).
    backoff: list[float] = field(default_factory=list)

    def put(self, key: str, data: bytes) -> dict[str, Any]:
        """Upload `key` and return the S3 event that the upload sends."""
        answer = self.s3.put_object(Bucket=BUCKET, Key=key, Body=data)
        return s3_event(key, answer["ETag"].strip('"'), len(data), answer.get("VersionId"))

    def invoke(
        self, event: dict[str, Any], request_id: str = "req-1", *, remaining_ms: int = 170_000
    ) -> dict[str, Any]:
        context = LambdaContext(request_id, remaining_ms=remaining_ms)
        result: dict[str, Any] = handler.lambda_handler(event, context)
        return result

    def read(self, key: str) -> bytes:
        body: bytes = self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        return body

    def keys(self, prefix: str = "") -> list[str]:
        answer = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        return sorted(item["Key"] for item in answer.get("Contents", []))

    def json(self, key: str) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.read(key))
        return document

    def head(self, key: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.s3.head_object(Bucket=BUCKET, Key=key)
        return answer

    def results(self, subject: str) -> list[str]:
        """The file names under `results/<subject>/`."""
        prefix = f"results/{subject}/"
        return [key[len(prefix) :] for key in self.keys(prefix)]

    def claims(self) -> dict[str, dict[str, Any]]:
        """Every claim object, by key."""
        return {key: self.json(key) for key in self.keys(CLAIMS_PREFIX) if key.endswith(".json")}

    def only_claim(self) -> tuple[str, dict[str, Any]]:
        claims = self.claims()
        assert len(claims) == 1, claims
        ((key, claim),) = claims.items()
        return key, claim

    def claim_of(self, subject: str) -> dict[str, Any]:
        """The one claim of `subject`'s sets."""
        claims = [claim for claim in self.claims().values() if claim["subject"] == subject]
        assert len(claims) == 1, claims
        return claims[0]

    def write_claim(self, key: str, claim: dict[str, Any]) -> None:
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(claim).encode())

    def fail(self, event: dict[str, Any], request_id: str = "req-1") -> Exception:
        """Invoke, and return what the invocation raised: it must raise."""
        try:
            self.invoke(event, request_id)
        except Exception as exc:  # noqa: BLE001 (the caller checks what it is)
            return exc
        raise AssertionError("the invocation returned instead of raising")

    def written(self) -> dict[str, bytes]:
        """Every object outside the input prefix: what the pipeline wrote."""
        return {key: self.read(key) for key in self.keys() if not key.startswith("incoming/")}

    def versions(self, key: str) -> list[str]:
        answer = self.s3.list_object_versions(Bucket=BUCKET, Prefix=key)
        return [v["VersionId"] for v in answer.get("Versions", []) if v["Key"] == key]

    def messages(self) -> list[dict[str, Any]]:
        """Every message on the DLQ, each with its body parsed and attributes flattened.

        Receiving hides the messages (visibility timeout): a later call returns only messages
        published since.
        """
        found: list[dict[str, Any]] = []
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
    return object_created_event(
        bucket,
        key,
        etag=etag,
        size=size,
        version_id=version_id,
        event_time=EVENT_TIME,
        region=REGION,
    )


_CLIENTS: dict[tuple[Any, ...], tuple[Any, Any]] = {}
_new_client: Callable[..., Any] = boto3.client
# Powertools' functions are untyped: typed names for them.
clear_parameter_caches: Callable[[], None] = parameters.clear_caches


def shared_client(service_name: str, *args: Any, **kwargs: Any) -> Any:
    """boto3.client, but each (service, region, config) is built once per test session.

    Building a client costs tens of milliseconds, and the handler builds its own on every test
    (its processor is rebuilt per test). moto intercepts requests whenever it is active,
    whenever the client was built, and clients keep no state of their own between requests.
    """
    config = kwargs.get("config")
    key = (service_name, args, kwargs.get("region_name"), id(config))
    if key not in _CLIENTS:
        # The config is kept with its client, so that its id cannot be reused meanwhile.
        _CLIENTS[key] = (config, _new_client(service_name, *args, **kwargs))
    return _CLIENTS[key][1]


@functools.cache
def secrets_provider() -> SecretsProvider:
    """One Powertools secrets provider for the session: each one builds a boto3 session."""
    return SecretsProvider()


def fresh_secret_cache() -> None:
    """Powertools' caches emptied, as in a new container, keeping the provider's client."""
    clear_parameter_caches()
    provider = secrets_provider()
    clear_provider_cache: Callable[[], None] = provider.clear_cache
    clear_provider_cache()
    DEFAULT_PROVIDERS["secrets"] = provider


# What the tests observe beyond the bucket and the queue.


def request_fields(request: Any) -> dict[str, Message]:
    """The multipart parts of an API request, by field name (parsed as in tests/unit)."""
    head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + request.body)
    fields: dict[str, Message] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        assert isinstance(name, str)
        fields[name] = part
    return fields


def request_field(request: Any, name: str) -> str:
    payload = request_fields(request)[name].get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def form_fields(call: Any) -> dict[str, Message]:
    """The multipart parts of a recorded API call, by field name."""
    return request_fields(call.request)


def field_text(call: Any, name: str) -> str:
    return request_field(call.request, name)


def image_fields(call: Any) -> list[str]:
    """The names of the image fields a request carried, sorted."""
    return sorted(name for name in form_fields(call) if name.startswith("image_"))


def sent_image(call: Any, number: int) -> bytes:
    """The image that travelled as `image_base64_<number>`, decoded."""
    return base64.b64decode(field_text(call, f"image_base64_{number}"))


def body_size(call: Any) -> int:
    """The size of a recorded API call's request body, in bytes."""
    body = call.request.body
    assert isinstance(body, bytes)
    return len(body)


def image_format(data: bytes) -> str | None:
    with Image.open(io.BytesIO(data)) as image:
        return image.format


def redrive(event: dict[str, Any]) -> dict[str, Any]:
    """`event` as `face3d redrive` replays it."""
    return {**event, "face3d_redrive": True}


def merge_events(*events: dict[str, Any]) -> dict[str, Any]:
    """One S3 event carrying the records of several."""
    return {"Records": [record for event in events for record in event["Records"]]}


# The other shapes uploads arrive in (DESIGN.md section 2), built around an S3 notification.


def eventbridge_event(key: str, etag: str, size: int, bucket: str = BUCKET) -> dict[str, Any]:
    """S3's "Object Created" event as an EventBridge rule delivers it (key URL-encoded)."""
    return {
        "version": "0",
        "id": f"ev-{hashlib.sha256(key.encode()).hexdigest()[:12]}",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": EVENT_TIME.replace(".000Z", "Z"),
        "region": REGION,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": quote_plus(key, safe="/"), "size": size, "etag": etag},
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "123456789012",
            "reason": "PutObject",
        },
    }


def sns_envelope(message: dict[str, Any]) -> dict[str, Any]:
    """An SNS notification as SQS receives it from a topic (no raw message delivery)."""
    return {
        "Type": "Notification",
        "MessageId": "6b1f3e2a-9c4d-5e8f-a7b6-3d2c1e0f9a8b",
        "TopicArn": f"arn:aws:sns:{REGION}:123456789012:face3d-uploads",
        "Subject": "Amazon S3 Notification",
        "Message": json.dumps(message),
        "Timestamp": EVENT_TIME,
    }


def sqs_message(
    body: dict[str, Any] | str, message_id: str, receive_count: int = 1
) -> dict[str, Any]:
    """One record of an SQS event source mapping's batch."""
    text = body if isinstance(body, str) else json.dumps(body)
    return {
        "messageId": message_id,
        "receiptHandle": f"AQEB-{message_id}",
        "body": text,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": "1795785600000",
            "SenderId": "AIDAJHIPRHEMV73VRJEBU",
            "ApproximateFirstReceiveTimestamp": "1795785600012",
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(text.encode()).hexdigest(),  # noqa: S324 (SQS's own digest)
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:face3d-uploads",
        "awsRegion": REGION,
    }


def sqs_batch(*bodies: dict[str, Any] | str) -> dict[str, Any]:
    """An SQS batch of one message per body, message ids m-1, m-2, ..."""
    return {"Records": [sqs_message(body, f"m-{n}") for n, body in enumerate(bodies, 1)]}


Answer = tuple[int, dict[str, Any] | str]
# The fixture silences time.sleep; a slow fake endpoint needs the real one.
_real_sleep = time.sleep


class ScriptedApi:
    """A `responses` callback: answers in order (the last one repeats), optionally slowly.

    Strings are sent as plain text, dicts as JSON. Records the api_secret each call carried.
    """

    def __init__(self, *answers: Answer, delay: float = 0.0) -> None:
        assert answers
        self.answers = answers
        self.delay = delay
        self.secrets: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, request: Any) -> tuple[int, dict[str, str], str]:
        with self._lock:
            index = min(len(self.secrets), len(self.answers) - 1)
            self.secrets.append(request_field(request, "api_secret"))
        if self.delay:
            _real_sleep(self.delay)
        status, body = self.answers[index]
        if isinstance(body, str):
            return status, {"Content-Type": "text/plain"}, body
        return status, {"Content-Type": "application/json"}, json.dumps(body)


@dataclass
class WriteSpy:
    """The keys the pipeline wrote, in order (faults.py makes writes fail)."""

    keys: list[str] = field(default_factory=list)

    def results(self) -> list[str]:
        return [key for key in self.keys if not key.startswith(CLAIMS_PREFIX)]


@dataclass
class S3Clock:
    """A clock for moto's S3: LastModified is kept to the second, as S3 keeps it."""

    moment: datetime = field(default_factory=lambda: datetime(2026, 11, 24, 12, 0, 0))

    def now(self) -> datetime:
        return self.moment

    def tick(self, seconds: float = 1) -> None:
        self.moment += timedelta(seconds=seconds)


@dataclass
class ReadSpy:
    """The keys the pipeline read from S3 (bodies, not HEADs or listings)."""

    keys: list[str] = field(default_factory=list)


def is_timestamp(value: object) -> bool:
    """An ISO 8601 UTC timestamp such as 2026-11-24T12:00:00.123Z."""
    if not isinstance(value, str) or not value.endswith("Z"):
        return False
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment.utcoffset() == timedelta(0)


def expect_failure(
    pipeline: Pipeline,
    *,
    subject: str,
    code: str,
    retryable: bool,
    error_json: bool,
    trigger: str | None = None,
) -> dict[str, Any]:
    """The one DLQ message a set's failure published, checked against DESIGN.md section 6.

    Receiving hides the messages (visibility timeout), so a later `pipeline.messages()` returns
    only messages published after this call.
    """
    messages = pipeline.messages()
    assert len(messages) == 1, [m["body"]["error"] for m in messages]
    (message,) = messages
    body: dict[str, Any] = message["body"]
    assert message["attributes"]["error_code"] == code
    assert message["attributes"]["retryable"] == ("true" if retryable else "false")
    assert body["schema"] == "face3d.failure/v1"
    assert body["subject"] == subject
    assert body["bucket"] == BUCKET
    error = body["error"]
    assert set(error) >= {"code", "param", "view", "http_status", "message", "retryable"}
    assert error["code"] == code
    assert error["retryable"] is retryable
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(body["attempts"], int)
    assert body["attempts"] >= 1
    assert "request_id" in body
    assert body["trigger"]["event_time"] == EVENT_TIME
    if trigger is not None:
        assert body["trigger"]["key"] == trigger
    assert is_timestamp(body["failed_at"])
    for source in body["inputs"]:
        assert set(source) >= {"view", "key", "etag", "version_id"}
    names = pipeline.results(subject)
    if "result.json" in names:  # an older set's success stays; this set has no result
        assert pipeline.json(f"results/{subject}/result.json")["fingerprint"] != body["fingerprint"]
    if error_json:
        assert pipeline.json(f"results/{subject}/error.json") == body
    else:
        assert "error.json" not in names
    return body


def consistent_result(pipeline: Pipeline, subject: str) -> dict[str, Any] | None:
    """The subject's current result.json, checked as a consumer and an operator rely on it
    (DESIGN.md section 4): every output it lists reads back, by its version id, as exactly the
    bytes it describes, and the latest objects of the folder are those very versions (an output
    it does not list is absent). None when the subject has no result.json."""
    folder = f"results/{subject}/"
    names = pipeline.results(subject)
    if "result.json" not in names:
        assert not set(names) & set(OUTPUT_FILES), names
        return None
    document = pipeline.json(folder + "result.json")
    outputs = document["outputs"]
    for name, record in outputs.items():
        assert record["key"] == folder + name
        answer = pipeline.s3.get_object(
            Bucket=BUCKET, Key=record["key"], VersionId=record["version_id"]
        )
        data = answer["Body"].read()
        assert len(data) == record["size"], name
        assert hashlib.sha256(data).hexdigest() == record["sha256"], name
        latest = pipeline.head(record["key"])
        assert latest["VersionId"] == record["version_id"], f"{name}: latest is another version"
    unlisted = [name for name in OUTPUT_FILES if name not in outputs and name in names]
    assert unlisted == [], f"latest objects result.json does not list: {unlisted}"
    return document
