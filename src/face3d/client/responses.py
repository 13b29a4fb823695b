"""The result of a 3dface call, decoded and checked before anything is written.

Pure: no HTTP and no AWS, so the function, the command line and the tests share one parser. A
response that fails a check is `BAD_RESPONSE`, a transient error: a truncated or garbled answer
is retried rather than written as a broken model.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from face3d.contract import (
    MTL_NAME,
    OBJ_NAME,
    TEXTURE_NAME,
    TRANSFER_MATRIX_SIZE,
    View,
    in_api_order,
)
from face3d.errors import BAD_RESPONSE, TransientError

# Builds the BAD_RESPONSE error for a problem; a closure over the response's request id.
_Bad = Callable[[str], TransientError]


@dataclass(frozen=True)
class Reconstruction:
    """The decoded model files and one transfer matrix per view sent."""

    obj: bytes = field(repr=False)
    mtl: bytes | None = field(repr=False)
    texture: bytes | None = field(repr=False)
    # Row-major, 16 floats, exactly as the API returned them.
    transfer_matrices: dict[View, tuple[float, ...]]
    request_id: str
    time_used: int

    def matrix_rows(self, view: View) -> list[list[float]]:
        """The view's matrix as 4 rows of 4; `KeyError` if the view was not sent."""
        matrix = self.transfer_matrices[view]
        return [list(matrix[row : row + 4]) for row in range(0, TRANSFER_MATRIX_SIZE, 4)]

    def files(self) -> dict[str, bytes]:
        """The files to write, by their fixed names, only those present."""
        files = {OBJ_NAME: self.obj}
        if self.mtl is not None:
            files[MTL_NAME] = self.mtl
        if self.texture is not None:
            files[TEXTURE_NAME] = self.texture
        return files


def parse_success(
    payload: Mapping[str, Any], views_sent: Sequence[View], *, texture: bool, mtl: bool
) -> Reconstruction:
    """Decode and check a successful response to a call that sent `views_sent`.

    `mtl_file` and `texture_img` are read only when asked for: what was not asked for is not
    written. Raises `TransientError(BAD_RESPONSE)` naming the first problem found.
    """
    request_id = payload.get("request_id")
    if not isinstance(request_id, str):
        raise TransientError(BAD_RESPONSE, "response has no string request_id")

    def bad(problem: str) -> TransientError:
        return TransientError(BAD_RESPONSE, f"malformed response: {problem}", request_id=request_id)

    time_used = payload.get("time_used")
    # bool is an int subclass, but `true` is not a duration.
    if not isinstance(time_used, int) or isinstance(time_used, bool):
        raise bad("time_used is not an integer")

    obj = _decode_file(payload, "obj_file", bad)
    obj_lines = _text_lines(obj, OBJ_NAME, bad)  # read once: a dense mesh is megabytes of text
    _check_obj(obj_lines, bad)
    mtl_data = _decode_file(payload, "mtl_file", bad) if mtl else None
    if mtl_data is not None:
        _check_obj_references_mtl(obj_lines, bad)
    texture_data = _decode_file(payload, "texture_img", bad) if texture else None
    if texture_data is not None:
        _check_jpeg(texture_data, bad)
        if mtl_data is not None:
            _check_mtl_references_texture(mtl_data, bad)

    return Reconstruction(
        obj=obj,
        mtl=mtl_data,
        texture=texture_data,
        transfer_matrices=_parse_matrices(payload.get("transfer_matrix"), views_sent, bad),
        request_id=request_id,
        time_used=time_used,
    )


def _decode_file(payload: Mapping[str, Any], name: str, bad: _Bad) -> bytes:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise bad(f"{name} is missing or empty")
    try:
        # validate=True: a response cut or mangled in transit must fail here, not in a viewer.
        return base64.b64decode(value, validate=True)
    except ValueError as exc:  # binascii.Error, or non-ASCII text
        raise bad(f"{name} is not valid base64") from exc


def _text_lines(data: bytes, name: str, bad: _Bad) -> list[list[str]]:
    """The file's non-empty lines, split into whitespace-separated tokens."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad(f"{name} is not UTF-8 text") from exc
    return [tokens for tokens in (line.split() for line in text.splitlines()) if tokens]


def _check_obj(obj_lines: list[list[str]], bad: _Bad) -> None:
    keywords = {tokens[0] for tokens in obj_lines}
    # `vt` and `vn` lines do not count: a model needs positions and faces.
    if "v" not in keywords or "f" not in keywords:
        raise bad(f"{OBJ_NAME} has no vertex (v) or no face (f) line")


def _check_obj_references_mtl(obj_lines: list[list[str]], bad: _Bad) -> None:
    if not any(tokens[0] == "mtllib" and MTL_NAME in tokens[1:] for tokens in obj_lines):
        raise bad(f"{OBJ_NAME} does not reference {MTL_NAME} (mtllib)")


def _check_mtl_references_texture(mtl: bytes, bad: _Bad) -> None:
    # Map options (`-s 1 1 1`) come before the file name, so the name is the last token.
    if not any(
        tokens[0].startswith("map_") and tokens[-1] == TEXTURE_NAME
        for tokens in _text_lines(mtl, MTL_NAME, bad)
    ):
        raise bad(f"{MTL_NAME} does not reference {TEXTURE_NAME} (map_Kd)")


def _check_jpeg(data: bytes, bad: _Bad) -> None:
    # Image.open reads the header only; decoding the whole texture is not needed to know its type.
    try:
        with Image.open(io.BytesIO(data)) as image:
            image_format = image.format
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise bad("texture_img is not a readable image") from exc
    if image_format != "JPEG":
        raise bad(f"texture_img is {image_format}, not JPEG")


def _parse_matrices(
    value: object, views_sent: Sequence[View], bad: _Bad
) -> dict[View, tuple[float, ...]]:
    views = in_api_order(views_sent)
    if not isinstance(value, list) or len(value) != len(views):
        raise bad(f"transfer_matrix is not a list of {len(views)} matrices")
    return {
        view: _parse_matrix(matrix, view, bad) for view, matrix in zip(views, value, strict=True)
    }


def _parse_matrix(value: object, view: View, bad: _Bad) -> tuple[float, ...]:
    if not isinstance(value, list) or len(value) != TRANSFER_MATRIX_SIZE:
        raise bad(f"transfer_matrix for {view} does not have {TRANSFER_MATRIX_SIZE} numbers")
    if not all(_is_finite_number(number) for number in value):
        raise bad(f"transfer_matrix for {view} has a non-finite or non-numeric entry")
    return tuple(float(number) for number in value)


def _is_finite_number(value: object) -> bool:
    # Python's json accepts NaN and Infinity; neither is a usable transform.
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer of 309 digits or more: no float holds it
        return False
