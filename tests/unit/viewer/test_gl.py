"""The offscreen renderer: texture placement, z-buffering, shading, the yaw and pitch
conventions, the returned matrix, determinism, and the wireframe overlay.

The test mesh is the UV-mapped box of `tests.unit.viewer.meshes`: what is visible is read off
the picture's colours.
"""

from __future__ import annotations

import pytest

pytest.importorskip("numpy")
pytest.importorskip("moderngl")

import numpy as np

from face3d.viewer import camera, gl
from face3d.viewer.mesh import TexturedMesh
from tests.unit.viewer.meshes import (
    BACK,
    BACKGROUND,
    FRONT_BOTTOM_LEFT,
    FRONT_BOTTOM_RIGHT,
    FRONT_TOP_LEFT,
    FRONT_TOP_RIGHT,
    HALF,
    MINUS_X,
    PLUS_X,
    TOP_BOTTOM,
    box_mesh,
    close,
    colour_mask,
    pixel,
    uv_sphere,
)


@pytest.fixture(scope="module")
def box() -> TexturedMesh:
    return box_mesh()


# -- texture and depth ------------------------------------------------------------------------


def test_front_view_shows_the_texture_the_right_way_up(box: TexturedMesh) -> None:
    image, matrix = gl.render_mesh(box, size=(400, 500))
    assert image.shape == (500, 400, 3)
    assert image.dtype == np.uint8
    q = HALF / 2  # the middle of each quadrant of the front face
    for (x, y), expected in {
        (-q, q): FRONT_TOP_LEFT,
        (q, q): FRONT_TOP_RIGHT,
        (-q, -q): FRONT_BOTTOM_LEFT,
        (q, -q): FRONT_BOTTOM_RIGHT,
    }.items():
        where = camera.project(matrix, np.array([[x, y, HALF]]))[0]
        assert close(pixel(image, where), expected), (x, y, pixel(image, where))
    assert close(pixel(image, (5, 5)), BACKGROUND, 0)


def test_z_buffer_hides_the_back_face_whatever_the_drawing_order() -> None:
    for back_last in (True, False):
        image, _ = gl.render_mesh(box_mesh(back_last=back_last), size=(200, 250))
        assert not colour_mask(image, BACK, 30).any()
        # nor any side face: seen straight on, only the front shows
        for colour in (PLUS_X, MINUS_X, TOP_BOTTOM):
            assert colour_mask(image, colour).sum() == 0


def test_occluded_parts_are_hidden_when_turned(box: TexturedMesh) -> None:
    image, _ = gl.render_mesh(box, yaw_deg=-30, pitch_deg=-20, size=(400, 500))
    assert colour_mask(image, PLUS_X).sum() > 1000  # the +x side turned toward the camera
    assert colour_mask(image, TOP_BOTTOM).sum() > 1000  # the bottom, chin raised
    assert colour_mask(image, MINUS_X).sum() == 0
    assert colour_mask(image, BACK, 30).sum() == 0


def test_untextured_mesh_is_shaded_clay_lit_from_the_upper_left() -> None:
    mesh = uv_sphere()
    image, matrix = gl.render_mesh(mesh, size=(300, 300), lighting=0.0)
    centre = camera.project(matrix, np.array([[0.0, 0.0, 50.0]]))[0]
    r, g, b = pixel(image, centre)
    assert r >= g >= b
    assert r > 120
    upper_left = pixel(image, camera.project(matrix, np.array([[-25.0, 25.0, 35.4]]))[0])
    lower_right = pixel(image, camera.project(matrix, np.array([[25.0, -25.0, 35.4]]))[0])
    assert sum(upper_left) > sum(lower_right) + 60


def test_lighting_option_shades_a_textured_mesh(box: TexturedMesh) -> None:
    flat, matrix = gl.render_mesh(box, yaw_deg=-30, size=(300, 400))
    shaded, _ = gl.render_mesh(box, yaw_deg=-30, size=(300, 400), lighting=1.0)
    side = camera.project(matrix, np.array([[HALF, 0.0, 0.0]]))[0]
    assert close(pixel(flat, side), PLUS_X)
    assert pixel(shaded, side) != pixel(flat, side)


def test_edges_are_anti_aliased(box: TexturedMesh) -> None:
    image, _ = gl.render_mesh(box, yaw_deg=20, size=(400, 500))
    row = image[250].astype(int)
    background = (np.abs(row - BACKGROUND) <= 1).all(axis=1)
    first = int(np.argmin(background))  # the first pixel that is not pure background
    between = row[first]
    assert not close(tuple(between), BACKGROUND, 1)
    assert not close(tuple(between), MINUS_X, 12)
    assert not close(tuple(between), PLUS_X, 12)


# -- camera conventions -----------------------------------------------------------------------


@pytest.mark.parametrize("yaw", [20.0, 35.0])
def test_positive_yaw_shows_the_subjects_right_cheek(box: TexturedMesh, yaw: float) -> None:
    """+x is the subject's left. Positive yaw (the subject turned to their own left) moves the
    nose (the front face's centre) to the picture's right and shows the -x side; negative yaw
    shows the +x side, whose marker (its face centre) is drawn on the right where the matrix
    says."""
    width = 800
    turned_left, left_matrix = gl.render_mesh(box, yaw_deg=yaw)
    turned_right, right_matrix = gl.render_mesh(box, yaw_deg=-yaw)
    assert colour_mask(turned_left, MINUS_X).sum() > 5000
    assert colour_mask(turned_left, PLUS_X).sum() == 0
    assert colour_mask(turned_right, PLUS_X).sum() > 5000
    assert colour_mask(turned_right, MINUS_X).sum() == 0
    nose = np.array([[0.0, 0.0, HALF]])
    assert camera.project(left_matrix, nose)[0, 0] > (width - 1) / 2 + 10
    assert camera.project(right_matrix, nose)[0, 0] < (width - 1) / 2 - 10
    marker = camera.project(right_matrix, np.array([[HALF, 0.0, 0.0]]))[0]
    assert marker[0] > (width - 1) / 2
    assert close(pixel(turned_right, marker), PLUS_X)
    marker = camera.project(left_matrix, np.array([[-HALF, 0.0, 0.0]]))[0]
    assert marker[0] < (width - 1) / 2
    assert close(pixel(turned_left, marker), MINUS_X)


def test_positive_pitch_turns_the_nose_down(box: TexturedMesh) -> None:
    image, matrix = gl.render_mesh(box, pitch_deg=25)
    nose = camera.project(matrix, np.array([[0.0, 0.0, HALF]]))[0]
    assert nose[1] > (1000 - 1) / 2 + 10  # down in the picture
    top = camera.project(matrix, np.array([[0.0, HALF, 0.0]]))[0]
    assert close(pixel(image, top), TOP_BOTTOM)  # the top of the head shows
    raised, raised_matrix = gl.render_mesh(box, pitch_deg=-25)
    assert camera.project(raised_matrix, np.array([[0.0, 0.0, HALF]]))[0, 1] < (1000 - 1) / 2 - 10
    bottom = camera.project(raised_matrix, np.array([[0.0, -HALF, 0.0]]))[0]
    assert close(pixel(raised, bottom), TOP_BOTTOM)


@pytest.mark.parametrize(("yaw", "pitch"), [(0.0, 0.0), (25.0, 10.0), (-33.0, -8.0)])
def test_matrix_maps_model_points_to_where_they_are_drawn(
    box: TexturedMesh, yaw: float, pitch: float
) -> None:
    image, matrix = gl.render_mesh(box, yaw_deg=yaw, pitch_deg=pitch, size=(800, 1000))
    corners = np.array(
        [[x, y, z] for x in (-HALF, HALF) for y in (-HALF, HALF) for z in (-HALF, HALF)]
    )
    projected = camera.project(matrix, corners)
    drawn = ~colour_mask(image, BACKGROUND, 2)
    ys, xs = np.nonzero(drawn)
    # the silhouette's extremes are corners of the box: within a pixel of their projections
    assert abs(xs.min() - projected[:, 0].min()) <= 1.0
    assert abs(xs.max() - projected[:, 0].max()) <= 1.0
    assert abs(ys.min() - projected[:, 1].min()) <= 1.0
    assert abs(ys.max() - projected[:, 1].max()) <= 1.0


def test_face_height_fraction_and_centring(box: TexturedMesh) -> None:
    image, matrix = gl.render_mesh(box, size=(800, 1000), face_height_fraction=0.55)
    ys, xs = np.nonzero(~colour_mask(image, BACKGROUND, 2))
    assert abs((ys.max() - ys.min() + 1) - 550) <= 2
    assert abs((xs.min() + xs.max()) / 2 - 399.5) <= 1
    assert abs((ys.min() + ys.max()) / 2 - 499.5) <= 1
    assert matrix.shape == (4, 4)
    assert matrix[3].tolist() == [0.0, 0.0, 0.0, 1.0]
    assert camera.project(matrix, np.zeros((1, 3)))[0].tolist() == pytest.approx([399.5, 499.5])
    # row 3: depth in pixels, growing away from the camera, zero at the model's origin
    assert (matrix @ [0, 0, HALF, 1])[2] == pytest.approx(-0.55 * 1000 / 2)
    assert matrix[2, 3] == 0.0
    assert np.linalg.det(matrix[:3, :3]) > 0  # a scaled proper rotation


def test_render_view_ignores_the_depth_rows_sign(box: TexturedMesh) -> None:
    """Visibility comes from rows 1-2 (x right, y down): a matrix whose third row points the
    other way, or is zero, renders the same picture."""
    _, matrix = gl.render_mesh(box, yaw_deg=25, size=(300, 400))
    reference = gl.render_view(box, matrix, (300, 400))
    for third_row in ([0.0, 0.0, 0.0, 0.0], -matrix[2]):
        other = matrix.copy()
        other[2] = third_row
        assert np.array_equal(gl.render_view(box, other, (300, 400)), reference)


def test_rendering_is_deterministic(box: TexturedMesh) -> None:
    first, m1 = gl.render_mesh(box, yaw_deg=27, pitch_deg=5, lighting=0.4)
    second, m2 = gl.render_mesh(box, yaw_deg=27, pitch_deg=5, lighting=0.4)
    assert np.array_equal(first, second)
    assert np.array_equal(m1, m2)


def test_background_and_size(box: TexturedMesh) -> None:
    image, _ = gl.render_mesh(box, size=(321, 123), background=(10, 20, 30))
    assert image.shape == (123, 321, 3)
    assert pixel(image, (0, 0)) == (10, 20, 30)
    with pytest.raises(ValueError, match="face_height_fraction"):
        gl.render_mesh(box, face_height_fraction=0)


# -- wireframe overlay ------------------------------------------------------------------------


def test_wireframe_removes_hidden_lines_and_outlines_the_silhouette(box: TexturedMesh) -> None:
    _, matrix = gl.render_mesh(box, yaw_deg=-30, pitch_deg=-20, size=(400, 500))
    layer = gl.render_wireframe(box, matrix, (400, 500), opacity=1.0, fill_opacity=0.1)
    assert layer.shape == (500, 400, 4)
    alpha = layer[:, :, 3]
    # a visible edge (front face meets +x face) and a hidden one (back face meets top face)
    visible = camera.project(matrix, np.array([[HALF, HALF / 3, HALF]]))[0]
    hidden = camera.project(matrix, np.array([[HALF / 3, HALF, -HALF]]))[0]
    assert pixel(layer, visible)[0] > 0
    assert alpha[round(visible[1]), round(visible[0])] > 200
    assert abs(int(alpha[round(hidden[1]), round(hidden[0])]) - 26) <= 3  # just the tint
    assert alpha[0, 0] == 0
    ys, xs = np.nonzero(alpha == 255)
    corners = np.array(
        [[x, y, z] for x in (-HALF, HALF) for y in (-HALF, HALF) for z in (-HALF, HALF)]
    )
    projected = camera.project(matrix, corners)
    assert abs(xs.min() - projected[:, 0].min()) <= 1.0
    assert abs(ys.max() - projected[:, 1].max()) <= 1.0
    photo = np.full((500, 400, 3), 100, dtype=np.uint8)
    over = gl.composite(photo, layer)
    assert over[0, 0].tolist() == [100, 100, 100]
    assert over[round(visible[1]), round(visible[0])].tolist() != [100, 100, 100]
