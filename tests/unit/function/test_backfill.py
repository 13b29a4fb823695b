import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from face3d.errors import S3_ERROR, TransientError
from face3d.function.backfill import Backfill, batch_results, manifest_rows
from face3d.function.image_sets import single_image_set
from face3d.function.inventory import SetState, SetStatus, SubjectInputs
from face3d.function.objects import StoredObject
from face3d.function.storage import Storage

BUCKET = "face3d-pipeline-123456789012-eu-west-1"
REGION = "eu-west-1"


def status(subject: str, state: SetState = SetState.PENDING) -> SetStatus:
    image = StoredObject(f"incoming/{subject}.jpg", f"etag-{subject}", 1234)
    image_set = single_image_set(subject, BUCKET, image)
    return SetStatus(subject, state, SubjectInputs(subject, [image]), image_set)


@pytest.fixture
def storage(monkeypatch: pytest.MonkeyPatch) -> Iterator[Storage]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield Storage(s3)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_run_triggers_only_pending_sets_at_the_rate_given(storage: Storage) -> None:
    statuses = [
        status("ada"),
        status("grace", SetState.SUCCEEDED),
        status("alan"),
        status("katherine"),
        status("coffee", SetState.FAILED),
    ]
    events: list[dict[str, Any]] = []
    clock = Clock()
    backfill = Backfill(
        storage, events.append, result_bucket=BUCKET, result_prefix="results/", region=REGION
    )

    summary = backfill.run(statuses, rate=2, clock=clock, sleep=clock.sleep)

    keys = [e["Records"][0]["s3"]["object"]["key"] for e in events]
    assert keys == ["incoming/ada.jpg", "incoming/alan.jpg", "incoming/katherine.jpg"]
    assert {e["Records"][0]["awsRegion"] for e in events} == {REGION}
    # The n-th invocation no earlier than n / rate seconds in: 0, 0.5, 1.0.
    assert clock.sleeps == [0.5, 0.5]
    assert summary.line() == (
        "triggered 3 of 3 pending set(s) in 1.0 s; left alone: 1 succeeded, 1 failed"
    )


def test_a_triggered_set_gets_a_queued_claim_unless_the_function_claimed_it(
    storage: Storage,
) -> None:
    ada, alan = status("ada"), status("alan")
    assert ada.image_set is not None
    assert alan.image_set is not None
    s3: Any = storage._s3
    taken = f"results/.claims/{alan.image_set.fingerprint}.json"
    s3.put_object(Bucket=BUCKET, Key=taken, Body=b'{"state": "held"}')
    backfill = Backfill(
        storage, lambda event: None, result_bucket=BUCKET, result_prefix="results/", region=REGION
    )

    backfill.trigger(ada)
    backfill.trigger(alan)

    key = f"results/.claims/{ada.image_set.fingerprint}.json"
    claim = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    assert claim["state"] == "released"
    assert claim["attempts"] == 0
    assert claim["holder"] == "face3d-backfill"
    tags = s3.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]
    assert tags == [{"Key": "face3d", "Value": "claim"}]  # expired by the lifecycle rule
    assert s3.get_object(Bucket=BUCKET, Key=taken)["Body"].read() == b'{"state": "held"}'


def test_a_failed_invocation_leaves_no_claim(storage: Storage) -> None:
    def broken(event: dict[str, Any]) -> None:
        raise TransientError("LAMBDA_ERROR", "throttled")

    backfill = Backfill(
        storage, broken, result_bucket=BUCKET, result_prefix="results/", region=REGION
    )
    with pytest.raises(TransientError):
        backfill.trigger(status("ada"))
    s3: Any = storage._s3
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0


def test_a_dry_run_triggers_nothing(storage: Storage) -> None:
    events: list[dict[str, Any]] = []
    backfill = Backfill(
        storage, events.append, result_bucket=BUCKET, result_prefix="results/", region=REGION
    )
    summary = backfill.run([status("ada")], rate=1, dry_run=True)
    assert events == []
    assert summary.line().startswith("would trigger 1 of 1 pending set(s)")


def test_manifest_rows_url_encode_the_pending_keys() -> None:
    rows = manifest_rows([status("José Núñez+1"), status("ada", SetState.IN_PROGRESS)])
    assert rows == [(BUCKET, "incoming/Jos%C3%A9%20N%C3%BA%C3%B1ez%2B1.jpg")]


def test_batch_operations_get_one_result_per_task() -> None:
    event = {
        "invocationSchemaVersion": "2.0",
        "invocationId": "inv-1",
        "job": {"id": "job-1", "userArguments": {}},
        "tasks": [
            {"taskId": "t1", "s3Bucket": BUCKET, "s3Key": "incoming/Jos%C3%A9.jpg"},
            {"taskId": "t2", "s3Bucket": BUCKET, "s3Key": "incoming/ada.jpg"},
        ],
    }
    seen: list[tuple[str, str]] = []

    def decide(bucket: str, key: str) -> str:
        seen.append((bucket, key))
        if key == "incoming/ada.jpg":
            raise TransientError(S3_ERROR, "slow down")
        return "triggered"

    answer = batch_results(event, decide)

    assert seen == [(BUCKET, "incoming/José.jpg"), (BUCKET, "incoming/ada.jpg")]
    assert answer == {
        "invocationSchemaVersion": "2.0",
        "treatMissingKeysAs": "PermanentFailure",
        "invocationId": "inv-1",
        "results": [
            {"taskId": "t1", "resultCode": "Succeeded", "resultString": "triggered"},
            {
                "taskId": "t2",
                "resultCode": "TemporaryFailure",
                "resultString": "S3_ERROR: slow down",
            },
        ],
    }
