"""Orthographic cameras as pixel matrices: framing a mesh for a view, projecting points, and
reading `result.json`'s transfer matrices (conventions in `face3d.viewer`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from face3d.geometry import FloatArray, rotation_from_angles


def view_matrix(
    vertices: FloatArray,
    *,
    yaw_deg: float = 0.0,
    pitch_deg: float = 0.0,
    size: tuple[int, int] = (800, 1000),
    face_height_fraction: float = 0.55,
) -> FloatArray:
    """The 4x4 pixel matrix of an orthographic view that frames `vertices`.

    The turned mesh's bounding box is centred in the picture and scaled so that its height is
    `face_height_fraction` of the picture's (less if it would otherwise be wider than 90% of
    the picture). Row 3 is depth in pixels growing away from the camera, zero at the model's
    origin (as the engine's matrices), so the upper 3x3 is a scaled proper rotation.
    """
    width, height = size
    if width <= 0 or height <= 0:
        raise ValueError("size must be positive")
    if not 0.0 < face_height_fraction <= 1.0:
        raise ValueError("face_height_fraction must be in (0, 1]")
    turn = rotation_from_angles(yaw_deg, pitch_deg)
    turned = np.asarray(vertices, dtype=np.float64) @ turn.T
    low, high = turned.min(axis=0), turned.max(axis=0)
    extent = np.maximum(high - low, 1e-9)
    scale = min(face_height_fraction * height / extent[1], 0.9 * width / extent[0])
    centre = (low + high) / 2.0
    matrix = np.eye(4)
    matrix[:3, :3] = np.diag([scale, -scale, -scale]) @ turn
    matrix[0, 3] = (width - 1) / 2.0 - scale * centre[0]
    matrix[1, 3] = (height - 1) / 2.0 + scale * centre[1]
    return matrix


def project(matrix: FloatArray | Sequence[Sequence[float]], points: FloatArray) -> FloatArray:
    """Pixel coordinates (N, 2) of model points (N, 3) through a pixel matrix."""
    m = np.asarray(matrix, dtype=np.float64)
    p = np.asarray(points, dtype=np.float64)
    return np.asarray(p @ m[:2, :3].T + m[:2, 3], dtype=np.float64)


def toward_camera(matrix: FloatArray) -> FloatArray:
    """Unit vector in model space pointing at the viewer of an orthographic pixel matrix."""
    right, down = matrix[0, :3], matrix[1, :3]
    toward = np.cross(right, -down)
    norm = float(np.linalg.norm(toward))
    if norm == 0.0 or not math.isfinite(norm):
        raise ValueError("the matrix does not project onto the image plane (rank < 2)")
    return np.asarray(toward / norm, dtype=np.float64)


def pixel_matrix(value: object) -> FloatArray:
    """A 4x4 pixel matrix from `result.json` (4 rows of 4) or 16 row-major numbers."""
    try:
        matrix = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError("a transfer matrix must be numbers") from exc
    if matrix.shape == (16,):
        matrix = matrix.reshape(4, 4)
    if matrix.shape != (4, 4) or not np.isfinite(matrix).all():
        raise ValueError("a transfer matrix must be 4 rows of 4 finite numbers")
    toward_camera(matrix)
    return matrix
