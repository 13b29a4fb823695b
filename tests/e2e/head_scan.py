"""A real person's head, scanned in 3D with its photo texture, to render test views from.

The scan ships in the menpo3d source distribution (`menpo3d/data/james.obj`, `james.jpg` and 68
hand-placed landmarks `james.ljson`; BSD-3-Clause, Imperial College London): 6,393 vertices of a
whole head with hair, ears and neck, in millimetres. It is fetched with `pip download --no-deps`
into `~/.cache/face3d/` on first use (a 3.8 MB download) and never committed. Its shape owes
nothing to MediaPipe, unlike a render of our own reconstruction, whose landmarks MediaPipe finds
again where it put them.

The scan is turned into its own head frame (from its annotated landmarks, not MediaPipe's): x
from the right to the left eye, jaw and brows, y up from the chin to the brows, z out of the face,
origin between the eye centres; so a render at yaw 0 is a frontal photo.

How far a reconstruction is from the scan: its 468 landmarks are placed in the scan's frame
through the front photo (the engine's front matrix maps them to pixels, the render's matrix maps
pixels back; depth is relative in both, so the one free depth offset is the best one), and each
landmark's distance to the scan's surface is measured (a surface distance, as face
reconstruction benchmarks score against scans: landmarks may slide along the skin, not off it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
import trimesh
from scipy.optimize import minimize_scalar  # type: ignore[import-untyped]
from scipy.spatial import cKDTree  # type: ignore[import-untyped]

from face3d.engine import landmark_ids as ids
from face3d.viewer.mesh import TexturedMesh, mesh_from_bytes

PACKAGE = "menpo3d==0.8.6"
MEMBERS = ("james.obj", "james.jpg", "james.ljson")
CACHE = Path.home() / ".cache" / "face3d" / "menpo3d-0.8.6"
FloatArray = npt.NDArray[np.float64]
# Candidate triangles per point for the surface distance: the scan's triangles are about 3 mm.
_CANDIDATES = 16


class ScanUnavailableError(Exception):
    """The scan could not be fetched (no registry on this machine, or pip failed)."""


@dataclass(frozen=True)
class HeadScan:
    mesh: TexturedMesh  # in the head's own frame, millimetres
    _triangles: FloatArray  # (F, 3, 3)
    _tree: cKDTree

    def surface_distances(self, points: FloatArray) -> FloatArray:
        """Each point's distance (mm) to the nearest point of the scan's surface."""
        _, candidates = self._tree.query(points, k=_CANDIDATES)
        best = np.full(len(points), np.inf)
        for column in candidates.T:
            nearest = trimesh.triangles.closest_point(self._triangles[column], points)  # type: ignore[no-untyped-call]
            best = np.minimum(best, np.linalg.norm(nearest - points, axis=1))
        return np.asarray(best, dtype=np.float64)

    def landmark_rms_mm(self, obj: bytes, engine_matrix: FloatArray, render: FloatArray) -> float:
        """RMS distance to the scan of the 468 landmarks of `face.obj` (its first vertices), seen
        through the front photo: `engine_matrix` is result.json's front matrix, `render` the
        matrix the photo was rendered with (both 4x4, model to pixels, row 3 depth)."""
        landmarks = obj_vertices(obj)[: ids.MESH_LANDMARK_COUNT]
        pixels = landmarks @ engine_matrix[:3, :3].T + engine_matrix[:3, 3]
        back = np.linalg.inv(render[:3, :3])

        def placed(offset: float) -> FloatArray:
            shifted = pixels + np.array([0.0, 0.0, offset])
            return np.asarray((shifted - render[:3, 3]) @ back.T)

        def rms(offset: float) -> float:
            return float(np.sqrt(np.mean(self.surface_distances(placed(offset)) ** 2)))

        reach = 200.0 * float(np.linalg.norm(render[0, :3]))  # 20 cm of depth, in pixels
        best = minimize_scalar(rms, bounds=(-reach, reach), method="bounded")
        return float(best.fun)


def obj_vertices(obj: bytes) -> FloatArray:
    rows = [line.split()[1:4] for line in obj.decode().splitlines() if line.startswith("v ")]
    return np.array(rows, dtype=np.float64)


@cache
def head_scan() -> HeadScan:
    """The scan in its own head frame; raises ScanUnavailableError when it cannot be fetched."""
    folder = _fetched()
    raw = mesh_from_bytes(
        (folder / "james.obj").read_bytes(),
        (folder / "james.jpg").read_bytes(),
        obj_name="james.obj",
    )
    annotated = json.loads((folder / "james.ljson").read_text())
    points = np.array(annotated["groups"]["LJSON"]["landmarks"]["points"], dtype=np.float64)
    rotation, origin = _own_frame(points)
    mesh = TexturedMesh(
        (raw.vertices - origin) @ rotation.T, raw.faces, raw.uvs, raw.face_uvs, raw.texture
    )
    triangles = mesh.vertices[mesh.faces]
    return HeadScan(mesh, triangles, cKDTree(triangles.mean(axis=1)))


def _own_frame(points: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Rows: the head's axes in the scan's frame; and its origin. The annotation (menpo's
    labels): 0-16 jaw line, 17-22 and 23-28 the eyes, 29-33 and 43-47 the brows."""
    eyes = points[17:23].mean(axis=0), points[23:29].mean(axis=0)
    brows = points[29:34].mean(axis=0), points[43:48].mean(axis=0)
    pairs = [(points[k], points[16 - k]) for k in range(8)] + [eyes, brows]
    # Each pair's difference, pointing to the image's right (the subject's left) of the scan.
    x_axis = np.sum([a - b if a[0] > b[0] else b - a for a, b in pairs], axis=0)
    x_axis /= np.linalg.norm(x_axis)
    up = (brows[0] + brows[1]) / 2 - points[8]  # brows over the chin's lowest point
    y_axis = up - (up @ x_axis) * x_axis
    y_axis /= np.linalg.norm(y_axis)
    rotation = np.stack([x_axis, y_axis, np.cross(x_axis, y_axis)])
    return rotation, (eyes[0] + eyes[1]) / 2


def _fetched() -> Path:
    if all((CACHE / name).is_file() for name in MEMBERS):
        return CACHE
    with tempfile.TemporaryDirectory() as work:
        # The sdist's metadata step (its setup.py) imports numpy, so it cannot build in pip's
        # isolated environment: it builds in this one, with a setuptools that has bdist_wheel
        # put on the path beside it (this environment's own may be too old or absent).
        tools, download = Path(work, "tools"), Path(work, "download")
        _pip("install", "--target", str(tools), "setuptools>=70.1")
        building = {**os.environ, "PYTHONPATH": str(tools)}
        options = ["--no-deps", "--no-build-isolation", "--no-binary", ":all:"]
        _pip("download", *options, "-d", str(download), PACKAGE, env=building)
        archives = list(download.glob("menpo3d-*.tar.gz"))
        if not archives:
            raise ScanUnavailableError(f"pip download {PACKAGE} saved no source archive")
        CACHE.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archives[0]) as archive:
            for member in archive.getmembers():
                name = Path(member.name).name
                if member.isfile() and name in MEMBERS and "/menpo3d/data/" in member.name:
                    source = archive.extractfile(member)
                    assert source is not None
                    (CACHE / name).write_bytes(source.read())
    missing = [name for name in MEMBERS if not (CACHE / name).is_file()]
    if missing:
        raise ScanUnavailableError(f"{PACKAGE} no longer ships {', '.join(missing)}")
    return CACHE


def _pip(*arguments: str, env: dict[str, str] | None = None) -> None:
    try:
        answer = subprocess.run(  # noqa: S603 (our own interpreter, fixed arguments)
            [sys.executable, "-m", "pip", *arguments, "--quiet"],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            env=env,
        )
    except subprocess.TimeoutExpired as timeout:  # a registry that never answers
        raise ScanUnavailableError(f"pip {arguments[0]} took over 600 s") from timeout
    if answer.returncode != 0:
        errors = [line for line in answer.stderr.splitlines() if "error" in line.lower()]
        raise ScanUnavailableError(f"pip {arguments[0]} failed: {' / '.join(errors[-3:])}")
