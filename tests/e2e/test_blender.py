"""Blender's own OBJ importer shows the engine's face.obj smooth-shaded and textured.

The engine reconstructs the astronaut photo; its face.obj, face.mtl and tex.jpg are written as the
function writes them, and Blender (as a Python module, `bpy`) imports face.obj with its built-in
importer (`bpy.ops.wm.obj_import`) in a subprocess that reports what it made of it
(`blender_import.py`).

bpy is heavy and tied to one Python version, so it lives in an environment of its own:
`~/.cache/face3d-bpy/py3XX`, made with the running Python and reused while it holds the pinned
release. The first run downloads the wheel (about 375 MB; about 1 GB installed) and takes a minute
or two; later runs add about 4 s (the engine, Blender's start and the import). Skipped, with the
reason, only where the registry has no bpy wheel for the running Python and platform (bpy 5.0 is
the last for Python 3.11; newer ones need 3.13). The Lambda-runtime suite (tests/unit,
tests/integration) does not include it: it needs the engine, which needs MediaPipe.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mediapipe", reason="face.obj comes from the engine (MediaPipe)")

from face3d.contract import MTL_NAME, OBJ_NAME, TEXTURE_NAME
from face3d.engine import Engine
from tests import photos

BPY_HOME = Path.home() / ".cache" / "face3d-bpy"
# The release pinned per Python version (the newest with a wheel for it); any other Python gets
# the newest bpy the registry has for it.
BPY_RELEASES = {(3, 11): "5.0.1"}
INSTALL_TIMEOUT_S = 1800
IMPORT_TIMEOUT_S = 300
NO_WHEEL = ("No matching distribution found", "Could not find a version that satisfies")


def bpy_python() -> Path:
    """The Python of the cached bpy environment, made (or remade) when it lacks the release."""
    version = sys.version_info[:2]
    release = BPY_RELEASES.get(version)
    requirement = f"bpy=={release}" if release else "bpy"
    home = BPY_HOME / f"py{version[0]}{version[1]}"
    python = home / "bin" / "python"
    marker = home / ".face3d-installed"
    if python.exists() and marker.is_file() and marker.read_text() == requirement:
        return python
    shutil.rmtree(home, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(home)], check=True)  # noqa: S603
    try:
        answer = subprocess.run(  # noqa: S603 (our own environment, a fixed requirement)
            [str(python), "-m", "pip", "install", "--quiet", "--only-binary", ":all:", requirement],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:  # a registry that never answers
        shutil.rmtree(home, ignore_errors=True)
        pytest.skip(
            f"pip install {requirement} took over {INSTALL_TIMEOUT_S} s: no registry answers"
        )
    if answer.returncode != 0:
        shutil.rmtree(home, ignore_errors=True)
        if any(reason in answer.stderr for reason in NO_WHEEL):
            pytest.skip(f"no {requirement} wheel for Python {version[0]}.{version[1]} here")
        pytest.fail(f"pip install {requirement} failed:\n{answer.stderr[-2000:]}")
    marker.write_text(requirement)
    return python


@pytest.fixture(scope="module")
def result() -> Any:
    with Engine() as engine:
        return engine.reconstruct({1: photos.astronaut_jpeg()}, texture=True, mtl=True)


@pytest.fixture(scope="module")
def blender(result: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What Blender's OBJ importer made of face.obj, in a folder laid out as a result."""
    python = bpy_python()
    folder = tmp_path_factory.mktemp("result")
    (folder / OBJ_NAME).write_bytes(result.obj)
    (folder / MTL_NAME).write_bytes(result.mtl)
    (folder / TEXTURE_NAME).write_bytes(result.texture)
    script = Path(__file__).with_name("blender_import.py")
    answer = subprocess.run(  # noqa: S603 (our own script)
        [str(python), str(script), str(folder / OBJ_NAME)],
        capture_output=True,
        text=True,
        timeout=IMPORT_TIMEOUT_S,
        check=False,
    )
    assert answer.returncode == 0, answer.stderr[-2000:]
    report: dict[str, Any] = json.loads(answer.stdout.strip().splitlines()[-1])
    print(f"Blender {report.get('blender')}: {report}")
    return report


def test_blender_shades_the_face_smooth(blender: dict[str, Any], result: Any) -> None:
    triangles = result.obj.count(b"\nf ")
    assert blender["mesh_objects"] == 1
    assert blender["polygons"] == triangles
    # `s 1` made every polygon smooth, and the `vn` normals came in as custom normals.
    assert blender["smooth_polygons"] == triangles
    assert blender["custom_normals"]
    # What a viewer sees: each polygon's corners carry the surface's normal, not the polygon's.
    assert blender["polygons_with_bent_corner_normals"] >= 0.99 * triangles


def test_blender_textures_the_face_with_tex_jpg(blender: dict[str, Any], result: Any) -> None:
    vertices = result.obj.count(b"\nv ")
    assert blender["material"] == "face"
    [image] = blender["images"]
    assert image["file"] == TEXTURE_NAME
    assert image["size"][0] == image["size"][1] > 0  # Blender read the JPEG
    assert image["linked_to"] == ["Base Color"]
    assert blender["uv_layers"] == 1
    assert blender["uv_corners"] == 3 * blender["polygons"]
    assert blender["distinct_uvs"] == vertices  # one texture coordinate per vertex
    low, high = blender["uv_range"]
    assert 0.0 <= low < high <= 1.0
