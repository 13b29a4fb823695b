"""What the bucket holds: each subject's current image set and where it stands.

Read-only, for `face3d status` and `face3d backfill`. It reads the bucket as the function does
(layout.classify for keys, set_reader and image_sets for a set and its fingerprint, claims'
decode_claim for claims, the fingerprint metadata on result.json and error.json), so that what
it reports is what the function would decide; keeping every such reading here means a change
of layout or claims touches one module of the operator's side.

A subject's current set is the one closed by its newest closing upload (`<subject>.<ext>` or
`<subject>/manifest.json`), since the newest upload is what the function processes last.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from face3d.contract import ERROR_DOCUMENT, RESULT_DOCUMENT
from face3d.errors import Face3DError
from face3d.function.claims import Claim, ClaimState, decode_claim
from face3d.function.image_sets import ImageSet
from face3d.function.layout import (
    Role,
    claim_key,
    classify,
    result_folder,
    subject_problem,
    view_of_file_name,
)
from face3d.function.objects import StoredObject
from face3d.function.publication import FINGERPRINT_METADATA
from face3d.function.set_reader import listed_set
from face3d.function.storage import ConditionFailed, ObjectMissing, Storage

_MAX_CLAIM_BYTES = 64 * 1024
_MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
# Concurrent S3 requests while resolving sets: within botocore's pool of 10 connections.
WORKERS = 8

# (stage, done, total or None while unknown): a progress bar's feed.
Progress = Callable[[str, int, int | None], None]


class SetState(StrEnum):
    WAITING = "waiting"  # folder views without manifest.json: nothing to process yet
    PENDING = "pending"  # complete, but no claim and no outcome: never triggered (backfill's)
    IN_PROGRESS = "in-progress"  # claimed: being processed, or given back for a retry
    SUCCEEDED = "succeeded"  # result.json for this fingerprint
    FAILED = "failed"  # failed permanently: error.json for this fingerprint
    PARKED = "parked"  # a retryable failure on the dead-letter queue: waits for a redrive


STATE_ORDER = tuple(SetState)


@dataclass
class SubjectInputs:
    """A subject's objects under the input prefix, from a listing."""

    subject: str
    images: list[StoredObject] = field(default_factory=list)  # <subject>.<ext>: one-image sets
    folder: list[StoredObject] = field(default_factory=list)  # everything directly in <subject>/
    manifest: StoredObject | None = None

    @property
    def closing(self) -> list[StoredObject]:
        """Uploads that close a set, newest first."""
        candidates = [*self.images, *([self.manifest] if self.manifest else [])]
        return sorted(candidates, key=_newest_first)

    @property
    def views(self) -> list[StoredObject]:
        return [o for o in self.folder if view_of_file_name(o.key.rsplit("/", 1)[-1]) is not None]

    def objects(self) -> list[StoredObject]:
        return sorted([*self.images, *self.folder], key=lambda obj: obj.key)


@dataclass(frozen=True)
class SetStatus:
    """Where a subject's current set stands."""

    subject: str
    state: SetState
    inputs: SubjectInputs
    image_set: ImageSet | None = None  # None while waiting for a manifest
    claim: Claim | None = None
    result: StoredObject | None = None  # result.json, when it belongs to this set
    failure: StoredObject | None = None  # error.json, when it belongs to this set
    superseded: tuple[str, ...] = ()  # older closing uploads of the subject
    note: str = ""  # what else an operator should know (a damaged claim, a stale holder)

    @property
    def fingerprint(self) -> str | None:
        return self.image_set.fingerprint if self.image_set else None

    @property
    def closed_by(self) -> StoredObject | None:
        return self.image_set.closed_by if self.image_set else None


@dataclass(frozen=True)
class SubjectReport:
    """One subject in detail: its set's status and its result or failure documents."""

    status: SetStatus | None  # None: nothing of the subject is under the input prefix
    result_document: dict[str, Any] | None = None
    failure_document: dict[str, Any] | None = None


@dataclass(frozen=True)
class _Outcomes:
    """What the result prefix tells without reading an object."""

    documents: frozenset[str]  # keys of result.json and error.json files
    claims: frozenset[str]  # claim keys


class Inventory:
    def __init__(
        self,
        storage: Storage,
        bucket: str,
        *,
        input_prefix: str,
        result_prefix: str,
        result_bucket: str | None = None,
        stale_after: float = 900.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._storage = storage
        self.bucket = bucket
        self.input_prefix = input_prefix
        self.result_prefix = result_prefix
        self.result_bucket = result_bucket or bucket
        self._stale_after = stale_after
        self._clock = clock

    def sets(self, progress: Progress | None = None) -> list[SetStatus]:
        """Every subject's current set under the input prefix, by subject name."""
        report = progress or _silent
        subjects = self._subjects(self._listed(self.bucket, self.input_prefix, report))
        outcomes = self._outcomes(self._listed(self.result_bucket, self.result_prefix, report))
        total = len(subjects)
        done = 0
        report("sets", 0, total)
        statuses: list[SetStatus] = []
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            for status in pool.map(lambda s: self._status(s, outcomes), subjects.values()):
                statuses.append(status)
                done += 1
                report("sets", done, total)
        return sorted(statuses, key=lambda status: status.subject)

    def subject(self, subject: str) -> SubjectReport:
        """One subject's current set, with its result or failure document read."""
        found = self._subjects(
            obj
            for page in self._storage.list_tree(self.bucket, self.input_prefix + subject)
            for obj in page
        )
        inputs = found.get(subject)
        if inputs is None:
            return SubjectReport(None)
        folder = result_folder(self.result_prefix, subject)
        listed = [
            obj for page in self._storage.list_tree(self.result_bucket, folder) for obj in page
        ]
        status = self._status(inputs, self._outcomes(listed), check_claim=True)
        return SubjectReport(
            status,
            self._document(status.result) if status.result else None,
            self._document(status.failure) if status.failure else None,
        )

    # Reading the input prefix.

    def _listed(self, bucket: str, prefix: str, report: Progress) -> list[StoredObject]:
        listed: list[StoredObject] = []
        for page in self._storage.list_tree(bucket, prefix):
            listed.extend(page)
            report(f"listing {prefix}", len(listed), None)
        return listed

    def _subjects(self, listed: Iterable[StoredObject]) -> dict[str, SubjectInputs]:
        subjects: dict[str, SubjectInputs] = {}
        for obj in listed:
            info = classify(obj.key, self.input_prefix)
            if info.role is Role.SINGLE_IMAGE:
                assert info.subject is not None
                subjects.setdefault(info.subject, SubjectInputs(info.subject)).images.append(obj)
                continue
            parts = obj.key[len(self.input_prefix) :].split("/")
            if len(parts) != 2 or subject_problem(parts[0]) is not None:
                continue
            # The function lists every object directly in the folder, whatever its name.
            inputs = subjects.setdefault(parts[0], SubjectInputs(parts[0]))
            inputs.folder.append(obj)
            if info.role is Role.MANIFEST:
                inputs.manifest = obj
        # A folder that holds no view and no manifest is no set.
        return {
            name: inputs
            for name, inputs in subjects.items()
            if inputs.images or inputs.manifest or inputs.views
        }

    # Reading the result prefix.

    def _outcomes(self, listed: Sequence[StoredObject]) -> _Outcomes:
        keys = frozenset(obj.key for obj in listed)
        documents = frozenset(k for k in keys if k.rsplit("/", 1)[-1] in _DOCUMENTS)
        return _Outcomes(documents, keys)

    def _status(
        self, inputs: SubjectInputs, outcomes: _Outcomes, *, check_claim: bool = False
    ) -> SetStatus:
        closing = inputs.closing
        if not closing:
            return SetStatus(inputs.subject, SetState.WAITING, inputs)
        current, *older = closing
        image_set = listed_set(
            self._storage,
            self.bucket,
            inputs.subject,
            current,
            inputs.folder if current is inputs.manifest else None,
        )
        base = SetStatus(
            inputs.subject,
            SetState.PENDING,
            inputs,
            image_set,
            superseded=tuple(obj.key for obj in older),
        )
        folder = result_folder(self.result_prefix, inputs.subject)
        result = self._document_of(folder + RESULT_DOCUMENT, outcomes, image_set.fingerprint)
        failure = self._document_of(folder + ERROR_DOCUMENT, outcomes, image_set.fingerprint)
        key = claim_key(self.result_prefix, image_set.fingerprint)
        # Bucket-wide, a claim is read only when no outcome tells the state: one GET less a set.
        if result is None and failure is None and (check_claim or key in outcomes.claims):
            return self._judge_claim(base, key)
        claim = self._read_claim(key)[0] if check_claim else None
        if result is not None:
            return _with(base, SetState.SUCCEEDED, result=result, claim=claim)
        if failure is not None:
            return _with(base, SetState.FAILED, failure=failure, claim=claim)
        return base

    def _document_of(self, key: str, outcomes: _Outcomes, fingerprint: str) -> StoredObject | None:
        if key not in outcomes.documents:
            return None
        stored = self._storage.head(self.result_bucket, key)
        if stored is None or stored.metadata.get(FINGERPRINT_METADATA) != fingerprint:
            return None
        return stored

    def _read_claim(self, key: str) -> tuple[Claim | None, str]:
        try:
            data, _ = self._storage.read(self.result_bucket, key, max_bytes=_MAX_CLAIM_BYTES)
        except ObjectMissing:
            return None, ""
        try:
            return decode_claim(data), ""
        except Face3DError:
            return None, f"{key} is damaged"

    def _judge_claim(self, base: SetStatus, key: str) -> SetStatus:
        claim, damage = self._read_claim(key)
        if damage:
            return _with(base, SetState.IN_PROGRESS, note=damage)
        if claim is None:
            return base
        match claim.state:
            case ClaimState.DONE:
                note = "claimed done, but result.json now belongs to another set"
                return _with(base, SetState.SUCCEEDED, claim=claim, note=note)
            case ClaimState.FAILED:
                return _with(base, SetState.FAILED, claim=claim, note="error.json is missing")
            case ClaimState.PARKED:
                return _with(base, SetState.PARKED, claim=claim)
            case ClaimState.HELD | ClaimState.RELEASED:
                age = self._clock() - claim.updated_at
                note = ""
                if claim.state is ClaimState.HELD and age > self._stale_after:
                    note = (
                        f"held for {age:.0f} s, longer than the function may run: its holder "
                        "died; the next delivery or a redrive takes it over"
                    )
                return _with(base, SetState.IN_PROGRESS, claim=claim, note=note)

    def _document(self, stored: StoredObject) -> dict[str, Any] | None:
        try:
            data, _ = self._storage.read(
                self.result_bucket, stored.key, max_bytes=_MAX_DOCUMENT_BYTES, etag=stored.etag
            )
            document = json.loads(data)
        except (ObjectMissing, ConditionFailed, ValueError, Face3DError):
            return None  # gone or replaced since it was listed: nothing to show
        return document if isinstance(document, dict) else None


_DOCUMENTS = frozenset({RESULT_DOCUMENT, ERROR_DOCUMENT})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _newest_first(obj: StoredObject) -> tuple[float, str]:
    return (-(obj.last_modified or _EPOCH).timestamp(), obj.key)


def _with(base: SetStatus, state: SetState, **changes: Any) -> SetStatus:
    return replace(base, state=state, **changes)


def _silent(stage: str, done: int, total: int | None) -> None:
    pass


def count_by_state(statuses: Iterable[SetStatus]) -> dict[SetState, int]:
    counts = dict.fromkeys(STATE_ORDER, 0)
    for status in statuses:
        counts[status.state] += 1
    return counts
