"""Triggering the sets that are complete but were never processed (`face3d backfill`).

A set is pending when it has neither an outcome nor a claim for its current fingerprint
(inventory.SetState.PENDING). Backfill triggers it as S3 would: an asynchronous invocation of
the function with the real-format notification of the upload that closed the set. Then it
leaves a claim in the state `released` with no attempts made: the function takes such a claim
over at once (as after a transient error), and a second backfill sees a claimed set and leaves
it alone, even while the invocation waits in Lambda's queue. The claim is written after the
invocation was accepted, and only if no claim exists (`If-None-Match`): if the function got
there first, its own claim stands.

For buckets too large to list from one machine, `manifest_rows` writes the pending sets'
closing keys as an S3 Batch Operations CSV manifest, and `batch_handler` is the Lambda that the
Batch Operations job invokes per key (README, "Backfilling a large bucket").
"""

from __future__ import annotations

import contextlib
import csv
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any
from urllib.parse import quote, unquote_plus

from face3d.client.results import timestamp
from face3d.errors import INVALID_CONFIGURATION, ConfigurationError, Face3DError, Kind
from face3d.function import redrive
from face3d.function.claims import Claim, ClaimState, write_claim
from face3d.function.events import object_created_event
from face3d.function.inventory import Inventory, SetState, SetStatus, count_by_state
from face3d.function.layout import Role, claim_key, classify
from face3d.function.redrive import Replay
from face3d.function.storage import ConditionFailed, Storage
from face3d.settings import OperatorSettings

logger = logging.getLogger(__name__)

# The holder named in the claims backfill leaves: tells an operator who queued the set.
HOLDER = "face3d-backfill"


@dataclass
class BackfillSummary:
    pending: int = 0
    triggered: int = 0
    dry_run: bool = False
    left: dict[SetState, int] = field(default_factory=dict)  # sets in every other state
    seconds: float = 0.0

    def line(self) -> str:
        verb = "would trigger" if self.dry_run else "triggered"
        others = ", ".join(f"{count} {state.value}" for state, count in self.left.items() if count)
        return (
            f"{verb} {self.triggered} of {self.pending} pending set(s) in {self.seconds:.1f} s; "
            f"left alone: {others or 'none'}"
        )


class Backfill:
    def __init__(
        self,
        storage: Storage,
        replay: Replay,
        *,
        result_bucket: str,
        result_prefix: str,
        region: str,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._storage = storage
        self._replay = replay
        self._result_bucket = result_bucket
        self._result_prefix = result_prefix
        self._region = region
        self._wall_clock = wall_clock

    def trigger(self, status: SetStatus) -> None:
        """Invoke the function for `status`'s set, then mark the set queued (a released claim)."""
        assert status.image_set is not None
        image_set = status.image_set
        closed_by = image_set.closed_by
        now = self._wall_clock()
        self._replay(
            object_created_event(
                image_set.bucket,
                closed_by.key,
                etag=closed_by.etag,
                size=closed_by.size,
                version_id=closed_by.version_id,
                event_time=timestamp(datetime.fromtimestamp(now, UTC)),
                region=self._region,
            )
        )
        queued = Claim(
            image_set.fingerprint, image_set.subject, ClaimState.RELEASED, 0, HOLDER, now
        )
        # ConditionFailed: the invocation claimed the set first, and its claim stands.
        with contextlib.suppress(ConditionFailed):
            write_claim(
                self._storage,
                self._result_bucket,
                claim_key(self._result_prefix, image_set.fingerprint),
                queued,
                if_none_match=True,
            )

    def run(
        self,
        statuses: Sequence[SetStatus],
        *,
        rate: float,
        dry_run: bool = False,
        progress: Callable[[int, int], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> BackfillSummary:
        """Trigger every pending set in `statuses`, at most `rate` a second."""
        started = clock()
        counts = count_by_state(statuses)
        pending = [status for status in statuses if status.state is SetState.PENDING]
        summary = BackfillSummary(
            pending=len(pending),
            dry_run=dry_run,
            left={state: n for state, n in counts.items() if state is not SetState.PENDING},
        )
        for number, status in enumerate(pending):
            if not dry_run:
                # Evenly spaced: the n-th invocation no earlier than n / rate seconds in.
                wait = started + number / rate - clock()
                if wait > 0:
                    sleep(wait)
                self.trigger(status)
            summary.triggered += 1
            if progress is not None:
                progress(number + 1, len(pending))
        summary.seconds = clock() - started
        return summary


def manifest_rows(statuses: Iterable[SetStatus]) -> list[tuple[str, str]]:
    """(bucket, URL-encoded key) of each pending set's closing upload: an S3 Batch Operations
    CSV manifest's rows (its format wants keys URL-encoded)."""
    return [
        (status.image_set.bucket, quote(status.image_set.closed_by.key, safe="/"))
        for status in statuses
        if status.state is SetState.PENDING and status.image_set is not None
    ]


def write_manifest(rows: Iterable[tuple[str, str]], stream: IO[str]) -> int:
    writer = csv.writer(stream, lineterminator="\n")
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    return count


# S3 Batch Operations: one synchronous invocation per manifest row (invocation schema 1.0 or
# 2.0), answered with a result per task. The task's set is looked up afresh, so a row whose set
# was processed since the manifest was written triggers nothing.


def batch_results(event: dict[str, Any], decide: Callable[[str, str], str]) -> dict[str, Any]:
    """The answer to one Batch Operations invocation; `decide(bucket, key)` handles a task."""
    results = []
    for task in event.get("tasks", []):
        bucket = task.get("s3Bucket") or str(task.get("s3BucketArn", "")).rsplit(":", 1)[-1]
        key = unquote_plus(task.get("s3Key", ""))
        try:
            code, text = "Succeeded", decide(bucket, key)
        except Face3DError as err:
            # Transient errors are retried by the job; the others are reported per task.
            code = "TemporaryFailure" if err.kind is Kind.TRANSIENT else "PermanentFailure"
            text = str(err)
        results.append({"taskId": task.get("taskId"), "resultCode": code, "resultString": text})
    return {
        "invocationSchemaVersion": event.get("invocationSchemaVersion", "1.0"),
        "treatMissingKeysAs": "PermanentFailure",
        "invocationId": event.get("invocationId"),
        "results": results,
    }


def batch_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda an S3 Batch Operations job invokes with the backfill manifest's rows."""
    settings = OperatorSettings.from_environ()
    if not settings.function_name:
        raise ConfigurationError(INVALID_CONFIGURATION, "FUNCTION_NAME: the function to trigger")
    storage = Storage.connect()
    replay = redrive.lambda_replay(settings.function_name)

    def decide(bucket: str, key: str) -> str:
        info = classify(key, settings.input_prefix)
        if info.role not in (Role.SINGLE_IMAGE, Role.MANIFEST) or info.subject is None:
            return f"not a set's closing upload: {info.reason or info.role.value}"
        inventory = Inventory(
            storage,
            bucket,
            input_prefix=settings.input_prefix,
            result_prefix=settings.result_prefix,
            result_bucket=settings.result_bucket,
            stale_after=settings.function_timeout_s,
        )
        status = inventory.subject(info.subject).status
        if status is None or status.image_set is None:
            return "no set"
        if status.image_set.closed_by.key != key:
            return f"superseded by {status.image_set.closed_by.key}"
        if status.state is not SetState.PENDING:
            return f"left alone: {status.state.value}"
        backfill = Backfill(
            storage,
            replay,
            result_bucket=settings.result_bucket or bucket,
            result_prefix=settings.result_prefix,
            region=storage.region,
        )
        backfill.trigger(status)
        return "triggered"

    return batch_results(event, decide)
