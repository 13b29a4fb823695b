"""The sample events in events/ are real AWS events and mean what events/README.md says."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, unquote_plus

import pytest
from aws_lambda_powertools.utilities.data_classes import (
    S3Event,
    S3EventBridgeNotificationEvent,
    SQSEvent,
)

from face3d.function.events import Ignored, Item, is_sqs_batch, read_event, read_message
from face3d.function.layout import Role, classify

EVENTS = Path(__file__).resolve().parents[3] / "events"
README = EVENTS / "README.md"
PREFIX = "incoming/"
BUCKET = "face3d-pipeline-123456789012-us-east-1"

OUTCOME_OF_ROLE = {
    Role.SINGLE_IMAGE: "processed at once",
    Role.MANIFEST: "processed at once",
    Role.FOLDER_VIEW: "waits for manifest",
    Role.IGNORED: "ignored",
}
OUTCOME = re.compile("|".join(sorted(set(OUTCOME_OF_ROLE.values()))))
TEST_EVENT_KEYS = {"Service", "Event", "Time", "Bucket", "RequestId", "HostId"}


@dataclass(frozen=True)
class Row:
    file: str
    keys: list[str]
    roles: list[Role]
    outcomes: list[str]


def _table() -> dict[str, Row]:
    rows: dict[str, Row] = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 5 or not cells[0].endswith(".json`"):
            continue
        file = cells[0].strip("`")
        assert file not in rows, f"{file} appears twice in events/README.md"
        keys = re.findall(r"`([^`]+)`", cells[2])
        roles = [Role(value) for value in re.findall(r"`([a-z-]+)`", cells[3])]
        rows[file] = Row(file, keys, roles, OUTCOME.findall(cells[4]))
    return rows


TABLE = _table()
FILES = sorted(path.name for path in EVENTS.glob("*.json"))


def _load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return document


def _is_test_event(document: dict[str, Any]) -> bool:
    return document.get("Event") == "s3:TestEvent"


def _is_s3_notification(document: dict[str, Any]) -> bool:
    records = document.get("Records") or [{}]
    return all(record.get("eventSource") == "aws:s3" for record in records)


def _items(document: dict[str, Any]) -> list[Item]:
    """What the function reads from the file, as the handler reads it."""
    if is_sqs_batch(document):
        return [
            item
            for record in SQSEvent(document).records
            for item in read_message(record.body, input_bucket=BUCKET)
        ]
    return read_event(document, input_bucket=BUCKET)


def _role(item: Item) -> Role:
    return Role.IGNORED if isinstance(item, Ignored) else classify(item.key, PREFIX).role


def test_every_event_file_is_in_the_readme_table_and_every_row_has_a_file() -> None:
    assert len(FILES) >= 14
    assert set(FILES) == set(TABLE)


def test_the_scenarios_the_pipeline_needs_are_all_there() -> None:
    assert {
        "single-image.json",
        "folder-front.json",
        "folder-left.json",
        "folder-right.json",
        "manifest.json",
        "key-with-spaces-and-unicode.json",
        "s3-test-event.json",
        "outside-prefix.json",
        "several-records.json",
        "eventbridge-object-created.json",
        "sqs-s3-notification.json",
        "sqs-sns-s3-notification.json",
        "sqs-eventbridge.json",
        "sqs-batch-with-malformed-record.json",
    } <= set(FILES)


@pytest.mark.parametrize("name", FILES)
def test_the_function_reads_each_file_as_the_table_says(name: str) -> None:
    items = _items(_load(name))
    row = TABLE[name]
    assert [_role(item) for item in items] == row.roles
    assert [item.key for item in items if not isinstance(item, Ignored)] == row.keys
    for item in items:
        if isinstance(item, Ignored):
            assert item.reason
        else:
            assert item.bucket == BUCKET
            assert item.event_time is not None
            assert not item.replay.redrive


@pytest.mark.parametrize("name", FILES)
def test_each_row_promises_one_role_and_a_matching_outcome_per_record(name: str) -> None:
    row = TABLE[name]
    assert row.roles, f"{name}: no role in the README"
    assert row.outcomes == [OUTCOME_OF_ROLE[role] for role in row.roles]


@pytest.mark.parametrize("name", FILES)
def test_files_are_json_with_two_space_indent(name: str) -> None:
    text = (EVENTS / name).read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"


S3_NOTIFICATIONS = [
    n for n in FILES if not _is_test_event(_load(n)) and _is_s3_notification(_load(n))
]


@pytest.mark.parametrize("name", S3_NOTIFICATIONS)
def test_records_parse_with_powertools_and_classify_as_promised(name: str) -> None:
    event = S3Event(_load(name))
    records = list(event.records)
    assert len(records) == len(TABLE[name].roles)
    for record, role in zip(records, TABLE[name].roles, strict=True):
        assert record.event_version == "2.1"
        assert record.event_source == "aws:s3"
        assert record.event_name == "ObjectCreated:Put"
        assert record.aws_region == "us-east-1"
        assert record.event_time.endswith("Z")
        assert record.user_identity.principal_id
        assert record.request_parameters.source_ip_address
        assert record.response_elements["x-amz-request-id"]
        assert record.s3.s3_schema_version == "1.0"
        assert record.s3.configuration_id
        assert record.s3.bucket.name == BUCKET
        assert record.s3.bucket.arn == f"arn:aws:s3:::{BUCKET}"
        assert record.s3.bucket.owner_identity.principal_id
        s3_object = record.s3.get_object
        assert s3_object.size > 0
        assert re.fullmatch(r"[0-9a-f]{32}", s3_object.etag)
        assert s3_object.version_id
        assert re.fullmatch(r"[0-9A-F]{16,}", s3_object.sequencer)
        # S3 URL-encodes keys (spaces as '+'); decode every record's key, not just the first.
        key = unquote_plus(s3_object.key)
        assert quote_plus(key, safe="/") == s3_object.key
        found = classify(key, PREFIX)
        assert found.role is role, f"{name}: {key!r} is {found.role}, README says {role}"


def test_records_of_one_event_come_in_upload_order() -> None:
    records = list(S3Event(_load("several-records.json")).records)
    sequencers = [record.s3.get_object.sequencer for record in records]
    assert sequencers == sorted(sequencers)


def test_a_folder_set_uploads_the_views_first_and_the_manifest_last() -> None:
    names = ["folder-front.json", "folder-left.json", "folder-right.json", "manifest.json"]
    records = [next(iter(S3Event(_load(name)).records)) for name in names]
    keys = [unquote_plus(record.s3.get_object.key) for record in records]
    assert {classify(key, PREFIX).subject for key in keys} == {"grace"}
    times = [record.event_time for record in records]
    assert times == sorted(times)
    sequencers = [record.s3.get_object.sequencer for record in records]
    assert sequencers == sorted(sequencers)


def test_the_unicode_key_is_url_encoded_as_s3_sends_it() -> None:
    record = next(iter(S3Event(_load("key-with-spaces-and-unicode.json")).records))
    assert record.s3.get_object.key == "incoming/Jos%C3%A9+N%C3%BA%C3%B1ez+2.jpg"
    found = classify(unquote_plus(record.s3.get_object.key), PREFIX)
    assert (found.role, found.subject) == (Role.SINGLE_IMAGE, "José Núñez 2")


def test_every_record_of_a_multi_record_event_names_its_own_subject() -> None:
    # DESIGN.md section 9: S3Event.object_key is the first record's only; use each record's.
    event = S3Event(_load("several-records.json"))
    keys = [record.s3.get_object.key for record in event.records]
    assert event.object_key == unquote_plus(keys[0])
    subjects = [classify(unquote_plus(key), PREFIX).subject for key in keys]
    assert subjects == ["alan", "grace", "katherine"]


def test_the_s3_test_event_has_its_own_shape_and_no_records() -> None:
    document = _load("s3-test-event.json")
    assert set(document) == TEST_EVENT_KEYS
    assert document["Service"] == "Amazon S3"
    assert document["Event"] == "s3:TestEvent"
    assert document["Bucket"] == BUCKET
    assert "Records" not in document
    assert TABLE["s3-test-event.json"].roles == [Role.IGNORED]


def test_only_the_test_event_and_eventbridge_events_lack_records() -> None:
    for name in FILES:
        document = _load(name)
        plain = not _is_test_event(document) and "detail-type" not in document
        assert ("Records" in document) is plain, name


def _eventbridge_events() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name in FILES:
        document = _load(name)
        if "detail-type" in document:
            found.append((name, document))
        elif is_sqs_batch(document):
            for record in SQSEvent(document).records:
                body = record.json_body
                if "detail-type" in body:
                    found.append((name, body))
    return found


def test_eventbridge_events_are_s3_object_created_events() -> None:
    events = _eventbridge_events()
    assert {name for name, _ in events} == {
        "eventbridge-object-created.json",
        "sqs-eventbridge.json",
    }
    for _, document in events:
        event = S3EventBridgeNotificationEvent(document)
        assert event.source == "aws.s3"
        assert event.detail_type == "Object Created"
        assert event.resources == [f"arn:aws:s3:::{BUCKET}"]
        assert event.detail.bucket.name == BUCKET
        assert event.detail.object.key.startswith(PREFIX)
        assert re.fullmatch(r"[0-9a-f]{32}", event.detail.object.etag)
        assert event.detail.reason == "PutObject"


@pytest.mark.parametrize("name", [n for n in FILES if is_sqs_batch(_load(n))])
def test_sqs_batches_are_as_the_event_source_mapping_sends_them(name: str) -> None:
    records = list(SQSEvent(_load(name)).records)
    assert records
    assert len({record.message_id for record in records}) == len(records)
    for record in records:
        assert record.event_source == "aws:sqs"
        assert record.event_source_arn.startswith("arn:aws:sqs:us-east-1:123456789012:")
        assert record.md5_of_body == hashlib.md5(record.body.encode()).hexdigest()  # noqa: S324
        assert record.attributes.approximate_receive_count == "1"
        assert isinstance(record.json_body, dict)


def test_the_sns_envelope_wraps_the_s3_notification() -> None:
    (record,) = SQSEvent(_load("sqs-sns-s3-notification.json")).records
    envelope = record.decoded_nested_sns_event
    assert envelope.get_type == "Notification"
    assert envelope.topic_arn.startswith("arn:aws:sns:us-east-1:123456789012:")
    (inner,) = S3Event(json.loads(envelope.message)).records
    assert inner.s3.get_object.key == "incoming/Jos%C3%A9+N%C3%BA%C3%B1ez+2.jpg"


def test_the_malformed_record_of_the_batch_has_no_key_and_is_ignored_for_that() -> None:
    items = _items(_load("sqs-batch-with-malformed-record.json"))
    (ignored,) = [item for item in items if isinstance(item, Ignored)]
    assert ignored.reason == "malformed S3 record (no 'key')"
    assert ignored.via == "sqs/s3"
