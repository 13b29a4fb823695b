"""From one uploaded key to one terminal outcome per complete set (DESIGN.md sections 2 to 6).

The orchestration between the handler and the adapters: decides whether a set is complete,
claims it exactly once, reconstructs it (or takes the answer a paid call already stored), and
publishes either its result (`publication.py`: versioned outputs, then `result.json` by
compare-and-swap) or its failure record (one DLQ message, then `error.json`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from face3d.client.http import FaceppClient
from face3d.client.preparation import PreparationLimits, SourceImage
from face3d.client.reconstruct import CredentialSource, reconstruct_set
from face3d.client.results import InputObject, build_result, encode_document
from face3d.contract import ERROR_DOCUMENT, RESULT_DOCUMENT, View
from face3d.errors import (
    MISSING_VIEW,
    S3_ERROR,
    Face3DError,
    Kind,
    PermanentError,
    TransientError,
)
from face3d.function.answers import Answer, AnswerStore
from face3d.function.claims import ClaimState, ClaimStore, HeldClaim
from face3d.function.dead_letters import DeadLetterQueue
from face3d.function.failures import build_failure
from face3d.function.image_sets import (
    ImageSet,
    folder_set,
    single_image_set,
    unreadable_set,
)
from face3d.function.layout import (
    InputKey,
    Role,
    classify,
    folder_prefix,
    result_folder,
)
from face3d.function.objects import StoredObject
from face3d.function.publication import FINGERPRINT_METADATA, Commit, Destination, Publisher
from face3d.function.result_events import ResultEvents
from face3d.function.set_reader import (
    inputs_with_versions,
    read_latest_manifest,
    superseded_now,
)
from face3d.function.storage import ConditionFailed, ObjectMissing, Storage
from face3d.settings import FunctionSettings

logger = logging.getLogger(__name__)

# The time the writes after the call need, on top of the WRITE_RESERVE_S floor (which covers
# their dozen S3 and SQS round trips): per MB written, the stored answer and the result files,
# about twice the answer. Measured under moto: 12 ms per MB and 2 to 6 ms per call; S3 from
# Lambda moves tens of MB a second. Over ten times that leaves room for slow answers and
# botocore's retries.
WRITE_SECONDS_PER_MB = 0.2


class Status(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # a failure record was published (permanent, configuration or exhausted)
    DUPLICATE = "duplicate"  # the set already has its outcome, or another invocation has it
    SUPERSEDED = "superseded"  # a newer upload replaced the set while it was being processed
    WAITING = "waiting"  # a folder view: the set waits for its manifest
    IGNORED = "ignored"


@dataclass(frozen=True)
class Upload:
    """One record of an S3 event, its key already URL-decoded."""

    bucket: str
    key: str
    event_time: str | None = None
    redrive: bool = False  # replayed from the DLQ: a parked set may be tried again
    retry_failed: bool = False  # replayed with --include-permanent: a failed set may be too
    etag: str = ""  # the uploaded object's, as the event tells it


@dataclass(frozen=True)
class Report:
    """What happened to one upload: for the handler's metrics and the caller's logs."""

    status: Status
    subject: str | None = None
    code: str | None = None
    api_seconds: float | None = None
    images_transformed: int = 0
    answer_reused: bool = False  # written from a stored answer, without calling the API
    result_event: bool | None = None  # its event sent (True) or not (False); None: none due


@dataclass
class _Attempt:
    """One claimed attempt at one set."""

    upload: Upload
    image_set: ImageSet
    to: Destination
    claim: HeldClaim
    remaining: Callable[[], float]
    started_at: datetime
    # Every output version this attempt wrote that no committed result.json lists yet.
    written: list[StoredObject] = field(default_factory=list)
    # The views downloaded, as read (with their version ids), by key.
    downloaded: dict[str, StoredObject] = field(default_factory=dict)


class SetProcessor:
    def __init__(
        self,
        settings: FunctionSettings,
        storage: Storage,
        dead_letters: DeadLetterQueue,
        client: FaceppClient,
        credentials: CredentialSource,
        *,
        clock: Callable[[], float] = time.time,
        events: ResultEvents | None = None,
    ) -> None:
        self.settings = settings
        self._events = events or ResultEvents.off()
        self._storage = storage
        self._dead_letters = dead_letters
        self._client = client
        self._credentials = credentials
        self._claims = ClaimStore(
            storage, settings.result_prefix, stale_after=settings.function_timeout_s, clock=clock
        )
        self._answers = AnswerStore(storage, settings.result_prefix)
        self._publisher = Publisher(storage, self._claims)
        self._limits = PreparationLimits(
            request_budget=settings.request_budget_bytes,
            max_input_bytes=settings.max_download_bytes,
            max_pixels=settings.max_image_pixels,
        )

    def describe(self, key: str) -> InputKey:
        return classify(key, self.settings.input_prefix)

    def handle(self, upload: Upload, *, holder: str, remaining: Callable[[], float]) -> Report:
        """Process `upload`; raises only to give a set back to Lambda for a retry.

        `holder` is the invocation's request id; `remaining` gives its seconds left.
        """
        info = self.describe(upload.key)
        if info.role is Role.IGNORED:
            logger.info("ignored %s: %s", upload.key, info.reason)
            return Report(Status.IGNORED)
        assert info.subject is not None
        if info.role is Role.FOLDER_VIEW:
            logger.info("%s waits for %smanifest.json", upload.key, self._folder(info.subject))
            return Report(Status.WAITING, info.subject)
        bucket = self.settings.result_bucket or upload.bucket
        folder = result_folder(self.settings.result_prefix, info.subject)
        try:
            image_set = self._resolve(upload, info)
            finished = self._finished_before(
                bucket, folder, image_set.fingerprint, upload.retry_failed
            )
        except Face3DError as err:
            # Steps before the claim fail the documented way too (DESIGN.md section 6): the set
            # is known by its upload alone, so that its failure is still recorded once.
            logger.warning("could not read the set of %s: %s", upload.key, err)
            trigger = StoredObject(upload.key, upload.etag, 0)
            image_set = unreadable_set(info.subject, upload.bucket, trigger, info.view, err)
            finished = None
        to = Destination(bucket, folder, image_set.fingerprint)
        if finished is not None:
            logger.info("duplicate: set %s already has its outcome", image_set.fingerprint)
            if finished.key == to.key(RESULT_DOCUMENT):  # and heals what an earlier attempt left
                self._publisher.tidy(
                    to, superseded=lambda: self._superseded(image_set), head=finished
                )
            return Report(Status.DUPLICATE, image_set.subject)
        # A newer set of the subject exists: never call for this one.
        if self._superseded(image_set, quietly=True):
            logger.info("set %s superseded before it started", image_set.fingerprint)
            return Report(Status.SUPERSEDED, image_set.subject)
        fp = image_set.fingerprint
        claim = self._claims.acquire(
            bucket,
            fp,
            image_set.subject,
            holder=holder,
            redrive=upload.redrive,
            retry_failed=upload.retry_failed,
            outcome_elsewhere=lambda: self._finished_before(bucket, folder, fp) is None,
        )
        if claim is None:
            return Report(Status.DUPLICATE, image_set.subject)
        attempt = _Attempt(upload, image_set, to, claim, remaining, datetime.now(UTC))
        return self._attempt(attempt)

    # Deciding what the set is.

    def _folder(self, subject: str) -> str:
        return folder_prefix(self.settings.input_prefix, subject)

    def _resolve(self, upload: Upload, info: InputKey) -> ImageSet:
        assert info.subject is not None
        if info.role is Role.SINGLE_IMAGE:
            image = self._storage.head(upload.bucket, upload.key)
            if image is None:
                gone = PermanentError(MISSING_VIEW, f"{upload.key} is gone", view=info.view)
                placeholder = StoredObject(upload.key, "", 0)
                return single_image_set(info.subject, upload.bucket, placeholder, problem=gone)
            return single_image_set(info.subject, upload.bucket, image)
        # The manifest first, then the folder: the views listed are at least those its version
        # (recorded for `superseded_now`) closed the set with.
        manifest = read_latest_manifest(self._storage, upload.bucket, upload.key)
        listing = self._storage.list_folder(upload.bucket, self._folder(info.subject))
        if manifest is None:
            gone = PermanentError(MISSING_VIEW, f"{upload.key} is gone")
            placeholder = StoredObject(upload.key, "", 0)
            return folder_set(info.subject, upload.bucket, placeholder, gone, listing)
        return folder_set(info.subject, upload.bucket, *manifest, listing)

    def _finished_before(
        self, bucket: str, folder: str, fingerprint: str, retry_failed: bool = False
    ) -> StoredObject | None:
        """The document that already records the set's outcome, if one does (a redrive with
        --include-permanent looks past an error.json)."""
        for name in (RESULT_DOCUMENT,) if retry_failed else (RESULT_DOCUMENT, ERROR_DOCUMENT):
            stored = self._storage.head(bucket, folder + name)
            if stored and stored.metadata.get(FINGERPRINT_METADATA) == fingerprint:
                return stored
        return None

    # Reconstructing it, and recording the outcome.

    def _attempt(self, attempt: _Attempt) -> Report:
        try:
            if attempt.claim.current.report is not None:
                # The DLQ message went out before: only the rest of the record is missing.
                return self._finish_failure(attempt, attempt.claim.current.report)
            if attempt.image_set.problem is not None:
                raise attempt.image_set.problem
            answer, api_seconds = self._answer(attempt)
            return self._publish(attempt, answer, api_seconds)
        except Face3DError as err:
            return self._fail(attempt, err)
        except BaseException:
            # A bug or a crash: give the set back so that Lambda's retry can take it at once.
            self._publisher.discard(attempt.to, attempt.written)
            self._claims.settle(attempt.claim, ClaimState.RELEASED)
            raise

    def _answer(self, attempt: _Attempt) -> tuple[Answer, float | None]:
        """The set's answer: the one stored by an earlier attempt, or a new (paid) call's.

        Paid once (DESIGN.md section 5): a new answer is stored before anything else is written.
        """
        to = attempt.to
        if not attempt.claim.fresh:  # only an earlier attempt can have stored one
            stored = self._answers.load(to.bucket, to.fingerprint)
            if stored is not None:
                logger.info("set %s: writing the stored answer, no call", to.fingerprint)
                return stored, None
        started = time.monotonic()
        answer = self._call(attempt)
        api_seconds = time.monotonic() - started
        try:
            self._answers.save(to.bucket, to.fingerprint, answer)
        except Face3DError as err:
            # Writing the result may still work; if it does not, the retry pays again.
            logger.error("could not store the answer of set %s: %s", to.fingerprint, err)
        return answer, api_seconds

    def _call(self, attempt: _Attempt) -> Answer:
        sources, stored = [], []
        for view, obj in attempt.image_set.views.items():
            data, current = self._download(attempt.image_set.bucket, view, obj)
            sources.append(SourceImage(view, data, name=obj.key))
            stored.append(current)
            attempt.downloaded[obj.key] = current
        # Writes scale with what the answer holds, about as much as was sent (DESIGN.md
        # section 6): a floor, plus a term per MB.
        sent = min(sum(obj.size for obj in stored), self.settings.request_budget_bytes)
        reserve = self.settings.write_reserve_s + WRITE_SECONDS_PER_MB * 2 * sent / 1e6
        outcome = reconstruct_set(
            self._client,
            self._credentials,
            sources,
            texture=attempt.image_set.manifest.texture,
            mtl=attempt.image_set.manifest.mtl,
            limits=self._limits,
            time_budget=max(attempt.remaining() - reserve, 0.0),
        )
        inputs = [
            InputObject(view, obj.key, obj.etag, obj.version_id)
            for view, obj in zip(attempt.image_set.views, stored, strict=True)
        ]
        return Answer(
            outcome.reconstruction,
            [image.describe() for image in outcome.prepared],
            inputs,
            sum(1 for image in outcome.prepared if image.transformed),
        )

    def _download(self, bucket: str, view: View, obj: StoredObject) -> tuple[bytes, StoredObject]:
        try:
            return self._storage.read(
                bucket, obj.key, max_bytes=self.settings.max_download_bytes, etag=obj.etag
            )
        except ObjectMissing as exc:
            raise PermanentError(MISSING_VIEW, f"{obj.key} is gone", view=view) from exc
        except ConditionFailed as exc:
            raise TransientError(S3_ERROR, f"{obj.key} changed while read") from exc
        except PermanentError as err:  # over the download cap
            raise PermanentError(
                err.code, err.message, param=f"image_base64_{view.number}", view=view
            ) from err

    def _publish(self, attempt: _Attempt, answer: Answer, api_seconds: float | None) -> Report:
        """Write the outputs, then commit result.json; a superseded set's writes are undone."""
        image_set, to = attempt.image_set, attempt.to
        written = self._publisher.write_outputs(to, answer.reconstruction.files(), attempt.written)
        document = build_result(
            subject=image_set.subject,
            reconstruction=answer.reconstruction,
            inputs=answer.inputs,
            prepared=answer.prepared,
            outputs={name: (stored.key, stored.version_id) for name, stored in written.items()},
            fingerprint=image_set.fingerprint,
            endpoint=self.settings.endpoint,
            texture=image_set.manifest.texture,
            mtl=image_set.manifest.mtl,
            metadata=image_set.manifest.metadata,
            started_at=attempt.started_at,
            finished_at=datetime.now(UTC),
        )
        commit, committed = self._publisher.commit_result(
            to,
            encode_document(document),
            attempt.written,
            superseded=lambda: self._superseded(image_set),
        )
        if commit is Commit.LOST:
            self._publisher.discard(to, attempt.written)
            return self._supersede(attempt)
        if commit is Commit.ALREADY:  # an earlier attempt's result stands; ours were copies
            self._publisher.discard(to, attempt.written)
            self._claims.settle(attempt.claim, ClaimState.DONE)
            return Report(Status.DUPLICATE, image_set.subject)
        attempt.written.clear()  # result.json lists them now
        self._publisher.tidy(
            to,
            superseded=lambda: self._superseded(image_set),
            head=committed,
            document=document if committed is not None else None,
        )
        self._claims.settle(attempt.claim, ClaimState.DONE)
        logger.info(
            "reconstructed set %s (request_id %s)",
            image_set.fingerprint,
            answer.reconstruction.request_id,
        )
        told = self._events.result_ready(to.bucket, committed, document) if committed else None
        return Report(
            Status.SUCCEEDED,
            image_set.subject,
            api_seconds=api_seconds,
            images_transformed=answer.images_transformed,
            answer_reused=api_seconds is None,
            result_event=told,
        )

    def _fail(self, attempt: _Attempt, err: Face3DError) -> Report:
        """Record `err` as the set's outcome, or raise it to give the set back to Lambda."""
        image_set = attempt.image_set
        self._publisher.discard(attempt.to, attempt.written)
        attempt.written.clear()
        if not attempt.claim.fresh:  # outputs an earlier, killed attempt may have left
            self._publisher.tidy(attempt.to, superseded=lambda: self._superseded(image_set))
        last = attempt.claim.current.attempts >= self.settings.max_async_attempts
        if err.kind is Kind.TRANSIENT and not last:
            logger.warning(
                "giving set %s back for a retry (attempt %d of %d): %s",
                image_set.fingerprint,
                attempt.claim.current.attempts,
                self.settings.max_async_attempts,
                err,
            )
            self._claims.settle(attempt.claim, ClaimState.RELEASED)
            raise err
        if self._superseded(image_set, quietly=True):
            return self._supersede(attempt)
        envelope = build_failure(
            error=err,
            subject=image_set.subject,
            bucket=attempt.upload.bucket,
            inputs=inputs_with_versions(self._storage, image_set, attempt.downloaded),
            fingerprint=image_set.fingerprint,
            attempts=attempt.claim.current.attempts,
            trigger_key=attempt.upload.key,
            event_time=attempt.upload.event_time,
            failed_at=datetime.now(UTC),
        )
        try:
            self._dead_letters.publish(envelope)
        except Face3DError:
            # Raising keeps the event with Lambda: its retry, or its failure destination.
            self._claims.settle(attempt.claim, ClaimState.RELEASED)
            raise
        # One message per set: recorded before anything else can fail.
        self._claims.record_report(attempt.claim, envelope)
        logger.warning("set %s failed: %s", image_set.fingerprint, err)
        return self._finish_failure(attempt, envelope)

    def _finish_failure(self, attempt: _Attempt, envelope: dict[str, Any]) -> Report:
        """The rest of a failure record once its DLQ message is out: error.json where the input
        is at fault (DESIGN.md section 6), and the claim's final state."""
        error = envelope["error"]
        if not error["retryable"]:
            try:
                self._publisher.publish_error(
                    attempt.to,
                    encode_document(envelope),
                    superseded=lambda: self._superseded(attempt.image_set),
                )
            except Face3DError as err:
                self._claims.settle(attempt.claim, ClaimState.RELEASED)
                if attempt.claim.current.attempts < self.settings.max_async_attempts:
                    raise  # Lambda's retry writes error.json from the recorded envelope
                # Raising now would add Lambda's own record to the queue: the next delivery of
                # the set finds the envelope in the claim and writes error.json.
                logger.error("set %s: error.json not written: %s", attempt.to.fingerprint, err)
                return Report(Status.FAILED, attempt.image_set.subject, code=error["code"])
        terminal = ClaimState.PARKED if error["retryable"] else ClaimState.FAILED
        self._claims.settle(attempt.claim, terminal)
        told = self._events.set_failed(envelope)  # once stored: the DLQ message and error.json
        return Report(
            Status.FAILED, attempt.image_set.subject, code=error["code"], result_event=told
        )

    def _superseded(self, image_set: ImageSet, *, quietly: bool = False) -> bool:
        """Whether a newer set of the subject replaced this one (the newer set wins, whether it
        is the same upload again or the subject's other name); `quietly`, a set that cannot even
        be checked (S3 refuses) is taken as current."""
        if not image_set.closed_by.etag:  # known from an event without an ETag: nothing to compare
            return False
        try:
            return superseded_now(
                self._storage, image_set.bucket, self.settings.input_prefix, image_set
            )
        except Face3DError:
            if quietly:
                return False
            raise

    def _supersede(self, attempt: _Attempt) -> Report:
        logger.info(
            "set %s (closed by %s) superseded by a newer set of %s: its outcome is the newer set's",
            attempt.image_set.fingerprint,
            attempt.image_set.closed_by.key,
            attempt.image_set.subject,
        )
        self._claims.settle(attempt.claim, ClaimState.DONE)
        return Report(Status.SUPERSEDED, attempt.image_set.subject)
