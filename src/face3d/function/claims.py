"""Claims: who is reconstructing a set, and how often it has been tried (DESIGN.md section 5).

A claim is a small JSON object per set fingerprint, created with `If-None-Match: *` and replaced
with `If-Match: <ETag>`, so that of two concurrent invocations only one calls the API. Like
Powertools keeps an idempotency record with its persistence layer, this module holds both: the
claim's data and the decision what to do with an existing one (pure), and `ClaimStore`, which
makes the conditional writes through the S3 adapter.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

from face3d.errors import S3_ERROR, Face3DError, TransientError
from face3d.function.layout import CLAIM_TAG, claim_key
from face3d.function.storage import ConditionFailed, ObjectMissing, Storage

logger = logging.getLogger(__name__)
# A claim is a few hundred bytes; anything much larger is not one of ours.
_MAX_CLAIM_BYTES = 64 * 1024


class ClaimState(StrEnum):
    HELD = "held"  # an invocation is working on the set
    RELEASED = "released"  # given back after a transient error: the next attempt takes it at once
    DONE = "done"  # result.json written
    FAILED = "failed"  # permanent failure: error.json and a DLQ message
    PARKED = "parked"  # retryable failure on the DLQ: only a redrive takes it again


@dataclass(frozen=True)
class Claim:
    fingerprint: str
    subject: str
    state: ClaimState
    attempts: int
    holder: str  # the Lambda request id; Lambda's own retries of an invocation keep it
    updated_at: float  # epoch seconds
    # The failure envelope once it was sent to the DLQ: a retry writes error.json from it and
    # sends nothing more (one message per set).
    report: dict[str, Any] | None = None

    def encode(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, allow_nan=False).encode()

    def with_state(self, state: ClaimState, now: float) -> Claim:
        return replace(self, state=state, updated_at=now)

    def live(self, now: float, stale_after: float) -> bool:
        """Whether an invocation may be working on the set right now."""
        return self.state is ClaimState.HELD and now - self.updated_at <= stale_after


def decode_claim(data: bytes) -> Claim:
    try:
        raw: dict[str, Any] = json.loads(data)
        report = raw.get("report")
        if report is not None and not isinstance(report, dict):
            raise TypeError("report is not an object")
        return Claim(
            fingerprint=str(raw["fingerprint"]),
            subject=str(raw["subject"]),
            state=ClaimState(raw["state"]),
            attempts=int(raw["attempts"]),
            holder=str(raw["holder"]),
            updated_at=float(raw["updated_at"]),
            report=report,
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        # Only we write claims; a damaged one is retried rather than trusted.
        raise TransientError(S3_ERROR, "a claim object is damaged") from exc


class Verdict(StrEnum):
    TAKE = "take"  # replace the claim (If-Match) and work on the set
    IN_PROGRESS = "in-progress"  # another live invocation holds it: a concurrent duplicate
    FINISHED = "finished"  # the set already ended in a result or a failure record


def judge(
    existing: Claim,
    *,
    holder: str,
    now: float,
    stale_after: float,
    redrive: bool,
    retry_failed: bool = False,
) -> Verdict:
    """What an invocation that failed to create the claim does with the one it found.

    `retry_failed`: a redrive of a permanent failure (`face3d redrive --include-permanent`).
    """
    match existing.state:
        case ClaimState.DONE:
            return Verdict.FINISHED
        case ClaimState.FAILED:
            return Verdict.TAKE if retry_failed else Verdict.FINISHED
        case ClaimState.PARKED:
            return Verdict.TAKE if redrive else Verdict.FINISHED
        case ClaimState.RELEASED:
            return Verdict.TAKE
        case ClaimState.HELD:
            # The same request id means Lambda is retrying our own crashed or timed-out attempt;
            # anyone else waits until the holder must be dead (older than the function timeout).
            if existing.holder == holder or now - existing.updated_at > stale_after:
                return Verdict.TAKE
            return Verdict.IN_PROGRESS


def taken_over(existing: Claim, *, holder: str, now: float) -> Claim:
    """The claim an invocation writes when it takes `existing` over: one more attempt.

    A parked or failed claim is being redriven, and a done one revived (its set uploaded again
    after another became current): its attempts start again, and a new failure is reported anew.
    """
    if existing.state in (ClaimState.PARKED, ClaimState.FAILED, ClaimState.DONE):
        return replace(
            existing, state=ClaimState.HELD, attempts=1, holder=holder, updated_at=now, report=None
        )
    return replace(
        existing,
        state=ClaimState.HELD,
        attempts=existing.attempts + 1,
        holder=holder,
        updated_at=now,
    )


@dataclass
class HeldClaim:
    """A claim this invocation holds: where it is, what it says, and the ETag it was written at."""

    bucket: str
    key: str
    current: Claim
    etag: str
    # Created by this invocation: no earlier attempt left an answer or outputs to find.
    fresh: bool = False


class ClaimStore:
    """Claims under the result prefix, written only conditionally (DESIGN.md section 5)."""

    def __init__(
        self,
        storage: Storage,
        result_prefix: str,
        *,
        stale_after: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._storage = storage
        self._result_prefix = result_prefix
        self._stale_after = stale_after
        self._clock = clock

    def acquire(
        self,
        bucket: str,
        fingerprint: str,
        subject: str,
        *,
        holder: str,
        redrive: bool,
        retry_failed: bool = False,
        outcome_elsewhere: Callable[[], bool] = lambda: False,
    ) -> HeldClaim | None:
        """The set's claim, created or taken over; None when another invocation has the set.

        `outcome_elsewhere` tells whether the result folder now holds another set's outcome: a
        done or failed set uploaded again after another became current (a user going back to an
        earlier photo) is the newest set again and is taken up anew (a failed one keeps its
        recorded envelope, so that only its error.json is written again). It is asked only after
        the claim was read, which its own result.json or error.json precedes, so that a
        duplicate racing the set's own commit is never taken for such a return.
        """
        key = claim_key(self._result_prefix, fingerprint)
        now = self._clock()
        fresh = Claim(fingerprint, subject, ClaimState.HELD, 1, holder, now)
        try:
            etag = self._write(bucket, key, fresh, if_none_match=True)
            return HeldClaim(bucket, key, fresh, etag, fresh=True)
        except ConditionFailed:
            pass
        try:
            data, stored = self._storage.read(bucket, key, max_bytes=_MAX_CLAIM_BYTES)
        except ObjectMissing:
            raise TransientError(S3_ERROR, "a claim vanished while read") from None
        existing = decode_claim(data)
        verdict = judge(
            existing,
            holder=holder,
            now=now,
            stale_after=self._stale_after,
            redrive=redrive,
            retry_failed=retry_failed,
        )
        revived = (
            verdict is not Verdict.TAKE
            and existing.state in (ClaimState.DONE, ClaimState.FAILED)
            and outcome_elsewhere()
        )
        if revived:
            logger.info(
                "set %s was %s, and is the subject's newest set again",
                fingerprint,
                existing.state.value,
            )
            verdict = Verdict.TAKE
        if verdict is not Verdict.TAKE:
            logger.info("duplicate: set %s is %s", fingerprint, existing.state.value)
            return None
        if revived and existing.state is ClaimState.FAILED:
            # Its failure stands (the same input fails the same way): recorded again from the
            # claim's envelope, without a call or a second DLQ message.
            claim = replace(existing, state=ClaimState.HELD, holder=holder, updated_at=now)
        else:
            claim = taken_over(existing, holder=holder, now=now)
        try:
            etag = self._write(bucket, key, claim, if_match=stored.etag)
        except ConditionFailed:
            logger.info("duplicate: another invocation took set %s first", fingerprint)
            return None
        logger.info("took over set %s, attempt %d", fingerprint, claim.attempts)
        return HeldClaim(bucket, key, claim, etag)

    def peek(self, bucket: str, fingerprint: str) -> Claim | None:
        """The set's claim as it is now, or None if there is none."""
        key = claim_key(self._result_prefix, fingerprint)
        try:
            data, _ = self._storage.read(bucket, key, max_bytes=_MAX_CLAIM_BYTES)
        except ObjectMissing:
            return None
        return decode_claim(data)

    def live(self, claim: Claim | None) -> bool:
        """Whether `claim`'s holder may still be working on its set."""
        return claim is not None and claim.live(self._clock(), self._stale_after)

    def record_report(self, held: HeldClaim, report: dict[str, Any]) -> None:
        """Record that `report` was sent to the DLQ; never raises. Where it cannot be recorded,
        a retry sends the message again: the one window of DESIGN.md section 6."""
        claim = replace(held.current, report=report, updated_at=self._clock())
        try:
            held.etag = self._write(held.bucket, held.key, claim, if_match=held.etag)
        except (ConditionFailed, Face3DError) as err:
            logger.warning("could not record that set %s was reported: %s", claim.fingerprint, err)
            return
        held.current = claim

    def settle(self, held: HeldClaim, state: ClaimState) -> None:
        """Move a held claim to `state`; never raises (the outcome is recorded elsewhere)."""
        claim = held.current.with_state(state, self._clock())
        try:
            held.etag = self._write(held.bucket, held.key, claim, if_match=held.etag)
            held.current = claim
        except ConditionFailed:
            # Another invocation judged us dead and took the set over: its outcome will stand.
            logger.warning("lost the claim on set %s", claim.fingerprint)
        except Face3DError as err:
            # The outcome is already recorded (or the set is being given back); a claim left
            # held only delays a retry until it is stale, so this must not mask the outcome.
            logger.warning("could not mark set %s %s: %s", claim.fingerprint, state.value, err)

    def _write(
        self,
        bucket: str,
        key: str,
        claim: Claim,
        *,
        if_none_match: bool = False,
        if_match: str | None = None,
    ) -> str:
        return write_claim(
            self._storage, bucket, key, claim, if_none_match=if_none_match, if_match=if_match
        )


def write_claim(
    storage: Storage,
    bucket: str,
    key: str,
    claim: Claim,
    *,
    if_none_match: bool = False,
    if_match: str | None = None,
) -> str:
    """Write `claim` at `key`, tagged for the lifecycle rule that expires claims; returns its
    ETag. A conditional write that loses raises `ConditionFailed`."""
    return storage.write(
        bucket,
        key,
        claim.encode(),
        content_type="application/json",
        if_none_match=if_none_match,
        if_match=if_match,
        tags=CLAIM_TAG,
    ).etag
