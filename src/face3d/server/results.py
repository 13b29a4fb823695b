"""The engine's outcome as the answer: its refusals as the API's codes, its result as fields.

An engine error carries the slot at fault; the answer names the parameter that slot's image came
in (`NO_FACE_FOUND: image_base64_2`). An engine error other than the four image codes, and a
malformed engine result, are 500 `INTERNAL_ERROR`, logged (never with image data).
"""

from __future__ import annotations

import base64
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from face3d.contract import TRANSFER_MATRIX_SIZE
from face3d.engine import EngineError
from face3d.errors import (
    IMAGE_ERROR_UNSUPPORTED_FORMAT,
    INTERNAL_ERROR,
    INVALID_IMAGE_SIZE,
    MULTIPLE_FACE_FOUND,
    NO_FACE_FOUND,
)
from face3d.server.api_error import ApiError

_ENGINE_IMAGE_CODES = frozenset({IMAGE_ERROR_UNSUPPORTED_FORMAT, INVALID_IMAGE_SIZE})
# The document writes these two with a space after the colon.
_ENGINE_FACE_CODES = frozenset({NO_FACE_FOUND, MULTIPLE_FACE_FOUND})

logger = logging.getLogger(__name__)


# What the server reads of face3d.engine.EngineResult (or of a fake's result in tests).
class EngineOutput(Protocol):
    @property
    def obj(self) -> bytes: ...
    @property
    def mtl(self) -> bytes | None: ...
    @property
    def texture(self) -> bytes | None: ...
    @property
    def matrices(self) -> Sequence[Sequence[float]]: ...


def engine_error(failure: EngineError, params: Mapping[int, str]) -> ApiError:
    """The API's error for an engine refusal; `params` names each slot's parameter."""
    param = params.get(failure.slot) if failure.slot is not None else None
    if failure.code in _ENGINE_FACE_CODES:
        return ApiError(400, failure.code, param, space=True)
    if failure.code in _ENGINE_IMAGE_CODES:
        return ApiError(400, failure.code, param)
    logger.error("engine failed with unknown code %s (slot %s)", failure.code, failure.slot)
    return ApiError(500, INTERNAL_ERROR)


def success_fields(
    result: EngineOutput, image_count: int, *, texture: bool, mtl: bool
) -> dict[str, Any]:
    """The files asked for (base64) and one transfer matrix per image; INTERNAL_ERROR if amiss."""
    if not result.obj:
        raise _engine_bug("no obj file")
    fields: dict[str, Any] = {"obj_file": _b64(result.obj)}
    if mtl:
        if not result.mtl:
            raise _engine_bug("no mtl file although mtl=1")
        fields["mtl_file"] = _b64(result.mtl)
    if texture:
        if not result.texture:
            raise _engine_bug("no texture although texture=1")
        fields["texture_img"] = _b64(result.texture)
    matrices = [list(matrix) for matrix in result.matrices]
    if len(matrices) != image_count or not all(_is_matrix(matrix) for matrix in matrices):
        raise _engine_bug(f"transfer matrices are not {image_count} lists of 16 finite numbers")
    fields["transfer_matrix"] = [[float(value) for value in matrix] for matrix in matrices]
    return fields


def _engine_bug(problem: str) -> ApiError:
    logger.error("engine returned a malformed result: %s", problem)
    return ApiError(500, INTERNAL_ERROR)


def _is_matrix(values: Sequence[object]) -> bool:
    return len(values) == TRANSFER_MATRIX_SIZE and all(
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        for value in values
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
