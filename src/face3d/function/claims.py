"""Claims: who is reconstructing a set, and how often it has been tried (DESIGN.md section 5).

A claim is a small JSON object per set fingerprint, created with `If-None-Match: *` and replaced
with `If-Match: <ETag>`, so that of two concurrent invocations only one calls the API. This
module holds the claim's data and the decision what to do with an existing one; the conditional
writes themselves are the storage adapter's.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

from face3d.errors import STORAGE_ERROR, TransientError


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

    def encode(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    def with_state(self, state: ClaimState, now: float) -> Claim:
        return replace(self, state=state, updated_at=now)


def decode_claim(data: bytes) -> Claim:
    try:
        raw: dict[str, Any] = json.loads(data)
        return Claim(
            fingerprint=str(raw["fingerprint"]),
            subject=str(raw["subject"]),
            state=ClaimState(raw["state"]),
            attempts=int(raw["attempts"]),
            holder=str(raw["holder"]),
            updated_at=float(raw["updated_at"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        # Only we write claims; a damaged one is retried rather than trusted.
        raise TransientError(STORAGE_ERROR, "a claim object is damaged") from exc


class Verdict(StrEnum):
    TAKE = "take"  # replace the claim (If-Match) and work on the set
    IN_PROGRESS = "in-progress"  # another live invocation holds it: a concurrent duplicate
    FINISHED = "finished"  # the set already ended in a result or a failure record


def judge(
    existing: Claim, *, holder: str, now: float, stale_after: float, redrive: bool
) -> Verdict:
    """What an invocation that failed to create the claim does with the one it found."""
    match existing.state:
        case ClaimState.DONE | ClaimState.FAILED:
            return Verdict.FINISHED
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

    A parked claim is being redriven: its attempts start again.
    """
    attempts = 1 if existing.state is ClaimState.PARKED else existing.attempts + 1
    return replace(
        existing, state=ClaimState.HELD, attempts=attempts, holder=holder, updated_at=now
    )
