"""The bucket's input layout (DESIGN.md section 2) and result/claim keys (sections 4 and 5)."""

from __future__ import annotations

import pytest

from face3d.contract import View
from face3d.function.layout import (
    SUPPORTED_EXTENSIONS,
    UNSUPPORTED_EXTENSIONS,
    InputKey,
    Role,
    claim_key,
    classify,
    result_folder,
    unreadable_photo,
)

PREFIX = "incoming/"


def _ignored(key: str, prefix: str = PREFIX) -> InputKey:
    found = classify(key, prefix)
    assert found.role is Role.IGNORED, f"{key!r} should be ignored, got {found}"
    assert found.reason, f"{key!r} is ignored without a reason"
    assert found.subject is None
    assert found.view is None
    assert not found.completes_set
    return found


# --- one-image sets: incoming/<subject>.<ext> ---------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        *("ada.jpg", "ada.jpeg", "ada.png", "ada.webp", "ada.heic", "ada.heif", "ada.avif"),
        *("ada.JPG", "ada.JPEG", "ada.Png", "ada.WebP", "ada.HEIC", "ada.Heif", "ada.AVIF"),
    ],
)
def test_an_image_directly_under_the_prefix_is_a_one_image_set(name: str) -> None:
    found = classify(PREFIX + name, PREFIX)
    assert found.role is Role.SINGLE_IMAGE
    assert found.subject == "ada"
    assert found.view is View.FRONT
    assert found.key == PREFIX + name
    assert found.completes_set
    assert unreadable_photo(name) is None


@pytest.mark.parametrize(
    "name", ["ada.gif", "ada.GIF", "ada.tif", "ada.TIFF", "ada.bmp", "ada.dng", "ada.jxl"]
)
def test_a_photo_we_cannot_read_is_still_a_set_so_that_its_failure_is_recorded(
    name: str,
) -> None:
    found = classify(PREFIX + name, PREFIX)
    assert (found.role, found.subject, found.view) == (Role.SINGLE_IMAGE, "ada", View.FRONT)
    problem = unreadable_photo(name)
    assert problem is not None
    assert problem.startswith(f".{name.rpartition('.')[2].lower()} photos cannot be read")
    assert "jpg, jpeg, png, webp, heic, heif or avif" in problem


def test_supported_and_unsupported_extensions_do_not_overlap() -> None:
    assert not SUPPORTED_EXTENSIONS & UNSUPPORTED_EXTENSIONS
    assert all(extension == extension.lower() for extension in UNSUPPORTED_EXTENSIONS)


def test_only_the_last_extension_is_the_image_type() -> None:
    found = classify("incoming/ada.v2.final.png", PREFIX)
    assert (found.role, found.subject) == (Role.SINGLE_IMAGE, "ada.v2.final")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("ada.txt", "not a photo (.txt)"),
        ("ada.jpg.txt", "not a photo (.txt)"),
        ("ada", "not a photo (no extension)"),
        ("ada.", "not a photo (no extension)"),
        ("notes.json", "not a photo (.json)"),
        ("ada.mp4", "not a photo (.mp4)"),
        ("", "not a photo (no extension)"),  # the prefix itself, as a folder marker
    ],
)
def test_a_non_photo_directly_under_the_prefix_is_ignored(name: str, reason: str) -> None:
    assert _ignored(PREFIX + name).reason == reason


def test_a_manifest_directly_under_the_prefix_is_not_a_set() -> None:
    _ignored("incoming/manifest.json")


# --- folder sets: incoming/<subject>/<view>.<ext> and manifest.json ---------------------------


@pytest.mark.parametrize(
    ("name", "view"),
    [
        ("front.jpg", View.FRONT),
        ("front.JPEG", View.FRONT),
        ("left.png", View.LEFT),
        ("left.PNG", View.LEFT),
        ("right.webp", View.RIGHT),
        ("right.Jpg", View.RIGHT),
        ("Front.JPG", View.FRONT),  # view names in any case too
        ("LEFT.heic", View.LEFT),
        ("Right.Avif", View.RIGHT),
        ("front.gif", View.FRONT),  # a photo we cannot read: the set fails when it closes
        ("left.TIFF", View.LEFT),
    ],
)
def test_a_view_in_a_folder_waits_for_the_manifest(name: str, view: View) -> None:
    found = classify(f"incoming/grace/{name}", PREFIX)
    assert found.role is Role.FOLDER_VIEW
    assert found.subject == "grace"
    assert found.view is view
    assert not found.completes_set


def test_the_manifest_closes_the_folder_set() -> None:
    found = classify("incoming/grace/manifest.json", PREFIX)
    assert found.role is Role.MANIFEST
    assert found.subject == "grace"
    assert found.view is None
    assert found.completes_set


@pytest.mark.parametrize(
    "name",
    [
        "back.jpg",  # not a view
        "front.txt",  # a view name, but not an image
        "Front.txt",
        "front",  # no extension
        "front.mov",
        "frontal.jpg",
        "face.jpg",
        ".jpg",
        "notes.txt",
        "Manifest.json",  # the manifest's name is exact
        "manifest.JSON",
        "manifest.json.bak",
        "",  # a console "folder" placeholder: incoming/<subject>/
    ],
)
def test_any_other_name_in_a_folder_is_ignored(name: str) -> None:
    _ignored(f"incoming/ada/{name}")


def test_a_folder_marker_is_ignored_as_one() -> None:
    assert _ignored("incoming/ada/").reason == "a folder marker"


@pytest.mark.parametrize(
    "key",
    [
        "incoming/ada/front/front.jpg",
        "incoming/ada/sub/manifest.json",
        "incoming/a/b/c/left.png",
        "incoming/ada//front.jpg",
        "incoming//front.jpg",
    ],
)
def test_keys_nested_deeper_than_subject_and_file_are_ignored(key: str) -> None:
    _ignored(key)


@pytest.mark.parametrize(
    "key",
    [
        "results/ada/face.obj",
        "results/ada/result.json",
        "results/.claims/abc.json",
        "other/ada.jpg",
        "ada.jpg",
        "incoming",  # the prefix without its slash
        "incomingada.jpg",
        "Incoming/ada.jpg",  # prefixes are case-sensitive, like S3 keys
        "/incoming/ada.jpg",
        "x/incoming/ada.jpg",
    ],
)
def test_keys_outside_the_input_prefix_are_ignored(key: str) -> None:
    found = _ignored(key)
    assert "prefix" in found.reason


def test_the_prefix_itself_is_ignored() -> None:
    _ignored("incoming/")


def test_a_folder_placeholder_key_is_ignored() -> None:
    _ignored("incoming/ada/")


# --- subject names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "incoming/.jpg",  # empty subject
        "incoming/..jpg",  # subject "."
        "incoming/...jpg",  # subject ".."
        "incoming/./front.jpg",
        "incoming/../front.jpg",
        "incoming/./manifest.json",
        "incoming/../manifest.json",
    ],
)
def test_empty_dot_and_dot_dot_subjects_are_ignored(key: str) -> None:
    _ignored(key)


@pytest.mark.parametrize("control", ["\x00", "\x01", "\t", "\n", "\r", "\x1b", "\x1f", "\x7f"])
def test_subjects_with_ascii_control_characters_are_ignored(control: str) -> None:
    for key in (
        f"incoming/a{control}b.jpg",
        f"incoming/a{control}b/front.jpg",
        f"incoming/a{control}b/manifest.json",
    ):
        found = _ignored(key)
        assert "control" in found.reason


@pytest.mark.parametrize("control", ["\x80", "\x85", "\x9f"])
def test_subjects_with_c1_control_characters_are_ignored(control: str) -> None:
    _ignored(f"incoming/a{control}b.jpg")


def test_a_subject_made_of_three_dots_is_a_valid_one_image_set() -> None:
    found = classify("incoming/....jpg", PREFIX)
    assert (found.role, found.subject) == (Role.SINGLE_IMAGE, "...")


def test_a_subject_made_of_three_dots_is_a_valid_folder_set() -> None:
    found = classify("incoming/.../manifest.json", PREFIX)
    assert (found.role, found.subject) == (Role.MANIFEST, "...")


def test_a_subject_starting_with_a_dot_is_accepted() -> None:
    found = classify("incoming/.ada.jpg", PREFIX)
    assert (found.role, found.subject) == (Role.SINGLE_IMAGE, ".ada")


@pytest.mark.parametrize(
    "subject",
    ["José Núñez 2", "Ada Lovelace", " ada ", "李小龙", "Zoë+Ana", "a%20b", "ada (2)", "🙂"],
)
def test_spaces_and_non_ascii_subjects_are_accepted(subject: str) -> None:
    # Keys reach classify already URL-decoded: '+' and '%20' here are literal characters.
    single = classify(f"incoming/{subject}.jpg", PREFIX)
    assert (single.role, single.subject) == (Role.SINGLE_IMAGE, subject)
    view = classify(f"incoming/{subject}/left.png", PREFIX)
    assert (view.role, view.subject, view.view) == (Role.FOLDER_VIEW, subject, View.LEFT)
    manifest = classify(f"incoming/{subject}/manifest.json", PREFIX)
    assert (manifest.role, manifest.subject) == (Role.MANIFEST, subject)


@pytest.mark.parametrize(
    "subject",
    [
        "a" * 255,
        "é" * 127 + "a",  # 2-byte characters: 254 + 1 bytes
        "李" * 85,  # 3-byte characters: 255 bytes
        "🙂" * 63 + "abc",  # 4-byte characters: 252 + 3 bytes
    ],
)
def test_a_subject_of_exactly_255_utf8_bytes_is_accepted(subject: str) -> None:
    assert len(subject.encode()) == 255
    for key, role in (
        (f"incoming/{subject}.jpg", Role.SINGLE_IMAGE),
        (f"incoming/{subject}/front.jpg", Role.FOLDER_VIEW),
        (f"incoming/{subject}/manifest.json", Role.MANIFEST),
    ):
        found = classify(key, PREFIX)
        assert (found.role, found.subject) == (role, subject)


@pytest.mark.parametrize(
    "subject",
    [
        "a" * 256,
        "é" * 128,  # 128 characters, 256 bytes
        "李" * 86,  # 86 characters, 258 bytes
        "🙂" * 64,  # 64 characters, 256 bytes
    ],
)
def test_a_subject_over_255_utf8_bytes_is_ignored(subject: str) -> None:
    assert len(subject.encode()) > 255
    for key in (
        f"incoming/{subject}.jpg",
        f"incoming/{subject}/front.jpg",
        f"incoming/{subject}/manifest.json",
    ):
        found = _ignored(key)
        assert "255" in found.reason


# --- a custom input prefix -------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["uploads/faces/", "in/"])
def test_a_custom_input_prefix(prefix: str) -> None:
    single = classify(f"{prefix}ada.png", prefix)
    assert (single.role, single.subject, single.view) == (Role.SINGLE_IMAGE, "ada", View.FRONT)
    view = classify(f"{prefix}grace/right.webp", prefix)
    assert (view.role, view.subject, view.view) == (Role.FOLDER_VIEW, "grace", View.RIGHT)
    manifest = classify(f"{prefix}grace/manifest.json", prefix)
    assert (manifest.role, manifest.subject) == (Role.MANIFEST, "grace")
    # The default prefix means nothing under a custom one.
    _ignored("incoming/ada.jpg", prefix)
    _ignored(prefix, prefix)


# --- completes_set ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "completes"),
    [
        ("incoming/ada.jpg", True),
        ("incoming/grace/manifest.json", True),
        ("incoming/grace/front.jpg", False),
        ("incoming/grace/left.png", False),
        ("incoming/grace/notes.txt", False),
        ("results/ada/face.obj", False),
    ],
)
def test_only_a_one_image_set_or_a_manifest_completes_a_set(key: str, completes: bool) -> None:
    assert classify(key, PREFIX).completes_set is completes


# --- result and claim keys -------------------------------------------------------------------


def test_result_folder_is_the_subjects_folder_under_the_result_prefix() -> None:
    assert result_folder("results/", "ada") == "results/ada/"
    assert result_folder("out/3d/", "José Núñez 2") == "out/3d/José Núñez 2/"


def test_claims_live_in_one_folder_under_the_result_prefix() -> None:
    fingerprint = "ab" * 32
    key = claim_key("results/", fingerprint)
    assert key == f"results/.claims/{fingerprint}.json"
    # Never under the input prefix (writing it must not trigger the function), and never
    # inside a subject's own result folder.
    assert classify(key, PREFIX).role is Role.IGNORED
    assert not key.startswith(result_folder("results/", "ada"))


def test_claims_of_different_sets_do_not_collide() -> None:
    assert claim_key("results/", "a" * 64) != claim_key("results/", "b" * 64)
    assert claim_key("results/", "a" * 64) != claim_key("other/", "a" * 64)
