"""Result events (DESIGN.md section 9): the entries PutEvents is given, and best effort sending."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from face3d.client.results import InputObject
from face3d.contract import View
from face3d.errors import NO_FACE_FOUND, PermanentError
from face3d.function.failures import build_failure
from face3d.function.objects import StoredObject
from face3d.function.result_events import ResultEvents, result_ready, set_failed

BUCKET = "face3d-pipeline-123456789012-us-east-1"
DOCUMENT: dict[str, Any] = {
    "schema": "face3d.result/v1",
    "subject": "grace",
    "fingerprint": "c0ffee" * 10,
    "request_id": "1470378968,c6f50ec6",
    "finished_at": "2026-11-24T12:00:03.120Z",
    "outputs": {
        "face.obj": {"key": "results/grace/face.obj", "version_id": "o1", "size": 9, "sha256": "a"},
        "tex.jpg": {"key": "results/grace/tex.jpg", "version_id": "t1", "size": 7, "sha256": "b"},
    },
    "inputs": {"front": {"key": "incoming/grace.jpg", "etag": "e1", "version_id": "i1"}},
}
RESULT = StoredObject("results/grace/result.json", "r-etag", 2048, version_id="r1")


def envelope() -> dict[str, Any]:
    return build_failure(
        error=PermanentError(NO_FACE_FOUND, "no face", param="image_base64_1", view=View.FRONT),
        subject="grace",
        bucket=BUCKET,
        inputs=[
            InputObject(View.FRONT, "incoming/grace/front.jpg", "9b2c", "v1"),
            InputObject(View.LEFT, "incoming/grace/left.png", "2f1a", None),
        ],
        fingerprint="c0ffee" * 10,
        attempts=1,
        trigger_key="incoming/grace/manifest.json",
        event_time="2026-11-24T12:00:00.000Z",
        failed_at=datetime(2026, 11, 24, 12, 0, 3, tzinfo=UTC),
    )


def test_result_ready_names_result_json_and_each_output_by_version() -> None:
    entry = result_ready("default", bucket=BUCKET, result=RESULT, document=DOCUMENT)

    assert {k: v for k, v in entry.items() if k != "Detail"} == {
        "EventBusName": "default",
        "Source": "face3d",
        "DetailType": "Face3D Result Ready",
    }
    assert json.loads(entry["Detail"]) == {
        "schema": "face3d.result-ready/v1",
        "subject": "grace",
        "bucket": BUCKET,
        "fingerprint": "c0ffee" * 10,
        "result": {"key": "results/grace/result.json", "version_id": "r1"},
        "outputs": DOCUMENT["outputs"],
        "request_id": "1470378968,c6f50ec6",
        "finished_at": "2026-11-24T12:00:03.120Z",
    }


def test_set_failed_is_the_envelope_without_the_inputs_etags_and_versions() -> None:
    failure = envelope()
    entry = set_failed("face3d-results", failure)

    assert entry["DetailType"] == "Face3D Set Failed"
    assert entry["EventBusName"] == "face3d-results"
    detail = json.loads(entry["Detail"])
    assert detail["inputs"] == [
        {"view": "front", "key": "incoming/grace/front.jpg"},
        {"view": "left", "key": "incoming/grace/left.png"},
    ]
    assert detail["schema"] == "face3d.set-failed/v1"
    unchanged = {k: v for k, v in failure.items() if k not in ("schema", "inputs")}
    assert {k: detail[k] for k in unchanged} == unchanged
    assert "9b2c" not in entry["Detail"]
    assert failure["inputs"][0]["etag"] == "9b2c"  # the envelope itself is left whole


class FakeEventBridge:
    """PutEvents as EventBridge answers it: each entry accepted, refused or the call failing."""

    def __init__(self, answer: dict[str, Any] | Exception) -> None:
        self.answer = answer
        self.sent: list[dict[str, Any]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.sent += Entries
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.mark.parametrize(
    ("answer", "told"),
    [
        ({"FailedEntryCount": 0, "Entries": [{"EventId": "e-1"}]}, True),
        (
            {
                "FailedEntryCount": 1,
                "Entries": [{"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"}],
            },
            False,
        ),
        (ClientError({"Error": {"Code": "AccessDeniedException"}}, "PutEvents"), False),
        (EndpointConnectionError(endpoint_url="https://events.us-east-1.amazonaws.com"), False),
    ],
)
def test_sending_reports_whether_the_event_went_out_and_never_raises(
    answer: dict[str, Any] | Exception, told: bool
) -> None:
    bridge = FakeEventBridge(answer)
    events = ResultEvents(bridge, "default")  # type: ignore[arg-type]

    assert events.result_ready(BUCKET, RESULT, DOCUMENT) is told
    assert events.set_failed(envelope()) is told
    assert [entry["DetailType"] for entry in bridge.sent] == [
        "Face3D Result Ready",
        "Face3D Set Failed",
    ]


def test_without_a_bus_nothing_is_sent() -> None:
    bridge = FakeEventBridge({"FailedEntryCount": 0, "Entries": [{}]})
    for events in (ResultEvents.off(), ResultEvents(bridge, None)):  # type: ignore[arg-type]
        assert events.result_ready(BUCKET, RESULT, DOCUMENT) is None
        assert events.set_failed(envelope()) is None
    assert bridge.sent == []
