"""`manifest.json`: the file that closes a folder set and carries its options."""

from __future__ import annotations

import json
import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from face3d.contract import View
from face3d.errors import INVALID_MANIFEST, MISSING_VIEW, PermanentError
from face3d.function.layout import MANIFEST_NAME, PHOTO_NAMES, is_photo, split_extension

MAX_MANIFEST_BYTES = 64 * 1024
MAX_METADATA_BYTES = 4 * 1024
# Arrays and objects inside one another, the manifest's own braces included.
MAX_NESTING = 32


class Manifest(BaseModel):
    """Every field is optional: `{}` sends the views found by name, with texture and mtl."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    views: dict[View, str] | None = None
    # Our defaults are on; the API's own defaults are 0.
    texture: bool = True
    mtl: bool = True
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("views")
    @classmethod
    def _views_name_files_in_the_folder(
        cls, views: dict[View, str] | None
    ) -> dict[View, str] | None:
        for view, name in (views or {}).items():
            problem = _file_name_problem(name)
            if problem:
                raise ValueError(f"{view.value}: {name!r} {problem}")
        if views and len(set(views.values())) < len(views):
            raise ValueError("each view must name a different file")
        return views

    @field_validator("metadata")
    @classmethod
    def _metadata_is_small(cls, metadata: dict[str, Any]) -> dict[str, Any]:
        size = len(json.dumps(metadata, ensure_ascii=False).encode())
        if size > MAX_METADATA_BYTES:
            raise ValueError(f"is {size} bytes of JSON, more than {MAX_METADATA_BYTES}")
        return metadata


def parse_manifest(data: bytes) -> Manifest:
    """The manifest in `data`, or `INVALID_MANIFEST` saying what is wrong with it."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise _invalid(f"is {len(data)} bytes, more than {MAX_MANIFEST_BYTES}")
    try:
        document = (
            json.loads(data.decode("utf-8"), parse_constant=_refuse, parse_float=_finite)
            if data.strip()
            else None
        )
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise _invalid(f"is not UTF-8 JSON: {exc}") from exc
    except RecursionError:
        raise _invalid("is nested too deeply") from None
    if not isinstance(document, dict):
        raise _invalid("must be a JSON object ({} is valid)")
    if _depth(document) > MAX_NESTING:
        # What json.loads still reads can overflow the stack later, where the metadata is
        # validated or written into result.json (from a deeper stack): refuse it here.
        raise _invalid(f"is nested more than {MAX_NESTING} levels deep")
    try:
        manifest = Manifest.model_validate(document)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
            for err in exc.errors(include_input=False, include_url=False)
        ]
        raise _invalid("; ".join(problems)) from None
    if manifest.views is not None and View.FRONT not in manifest.views:
        raise PermanentError(MISSING_VIEW, "views names no front image", view=View.FRONT)
    return manifest


def _file_name_problem(name: str) -> str | None:
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        return "must name a file inside the subject's own folder"
    if name == MANIFEST_NAME:
        return "is the manifest itself"
    if not is_photo(split_extension(name)[1]):
        return f"must name a photo ({PHOTO_NAMES})"
    return None


def _refuse(constant: str) -> None:
    # NaN and Infinity are not JSON, and would make result.json invalid JSON.
    raise ValueError(f"{constant} is not valid JSON")


def _finite(text: str) -> float:
    # json reads 1e400 as inf without asking parse_constant: the same Infinity, by overflow.
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range for a JSON number")
    return value


def _depth(document: object) -> int:
    """How deeply `document` nests arrays and objects, found without recursion."""
    deepest = 0
    pending: list[tuple[object, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            children = value.values() if isinstance(value, dict) else value
            pending.extend((child, depth + 1) for child in children)
    return deepest


def _invalid(problem: str) -> PermanentError:
    return PermanentError(INVALID_MANIFEST, f"{MANIFEST_NAME} {problem}")
