"""`face3d.engine` imports cheaply: the server and the Lambda-side code may import its names."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from face3d.engine import Engine, EngineError, EngineResult
from face3d.errors import NO_FACE_FOUND


def test_importing_the_package_loads_no_heavy_library() -> None:
    code = (
        "import sys, face3d.engine\n"
        "heavy = {'mediapipe', 'cv2', 'numpy', 'PIL'} & set(sys.modules)\n"
        "print(sorted(heavy))\n"
    )
    # A fresh interpreter: this one has long imported everything.
    out = subprocess.run(  # noqa: S603 (our own interpreter, fixed code)
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout

    assert out.strip() == "[]"


def test_engine_error_carries_code_and_slot() -> None:
    error = EngineError(NO_FACE_FOUND, 2, "no face found in the image")

    assert (error.code, error.slot, error.message) == (
        NO_FACE_FOUND,
        2,
        "no face found in the image",
    )
    assert str(error) == "NO_FACE_FOUND (image 2): no face found in the image"
    assert EngineError(NO_FACE_FOUND).message == NO_FACE_FOUND
    assert isinstance(error, Exception)


def test_result_is_a_frozen_record() -> None:
    result = EngineResult(b"obj", None, None, [[1.0] * 16], {1: [(0.0, 0.0)]}, {1: (0.0, 0.0, 0.0)})

    assert result.mtl is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.obj = b"other"  # type: ignore[misc]
    assert callable(Engine)
