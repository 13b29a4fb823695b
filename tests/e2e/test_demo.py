"""`face3d demo`: the whole pipeline offline, through the real handler, moto and the engine."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
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
    started = datetime.now(UTC)

    assert main(["demo", "--output", str(out)]) == 0

    finished = datetime.now(UTC)

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
    # Everything else went to the logs: the handler's JSON lines to function.log, MediaPipe's
    # and TF Lite's to engine.log.
    assert len(printed.strip().splitlines()) == 3 + 4 + 1, printed
    assert "W0000" not in captured.err
    handler_lines = [json.loads(line) for line in (out / "function.log").read_text().splitlines()]
    assert any(line.get("message", "").startswith("reconstructed set") for line in handler_lines)
    assert (out / "engine.log").exists()

    # demo.log tells each subject's steps, in order, one line each, and nothing else.
    steps = _steps(out / "demo.log", started, finished)
    assert set(steps) == {"demo", "astronaut", "grace-hopper", "coffee"}
    assert [_step(line) for line in steps["astronaut"]] == [
        "uploaded incoming/astronaut.jpg",
        "event delivered: ObjectCreated:Put incoming/astronaut.jpg",
        "outcome: succeeded",
        "result event: Face3D Result Ready",
        "files: face.mtl",
        f"preview: {out / 'astronaut' / 'preview.png'}",
    ]
    assert [_step(line) for line in steps["grace-hopper"]] == [
        "uploaded incoming/grace-hopper/front.png",
        "event delivered: ObjectCreated:Put incoming/grace-hopper/front.png",
        "uploaded incoming/grace-hopper/manifest.json",
        "event delivered: ObjectCreated:Put incoming/grace-hopper/manifest.json",
        "outcome: succeeded",
        "result event: Face3D Result Ready",
        "files: face.mtl",
        f"preview: {out / 'grace-hopper' / 'preview.png'}",
    ]
    assert steps["grace-hopper"][1].endswith("the function: waiting")
    assert [_step(line) for line in steps["coffee"]] == [
        "uploaded incoming/coffee.jpg",
        "event delivered: ObjectCreated:Put incoming/coffee.jpg",
        "outcome: failed",
        "result event: Face3D Set Failed",
        "files: error.json",
        f"dead letter: {letter}",
    ]
    assert "NO_FACE_FOUND (front view): no face was detected" in steps["coffee"][2]

    # The events carry the time of their upload, as S3 stamps it (ISO 8601, milliseconds, UTC).
    event_times = [
        _EVENT_TIME.search(line)[1]  # type: ignore[index]
        for lines in steps.values()
        for line in lines
        if "event delivered" in line
    ]
    assert len(event_times) == 4
    for text in event_times:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", text), text
        assert started <= datetime.fromisoformat(text) <= finished
    assert error["trigger"]["event_time"] in event_times


_EVENT_TIME = re.compile(r" at (\S+) \(request ")


def _steps(log: Path, started: datetime, finished: datetime) -> dict[str, list[str]]:
    """demo.log's lines by subject, each checked to be stamped within the run."""
    steps: dict[str, list[str]] = {}
    for line in log.read_text().splitlines():
        stamp, subject, text = line.split(maxsplit=2)
        assert started <= datetime.fromisoformat(stamp) <= finished, line
        steps.setdefault(subject, []).append(text)
    return steps


# How many words of each step stay the same between runs (no sizes, versions or timings).
_STEP_WORDS = {"uploaded": 2, "event": 4, "outcome:": 2, "result": 5, "files:": 2, "preview:": 2}


def _step(text: str) -> str:
    words = text.split()
    return " ".join(words[: _STEP_WORDS.get(words[0], 3)])


def test_demo_refuses_to_replace_a_folder_it_did_not_make(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "precious.txt").write_text("mine")
    assert main(["demo", "--output", str(tmp_path)]) == 3
    assert "not a demo folder" in capfd.readouterr().err
    assert (tmp_path / "precious.txt").read_text() == "mine"
