"""From one uploaded key to one terminal outcome per complete set (DESIGN.md sections 2 to 6).

The orchestration between the handler and the adapters: decides whether a set is complete,
claims it exactly once, reconstructs it, and writes either its result (with `result.json` last)
or its failure record (`error.json` and a DLQ message).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from face3d.client.http import FaceppClient
from face3d.client.preparation import PreparationLimits, SourceImage
from face3d.client.reconstruct import CredentialSource, Outcome, reconstruct_set
from face3d.client.results import InputObject, build_result, encode_document
from face3d.contract import (
    ERROR_DOCUMENT,
    MTL_NAME,
    OBJ_NAME,
    OUTPUT_FILES,
    RESULT_DOCUMENT,
    TEXTURE_NAME,
    View,
)
from face3d.errors import (
    INVALID_MANIFEST,
    MISSING_VIEW,
    S3_ERROR,
    Face3DError,
    Kind,
    PermanentError,
    TransientError,
)
from face3d.function.claims import ClaimState, ClaimStore, HeldClaim
from face3d.function.dead_letters import DeadLetterQueue
from face3d.function.failures import build_failure
from face3d.function.image_sets import ImageSet, folder_set, single_image_set, superseded
from face3d.function.layout import (
    MANIFEST_NAME,
    InputKey,
    Role,
    classify,
    folder_prefix,
    result_folder,
)
from face3d.function.manifest import MAX_MANIFEST_BYTES, Manifest, parse_manifest
from face3d.function.objects import StoredObject
from face3d.function.storage import ConditionFailed, ObjectMissing, Storage
from face3d.settings import FunctionSettings

logger = logging.getLogger(__name__)

CONTENT_TYPES = {
    OBJ_NAME: "model/obj",
    MTL_NAME: "model/mtl",
    TEXTURE_NAME: "image/jpeg",
    RESULT_DOCUMENT: "application/json",
    ERROR_DOCUMENT: "application/json",
}
# Stored on result.json and error.json so that a HEAD tells which set they belong to.
FINGERPRINT_METADATA = "fingerprint"


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


@dataclass(frozen=True)
class Report:
    """What happened to one upload: for the handler's metrics and the caller's logs."""

    status: Status
    subject: str | None = None
    code: str | None = None
    api_seconds: float | None = None
    images_transformed: int = 0


@dataclass
class _Attempt:
    """One claimed attempt at one set."""

    upload: Upload
    image_set: ImageSet
    bucket: str  # where results and failure records go
    folder: str  # the subject's result folder
    claim: HeldClaim
    remaining: Callable[[], float]
    started_at: datetime


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
    ) -> None:
        self.settings = settings
        self._storage = storage
        self._dead_letters = dead_letters
        self._client = client
        self._credentials = credentials
        self._claims = ClaimStore(
            storage, settings.result_prefix, stale_after=settings.function_timeout_s, clock=clock
        )
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
        image_set = self._resolve(upload, info)
        bucket = self.settings.result_bucket or upload.bucket
        folder = result_folder(self.settings.result_prefix, image_set.subject)
        if self._finished_before(bucket, folder, image_set.fingerprint):
            logger.info("duplicate: set %s already has its outcome", image_set.fingerprint)
            return Report(Status.DUPLICATE, image_set.subject)
        if self._superseded(image_set):  # a newer set of the subject exists: never call for this
            logger.info("set %s superseded before it started", image_set.fingerprint)
            return Report(Status.SUPERSEDED, image_set.subject)
        claim = self._claims.acquire(
            bucket, image_set.fingerprint, image_set.subject, holder=holder, redrive=upload.redrive
        )
        if claim is None:
            return Report(Status.DUPLICATE, image_set.subject)
        attempt = _Attempt(upload, image_set, bucket, folder, claim, remaining, datetime.now(UTC))
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
        listing = self._storage.list_folder(upload.bucket, self._folder(info.subject))
        manifest_object = next((o for o in listing if o.key == upload.key), None)
        if manifest_object is None:
            gone = PermanentError(MISSING_VIEW, f"{upload.key} is gone")
            placeholder = StoredObject(upload.key, "", 0)
            return folder_set(info.subject, upload.bucket, placeholder, gone, listing)
        return folder_set(
            info.subject,
            upload.bucket,
            manifest_object,
            self._manifest(upload.bucket, manifest_object),
            listing,
        )

    def _manifest(self, bucket: str, stored: StoredObject) -> Manifest | Face3DError:
        if stored.size > MAX_MANIFEST_BYTES:
            return PermanentError(
                INVALID_MANIFEST,
                f"{stored.key} is {stored.size} bytes, more than {MAX_MANIFEST_BYTES}",
            )
        try:
            data, _ = self._storage.read(
                bucket, stored.key, max_bytes=MAX_MANIFEST_BYTES, etag=stored.etag
            )
        except (ObjectMissing, ConditionFailed) as exc:
            raise TransientError(S3_ERROR, f"{stored.key} changed while read") from exc
        try:
            return parse_manifest(data)
        except PermanentError as problem:
            return problem

    def _finished_before(self, bucket: str, folder: str, fingerprint: str) -> bool:
        for name in (RESULT_DOCUMENT, ERROR_DOCUMENT):
            stored = self._storage.head(bucket, folder + name)
            if stored and stored.metadata.get(FINGERPRINT_METADATA) == fingerprint:
                return True
        return False

    # Claiming it exactly once.

    # Reconstructing it, and recording the outcome.

    def _attempt(self, attempt: _Attempt) -> Report:
        try:
            if attempt.image_set.problem is not None:
                raise attempt.image_set.problem
            outcome, stored, api_seconds = self._reconstruct(attempt)
            if self._superseded(attempt.image_set):
                return self._supersede(attempt)
            self._write_result(attempt, outcome, stored)
        except Face3DError as err:
            return self._fail(attempt, err)
        except BaseException:
            # A bug or a crash: give the set back so that Lambda's retry can take it at once.
            self._claims.settle(attempt.claim, ClaimState.RELEASED)
            raise
        self._claims.settle(attempt.claim, ClaimState.DONE)
        logger.info(
            "reconstructed set %s (request_id %s)",
            attempt.image_set.fingerprint,
            outcome.reconstruction.request_id,
        )
        return Report(
            Status.SUCCEEDED,
            attempt.image_set.subject,
            api_seconds=api_seconds,
            images_transformed=sum(1 for image in outcome.prepared if image.transformed),
        )

    def _reconstruct(self, attempt: _Attempt) -> tuple[Outcome, list[StoredObject], float]:
        sources, stored = [], []
        for view, obj in attempt.image_set.views.items():
            data, current = self._download(attempt.image_set.bucket, view, obj)
            sources.append(SourceImage(view, data, name=obj.key))
            stored.append(current)
        budget = attempt.remaining() - self.settings.write_reserve_s
        started = time.monotonic()
        outcome = reconstruct_set(
            self._client,
            self._credentials,
            sources,
            texture=attempt.image_set.manifest.texture,
            mtl=attempt.image_set.manifest.mtl,
            limits=self._limits,
            time_budget=max(budget, 0.0),
        )
        return outcome, stored, time.monotonic() - started

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

    def _write_result(
        self, attempt: _Attempt, outcome: Outcome, stored: list[StoredObject]
    ) -> None:
        image_set = attempt.image_set
        files = outcome.reconstruction.files()
        keys = {name: attempt.folder + name for name in files}
        inputs = [
            InputObject(view, obj.key, obj.etag, obj.version_id)
            for view, obj in zip(image_set.views, stored, strict=True)
        ]
        document = build_result(
            subject=image_set.subject,
            reconstruction=outcome.reconstruction,
            inputs=inputs,
            prepared=outcome.prepared,
            output_keys=keys,
            fingerprint=image_set.fingerprint,
            endpoint=self.settings.endpoint,
            texture=image_set.manifest.texture,
            mtl=image_set.manifest.mtl,
            metadata=image_set.manifest.metadata,
            started_at=attempt.started_at,
            finished_at=datetime.now(UTC),
        )
        for name, data in files.items():
            self._storage.write(attempt.bucket, keys[name], data, content_type=CONTENT_TYPES[name])
        # Last: the commit marker consumers wait for.
        self._write_document(attempt, RESULT_DOCUMENT, encode_document(document))
        # Only now may an older result's extra files and an older failure go.
        for name in [*(n for n in OUTPUT_FILES if n not in files), ERROR_DOCUMENT]:
            self._storage.delete(attempt.bucket, attempt.folder + name)

    def _write_document(self, attempt: _Attempt, name: str, data: bytes) -> None:
        self._storage.write(
            attempt.bucket,
            attempt.folder + name,
            data,
            content_type=CONTENT_TYPES[name],
            metadata={FINGERPRINT_METADATA: attempt.image_set.fingerprint},
        )

    def _fail(self, attempt: _Attempt, err: Face3DError) -> Report:
        """Record `err` as the set's outcome, or raise it to give the set back to Lambda."""
        last = attempt.claim.current.attempts >= self.settings.max_async_attempts
        if err.kind is Kind.TRANSIENT and not last:
            logger.warning(
                "giving set %s back for a retry (attempt %d of %d): %s",
                attempt.image_set.fingerprint,
                attempt.claim.current.attempts,
                self.settings.max_async_attempts,
                err,
            )
            self._claims.settle(attempt.claim, ClaimState.RELEASED)
            raise err
        if self._superseded(attempt.image_set):
            return self._supersede(attempt)
        envelope = build_failure(
            error=err,
            subject=attempt.image_set.subject,
            bucket=attempt.upload.bucket,
            inputs=self._with_versions(attempt.image_set),
            fingerprint=attempt.image_set.fingerprint,
            attempts=attempt.claim.current.attempts,
            trigger_key=attempt.upload.key,
            event_time=attempt.upload.event_time,
            failed_at=datetime.now(UTC),
        )
        try:
            # The message first: error.json marks the set finished, so once it is written a
            # retry would not publish what a failed publish lost.
            self._dead_letters.publish(envelope)
            if err.kind is Kind.PERMANENT:
                # The input is at fault: tell whoever reads the results, too.
                self._write_document(attempt, ERROR_DOCUMENT, encode_document(envelope))
        except Face3DError:
            self._claims.settle(attempt.claim, ClaimState.RELEASED)
            raise
        terminal = ClaimState.FAILED if err.kind is Kind.PERMANENT else ClaimState.PARKED
        self._claims.settle(attempt.claim, terminal)
        logger.warning("set %s failed: %s", attempt.image_set.fingerprint, err)
        return Report(Status.FAILED, attempt.image_set.subject, code=err.code)

    def _superseded(self, image_set: ImageSet) -> bool:
        """Whether a newer set of the subject replaced this one: the newer set wins, whether it
        is the same upload again or the subject's other name (`grace.jpg`, `grace/`)."""
        prefix = self.settings.input_prefix
        singles = [
            obj
            for obj in self._storage.list_folder(image_set.bucket, f"{prefix}{image_set.subject}.")
            if (found := self.describe(obj.key)).role is Role.SINGLE_IMAGE
            and found.subject == image_set.subject
        ]
        manifest = self._storage.head(
            image_set.bucket, self._folder(image_set.subject) + MANIFEST_NAME
        )
        closers = singles + ([manifest] if manifest else [])
        return superseded(image_set.closed_by, closers)

    def _supersede(self, attempt: _Attempt) -> Report:
        logger.info(
            "set %s (closed by %s) superseded by a newer set of %s: its outcome is the newer set's",
            attempt.image_set.fingerprint,
            attempt.image_set.closed_by.key,
            attempt.image_set.subject,
        )
        self._claims.settle(attempt.claim, ClaimState.DONE)
        return Report(Status.SUPERSEDED, attempt.image_set.subject)

    def _with_versions(self, image_set: ImageSet) -> list[InputObject]:
        """The set's inputs with version ids (a folder listing has none): HEAD the views."""
        inputs = []
        for source in image_set.inputs():
            if source.version_id is None:
                current = self._storage.head(image_set.bucket, source.key)
                if current is not None and current.etag == source.etag:
                    source = InputObject(source.view, source.key, source.etag, current.version_id)
            inputs.append(source)
        return inputs
