"""DESIGN.md section 9: one EventBridge event per terminal outcome, best effort, once stored.

The events arrive on moto's default bus, where a rule with the README's pattern
(docs/examples/result-rule.json) forwards them to a queue the tests read, as a consumer's rule
would forward them to its target.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests import photos
from tests.fakes import error_payload, success_payload
from tests.integration.emf import totals
from tests.integration.faults import Faults
from tests.integration.harness import BUCKET, ENDPOINT, OUTPUT_FILES, REGION, Pipeline

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
RULE_PATTERN = json.loads((EXAMPLES / "result-rule.json").read_text())


class Bus:
    """A rule on the default bus with the README's pattern, delivering to a queue."""

    def __init__(self) -> None:
        self.events = boto3.client("events", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.queue_url = self.sqs.create_queue(QueueName="face3d-result-events")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        self.events.put_rule(Name="face3d-results", EventPattern=json.dumps(RULE_PATTERN))
        self.events.put_targets(Rule="face3d-results", Targets=[{"Id": "queue", "Arn": queue_arn}])

    def received(self) -> list[dict[str, Any]]:
        """The events delivered since the last call, in order."""
        found = []
        while batch := self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10
        ).get("Messages"):
            for message in batch:
                found.append(json.loads(message["Body"]))
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        return found


@pytest.fixture
def bus(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> Bus:
    monkeypatch.setenv("EVENT_BUS", "default")  # as the template's default sets it
    return Bus()


def only_event(bus: Bus, detail_type: str) -> dict[str, Any]:
    events = bus.received()
    assert [event["detail-type"] for event in events] == [detail_type]
    (event,) = events
    assert event["source"] == "face3d"
    detail: dict[str, Any] = event["detail"]
    return detail


def public(inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The envelope's inputs as an event tells them: no ETag, no version id."""
    return [{"view": source["view"], "key": source["key"]} for source in inputs]


def test_a_success_tells_where_the_result_is_by_version_once(
    pipeline: Pipeline, bus: Bus, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    event = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())

    assert pipeline.invoke(event) == {"succeeded": 1}

    detail = only_event(bus, "Face3D Result Ready")
    document = pipeline.json("results/ada/result.json")
    assert detail == {
        "schema": "face3d.result-ready/v1",
        "subject": "ada",
        "bucket": BUCKET,
        "fingerprint": document["fingerprint"],
        "result": {
            "key": "results/ada/result.json",
            "version_id": pipeline.head("results/ada/result.json")["VersionId"],
        },
        "outputs": document["outputs"],
        "request_id": document["request_id"],
        "finished_at": document["finished_at"],
    }
    assert sorted(detail["outputs"]) == sorted(OUTPUT_FILES)
    for record in detail["outputs"].values():
        data = pipeline.s3.get_object(
            Bucket=BUCKET, Key=record["key"], VersionId=record["version_id"]
        )["Body"].read()
        assert hashlib.sha256(data).hexdigest() == record["sha256"]
    assert totals(capsys.readouterr().out)["ResultEventsPublished"] == 1

    # A duplicate delivery of the finished set tells nobody again.
    assert pipeline.invoke(event, "req-2") == {"duplicate": 1}
    assert bus.received() == []
    assert "ResultEventsPublished" not in totals(capsys.readouterr().out)


def test_a_permanent_failure_tells_the_envelope_without_the_inputs_versions(
    pipeline: Pipeline, bus: Bus
) -> None:
    pipeline.api.post(ENDPOINT, json=error_payload("NO_FACE_FOUND:image_base64_1"), status=400)
    event = pipeline.put("incoming/grace.jpg", photos.grace_hopper_jpeg())

    assert pipeline.invoke(event) == {"failed": 1}

    detail = only_event(bus, "Face3D Set Failed")
    (message,) = pipeline.messages()
    envelope = message["body"]
    assert pipeline.json("results/grace/error.json") == envelope  # stored before it was told
    assert detail == {
        **envelope,
        "schema": "face3d.set-failed/v1",
        "inputs": public(envelope["inputs"]),
    }
    assert detail["inputs"] == [{"view": "front", "key": "incoming/grace.jpg"}]
    assert detail["error"]["code"] == "NO_FACE_FOUND"
    assert detail["error"]["retryable"] is False
    assert pipeline.invoke(event, "req-2") == {"duplicate": 1}
    assert bus.received() == []


def test_a_configuration_failure_tells_it_is_retryable(pipeline: Pipeline, bus: Bus) -> None:
    pipeline.api.post(ENDPOINT, json=error_payload("AUTHENTICATION_ERROR"), status=401)
    event = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())

    assert pipeline.invoke(event) == {"failed": 1}

    detail = only_event(bus, "Face3D Set Failed")
    (message,) = pipeline.messages()
    assert detail == {
        **message["body"],
        "schema": "face3d.set-failed/v1",
        "inputs": public(message["body"]["inputs"]),
    }
    assert detail["error"]["code"] == "AUTHENTICATION_ERROR"
    assert detail["error"]["retryable"] is True
    assert "error.json" not in pipeline.results("ada")
    assert pipeline.invoke(event, "req-2") == {"duplicate": 1}  # parked: told once
    assert bus.received() == []


def test_a_bus_that_refuses_the_event_leaves_the_success_a_success(
    pipeline: Pipeline,
    bus: Bus,
    faults: Faults,
    capsys: pytest.CaptureFixture[str],
    json_logs: io.StringIO,
) -> None:
    pipeline.api.post(ENDPOINT, json=success_payload())
    faults.fail("PutEvents", times=None)
    event = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())

    assert pipeline.invoke(event) == {"succeeded": 1}

    assert bus.received() == []
    assert pipeline.results("ada") == sorted([*OUTPUT_FILES, "result.json"])
    assert pipeline.claim_of("ada")["state"] == "done"
    out = capsys.readouterr().out
    assert totals(out)["ResultEventsFailed"] == 1
    assert "ResultEventsPublished" not in totals(out)
    (logged,) = [json.loads(line) for line in json_logs.getvalue().splitlines() if "bus" in line]
    assert logged["level"] == "ERROR"
    assert logged["message"].startswith(
        "could not send the 'Face3D Result Ready' event to bus default"
    )
    assert pipeline.messages() == []


def test_an_empty_bus_turns_events_off(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENT_BUS", "")  # as the template's ResultEventBus="" sets it
    watcher = Bus()  # the rule is there; the function is told of no bus
    pipeline.api.post(ENDPOINT, json=success_payload())

    assert pipeline.invoke(pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())) == {
        "succeeded": 1
    }

    assert watcher.received() == []
    out = totals(capsys.readouterr().out)
    assert out["SetsSucceeded"] == 1
    assert not {"ResultEventsPublished", "ResultEventsFailed"} & set(out)


def test_the_readme_consumer_reads_the_result_the_event_names(pipeline: Pipeline, bus: Bus) -> None:
    consumer = load_consumer()
    pipeline.api.post(ENDPOINT, json=success_payload())
    pipeline.invoke(pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg()))
    (ready,) = bus.received()
    # A newer set of the subject replaces the latest objects: the consumer still reads ada's
    # first result, by the version ids its event named.
    first_obj = pipeline.read("results/ada/face.obj")
    pipeline.api.post(ENDPOINT, json=error_payload("NO_FACE_FOUND:image_base64_1"), status=400)
    pipeline.invoke(pipeline.put("incoming/ada.jpg", photos.grace_hopper_jpeg()), "req-2")
    (failed,) = bus.received()

    assert consumer.lambda_handler(ready) == {
        "subject": "ada",
        "views": ["front"],
        "obj_bytes": len(first_obj),
    }
    assert consumer.lambda_handler(failed) == {"subject": "ada", "failed": "NO_FACE_FOUND"}


def load_consumer() -> Any:
    spec = importlib.util.spec_from_file_location("face3d_consumer", EXAMPLES / "consumer.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_shows_the_rule_and_the_consumer_the_tests_run() -> None:
    readme = (EXAMPLES.parents[1] / "README.md").read_text(encoding="utf-8")
    for name, language in (("result-rule.json", "json"), ("consumer.py", "python")):
        code = (EXAMPLES / name).read_text(encoding="utf-8")
        assert f"```{language}\n{code}```\n" in readme, name
