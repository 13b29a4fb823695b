"""Which objects make up a subject's image set, decided from a folder listing (pure)."""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from face3d.client.results import InputObject, set_fingerprint
from face3d.contract import View, in_api_order
from face3d.errors import (
    IMAGE_ERROR_UNSUPPORTED_FORMAT,
    INVALID_MANIFEST,
    MISSING_VIEW,
    Face3DError,
    PermanentError,
)
from face3d.function.layout import MANIFEST_NAME, unreadable_photo, view_of_file_name
from face3d.function.manifest import Manifest
from face3d.function.objects import StoredObject


@dataclass(frozen=True)
class ImageSet:
    """A complete set: its views, options, fingerprint, and the problem it has, if any.

    A set with a `problem` still has a fingerprint, so that its failure is recorded once.
    """

    subject: str
    bucket: str
    closed_by: StoredObject  # the upload that completed the set: the image or the manifest
    views: dict[View, StoredObject]
    fingerprint: str
    manifest: Manifest = field(default_factory=Manifest)
    problem: Face3DError | None = None
    # Its views were picked from a folder listing by a manifest that could be read: the same
    # manifest uploaded again after a view changed closes another set (see `remade`).
    listed: bool = False

    def inputs(self) -> list[InputObject]:
        return [
            InputObject(view, obj.key, obj.etag, obj.version_id)
            for view, obj in sorted(self.views.items(), key=lambda item: item[0].number)
        ]


def single_image_set(
    subject: str, bucket: str, image: StoredObject, problem: Face3DError | None = None
) -> ImageSet:
    fingerprint = set_fingerprint([(image.key, image.etag)])
    problem = problem or _unreadable({View.FRONT: image})
    return ImageSet(subject, bucket, image, {View.FRONT: image}, fingerprint, problem=problem)


def unreadable_set(
    subject: str, bucket: str, trigger: StoredObject, view: View | None, problem: Face3DError
) -> ImageSet:
    """The set an upload closes when its objects could not even be read (S3 refused): known by
    the upload alone, so that its failure is recorded once. For a single image that is the set's
    own fingerprint; a manifest stands for its folder set."""
    views = {view: trigger} if view is not None else {}
    fingerprint = set_fingerprint([(trigger.key, trigger.etag)])
    return ImageSet(subject, bucket, trigger, views, fingerprint, problem=problem)


def folder_set(
    subject: str,
    bucket: str,
    manifest_object: StoredObject,
    manifest: Manifest | Face3DError,
    listing: Sequence[StoredObject],
) -> ImageSet:
    """The set a manifest closes, from the objects listed directly in its folder."""
    manifest_part = [(manifest_object.key, manifest_object.etag)]
    if isinstance(manifest, Face3DError):
        fingerprint = set_fingerprint(manifest_part)
        return ImageSet(subject, bucket, manifest_object, {}, fingerprint, problem=manifest)
    try:
        views = _views(manifest, manifest_object.key, listing)
    except Face3DError as problem:
        fingerprint = set_fingerprint(manifest_part)
        return ImageSet(
            subject, bucket, manifest_object, {}, fingerprint, manifest, problem, listed=True
        )
    parts = manifest_part + [(obj.key, obj.etag) for obj in views.values()]
    fingerprint = set_fingerprint(parts)
    return ImageSet(
        subject,
        bucket,
        manifest_object,
        views,
        fingerprint,
        manifest,
        _unreadable(views),
        listed=True,
    )


def _unreadable(views: dict[View, StoredObject]) -> Face3DError | None:
    """A permanent failure for the first view (in API order) that is a photo we cannot read."""
    for view, obj in views.items():
        problem = unreadable_photo(posixpath.basename(obj.key))
        if problem is not None:
            return PermanentError(
                IMAGE_ERROR_UNSUPPORTED_FORMAT,
                f"{obj.key}: {problem}",
                param=f"image_base64_{view.number}",
                view=view,
            )
    return None


def _views(
    manifest: Manifest, manifest_key: str, listing: Sequence[StoredObject]
) -> dict[View, StoredObject]:
    folder = manifest_key[: -len(MANIFEST_NAME)]
    by_name = {posixpath.basename(obj.key): obj for obj in listing}
    if manifest.views is not None:
        views: dict[View, StoredObject] = {}
        for view, name in manifest.views.items():
            if name not in by_name:
                raise PermanentError(
                    MISSING_VIEW,
                    f"{MANIFEST_NAME} names {folder}{name}, which is not there",
                    view=view,
                )
            views[view] = by_name[name]
        return _in_order(views)
    found: dict[View, list[StoredObject]] = {}
    for name, obj in by_name.items():
        named = view_of_file_name(name)
        if named is not None:
            found.setdefault(named, []).append(obj)
    for view, all_candidates in found.items():
        # `front.gif` beside `front.jpg` is a photo we could not read beside one we can.
        readable = [
            c for c in all_candidates if unreadable_photo(posixpath.basename(c.key)) is None
        ]
        candidates = found[view] = readable or all_candidates
        if len(candidates) > 1:
            names = ", ".join(sorted(posixpath.basename(c.key) for c in candidates))
            raise PermanentError(
                INVALID_MANIFEST,
                f"several {view.value} images ({names}): name one in the manifest's views",
                view=view,
            )
    if View.FRONT not in found:
        raise PermanentError(MISSING_VIEW, f"no front image in {folder}", view=View.FRONT)
    return _in_order({view: candidates[0] for view, candidates in found.items()})


def _in_order(views: dict[View, StoredObject]) -> dict[View, StoredObject]:
    return {view: views[view] for view in in_api_order(views)}


def superseded(closed_by: StoredObject, closers: Sequence[StoredObject]) -> bool:
    """Whether a newer upload of the subject replaced the one `closed_by` completed.

    `closers` are the uploads that complete a set of the subject now: its single images
    (`incoming/grace.jpg`) and its folder's manifest (`incoming/grace/manifest.json`), which
    all name the same subject and share one result folder (DESIGN.md section 2). The set is
    superseded if its own upload was replaced or removed since it was read, or if another
    closer is newer: the newest complete set wins, and the older one writes nothing. S3 keeps
    times to the second; a tie goes to the key that sorts last (the folder's manifest before the
    single image), so that every invocation judging the same uploads agrees. A set whose upload
    was already gone when it was read (no ETag) is not superseded: its failure says it is gone.

    The same bytes uploaded again keep their ETag: for a folder set, `uploaded_again` and
    `remade` tell whether that upload closed another set.
    """
    current = next((obj for obj in closers if obj.key == closed_by.key), None)
    if (current.etag if current else "") != closed_by.etag:
        return True
    if current is None:
        return False
    newest = max(closers, key=_recency)
    return newest.key != closed_by.key


def uploaded_again(image_set: ImageSet, closers: Sequence[StoredObject]) -> StoredObject | None:
    """The set's manifest as it is now, if it was uploaded again since the set was read with the
    same bytes (same ETag, another version) and the set's views were picked from a listing.

    Uploading the manifest again after changing a view closes a new set (DESIGN.md section 2)
    whose manifest has the very ETag of the older one: only the folder's listing, read after
    this manifest, tells whether the set it closed is another one (`remade`). A view changed
    without the manifest uploaded again closes nothing: the set stands.
    """
    if not image_set.listed:
        return None
    closed_by = image_set.closed_by
    current = next((obj for obj in closers if obj.key == closed_by.key), None)
    if current is None or current.etag != closed_by.etag:
        return None  # `superseded` judges a manifest replaced or removed
    if current.version_id == closed_by.version_id:
        return None  # the same upload (or a bucket without versions: nothing to tell them by)
    return current


def remade(
    image_set: ImageSet, manifest_now: StoredObject, listing: Sequence[StoredObject]
) -> bool:
    """Whether the manifest uploaded again (`uploaded_again`) closed another set than
    `image_set`: its folder, listed after that upload, makes another fingerprint."""
    again = folder_set(
        image_set.subject, image_set.bucket, manifest_now, image_set.manifest, listing
    )
    return again.fingerprint != image_set.fingerprint


_LONG_AGO = datetime.min.replace(tzinfo=UTC)


def _recency(obj: StoredObject) -> tuple[datetime, str]:
    return (obj.last_modified or _LONG_AGO, obj.key)
