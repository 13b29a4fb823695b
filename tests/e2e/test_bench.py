"""`make bench` runs: every benchmark once on tiny inputs, so that none rots (no figure judged)."""

from __future__ import annotations

import io
import json
import sys
from typing import Any

import pytest
from bench import run
from bench.aws import Call, replay
from bench.preparation import naive_preparation
from PIL import Image

from face3d.client.preparation import PreparationLimits, base64_length
from face3d.samples import phone_view_jpegs

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    pytest.importorskip("mediapipe", reason="the engine rows need the engine extra")
    output = tmp_path_factory.mktemp("bench") / "results.json"
    assert run.main(["--quick", "--output", str(output)]) == 0
    document: dict[str, Any] = json.loads(output.read_text())
    return document


def test_every_row_of_the_issue_is_measured_against_its_baseline(results: dict[str, Any]) -> None:
    assert results["schema"] == "face3d.bench/v1"
    assert set(results["details"]) == set(run.BENCHMARKS)
    targets = [row["target"] for row in results["rows"]]
    for target in (
        "<= 1.5x",
        ">= 5x faster",
        "< 250 MB",
        "<= 1.3x",
        "<= 15x",
        "<= 40x",
        ">= 1.8x",
        ">= 90%",
    ):
        assert target in targets
    for row in results["rows"]:
        assert isinstance(row["met"], bool | None)
        if row["target"]:
            assert isinstance(row["met"], bool)


def test_each_benchmark_reports_what_it_measured(results: dict[str, Any]) -> None:
    details = results["details"]
    preparation = details["preparation"]
    assert 0 < preparation["floor_ms"] < preparation["naive_ms"]
    assert 0 < preparation["peak_rss_mb"] < 1000
    assert [view["quality"] for view in preparation["views"]] == [88, 88, 88]
    handler = details["warm handler"]
    assert handler["handler_ms"] > 0
    assert "GetObject" in handler["s3_calls"]
    assert "PutObject" in handler["s3_calls"]
    cold = details["cold start"]
    assert cold["handler_ms"] > 0
    assert "secretsmanager:GetSecretValue" in cold["aws_calls"]
    assert "face3d" in cold["imports_ms"]
    engine = details["engine"]
    assert engine["workers_1_rps"] > 0
    assert engine["workers_2_rps"] > 0
    assert engine["three_views_speedup"] > 0
    if sys.platform.startswith("linux"):  # read from /proc: the server's and workers' CPU
        assert engine["cpu_ms_per_request"]["1"]["workers"] == 0  # the engine in the server
        assert engine["cpu_ms_per_request"]["2"]["workers"] > 0
    assert engine["face_mesh"]["three_views_ms"] > 0
    for mode in ("paced", "unpaced"):
        pipeline = details["pipeline"][mode]
        assert pipeline["sets_per_s"] > 0
        assert 0 <= pipeline["refused"] <= pipeline["calls"]
        assert pipeline["problems"] == []


def test_the_naive_baseline_fits_the_request_as_the_real_one_does() -> None:
    photos = list(phone_view_jpegs(800, 600))
    limits = PreparationLimits(request_budget=200_000)

    jpegs = naive_preparation(photos, limits)

    assert sum(base64_length(len(jpeg)) for jpeg in jpegs) <= 200_000 - limits.reserved_bytes
    sizes = [Image.open(io.BytesIO(jpeg)).size for jpeg in jpegs]
    assert sizes == [(600, 800), (800, 600), (800, 600)]  # full size, upright


def test_a_replay_makes_the_recorded_calls_again() -> None:
    class Client:
        def __init__(self) -> None:
            self.made: list[tuple[str, dict[str, Any]]] = []

        def head_object(self, **params: Any) -> dict[str, Any]:
            self.made.append(("head_object", params))
            return {}

        def get_object(self, **params: Any) -> dict[str, Any]:
            self.made.append(("get_object", params))
            return {"Body": io.BytesIO(b"body")}

    client = Client()
    calls = [
        Call("s3", "HeadObject", {"Bucket": "b", "Key": "k"}),
        Call("s3", "GetObject", {"Bucket": "b", "Key": "k"}),
    ]

    replay(calls, {"s3": client})

    key = {"Bucket": "b", "Key": "k"}
    assert client.made == [("head_object", key), ("get_object", key)]
