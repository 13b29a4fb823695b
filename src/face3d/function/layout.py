"""The bucket's input and result layout (DESIGN.md sections 2 and 4): keys in, meaning out."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from face3d.client.photo_formats import PHOTO_EXTENSIONS
from face3d.contract import View

# The photos we read (jpg, jpeg, png, webp, heic, heif, avif), and the extensions of photos we
# cannot read: an upload with one of these is meant as a photo, and refusing it must be a failure
# record the user sees, never silence (DESIGN.md section 2). Both are matched in any case.
SUPPORTED_EXTENSIONS = PHOTO_EXTENSIONS
UNSUPPORTED_EXTENSIONS = frozenset(
    {
        *("gif", "bmp", "dib", "tif", "tiff", "ico", "cur", "tga", "pcx", "psd", "svg", "svgz"),
        *("jfif", "jpe", "jfi", "pjpeg", "pjp", "jp2", "j2k", "jpf", "jpx", "jxl", "jxr", "hdp"),
        *("apng", "heics", "heifs", "avifs", "hif", "exr", "hdr", "ppm", "pgm", "pbm", "pnm"),
        # Cameras' raw files.
        *("dng", "raw", "cr2", "cr3", "crw", "nef", "nrw", "arw", "srf", "sr2", "orf", "rw2"),
        *("raf", "pef", "srw", "x3f", "3fr", "erf", "kdc", "mrw", "rwl", "iiq"),
    }
)
PHOTO_NAMES = "jpg, jpeg, png, webp, heic, heif or avif"
MANIFEST_NAME = "manifest.json"
CLAIMS_FOLDER = ".claims"
MAX_SUBJECT_BYTES = 255


class Role(StrEnum):
    SINGLE_IMAGE = "single-image"  # incoming/<subject>.<ext>: a one-image set, processed at once
    FOLDER_VIEW = "folder-view"  # incoming/<subject>/<view>.<ext>: waits for the manifest
    MANIFEST = "manifest"  # incoming/<subject>/manifest.json: closes the folder set
    IGNORED = "ignored"


@dataclass(frozen=True)
class InputKey:
    """What an uploaded key means. `reason` says why an ignored key is ignored."""

    key: str
    role: Role
    subject: str | None = None
    view: View | None = None
    reason: str = ""

    @property
    def completes_set(self) -> bool:
        return self.role in (Role.SINGLE_IMAGE, Role.MANIFEST)


def classify(key: str, input_prefix: str) -> InputKey:
    """The role of `key` (already URL-decoded) under `input_prefix`."""
    if not key.startswith(input_prefix):
        return InputKey(key, Role.IGNORED, reason=f"outside the input prefix {input_prefix!r}")
    parts = key[len(input_prefix) :].split("/")
    if len(parts) == 1:
        subject, extension = split_extension(parts[0])
        if not is_photo(extension):
            return InputKey(key, Role.IGNORED, reason=f"not a photo ({_described(extension)})")
        return _with_subject(key, Role.SINGLE_IMAGE, subject, View.FRONT)
    if len(parts) == 2:
        subject, name = parts
        if not name:
            return InputKey(key, Role.IGNORED, reason="a folder marker")
        if name == MANIFEST_NAME:
            return _with_subject(key, Role.MANIFEST, subject, None)
        view = view_of_file_name(name)
        if view is None:
            return InputKey(
                key, Role.IGNORED, reason="not a front, left or right photo, nor manifest.json"
            )
        return _with_subject(key, Role.FOLDER_VIEW, subject, view)
    return InputKey(key, Role.IGNORED, reason="nested deeper than <subject>/<file>")


def split_extension(name: str) -> tuple[str, str]:
    """`("ada", "jpg")` for `ada.JPG`: the stem and the lower-cased extension."""
    # Not posixpath.splitext: it keeps leading dots in the stem, and `....jpg` is subject `...`.
    stem, dot, extension = name.rpartition(".")
    return (stem, extension.lower()) if dot else (name, "")


def is_photo(extension: str) -> bool:
    """Whether a file with this (lower-cased) extension is meant as a photo, readable or not."""
    return extension in SUPPORTED_EXTENSIONS or extension in UNSUPPORTED_EXTENSIONS


def unreadable_photo(name: str) -> str | None:
    """Why a photo named `name` cannot be read from its extension alone, or None if it can."""
    extension = split_extension(name)[1]
    if extension in SUPPORTED_EXTENSIONS:
        return None
    return f"{_described(extension)} photos cannot be read: upload {PHOTO_NAMES}"


def view_of_file_name(name: str) -> View | None:
    """The view a folder photo's name stands for (`Left.PNG`, `left.gif` -> left), if any."""
    stem, extension = split_extension(name)
    if not is_photo(extension):
        return None
    try:
        return View(stem.lower())
    except ValueError:
        return None


def _described(extension: str) -> str:
    return f".{extension}" if extension else "no extension"


def subject_problem(subject: str) -> str | None:
    """Why `subject` cannot name a subject, or None if it can."""
    if subject in ("", ".", ".."):
        return "empty, '.' or '..'"
    if len(subject.encode()) > MAX_SUBJECT_BYTES:
        return f"longer than {MAX_SUBJECT_BYTES} bytes"
    if any(unicodedata.category(c) == "Cc" for c in subject):  # C0, DEL and C1
        return "contains control characters"
    return None


def _with_subject(key: str, role: Role, subject: str, view: View | None) -> InputKey:
    problem = subject_problem(subject)
    if problem is not None:
        return InputKey(key, Role.IGNORED, reason=f"subject name {problem}")
    return InputKey(key, role, subject=subject, view=view)


def folder_prefix(input_prefix: str, subject: str) -> str:
    return f"{input_prefix}{subject}/"


def result_folder(result_prefix: str, subject: str) -> str:
    return f"{result_prefix}{subject}/"


# Claims carry this tag; the lifecycle rule that expires them matches the tag, not the folder, so
# that a subject named like the folder keeps its results.
CLAIM_TAG = {"face3d": "claim"}


def claim_key(result_prefix: str, fingerprint: str) -> str:
    """Claims live in one folder under the result prefix, out of the subjects' way."""
    return f"{result_prefix}{CLAIMS_FOLDER}/{fingerprint}.json"
