"""Pixel matrices without rendering: framing a view, the shared head rotation, projecting points,
the direction toward the camera, and reading `result.json`'s transfer matrices."""

from __future__ import annotations

import pytest

pytest.importorskip("numpy")

import numpy as np

from face3d.geometry import rotation_from_angles
from face3d.viewer import camera

CUBE = np.array([[x, y, z] for x in (-40.0, 40.0) for y in (-40.0, 40.0) for z in (-40.0, 40.0)])


@pytest.mark.parametrize(("yaw", "pitch"), [(30.0, 0.0), (-25.0, 10.0), (5.0, -15.0)])
def test_view_matrix_turns_the_model_by_the_shared_head_rotation(yaw: float, pitch: float) -> None:
    """Views use the engine's pose angles: the upper 3x3 is the head rotation, scaled, with the
    pixel y and depth axes pointing down and away from the camera."""
    matrix = camera.view_matrix(CUBE, yaw_deg=yaw, pitch_deg=pitch)
    scale = float(np.linalg.norm(matrix[0, :3]))
    expected = np.diag([scale, -scale, -scale]) @ rotation_from_angles(yaw, pitch)
    assert np.allclose(matrix[:3, :3], expected)


def test_view_matrix_centres_the_turned_model_at_the_fraction_of_the_height() -> None:
    matrix = camera.view_matrix(CUBE, yaw_deg=20.0, size=(800, 1000), face_height_fraction=0.5)
    projected = camera.project(matrix, CUBE)
    low, high = projected.min(axis=0), projected.max(axis=0)
    assert (low + high) / 2 == pytest.approx([399.5, 499.5])
    assert high[1] - low[1] == pytest.approx(500.0)
    assert matrix[3].tolist() == [0.0, 0.0, 0.0, 1.0]
    assert matrix[2, 3] == 0.0  # depth zero at the model's origin
    assert np.linalg.det(matrix[:3, :3]) > 0  # a scaled proper rotation


def test_view_matrix_refuses_bad_sizes_and_fractions() -> None:
    with pytest.raises(ValueError, match="size"):
        camera.view_matrix(CUBE, size=(0, 100))
    for fraction in (0.0, 1.5):
        with pytest.raises(ValueError, match="face_height_fraction"):
            camera.view_matrix(CUBE, face_height_fraction=fraction)


def test_pixel_matrix_accepts_rows_or_sixteen_numbers_and_refuses_the_rest() -> None:
    rows = [[2, 0, 0, 10], [0, -2, 0, 20], [0, 0, 2, 0], [0, 0, 0, 1]]
    assert camera.pixel_matrix(rows).tolist() == rows
    assert camera.pixel_matrix([n for row in rows for n in row]).tolist() == rows
    for bad in ([[1, 2], [3, 4]], [["a"] * 4] * 4, [[float("nan")] * 4] * 4, [[0] * 4] * 4, "x"):
        with pytest.raises(ValueError, match="matrix"):
            camera.pixel_matrix(bad)


def test_toward_camera_of_a_front_matrix_is_plus_z() -> None:
    matrix = np.array([[3.0, 0, 0, 5], [0, -3.0, 0, 7], [0, 0, 0, 0], [0, 0, 0, 1]])
    assert camera.toward_camera(matrix).tolist() == [0.0, 0.0, 1.0]


def test_project_applies_rows_one_and_two() -> None:
    matrix = [[2.0, 0, 0, 10], [0, -2.0, 0, 20], [0, 0, 2.0, 0], [0, 0, 0, 1]]
    assert camera.project(matrix, np.array([[1.0, 1.0, 5.0]])).tolist() == [[12.0, 18.0]]
