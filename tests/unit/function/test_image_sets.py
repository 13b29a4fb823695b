"""Which objects make a set (face3d.function.image_sets): photos we cannot read, and which of
a subject's sets is the newest (DESIGN.md section 2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from face3d.contract import View
from face3d.errors import (
    IMAGE_ERROR_UNSUPPORTED_FORMAT,
    INVALID_MANIFEST,
    MISSING_VIEW,
    PermanentError,
)
from face3d.function.image_sets import (
    folder_set,
    remade,
    single_image_set,
    superseded,
    unreadable_set,
    uploaded_again,
)
from face3d.function.manifest import Manifest
from face3d.function.objects import StoredObject

BUCKET = "face3d-pipeline-123456789012-us-east-1"
NOON = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)


def stored(
    key: str, etag: str = "e1", seconds: float = 0, version: str | None = None
) -> StoredObject:
    return StoredObject(
        key, etag, 100, version_id=version, last_modified=NOON + timedelta(seconds=seconds)
    )


MANIFEST = stored("incoming/grace/manifest.json")


# Photos we cannot read.


@pytest.mark.parametrize("name", ["grace.jpg", "grace.HEIC", "grace.avif", "grace.WebP"])
def test_a_readable_single_image_has_no_problem(name: str) -> None:
    assert single_image_set("grace", BUCKET, stored(f"incoming/{name}")).problem is None


@pytest.mark.parametrize("name", ["grace.gif", "grace.TIFF", "grace.bmp", "grace.dng"])
def test_a_single_image_we_cannot_read_is_a_set_with_its_failure(name: str) -> None:
    image_set = single_image_set("grace", BUCKET, stored(f"incoming/{name}"))

    problem = image_set.problem
    assert problem is not None
    assert problem.code == IMAGE_ERROR_UNSUPPORTED_FORMAT
    assert (problem.view, problem.param) == (View.FRONT, "image_base64_1")
    assert not problem.retryable
    assert image_set.fingerprint  # recorded once, like any failure


def test_a_folder_view_we_cannot_read_fails_the_set_naming_the_first_such_view() -> None:
    listing = [
        stored("incoming/grace/front.jpg"),
        stored("incoming/grace/Left.gif"),
        stored("incoming/grace/right.tif"),
        MANIFEST,
    ]

    image_set = folder_set("grace", BUCKET, MANIFEST, Manifest(), listing)

    assert list(image_set.views) == [View.FRONT, View.LEFT, View.RIGHT]
    assert image_set.problem is not None
    assert image_set.problem.code == IMAGE_ERROR_UNSUPPORTED_FORMAT
    assert image_set.problem.view is View.LEFT
    assert "incoming/grace/Left.gif" in image_set.problem.message


def test_a_readable_view_wins_over_an_unreadable_one_of_the_same_name() -> None:
    listing = [stored("incoming/grace/front.gif"), stored("incoming/grace/FRONT.heic"), MANIFEST]

    image_set = folder_set("grace", BUCKET, MANIFEST, Manifest(), listing)

    assert image_set.problem is None
    assert image_set.views[View.FRONT].key == "incoming/grace/FRONT.heic"


def test_two_readable_views_of_one_name_in_any_case_need_the_manifest_to_choose() -> None:
    listing = [stored("incoming/grace/front.jpg"), stored("incoming/grace/Front.PNG"), MANIFEST]

    image_set = folder_set("grace", BUCKET, MANIFEST, Manifest(), listing)

    assert image_set.problem is not None
    assert image_set.problem.code == INVALID_MANIFEST
    assert "Front.PNG, front.jpg" in image_set.problem.message


def test_only_unreadable_front_candidates_fail_as_unsupported_not_missing() -> None:
    listing = [stored("incoming/grace/front.gif"), MANIFEST]

    problem = folder_set("grace", BUCKET, MANIFEST, Manifest(), listing).problem

    assert problem is not None
    assert problem.code == IMAGE_ERROR_UNSUPPORTED_FORMAT
    assert problem.code != MISSING_VIEW


# One subject, one name: the newest complete set wins.


SINGLE = stored("incoming/grace.jpg", seconds=0)


def test_a_set_alone_is_not_superseded() -> None:
    assert not superseded(SINGLE, [SINGLE])
    assert not superseded(MANIFEST, [MANIFEST])


def test_the_same_upload_replaced_or_removed_supersedes_the_set() -> None:
    assert superseded(SINGLE, [stored("incoming/grace.jpg", etag="e2", seconds=5)])
    assert superseded(SINGLE, [])


def test_a_set_whose_upload_was_gone_when_read_is_left_to_fail() -> None:
    gone = StoredObject("incoming/grace.jpg", "", 0)
    assert not superseded(gone, [])


def test_the_subjects_other_name_uploaded_later_supersedes_the_set() -> None:
    folder_later = stored("incoming/grace/manifest.json", seconds=3)
    single_later = stored("incoming/grace.jpg", seconds=3)
    folder_earlier = stored("incoming/grace/manifest.json", seconds=0)

    assert superseded(SINGLE, [SINGLE, folder_later])
    assert not superseded(folder_later, [SINGLE, folder_later])
    assert superseded(folder_earlier, [folder_earlier, single_later])
    assert not superseded(single_later, [folder_earlier, single_later])


def test_of_two_single_images_of_one_subject_the_newer_wins() -> None:
    png = stored("incoming/grace.png", seconds=1)
    assert superseded(SINGLE, [SINGLE, png])
    assert not superseded(png, [SINGLE, png])


def test_within_one_second_the_folder_set_wins_and_both_sides_agree() -> None:
    single = stored("incoming/grace.jpg", seconds=0.4)  # S3 would show the same second
    folder = stored("incoming/grace/manifest.json", seconds=0.4)
    assert superseded(single, [single, folder])
    assert not superseded(folder, [folder, single])


# The same manifest uploaded again after a view changed: same ETag, another set.


FRONT = stored("incoming/grace/front.jpg", etag="f1")
MANIFEST_V1 = stored("incoming/grace/manifest.json", etag="m", version="v1")
MANIFEST_V2 = stored("incoming/grace/manifest.json", etag="m", seconds=0.3, version="v2")


def test_a_manifest_uploaded_again_unchanged_over_a_changed_view_closes_another_set() -> None:
    older = folder_set("grace", BUCKET, MANIFEST_V1, Manifest(), [FRONT, MANIFEST_V1])
    replaced = stored("incoming/grace/front.jpg", etag="f2")

    assert not superseded(older.closed_by, [MANIFEST_V2])  # the ETag alone cannot tell
    assert uploaded_again(older, [MANIFEST_V2]) == MANIFEST_V2
    assert remade(older, MANIFEST_V2, [replaced, MANIFEST_V2])
    assert not remade(older, MANIFEST_V2, [FRONT, MANIFEST_V2])  # an identical re-upload


def test_a_view_added_or_the_manifests_views_now_found_make_another_set() -> None:
    no_front = folder_set("grace", BUCKET, MANIFEST_V1, Manifest(), [MANIFEST_V1])
    assert no_front.problem is not None
    assert no_front.problem.code == MISSING_VIEW

    assert remade(no_front, MANIFEST_V2, [FRONT, MANIFEST_V2])
    left = stored("incoming/grace/left.jpg")
    older = folder_set("grace", BUCKET, MANIFEST_V1, Manifest(), [FRONT, MANIFEST_V1])
    assert remade(older, MANIFEST_V2, [FRONT, left, MANIFEST_V2])


def test_only_a_manifest_uploaded_again_needs_the_folder_listed_again() -> None:
    older = folder_set("grace", BUCKET, MANIFEST_V1, Manifest(), [FRONT, MANIFEST_V1])
    bad = folder_set("grace", BUCKET, MANIFEST_V1, PermanentError(INVALID_MANIFEST, "x"), [])
    gone = unreadable_set("grace", BUCKET, MANIFEST_V1, None, PermanentError(MISSING_VIEW, "x"))
    unversioned = folder_set("grace", BUCKET, MANIFEST, Manifest(), [FRONT, MANIFEST])

    assert uploaded_again(older, [MANIFEST_V1]) is None  # the very upload it was read from
    assert uploaded_again(older, [stored(MANIFEST_V1.key, etag="m2", version="v2")]) is None
    assert uploaded_again(older, []) is None  # removed: `superseded` says so
    assert uploaded_again(bad, [MANIFEST_V2]) is None  # its fingerprint is the manifest's alone
    assert uploaded_again(gone, [MANIFEST_V2]) is None
    assert uploaded_again(single_image_set("grace", BUCKET, SINGLE), [SINGLE]) is None
    assert uploaded_again(unversioned, [MANIFEST]) is None
