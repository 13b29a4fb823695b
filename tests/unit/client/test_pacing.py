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
from tests.unit.client.clocks import FakeTime, RecordingJitter

ENDPOINT = "https://facepp.test/facepp/v1/3dface"
CREDENTIALS = Credentials("key", "secret-never-logged")
FRONT = [ImageInput(View.FRONT, data=b"\xff\xd8front\xff\xd9")]


# A QPS whose slots are half a second apart.
QPS = 1 / (SHARE_USED * 0.5)


def pacer(fake_time: FakeTime, callers: int = 1, offsets: list[int] | None = None) -> Pacer:
    """A pacer on `fake_time`, drawing `offsets` in turn (first: its own)."""
    drawn = iter(offsets or [0] * 10)
    return Pacer(
        QPS, callers, clock=fake_time.clock, sleep=fake_time.sleep, draw=lambda n: next(drawn)
    )


def turns(pace: Pacer, fake_time: FakeTime, count: int) -> list[float]:
    taken = []
    for _ in range(count):
        assert pace.wait()
        taken.append(fake_time.now)
    return taken


def test_a_lone_caller_takes_every_slot() -> None:
    fake_time = FakeTime()  # starts at 1000.0, on a slot

    assert turns(pacer(fake_time), fake_time, 4) == pytest.approx([1000.0, 1000.5, 1001.0, 1001.5])


def test_a_caller_takes_every_nth_slot_from_its_offset() -> None:
    fake_time = FakeTime()  # slot 2000 (divisible by 4): offset 0

    taken = turns(pacer(fake_time, callers=4, offsets=[3]), fake_time, 3)

    assert taken == pytest.approx([1001.5, 1003.5, 1005.5])


def test_callers_with_their_own_slots_keep_within_the_qps_together() -> None:
    taken = []
    for offset in range(4):
        fake_time = FakeTime()
        fake_time.now += offset * 0.123  # they start at different moments
        pace = Pacer(
            2.0, 4, clock=fake_time.clock, sleep=fake_time.sleep, draw=lambda n, o=offset: o
        )
        taken += turns(pace, fake_time, 10)

    taken.sort()
    # No second holds more than 2 calls: any three span more than a second, with room to spare.
    spans = [later - earlier for earlier, later in zip(taken, taken[2:], strict=False)]
    assert min(spans) == pytest.approx(2 / (2.0 * SHARE_USED))
    assert min(spans) > 1.04


def test_sparse_calls_never_wait_for_more_than_a_slot() -> None:
    fake_time = FakeTime()
    pace = pacer(fake_time)

    for _ in range(3):
        assert pace.wait()
        fake_time.now += 5.2

    assert fake_time.sleeps == [pytest.approx(0.3), pytest.approx(0.3)]


def test_a_turn_further_than_allowed_is_not_taken() -> None:
    fake_time = FakeTime()
    pace = pacer(fake_time, callers=4, offsets=[0])
    assert pace.wait()  # now: the next turn is two seconds away

    assert not pace.wait(within=1.5)
    assert fake_time.sleeps == []
    assert pace.wait(within=2.01)  # the turn was kept for this call
    assert fake_time.sleeps == [pytest.approx(2.0)]


def test_a_refused_caller_moves_to_the_next_slots() -> None:
    fake_time = FakeTime()
    pace = pacer(fake_time, callers=4, offsets=[0])
    assert pace.wait()

    pace.refused()

    assert turns(pace, fake_time, 2) == pytest.approx([1000.5, 1002.5])  # slots 1 mod 4


def test_threads_sharing_a_pacer_take_distinct_turns() -> None:
    slept: list[float] = []
    lock = threading.Lock()

    def sleep(seconds: float) -> None:
        with lock:
            slept.append(seconds)

    pace = Pacer(QPS, clock=lambda: 1000.0, sleep=sleep)
    threads = [threading.Thread(target=pace.wait) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(slept) == pytest.approx([0.5 * n for n in range(1, 8)])  # the first: no wait


def test_a_share_needs_a_qps() -> None:
    pace = Pacer.for_share(6.0, 4)

    assert pace is not None
    assert pace.interval == pytest.approx(4 / (SHARE_USED * 6.0))
    assert 0.9 < SHARE_USED < 1.0
    assert Pacer.for_share(0.0, 4) is None
    assert Pacer.for_share(None, 1) is None


@pytest.mark.parametrize(("qps", "callers"), [(0.0, 1), (-1.0, 1), (float("inf"), 1), (1.0, 0)])
def test_nonsense_is_refused(qps: float, callers: int) -> None:
    with pytest.raises(ValueError, match=r"positive|at least"):
        Pacer(qps, callers)


# The client with a pacer ----------------------------------------------------------------------


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def paced_client(
    fake_time: FakeTime, jitter: RecordingJitter, callers: int, offsets: list[int]
) -> FaceppClient:
    return FaceppClient(
        ENDPOINT,
        retry=RetryPolicy(max_attempts=5, backoff_base=0.5, backoff_cap=8.0),
        clock=fake_time.clock,
        sleep=fake_time.sleep,
        jitter=jitter,
        pacer=pacer(fake_time, callers, offsets),
    )


def test_the_client_waits_for_its_turns(api: responses.RequestsMock) -> None:
    fake_time, jitter = FakeTime(), RecordingJitter()
    client = paced_client(fake_time, jitter, callers=4, offsets=[1])
    api.post(ENDPOINT, json=success_payload())
    sent: list[float] = []

    for _ in range(3):
        client.reconstruct(CREDENTIALS, FRONT)
        sent.append(fake_time.now)

    assert sent == pytest.approx([1000.5, 1002.5, 1004.5])
    assert len(api.calls) == 3


def test_a_call_refused_for_qps_is_retried_in_other_slots_without_backoff(
    api: responses.RequestsMock,
) -> None:
    fake_time, jitter = FakeTime(), RecordingJitter(fraction=1.0)
    client = paced_client(fake_time, jitter, callers=4, offsets=[0])  # 0, then 1, then 2
    for _ in range(2):
        api.post(ENDPOINT, status=403, json=error_payload(CONCURRENCY_LIMIT_EXCEEDED))
    api.post(ENDPOINT, json=success_payload())

    client.reconstruct(CREDENTIALS, FRONT)

    assert jitter.bounds == [(0.0, 0.0)] * 2  # no backoff: the pacer picks the turn
    # Slot 2001 (offset 1), then 2002 (offset 2).
    assert [slept for slept in fake_time.sleeps if slept] == pytest.approx([0.5, 0.5])
    assert len(api.calls) == 3


def test_other_transient_errors_still_back_off_as_before(api: responses.RequestsMock) -> None:
    fake_time, jitter = FakeTime(), RecordingJitter(fraction=0.0)
    client = paced_client(fake_time, jitter, callers=1, offsets=[0])
    for _ in range(3):
        api.post(ENDPOINT, status=500, json=error_payload("INTERNAL_ERROR"))
    api.post(ENDPOINT, json=success_payload())

    client.reconstruct(CREDENTIALS, FRONT)

    assert jitter.bounds == [(0.0, 0.5), (0.0, 1.0), (0.0, 2.0)]


def test_no_call_is_sent_when_the_turn_comes_too_late(api: responses.RequestsMock) -> None:
    fake_time, jitter = FakeTime(), RecordingJitter()
    client = paced_client(fake_time, jitter, callers=40, offsets=[0])  # a turn every 20 s
    api.post(ENDPOINT, json=success_payload())
    client.reconstruct(CREDENTIALS, FRONT)

    asked = fake_time.now
    with pytest.raises(Face3DError) as caught:
        client.reconstruct(CREDENTIALS, FRONT, time_budget=10.0)

    assert (caught.value.code, caught.value.transient, caught.value.attempts) == (TIMEOUT, True, 0)
    assert len(api.calls) == 1
    # Given up at once: turns only come later, so no backoff could bring one before the deadline.
    assert fake_time.now == asked


def test_a_retry_whose_turn_comes_too_late_gives_up_at_once(api: responses.RequestsMock) -> None:
    fake_time, jitter = FakeTime(), RecordingJitter()
    client = paced_client(fake_time, jitter, callers=40, offsets=[0])  # a turn every 20 s
    api.post(ENDPOINT, status=500, json=error_payload("INTERNAL_ERROR"))

    with pytest.raises(Face3DError) as caught:
        client.reconstruct(CREDENTIALS, FRONT, time_budget=10.0)

    assert (caught.value.code, caught.value.attempts) == (TIMEOUT, 1)
    assert len(api.calls) == 1
    assert len(jitter.bounds) == 1  # one backoff after the 500, none after the missed turn
