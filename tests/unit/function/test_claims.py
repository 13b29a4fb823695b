"""Claims (DESIGN.md section 5): one API call per set, attempts counted across retries."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from face3d.errors import S3_ERROR, Kind, TransientError
from face3d.function.claims import Claim, ClaimState, Verdict, decode_claim, judge, taken_over

NOW = 1_750_000_000.0
STALE_AFTER = 900.0  # the function timeout
FINGERPRINT = "f" * 64


def _claim(
    state: ClaimState = ClaimState.HELD,
    *,
    attempts: int = 1,
    holder: str = "req-a",
    updated_at: float = NOW,
    subject: str = "ada",
) -> Claim:
    return Claim(
        fingerprint=FINGERPRINT,
        subject=subject,
        state=state,
        attempts=attempts,
        holder=holder,
        updated_at=updated_at,
    )


def _judge(
    existing: Claim, *, holder: str = "req-b", now: float = NOW, redrive: bool = False
) -> Verdict:
    return judge(existing, holder=holder, now=now, stale_after=STALE_AFTER, redrive=redrive)


# --- encoding -------------------------------------------------------------------------------


@pytest.mark.parametrize("state", list(ClaimState))
def test_a_claim_survives_encoding(state: ClaimState) -> None:
    claim = _claim(
        state, attempts=3, holder="6f1c-req", updated_at=NOW + 0.25, subject="José Núñez 2"
    )
    assert decode_claim(claim.encode()) == claim


def test_the_encoding_is_json_with_the_state_as_its_name() -> None:
    raw = json.loads(_claim(ClaimState.PARKED, attempts=2).encode())
    assert raw["state"] == "parked"
    assert raw["attempts"] == 2
    assert raw["fingerprint"] == FINGERPRINT


def test_the_encoding_is_stable() -> None:
    assert _claim().encode() == _claim().encode()


def test_with_state_changes_only_state_and_time() -> None:
    claim = _claim(attempts=2)
    released = claim.with_state(ClaimState.RELEASED, NOW + 5)
    assert released == replace(claim, state=ClaimState.RELEASED, updated_at=NOW + 5)
    assert claim.state is ClaimState.HELD  # the original is untouched


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b"\xff\xfe\x00",
        b"[]",
        b"null",
        b'"held"',
        b"42",
        b"{}",
        b'{"fingerprint": "f", "subject": "ada", "state": "held", "attempts": 1, "holder": "r"}',
        b'{"fingerprint": "f", "subject": "ada", "state": "taken", "attempts": 1, "holder": "r",'
        b' "updated_at": 1}',
        b'{"fingerprint": "f", "subject": "ada", "state": "held", "attempts": "many",'
        b' "holder": "r", "updated_at": 1}',
        b'{"fingerprint": "f", "subject": "ada", "state": "held", "attempts": 1, "holder": "r",'
        b' "updated_at": null}',
        b'{"fingerprint": "f", "subject": "ada", "state": "held", "attempts": 1, "holder": "r",'
        b' "updated_at": "yesterday"}',
    ],
)
def test_a_damaged_claim_is_a_transient_storage_error(data: bytes) -> None:
    with pytest.raises(TransientError) as caught:
        decode_claim(data)
    err = caught.value
    assert err.code == S3_ERROR
    assert err.kind is Kind.TRANSIENT
    assert err.transient
    assert err.retryable


# --- judge: what to do with the claim found -------------------------------------------------


@pytest.mark.parametrize("state", [ClaimState.DONE, ClaimState.FAILED])
@pytest.mark.parametrize("redrive", [False, True])
@pytest.mark.parametrize("holder", ["req-a", "req-b"])
def test_a_set_that_ended_is_finished_whoever_asks(
    state: ClaimState, redrive: bool, holder: str
) -> None:
    old = _claim(state, updated_at=NOW - 10 * STALE_AFTER)
    assert _judge(old, holder=holder, redrive=redrive) is Verdict.FINISHED
    assert _judge(_claim(state), holder=holder, redrive=redrive) is Verdict.FINISHED


def test_a_parked_set_is_finished_for_a_duplicate_event() -> None:
    parked = _claim(ClaimState.PARKED, attempts=3, updated_at=NOW - 10 * STALE_AFTER)
    assert _judge(parked, redrive=False) is Verdict.FINISHED
    assert _judge(parked, holder="req-a", redrive=False) is Verdict.FINISHED


def test_a_parked_set_is_taken_by_a_redrive() -> None:
    parked = _claim(ClaimState.PARKED, attempts=3)
    assert _judge(parked, redrive=True) is Verdict.TAKE


@pytest.mark.parametrize("holder", ["req-a", "req-b"])
def test_a_released_set_is_taken_at_once(holder: str) -> None:
    released = _claim(ClaimState.RELEASED, updated_at=NOW - 1)
    assert _judge(released, holder=holder) is Verdict.TAKE
    assert _judge(released, holder=holder, redrive=True) is Verdict.TAKE


def test_a_claim_held_by_the_same_request_is_taken_again() -> None:
    # Lambda retrying our own crashed or timed-out attempt keeps the request id.
    assert _judge(_claim(holder="req-a", updated_at=NOW - 1), holder="req-a") is Verdict.TAKE


def test_a_fresh_claim_held_by_another_is_in_progress() -> None:
    assert _judge(_claim(holder="req-a", updated_at=NOW - 1), holder="req-b") is Verdict.IN_PROGRESS
    assert _judge(_claim(holder="req-a", updated_at=NOW), holder="req-b") is Verdict.IN_PROGRESS


def test_a_claim_exactly_stale_after_old_is_still_in_progress() -> None:
    held = _claim(holder="req-a", updated_at=NOW - STALE_AFTER)
    assert _judge(held, holder="req-b") is Verdict.IN_PROGRESS


def test_a_claim_older_than_stale_after_is_taken_over() -> None:
    held = _claim(holder="req-a", updated_at=NOW - STALE_AFTER - 0.001)
    assert _judge(held, holder="req-b") is Verdict.TAKE
    assert _judge(_claim(updated_at=NOW - 10 * STALE_AFTER), holder="req-b") is Verdict.TAKE


def test_a_redrive_does_not_take_a_live_claim() -> None:
    held = _claim(holder="req-a", updated_at=NOW - 1)
    assert _judge(held, holder="req-b", redrive=True) is Verdict.IN_PROGRESS


def test_a_claim_from_a_clock_slightly_ahead_is_in_progress() -> None:
    # Another invocation's clock may be a little ahead: a claim "from the future" is live.
    assert _judge(_claim(holder="req-a", updated_at=NOW + 2)) is Verdict.IN_PROGRESS


def test_every_state_gets_a_verdict() -> None:
    for state in ClaimState:
        for redrive in (False, True):
            assert isinstance(_judge(_claim(state), redrive=redrive), Verdict)


# --- taken_over: the claim written when taking one -------------------------------------------


@pytest.mark.parametrize("state", [ClaimState.HELD, ClaimState.RELEASED])
def test_taking_a_claim_over_counts_one_more_attempt(state: ClaimState) -> None:
    old = _claim(state, attempts=2, holder="req-a", updated_at=NOW - 2 * STALE_AFTER)
    new = taken_over(old, holder="req-b", now=NOW)
    assert new.attempts == 3
    assert new.state is ClaimState.HELD
    assert new.holder == "req-b"
    assert new.updated_at == NOW
    assert (new.fingerprint, new.subject) == (old.fingerprint, old.subject)
    assert old.attempts == 2  # the original is untouched


def test_taking_a_parked_claim_starts_counting_again() -> None:
    parked = _claim(ClaimState.PARKED, attempts=3, holder="req-a", updated_at=NOW - 3600)
    new = taken_over(parked, holder="redrive-1", now=NOW)
    assert new.attempts == 1
    assert (new.state, new.holder, new.updated_at) == (ClaimState.HELD, "redrive-1", NOW)


def test_retries_of_one_request_keep_counting() -> None:
    claim = _claim(attempts=1, holder="req-a", updated_at=NOW)
    for expected in (2, 3):
        assert _judge(claim, holder="req-a", now=claim.updated_at + 60) is Verdict.TAKE
        claim = taken_over(claim, holder="req-a", now=claim.updated_at + 60)
        assert claim.attempts == expected
    released = claim.with_state(ClaimState.RELEASED, claim.updated_at + 1)
    assert taken_over(released, holder="req-c", now=NOW + 500).attempts == 4


def test_a_taken_over_claim_survives_encoding() -> None:
    new = taken_over(_claim(ClaimState.RELEASED, attempts=1), holder="req-b", now=NOW + 1.5)
    assert decode_claim(new.encode()) == new


def test_a_failed_set_is_taken_only_by_a_redrive_of_permanent_failures() -> None:
    failed = _claim(ClaimState.FAILED, attempts=3)
    for redrive in (False, True):
        verdict = judge(failed, holder="req-b", now=NOW, stale_after=STALE_AFTER, redrive=redrive)
        assert verdict is Verdict.FINISHED
    forced = judge(
        failed, holder="req-b", now=NOW, stale_after=STALE_AFTER, redrive=True, retry_failed=True
    )
    assert forced is Verdict.TAKE
    assert taken_over(failed, holder="req-b", now=NOW).attempts == 1  # a fresh start
    done = _claim(ClaimState.DONE)
    assert (
        judge(
            done, holder="req-b", now=NOW, stale_after=STALE_AFTER, redrive=True, retry_failed=True
        )
        is Verdict.FINISHED
    )


# --- the failure report a claim carries (one DLQ message per set) ----------------------------

REPORT = {"schema": "face3d.failure/v1", "error": {"code": "NO_FACE_FOUND", "retryable": False}}


def test_a_claim_carries_the_report_it_sent() -> None:
    claim = replace(_claim(), report=REPORT)
    assert decode_claim(claim.encode()).report == REPORT


def test_a_claim_written_before_reports_existed_has_none() -> None:
    raw = json.loads(_claim().encode())
    del raw["report"]
    assert decode_claim(json.dumps(raw).encode()).report is None


def test_a_report_that_is_no_object_is_a_damaged_claim() -> None:
    raw = json.loads(_claim().encode())
    raw["report"] = ["not", "an", "object"]
    with pytest.raises(TransientError):
        decode_claim(json.dumps(raw).encode())


def test_a_retry_keeps_the_report_and_a_redrive_starts_afresh() -> None:
    released = replace(_claim(ClaimState.RELEASED, attempts=2), report=REPORT)
    assert taken_over(released, holder="req-b", now=NOW).report == REPORT
    parked = replace(_claim(ClaimState.PARKED, attempts=3), report=REPORT)
    redriven = taken_over(parked, holder="req-c", now=NOW)
    assert (redriven.report, redriven.attempts) == (None, 1)


@pytest.mark.parametrize(
    ("state", "age", "live"),
    [
        (ClaimState.HELD, 0.0, True),
        (ClaimState.HELD, STALE_AFTER, True),
        (ClaimState.HELD, STALE_AFTER + 1, False),
        (ClaimState.RELEASED, 0.0, False),
        (ClaimState.DONE, 0.0, False),
        (ClaimState.PARKED, 0.0, False),
    ],
)
def test_only_a_held_claim_younger_than_the_timeout_is_live(
    state: ClaimState, age: float, live: bool
) -> None:
    assert _claim(state, updated_at=NOW - age).live(NOW, STALE_AFTER) is live
