"""tools/turned_face_picture.py, the before/after picture of a turned face that README's engine
section shows and `make demo` adds to its output as demo-output/turned-face.jpg.

The picture needs git history (the engine before issue 10 comes from `git archive`), the head
scan (fetched once with pip) and offscreen OpenGL. The test of the picture skips, saying why,
where one of them is missing; `make demo` then prints one skip line and goes on, which the other
tests check with a revision that is in no checkout.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mediapipe")
pytest.importorskip("moderngl")
pytest.importorskip("scipy")

from PIL import Image

from tools import turned_face_picture as tool

ROOT = Path(__file__).resolve().parents[2]
# Two rows, the engine before issue 10 and now; four panels each: the photo, the model from the
# side the photo shows and from the side it hides, and tex.jpg. Each panel under its label.
ROWS, PANELS = 2, 4
HIDDEN_SIDE = 2
MISSING_REVISION = "no-such-revision"


def test_the_picture_shows_the_hidden_cheek_wall_blue_before_and_not_now(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "turned-face.jpg"
    try:
        assert tool.main([str(out)]) == 0
    except (
        tool.RevisionUnavailableError,
        tool.ScanUnavailableError,
        tool.RendererUnavailableError,
    ) as error:
        pytest.skip(str(error))

    assert capsys.readouterr().out == f"turned face before/after: {out}\n"
    picture = Image.open(out)
    assert picture.format == "JPEG"
    assert picture.size == (
        PANELS * tool.PANEL + (PANELS + 1) * tool.GAP,
        ROWS * (tool.LABEL + tool.PANEL + tool.GAP) + tool.GAP,
    )
    pixels = np.asarray(picture.convert("RGB")).astype(np.int16)
    before, now = (_wall_blue_share(_panel(pixels, row, HIDDEN_SIDE)) for row in range(ROWS))
    assert before > 0.003, "the old engine's hidden cheek should show the wall"
    assert now == 0.0, "the hidden cheek must not show the wall"


def _panel(pixels: np.ndarray, row: int, column: int) -> np.ndarray:
    top = tool.GAP + row * (tool.LABEL + tool.PANEL + tool.GAP) + tool.LABEL
    left = tool.GAP + column * (tool.PANEL + tool.GAP)
    return pixels[top : top + tool.PANEL, left : left + tool.PANEL]


def _wall_blue_share(panel: np.ndarray) -> float:
    """The share of the panel's pixels far bluer than red or green: the wall (skin never is)."""
    return float((panel[..., 2] - np.maximum(panel[..., 0], panel[..., 1]) > 40).mean())


def test_make_demo_skips_the_picture_in_one_line_where_the_old_engine_is_not_in_git(
    tmp_path: Path,
) -> None:
    """As `make demo` runs it, in a checkout without the revision (a source tarball, a shallow
    clone): one line saying what is missing and how to get it, exit 0, no picture."""
    out = tmp_path / "turned-face.jpg"
    command = [sys.executable, "-m", "tools.turned_face_picture", str(out)]
    options = ["--skip-if-unavailable", "--log", str(tmp_path / "engine.log")]
    ran = subprocess.run(  # noqa: S603 (this interpreter, our own tool)
        [*command, *options, "--before", MISSING_REVISION],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )

    assert ran.returncode == 0, ran.stderr
    (line,) = ran.stdout.splitlines()
    assert line.startswith("turned-face.jpg skipped: the engine before issue 10 ")
    assert MISSING_REVISION in line
    assert "git clone" in line  # how to get it
    assert "Traceback" not in ran.stderr
    assert not out.exists()


def test_without_skip_a_missing_revision_is_an_error(tmp_path: Path) -> None:
    out = tmp_path / "turned-face.jpg"

    with pytest.raises(tool.RevisionUnavailableError, match=MISSING_REVISION):
        tool.main([str(out), "--before", MISSING_REVISION])
    assert not out.exists()
