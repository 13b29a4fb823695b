"""The dashboard graphs what the handler emits: each Face3D metric under the very name and
dimensions of the handler's EMF lines (a graph of a dimension set nobody emits stays empty)."""

from __future__ import annotations

import json

import pytest

from tests import photos
from tests.fakes import error_payload, success_payload
from tests.integration.dashboard import Series, series, template_body
from tests.integration.emf import emitted
from tests.integration.faults import Faults, Killed
from tests.integration.harness import ENDPOINT, Pipeline, s3_event
from tests.integration.stack import cloudformation_template


def test_every_face3d_metric_on_the_dashboard_is_one_the_handler_emits_and_back(
    pipeline: Pipeline,
    faults: Faults,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EVENT_BUS", "default")
    # As in Lambda, where the template sets no POWERTOOLS_SERVICE_NAME: the handler names it.
    monkeypatch.delenv("POWERTOOLS_SERVICE_NAME")
    capsys.readouterr()
    # Every outcome the handler counts, once each.
    pipeline.invoke(s3_event("incoming/ada.jpg", "e", 1, bucket="another-bucket"))  # ignored
    pipeline.api.post(ENDPOINT, json=success_payload())
    ada = pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg())
    assert pipeline.invoke(ada) == {"succeeded": 1}
    assert pipeline.invoke(ada, "req-2") == {"duplicate": 1}
    grace = pipeline.put("incoming/grace.jpg", photos.grace_hopper_jpeg())
    faults.kill("PutObject", "results/grace/tex.jpg")  # after its answer is stored
    with pytest.raises(Killed):
        pipeline.invoke(grace, "req-3")
    faults.revive()
    faults.fail("PutEvents")
    assert pipeline.invoke(grace, "req-3") == {"succeeded": 1}  # the answer reused, untold
    pipeline.api.replace("POST", ENDPOINT, json=error_payload("NO_FACE_FOUND"), status=400)
    assert pipeline.invoke(pipeline.put("incoming/katherine.jpg", photos.astronaut_jpeg())) == {
        "failed": 1
    }

    data = [datum for datum in emitted(capsys.readouterr().out) if datum.namespace == "Face3D"]
    template = json.loads(cloudformation_template())
    graphed = [
        s for s in series(template_body(template, FunctionTimeout="180")) if s.namespace == "Face3D"
    ]

    assert {(s.name, s.dimensions) for s in graphed} == {(d.name, d.dimensions) for d in data}
    for graph in graphed:
        assert any(_shows(graph, datum.values) for datum in data if datum.name == graph.name), graph
    by_code = [d for d in data if d.name == "SetsFailed" and "ErrorCode" in d.dimensions]
    assert [d.values for d in by_code] == [{"service": "face3d", "ErrorCode": "NO_FACE_FOUND"}]


def _shows(graph: Series, values: dict[str, str]) -> bool:
    return all(values.get(key) == value for key, value in graph.values)


def test_the_dashboard_graphs_what_the_issue_asks_for() -> None:
    template = json.loads(cloudformation_template())
    graphed = {
        (s.namespace, s.name) for s in series(template_body(template, FunctionTimeout="180"))
    }

    assert graphed >= {
        ("Face3D", "SetsSucceeded"),
        ("Face3D", "SetsFailed"),
        ("Face3D", "ApiLatency"),
        ("Face3D", "DuplicatesSkipped"),
        ("Face3D", "AnswersReused"),
        ("Face3D", "ImagesTransformed"),
        ("Face3D", "ResultEventsPublished"),
        ("Face3D", "ResultEventsFailed"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/Lambda", "Duration"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
    }
    body = json.loads(template_body(template, FunctionTimeout="180"))
    latency = [
        metric[-1]["stat"]
        for widget in body["widgets"]
        for metric in widget.get("properties", {}).get("metrics", [])
        if metric[1:2] == ["ApiLatency"]
    ]
    assert latency == ["p50", "p90", "p99"]
