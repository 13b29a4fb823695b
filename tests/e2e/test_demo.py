"""`face3d demo`: the whole pipeline offline, through the real handler, moto and the engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("mediapipe")
pytest.importorskip("moderngl")

import trimesh
from PIL import Image

from face3d.cli.main import main
from face3d.viewer.gl import renderer_available


def test_demo_runs_every_sample_subject_to_its_outcome(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    if not renderer_available():
        pytest.skip("no offscreen OpenGL on this machine")
    out = tmp_path / "demo-output"

    assert main(["demo", "--output", str(out)]) == 0

    captured = capfd.readouterr()
    printed = captured.out
    assert "demo: 2 succeeded, 1 failed (NO_FACE_FOUND)" in printed
    table = {line.split()[0]: line for line in printed.splitlines() if line[:1].isalpha()}
    assert "succeeded" in table["astronaut"]
    assert "succeeded" in table["grace-hopper"]
    assert "failed (NO_FACE_FOUND)" in table["coffee"]

    for subject, view_file in (("astronaut", "astronaut.jpg"), ("grace-hopper", "front.png")):
        folder = out / subject
        document = json.loads((folder / "result.json").read_text())
        assert document["schema"] == "face3d.result/v1"
        assert document["status"] == "succeeded"
        assert (folder / "inputs" / view_file).exists()
        mesh = trimesh.load(folder / "face.obj", force="mesh")
        assert len(mesh.faces) > 800
        width, height = mesh.visual.material.image.size
        assert width == height in (512, 1024, 2048)  # chosen from the face's size
        assert Image.open(folder / "preview.png").format == "PNG"
    grace = json.loads((out / "grace-hopper" / "result.json").read_text())
    assert grace["metadata"] == {"source": "matplotlib sample data"}
    assert "converted PNG->JPEG" in grace["inputs"]["front"]["transformations"]

    error = json.loads((out / "coffee" / "error.json").read_text())
    assert error["error"]["code"] == "NO_FACE_FOUND"
    assert error["error"]["view"] == "front"
    (letter,) = sorted((out / "dead-letters").iterdir())
    assert json.loads(letter.read_text()) == error
    assert not (out / "coffee" / "face.obj").exists()
    # Only the demo's own lines reach the terminal: one per subject, the table, the summary.
    # Everything else (the handler's JSON logs, MediaPipe's C++ logs) went to demo.log.
    assert (out / "demo.log").exists()
    assert len(printed.strip().splitlines()) == 3 + 4 + 1, printed
    assert "W0000" not in captured.err


def test_demo_refuses_to_replace_a_folder_it_did_not_make(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "precious.txt").write_text("mine")
    assert main(["demo", "--output", str(tmp_path)]) == 3
    assert "not a demo folder" in capfd.readouterr().err
    assert (tmp_path / "precious.txt").read_text() == "mine"
