"""`face3d preview` without the engine extra: the command line stays cheap to import, parses its
options and says what is missing. Needs neither numpy nor moderngl."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from face3d.cli.main import main


def test_importing_the_cli_loads_no_rendering_modules_and_no_aws_sdk() -> None:
    heavy = (
        "boto3",
        "botocore",
        "aws_lambda_powertools",
        "numpy",
        "moderngl",
        "cv2",
        "trimesh",
        "face3d.viewer",
        "face3d.viewer.camera",
        "face3d.viewer.gl",
        "face3d.viewer.mesh",
        "face3d.viewer.preview",
        "face3d.viewer.shaders",
    )
    code = f"import sys, face3d.cli.main; print([m for m in {heavy!r} if m in sys.modules])"
    done = subprocess.run(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_preview_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["preview", "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "usage: face3d preview" in out
    assert "--photo [VIEW=]PATH" in out
    assert "exit status" in out


@pytest.mark.parametrize(
    "photos",
    [
        ["a.jpg", "b.jpg", "c.jpg", "d.jpg"],  # a fourth bare path: every view taken
        ["front=a.jpg", "front=b.jpg"],
        ["a.jpg", "front=b.jpg"],  # the bare path took front
        ["left="],
    ],
)
def test_photo_option_usage_errors_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], photos: list[str]
) -> None:
    args = ["preview", str(tmp_path)]
    for photo in photos:
        args += ["--photo", photo]
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    assert "--photo" in capsys.readouterr().err


def test_without_the_engine_extra_preview_exits_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(
        sys.modules, "face3d.viewer.preview", None
    )  # import fails as if not installed
    assert main(["preview", str(tmp_path)]) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: INVALID_CONFIGURATION: ")
    assert "engine extra" in err
