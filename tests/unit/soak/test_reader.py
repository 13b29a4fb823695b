"""tools/soak/reader.py: a consumer following result.json, under moto."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tools.soak.reader import Candidates, ResultReader, folder_problems

BUCKET, FOLDER = "soak-reader", "results/ada/"
OBJ, MTL = b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", b"newmtl material_0\n"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client


def publish(s3: Any, files: dict[str, bytes], *, versions: bool) -> dict[str, str]:
    """Outputs, then a result.json listing them; returns each output's version id."""
    outputs, written = {}, {}
    for name, data in files.items():
        answer = s3.put_object(Bucket=BUCKET, Key=FOLDER + name, Body=data)
        written[name] = answer["VersionId"]
        record = {
            "key": FOLDER + name,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        outputs[name] = {**record, "version_id": answer["VersionId"]} if versions else record
    document = json.dumps({"fingerprint": "f", "outputs": outputs}).encode()
    s3.put_object(Bucket=BUCKET, Key=FOLDER + "result.json", Body=document)
    return written


def reader(s3: Any) -> ResultReader:
    return ResultReader(s3, BUCKET, lambda s: f"results/{s}/", lambda: Candidates([], []), seed=1)


def test_a_consistent_folder_reads_clean_and_an_overwritten_output_is_torn(s3: Any) -> None:
    publish(s3, {"face.obj": OBJ, "face.mtl": MTL}, versions=False)
    follower = reader(s3)
    follower.read("ada")
    assert (follower.documents, follower.files, follower.torn) == (1, 2, [])

    s3.put_object(Bucket=BUCKET, Key=FOLDER + "face.obj", Body=OBJ + b"f 1 3 2\n")
    follower.read("ada")

    (torn,) = follower.torn
    assert (torn.subject, torn.name, torn.problem, torn.pinned) == (
        "ada",
        "face.obj",
        "bytes differ from result.json",
        False,
    )


def test_outputs_listed_with_version_ids_are_read_by_version(s3: Any) -> None:
    written = publish(s3, {"face.obj": OBJ}, versions=True)
    s3.put_object(Bucket=BUCKET, Key=FOLDER + "face.obj", Body=b"a newer set's mesh\n")
    follower = reader(s3)

    follower.read("ada")
    assert (follower.pinned, follower.torn) == (1, [])

    s3.delete_object(Bucket=BUCKET, Key=FOLDER + "face.obj", VersionId=written["face.obj"])
    follower.read("ada")
    assert [(t.problem, t.pinned) for t in follower.torn] == [("listed but missing", True)]


def test_a_subject_without_result_json_is_not_read(s3: Any) -> None:
    follower = reader(s3)

    follower.read("nobody")

    assert (follower.documents, follower.torn) == (0, [])


def test_at_rest_the_latest_outputs_must_be_exactly_those_listed(s3: Any) -> None:
    publish(s3, {"face.obj": OBJ, "face.mtl": MTL}, versions=False)
    keys = [FOLDER + name for name in ("face.obj", "face.mtl", "result.json")]
    assert folder_problems(s3, BUCKET, FOLDER, keys) == []

    s3.put_object(Bucket=BUCKET, Key=FOLDER + "tex.jpg", Body=b"an older set's texture")
    s3.put_object(Bucket=BUCKET, Key=FOLDER + "face.mtl", Body=b"newmtl other\n")

    assert folder_problems(s3, BUCKET, FOLDER, [*keys, FOLDER + "tex.jpg"]) == [
        "latest face.mtl: bytes differ from result.json",
        "tex.jpg is there but not listed",
    ]
    assert folder_problems(s3, BUCKET, "results/nobody/", []) == []


def test_outputs_are_read_where_result_json_says_they_are(s3: Any) -> None:
    elsewhere = FOLDER + "0f/face.obj"  # e.g. an immutable per-fingerprint location
    s3.put_object(Bucket=BUCKET, Key=elsewhere, Body=OBJ)
    record = {"key": elsewhere, "size": len(OBJ), "sha256": hashlib.sha256(OBJ).hexdigest()}
    document = json.dumps({"fingerprint": "f", "outputs": {"face.obj": record}}).encode()
    s3.put_object(Bucket=BUCKET, Key=FOLDER + "result.json", Body=document)
    follower = reader(s3)

    follower.read("ada")

    assert (follower.files, follower.torn) == (1, [])
    assert folder_problems(s3, BUCKET, FOLDER, [FOLDER + "result.json"]) == []
    s3.delete_object(Bucket=BUCKET, Key=elsewhere)
    assert folder_problems(s3, BUCKET, FOLDER, [FOLDER + "result.json"]) == [
        "latest face.obj: listed but missing"
    ]
