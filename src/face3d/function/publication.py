"""Atomic, fenced publication of a set's outcome (DESIGN.md section 4).

The bucket is versioned. Each output is written in place (`results/<subject>/face.obj`, ...),
tagged with the set's fingerprint, and the version id S3 gives it is recorded; `result.json`,
listing each output's key, version id, size and sha256, is then committed by a compare-and-swap:

1. read `result.json`'s ETag (or learn it is absent);
2. check that the set is not superseded (no newer complete set of the subject: the upload that
   closed it is still the newest, and, if that manifest was uploaded again with the same bytes,
   the folder still makes this set; `set_reader.superseded_now`);
3. PUT `result.json` with `If-Match` that ETag (`If-None-Match: *` when absent).

The check comes after the read so that no older set commits over a newer one: a newer set that
commits after our read changes the ETag and our PUT fails; one that committed before our read
was uploaded before it, and the check sees it. A lost PUT reads and checks again. An attempt that
fails or loses deletes the versions it wrote (by version id, so nothing else is touched); what a
killed attempt left is found later by `tidy`, which makes the latest objects of the folder match
the current `result.json` again. Consumers read the files by the version ids `result.json` lists,
so they read exactly the bytes it describes at every moment.

`error.json` is written the same way, and deleted again if the set turns out superseded right
after: an older failure never replaces a newer set's outcome.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from face3d.contract import (
    ERROR_DOCUMENT,
    MTL_NAME,
    OBJ_NAME,
    OUTPUT_FILES,
    RESULT_DOCUMENT,
    TEXTURE_NAME,
)
from face3d.errors import S3_ERROR, Face3DError, TransientError
from face3d.function.claims import ClaimStore
from face3d.function.objects import StoredObject
from face3d.function.storage import ConditionFailed, ObjectMissing, ObjectVersion, Storage

logger = logging.getLogger(__name__)

CONTENT_TYPES = {
    OBJ_NAME: "model/obj",
    MTL_NAME: "model/mtl",
    TEXTURE_NAME: "image/jpeg",
    RESULT_DOCUMENT: "application/json",
    ERROR_DOCUMENT: "application/json",
}
# On every object a set writes, so that a HEAD tells which set it belongs to.
FINGERPRINT_METADATA = "fingerprint"
# Lost compare-and-swaps in a row before giving the set back: each loss means another writer
# committed in between, and every one of them needs the set's closing upload to be current.
_COMMIT_TRIES = 5
_MAX_DOCUMENT_BYTES = 1024 * 1024

Superseded = Callable[[], bool]


class Commit(StrEnum):
    DONE = "done"  # our result.json is current
    LOST = "lost"  # the set is superseded: a newer set's outcome stands
    ALREADY = "already"  # an earlier attempt of this very set committed; ours are spare copies


@dataclass(frozen=True)
class Destination:
    """Where one set's outcome goes."""

    bucket: str
    folder: str  # results/<subject>/
    fingerprint: str

    def key(self, name: str) -> str:
        return self.folder + name


class Publisher:
    def __init__(self, storage: Storage, claims: ClaimStore) -> None:
        self._storage = storage
        self._claims = claims

    def write_outputs(
        self, to: Destination, files: Mapping[str, bytes], written: list[StoredObject]
    ) -> dict[str, StoredObject]:
        """Write the model files in place, each tagged with the fingerprint; every version
        written is appended to `written` as soon as it exists, for `discard`."""
        versions: dict[str, StoredObject] = {}
        for name, data in files.items():
            stored = self._storage.write(
                to.bucket,
                to.key(name),
                data,
                content_type=CONTENT_TYPES[name],
                metadata={FINGERPRINT_METADATA: to.fingerprint},
            )
            written.append(stored)
            versions[name] = stored
        return versions

    def commit_result(
        self,
        to: Destination,
        document: bytes,
        written: Iterable[StoredObject],
        *,
        superseded: Superseded,
    ) -> tuple[Commit, StoredObject | None]:
        """Make `document` the current result.json unless the set is superseded; returns how
        it went, and the result.json written."""
        key = to.key(RESULT_DOCUMENT)
        for _ in range(_COMMIT_TRIES):
            current = self._storage.head(to.bucket, key)
            if current is not None and _fingerprint(current) == to.fingerprint:
                return self._committed_before(to, current, written), current
            if superseded():
                return Commit.LOST, None
            try:
                stored = self._write_document(to, RESULT_DOCUMENT, document, current)
            except ConditionFailed:
                logger.info("result.json of %s changed while committing; reading it again", key)
                continue
            return Commit.DONE, stored
        raise TransientError(S3_ERROR, f"{key} kept changing while the set was committed")

    def publish_error(self, to: Destination, document: bytes, *, superseded: Superseded) -> bool:
        """Make `document` the current error.json; False if the set is superseded."""
        key = to.key(ERROR_DOCUMENT)
        for _ in range(_COMMIT_TRIES):
            current = self._storage.head(to.bucket, key)
            if current is not None and _fingerprint(current) == to.fingerprint:
                return True
            if superseded():
                return False
            try:
                stored = self._write_document(to, ERROR_DOCUMENT, document, current)
            except ConditionFailed:
                continue
            # A newer set's success may have cleared error.json between our check and our
            # write: then ours would stand beside the newer result.
            if superseded():
                self.discard(to, [stored])
                return False
            return True
        raise TransientError(S3_ERROR, f"{key} kept changing while the failure was recorded")

    def discard(self, to: Destination, written: Iterable[StoredObject]) -> None:
        """Delete the versions an attempt wrote; never raises (`tidy` finds what is left)."""
        for stored in written:
            if stored.version_id is None:  # an unversioned bucket: nothing to take back
                continue
            try:
                self._storage.delete(to.bucket, stored.key, version_id=stored.version_id)
            except Face3DError as err:
                logger.warning(
                    "could not delete %s version %s: %s", stored.key, stored.version_id, err
                )

    def tidy(
        self,
        to: Destination,
        *,
        superseded: Superseded,
        head: StoredObject | None = None,
        document: Mapping[str, Any] | None = None,
    ) -> None:
        """Make the latest objects of the folder match the current result.json; never raises.

        Run after a commit and by a delivery that finds the set finished, it deletes what the
        current set does not list (stray versions of outputs left by killed or failed attempts,
        an older set's extra files, an older error.json), except what a live attempt is still
        writing. When `to`'s set is not the current one, only its own stray versions go.
        `head` is result.json as the caller just read it, `document` its content, if known.
        """
        try:
            self._tidy(to, superseded, head, document)
        except Face3DError as err:
            logger.warning("could not tidy %s (the next delivery retries): %s", to.folder, err)

    # Helpers.

    def _write_document(
        self, to: Destination, name: str, document: bytes, current: StoredObject | None
    ) -> StoredObject:
        return self._storage.write(
            to.bucket,
            to.key(name),
            document,
            content_type=CONTENT_TYPES[name],
            metadata={FINGERPRINT_METADATA: to.fingerprint},
            if_none_match=current is None,
            if_match=None if current is None else current.etag,
        )

    def _committed_before(
        self, to: Destination, current: StoredObject, written: Iterable[StoredObject]
    ) -> Commit:
        """Our fingerprint is current already: our own PUT (its answer lost), or an earlier
        attempt's, whose outputs the document lists rather than ours."""
        document = self._read_document(to, current)
        listed = _listed_versions(document) if document is not None else {}
        ours = {stored.key.rsplit("/", 1)[-1]: stored.version_id for stored in written}
        return Commit.DONE if listed == ours else Commit.ALREADY

    def _read_document(self, to: Destination, stored: StoredObject) -> Mapping[str, Any] | None:
        try:
            data, _ = self._storage.read(
                to.bucket, stored.key, max_bytes=_MAX_DOCUMENT_BYTES, version_id=stored.version_id
            )
            document = json.loads(data)
        except (ObjectMissing, ValueError):
            return None
        return document if isinstance(document, dict) else None

    def _tidy(
        self,
        to: Destination,
        superseded: Superseded,
        head: StoredObject | None,
        document: Mapping[str, Any] | None,
    ) -> None:
        if head is None:
            head = self._storage.head(to.bucket, to.key(RESULT_DOCUMENT))
        if head is not None and document is None:
            document = self._read_document(to, head)
        listing = _by_name(self._storage.list_versions(to.bucket, to.folder), to.folder)
        expected = _listed_versions(document) if document is not None else {}
        ours = head is not None and _fingerprint(head) == to.fingerprint
        fingerprints: dict[str, str | None] = {}  # of the versions looked at, by version id
        deletions: list[ObjectVersion] = []
        hide: list[str] = []
        for name in OUTPUT_FILES:
            entries = listing.get(name, [])
            if name in expected:
                stray = _newer_than(entries, expected[name])
            else:
                stray = [e for e in entries if e.latest and not e.delete_marker]
            for entry in stray:
                if entry.delete_marker:
                    if ours:  # a marker hiding one of our files
                        deletions.append(entry)
                    continue
                fingerprint = self._fingerprint_of(to, entry, fingerprints)
                if fingerprint == to.fingerprint:
                    deletions.append(entry)  # an earlier attempt of ours
                elif not ours or self._live(to, fingerprint):
                    continue  # not ours to judge, or still being written
                elif name not in expected:
                    hide.append(entry.key)  # an older set's extra file: keep its history
                elif fingerprint is not None:  # a stray of a dead or finished set
                    deletions.append(entry)
        clear_errors = ours and bool(listing.get(ERROR_DOCUMENT)) and not superseded()
        if ours and (deletions or hide or clear_errors):
            # The set must still be the current one, or the newer set's files are not strays.
            again = self._storage.head(to.bucket, to.key(RESULT_DOCUMENT))
            if again is None or head is None or again.etag != head.etag:
                return
        if clear_errors:
            # Every listed error.json is older than this success: a newer set's, written after
            # the listing, is not in it.
            deletions += [e for e in listing[ERROR_DOCUMENT] if not e.delete_marker]
        for entry in deletions:
            self._storage.delete(to.bucket, entry.key, version_id=entry.version_id)
        for key in hide:
            self._storage.delete(to.bucket, key)
        if deletions or hide:
            logger.info(
                "tidied %s: %d version(s) deleted, %d older file(s) hidden",
                to.folder,
                len(deletions),
                len(hide),
            )

    def _fingerprint_of(
        self, to: Destination, entry: ObjectVersion, seen: dict[str, str | None]
    ) -> str | None:
        if entry.version_id not in seen:
            stored = self._storage.head(to.bucket, entry.key, version_id=entry.version_id)
            seen[entry.version_id] = None if stored is None else _fingerprint(stored)
        return seen[entry.version_id]

    def _live(self, to: Destination, fingerprint: str | None) -> bool:
        if fingerprint is None:  # written before outputs carried one: no set is writing it
            return False
        try:
            return self._claims.live(self._claims.peek(to.bucket, fingerprint))
        except Face3DError:
            return True  # in doubt, leave it


def _fingerprint(stored: StoredObject) -> str | None:
    return stored.metadata.get(FINGERPRINT_METADATA)


def _by_name(listing: Iterable[ObjectVersion], folder: str) -> dict[str, list[ObjectVersion]]:
    by_name: dict[str, list[ObjectVersion]] = {}
    for entry in listing:
        name = entry.key[len(folder) :]
        if "/" not in name:
            by_name.setdefault(name, []).append(entry)
    return by_name


def _listed_versions(document: Mapping[str, Any]) -> dict[str, str | None]:
    """The version id result.json lists for each output (None where it lists none)."""
    outputs = document.get("outputs")
    if not isinstance(outputs, dict):
        return {}
    return {
        name: record.get("version_id")
        for name, record in outputs.items()
        if isinstance(record, dict)
    }


def _newer_than(entries: list[ObjectVersion], version_id: str | None) -> list[ObjectVersion]:
    """The versions listed before `version_id` (S3 lists a key's versions newest first), and a
    delete marker that is latest. Nothing when the version is unknown: not ours to judge."""
    versions = [e for e in entries if not e.delete_marker]
    ids = [e.version_id for e in versions]
    if version_id is None or version_id not in ids:
        return []
    markers = [e for e in entries if e.delete_marker and e.latest]
    return versions[: ids.index(version_id)] + markers
