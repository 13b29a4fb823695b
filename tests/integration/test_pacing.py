"""The function paces its API calls within its share of the key's QPS (API_QPS, API_CALLERS)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from face3d.errors import CONCURRENCY_LIMIT_EXCEEDED
from tests import photos
from tests.fakes import error_payload, success_payload
from tests.integration.harness import ENDPOINT, Pipeline


class TimedApi:
    """Answers the scripted statuses in turn (then successes), noting when each call came."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.times: list[float] = []

    def __call__(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.times.append(time.monotonic())
        status = self.statuses.pop(0) if self.statuses else 200
        body = success_payload() if status == 200 else error_payload(CONCURRENCY_LIMIT_EXCEEDED)
        return status, {"Content-Type": "application/json"}, json.dumps(body)


def test_calls_are_spaced_by_the_share_of_the_qps(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Four calls a second for two containers: this one's turns are about half a second apart.
    monkeypatch.setenv("API_QPS", "4")
    monkeypatch.setenv("API_CALLERS", "2")
    api = TimedApi()
    pipeline.api.add_callback("POST", ENDPOINT, callback=api)

    for subject in ("ada", "grace", "eileen"):
        outcome = pipeline.invoke(pipeline.put(f"incoming/{subject}.jpg", photos.astronaut_jpeg()))
        assert outcome == {"succeeded": 1}

    gaps = [later - earlier for earlier, later in zip(api.times, api.times[1:], strict=False)]
    assert len(gaps) == 2
    # What reaches the API also varies by how long each request takes to send.
    assert all(gap >= 0.4 for gap in gaps)


def test_a_call_refused_for_qps_is_retried_at_another_turn_without_backoff(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_QPS", "4")
    monkeypatch.setenv("API_CALLERS", "2")
    api = TimedApi(403)
    pipeline.api.add_callback("POST", ENDPOINT, callback=api)

    outcome = pipeline.invoke(pipeline.put("incoming/ada.jpg", photos.astronaut_jpeg()))

    assert outcome == {"succeeded": 1}
    assert len(api.times) == 2
    assert pipeline.backoff == [0.0]  # the pacer, not the backoff, chose the retry's turn
    assert api.times[1] - api.times[0] < 1.0  # the next turn of the other slots


def test_without_a_qps_calls_are_not_paced(pipeline: Pipeline) -> None:
    api = TimedApi()
    pipeline.api.add_callback("POST", ENDPOINT, callback=api)

    started = time.monotonic()
    for subject in ("ada", "grace"):
        pipeline.invoke(pipeline.put(f"incoming/{subject}.jpg", photos.astronaut_jpeg()))

    assert len(api.times) == 2
    assert time.monotonic() - started < 5.0
