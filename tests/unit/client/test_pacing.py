"""Pacing: each caller's calls within its share of the API key's QPS (fake time throughout)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import responses

from face3d.client.http import Credentials, FaceppClient, ImageInput
from face3d.client.pacing import SHARE_USED, Pacer
from face3d.client.retries import RetryPolicy
from face3d.contract import View
from face3d.errors import CONCURRENCY_LIMIT_EXCEEDED, TIMEOUT, Face3DError
from tests.fakes import error_payload, success_payload
from tests.unit.client.test_http import FakeTime, RecordingJitter

ENDPOINT = "https://facepp.test/facepp/v1/3dface"
CREDENTIALS = Credentials("key", "secret-never-logged")
FRONT = [ImageInput(View.FRONT, data=b"\xff\xd8front\xff\xd9")]


def paced(fake_time: FakeTime, rate: float) -> Pacer:
    return Pacer(rate, clock=fake_time.clock, sleep=fake_time.sleep)


def test_calls_start_one_interval_apart() -> None:
    fake_time = FakeTime()
    pacer = paced(fake_time, rate=2.0)
    started = []

    for _ in range(4):
        assert pacer.wait()
        started.append(fake_time.now - 1000.0)

    assert started == [0.0, 0.5, 1.0, 1.5]


def test_sparse_calls_never_wait() -> None:
    fake_time = FakeTime()
    pacer = paced(fake_time, rate=2.0)

    for _ in range(3):
        assert pacer.wait()
        fake_time.now += 5.0

    assert fake_time.sleeps == []


def test_a_turn_after_the_latest_start_is_not_taken() -> None:
    fake_time = FakeTime()
    pacer = paced(fake_time, rate=1.0)
    assert pacer.wait()

    assert not pacer.wait(latest=fake_time.now + 0.5)
    assert fake_time.sleeps == []
    assert pacer.wait(latest=fake_time.now + 1.0)  # the turn was kept for this call
    assert fake_time.sleeps == [1.0]


def test_a_refused_call_gives_its_turn_back() -> None:
    fake_time = FakeTime()
    pacer = paced(fake_time, rate=0.5)
    assert pacer.wait()

    pacer.refused()

    assert pacer.wait()
    assert fake_time.sleeps == []


def test_threads_sharing_a_pacer_take_distinct_turns() -> None:
    turns: list[float] = []
    lock = threading.Lock()
    clock_time = [0.0]

    def sleep(seconds: float) -> None:
        with lock:
            turns.append(clock_time[0] + seconds)

    pacer = Pacer(4.0, clock=lambda: clock_time[0], sleep=sleep)
    threads = [threading.Thread(target=pacer.wait) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(turns) == [0.25 * n for n in range(1, 8)]  # the first did not sleep


def test_a_share_is_the_qps_over_the_callers_with_room_for_turns_to_fit() -> None:
    pacer = Pacer.for_share(6.0, 4)

    assert pacer is not None
    assert pacer.rate == pytest.approx(SHARE_USED * 1.5)
    assert 0.9 < SHARE_USED < 1.0
    assert Pacer.for_share(0.0, 4) is None
    assert Pacer.for_share(None, 1) is None


@pytest.mark.parametrize("rate", [0.0, -1.0, float("inf"), float("nan")])
def test_a_rate_must_be_a_positive_number(rate: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        Pacer(rate)


# The client with a pacer ----------------------------------------------------------------------


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def paced_client(fake_time: FakeTime, jitter: RecordingJitter, rate: float) -> FaceppClient:
    return FaceppClient(
        ENDPOINT,
        retry=RetryPolicy(max_attempts=5, backoff_base=0.5, backoff_cap=8.0),
        clock=fake_time.clock,
        sleep=fake_time.sleep,
        jitter=jitter,
        pacer=Pacer(rate, clock=fake_time.clock, sleep=fake_time.sleep),
    )


def test_the_client_spaces_its_calls(api: responses.RequestsMock) -> None:
    fake_time, jitter = FakeTime(), RecordingJitter()
    client = paced_client(fake_time, jitter, rate=0.5)
    api.post(ENDPOINT, json=success_payload())
    sent: list[float] = []

    for _ in range(3):
        client.reconstruct(CREDENTIALS, FRONT)
        sent.append(fake_time.now - 1000.0)

    assert sent == [0.0, 2.0, 4.0]
    assert len(api.calls) == 3


def test_a_call_refused_for_qps_is_retried_soon_and_keeps_its_turn(
    api: responses.RequestsMock,
) -> None:
    fake_time, jitter = FakeTime(), RecordingJitter(fraction=1.0)
    client = paced_client(fake_time, jitter, rate=0.25)
    for _ in range(3):
        api.post(ENDPOINT, status=403, json=error_payload(CONCURRENCY_LIMIT_EXCEEDED))
    api.post(ENDPOINT, json=success_payload())

    client.reconstruct(CREDENTIALS, FRONT)

    # Never the growing backoff (0.5, 1, 2 s), never a whole interval (4 s): half a second each.
    assert jitter.bounds == [(0.0, 0.5)] * 3
    assert fake_time.sleeps == [0.5, 0.5, 0.5]
    assert len(api.calls) == 4


def test_other_transient_errors_still_back_off_as_before(api: responses.RequestsMock) -> None:
    fake_time, jitter = FakeTime(), RecordingJitter(fraction=1.0)
    client = paced_client(fake_time, jitter, rate=100.0)
    for _ in range(3):
        api.post(ENDPOINT, status=500, json=error_payload("INTERNAL_ERROR"))
    api.post(ENDPOINT, json=success_payload())

    client.reconstruct(CREDENTIALS, FRONT)

    assert jitter.bounds == [(0.0, 0.5), (0.0, 1.0), (0.0, 2.0)]


def test_no_call_is_sent_when_the_turn_comes_too_late(api: responses.RequestsMock) -> None:
    fake_time, jitter = FakeTime(), RecordingJitter()
    client = paced_client(fake_time, jitter, rate=0.1)  # one call every 10 s
    api.post(ENDPOINT, json=success_payload())
    client.reconstruct(CREDENTIALS, FRONT)

    with pytest.raises(Face3DError) as caught:
        client.reconstruct(CREDENTIALS, FRONT, time_budget=5.0)

    assert caught.value.code == TIMEOUT
    assert caught.value.transient
    assert len(api.calls) == 1
