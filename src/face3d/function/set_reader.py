"""Reading a subject's image set from the bucket: one way, for processing and the inventory.

`image_sets` decides what a set is from a listing (pure); this module fetches what it needs for
that (the manifest) through the storage adapter, so that `face3d status` and `face3d backfill`
compute exactly the fingerprint the function computes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from face3d.client.results import InputObject
from face3d.errors import INVALID_MANIFEST, S3_ERROR, Face3DError, PermanentError, TransientError
from face3d.function.image_sets import (
    ImageSet,
    folder_set,
    remade,
    single_image_set,
    superseded,
    uploaded_again,
)
from face3d.function.layout import MANIFEST_NAME, Role, classify, folder_prefix
from face3d.function.manifest import MAX_MANIFEST_BYTES, Manifest, parse_manifest
from face3d.function.objects import StoredObject
from face3d.function.storage import ConditionFailed, ObjectMissing, Storage


def read_manifest(storage: Storage, bucket: str, stored: StoredObject) -> Manifest | Face3DError:
    """The manifest in `stored` (pinned to its ETag), or the permanent problem it has."""
    if stored.size > MAX_MANIFEST_BYTES:
        return _too_large(stored)
    try:
        data, _ = storage.read(bucket, stored.key, max_bytes=MAX_MANIFEST_BYTES, etag=stored.etag)
    except (ObjectMissing, ConditionFailed) as exc:
        raise TransientError(S3_ERROR, f"{stored.key} changed while read") from exc
    return _parsed(data)


def read_latest_manifest(
    storage: Storage, bucket: str, key: str
) -> tuple[StoredObject, Manifest | Face3DError] | None:
    """The manifest at `key` as it is now, read in one GET, or None if there is none: the
    object (for the set's fingerprint) and its content, or the permanent problem it has."""
    try:
        data, stored = storage.read(bucket, key, max_bytes=MAX_MANIFEST_BYTES)
    except ObjectMissing:
        return None
    except PermanentError:  # over MAX_MANIFEST_BYTES, not downloaded: what is it?
        oversized = storage.head(bucket, key)
        return None if oversized is None else (oversized, _too_large(oversized))
    return stored, _parsed(data)


def _too_large(stored: StoredObject) -> PermanentError:
    return PermanentError(
        INVALID_MANIFEST, f"{stored.key} is {stored.size} bytes, more than {MAX_MANIFEST_BYTES}"
    )


def _parsed(data: bytes) -> Manifest | Face3DError:
    try:
        return parse_manifest(data)
    except PermanentError as problem:
        return problem


def listed_set(
    storage: Storage,
    bucket: str,
    subject: str,
    closing: StoredObject,
    folder_listing: Sequence[StoredObject] | None,
) -> ImageSet:
    """The set `closing` completes: a one-image set when `folder_listing` is None, else the
    folder set of the manifest `closing` with the objects listed directly in its folder."""
    if folder_listing is None:
        return single_image_set(subject, bucket, closing)
    manifest = read_manifest(storage, bucket, closing)
    return folder_set(subject, bucket, closing, manifest, folder_listing)


def subject_closers(
    storage: Storage, bucket: str, input_prefix: str, subject: str
) -> list[StoredObject]:
    """The uploads that complete a set of `subject` now: its single images (`grace.jpg`) and its
    folder's manifest (`grace/manifest.json`), which share one result folder (DESIGN.md
    section 2); `image_sets.superseded` judges which of them is the newest."""
    singles = [
        obj
        for obj in storage.list_folder(bucket, f"{input_prefix}{subject}.")
        if (found := classify(obj.key, input_prefix)).role is Role.SINGLE_IMAGE
        and found.subject == subject
    ]
    manifest = storage.head(bucket, folder_prefix(input_prefix, subject) + MANIFEST_NAME)
    return singles + ([manifest] if manifest else [])


def superseded_now(storage: Storage, bucket: str, input_prefix: str, image_set: ImageSet) -> bool:
    """Whether a newer complete set of the subject replaced `image_set` (DESIGN.md section 2):
    another of its uploads is newer, its own was replaced or removed, or its manifest was
    uploaded again (same bytes) over a folder that now makes another set.

    The folder is listed after the manifest was read, so that the views listed are at least
    those the manifest's latest upload closed the set with.
    """
    closers = subject_closers(storage, bucket, input_prefix, image_set.subject)
    if superseded(image_set.closed_by, closers):
        return True
    manifest_now = uploaded_again(image_set, closers)
    if manifest_now is None:
        return False
    listing = storage.list_folder(bucket, folder_prefix(input_prefix, image_set.subject))
    return remade(image_set, manifest_now, listing)


def inputs_with_versions(
    storage: Storage, image_set: ImageSet, read: Mapping[str, StoredObject]
) -> list[InputObject]:
    """The set's inputs with version ids (a folder listing has none): from `read`, the views
    already downloaded (pinned to the set's ETags) by key, else a HEAD of the views whose ETag
    is still the set's. A failure to HEAD leaves that version unknown, never raises: the
    failure being recorded is reported all the same."""
    inputs = []
    for source in image_set.inputs():
        if source.version_id is None:
            current = read.get(source.key)
            if current is None:
                try:
                    current = storage.head(image_set.bucket, source.key)
                except Face3DError:
                    current = None
            if current is not None and current.etag == source.etag:
                source = InputObject(source.view, source.key, source.etag, current.version_id)
        inputs.append(source)
    return inputs
