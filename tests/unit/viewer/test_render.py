"""The offscreen renderer: texture placement, z-buffering, the yaw convention, the returned
matrix, determinism, and reading result folders.

The test mesh is a UV-mapped box: its front (+z) face shows a 2x2 grid of colours, every other
face one colour of its own, so what is visible can be read off the picture's colours.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from face3d.errors import INVALID_INPUT, Face3DError

pytest.importorskip("numpy")
pytest.importorskip("moderngl")

import numpy as np

from face3d.viewer import render
from face3d.viewer.render import TexturedMesh

if TYPE_CHECKING:
    import numpy.typing as npt

HALF = 40.0  # the box spans -40..40 mm on each axis
BACKGROUND = (235, 235, 235)

# Texture: 4 columns x 2 rows of 32 px cells. The front face maps onto the left 2x2 block.
CELL = 32
FRONT_TOP_LEFT, FRONT_TOP_RIGHT = (220, 30, 30), (30, 200, 40)
FRONT_BOTTOM_LEFT, FRONT_BOTTOM_RIGHT = (40, 60, 220), (230, 210, 30)
PLUS_X, MINUS_X = (200, 40, 200), (30, 200, 210)  # the subject's left and right sides
BACK, TOP_BOTTOM = (10, 10, 10), (250, 250, 250)
CELLS = {
    (0, 0): FRONT_TOP_LEFT,
    (0, 1): FRONT_TOP_RIGHT,
    (1, 0): FRONT_BOTTOM_LEFT,
    (1, 1): FRONT_BOTTOM_RIGHT,
    (0, 2): PLUS_X,
    (0, 3): MINUS_X,
    (1, 2): BACK,
    (1, 3): TOP_BOTTOM,
}


def box_texture() -> npt.NDArray[Any]:
    texture = np.zeros((2 * CELL, 4 * CELL, 3), dtype=np.uint8)
    for (row, column), colour in CELLS.items():
        texture[row * CELL : (row + 1) * CELL, column * CELL : (column + 1) * CELL] = colour
    return texture


def cell_uv(row: int, column: int) -> tuple[float, float]:
    """The UV of a texture cell's centre (v runs up from the texture's bottom)."""
    return (column + 0.5) / 4.0, 1.0 - (row + 0.5) / 2.0


def box_mesh(*, textured: bool = True, back_last: bool = True) -> TexturedMesh:
    """An 80 mm cube centred on the origin. By default the back face comes last in the face
    list, so drawing in list order without a depth test would paint it over the front."""
    h = HALF
    front_uvs = [(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]  # the left 2x2 block
    quads: list[tuple[list[tuple[float, float, float]], list[tuple[float, float]]]] = [
        ([(-h, -h, h), (h, -h, h), (h, h, h), (-h, h, h)], front_uvs),  # front (+z)
        ([(h, -h, h), (h, -h, -h), (h, h, -h), (h, h, h)], [cell_uv(0, 2)] * 4),  # +x
        ([(-h, -h, -h), (-h, -h, h), (-h, h, h), (-h, h, -h)], [cell_uv(0, 3)] * 4),  # -x
        ([(-h, h, h), (h, h, h), (h, h, -h), (-h, h, -h)], [cell_uv(1, 3)] * 4),  # top
        ([(-h, -h, -h), (h, -h, -h), (h, -h, h), (-h, -h, h)], [cell_uv(1, 3)] * 4),  # bottom
    ]
    back = ([(h, -h, -h), (-h, -h, -h), (-h, h, -h), (h, h, -h)], [cell_uv(1, 2)] * 4)
    quads = [*quads, back] if back_last else [back, *quads]
    vertices = np.array([corner for corners, _ in quads for corner in corners], dtype=np.float64)
    uvs = np.array([uv for _, corner_uvs in quads for uv in corner_uvs], dtype=np.float64)
    faces = np.array(
        [
            face
            for q in range(len(quads))
            for face in ((4 * q, 4 * q + 1, 4 * q + 2), (4 * q, 4 * q + 2, 4 * q + 3))
        ],
        dtype=np.int64,
    )
    if not textured:
        return TexturedMesh(vertices, faces)
    return TexturedMesh(vertices, faces, uvs, faces.copy(), box_texture())


def box_obj(mesh: TexturedMesh, *, mtllib: str | None = "face.mtl") -> bytes:
    """The mesh as an OBJ file (v, vt, f v/vt), as the engine writes it."""
    lines = [f"mtllib {mtllib}"] if mtllib else []
    lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in mesh.vertices]
    assert mesh.uvs is not None
    assert mesh.face_uvs is not None
    lines += [f"vt {u:.6f} {v:.6f}" for u, v in mesh.uvs]
    lines += ["usemtl material_0"]
    lines += [
        "f " + " ".join(f"{v + 1}/{t + 1}" for v, t in zip(face, uvs, strict=True))
        for face, uvs in zip(mesh.faces, mesh.face_uvs, strict=True)
    ]
    return ("\n".join(lines) + "\n").encode()


def png_bytes(image: npt.NDArray[Any]) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def colour_mask(image: npt.NDArray[Any], colour: tuple[int, int, int], tolerance: int = 12) -> Any:
    return (np.abs(image.astype(int) - colour) <= tolerance).all(axis=2)


def pixel(image: npt.NDArray[Any], xy: Any) -> tuple[int, int, int]:
    x, y = (round(float(c)) for c in xy)
    return tuple(int(c) for c in image[y, x])  # type: ignore[return-value]


def close(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 6) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


@pytest.fixture(scope="module")
def box() -> TexturedMesh:
    return box_mesh()


# -- texture and depth ------------------------------------------------------------------------


def test_front_view_shows_the_texture_the_right_way_up(box: TexturedMesh) -> None:
    image, matrix = render.render_mesh(box, size=(400, 500))
    assert image.shape == (500, 400, 3)
    assert image.dtype == np.uint8
    q = HALF / 2  # the middle of each quadrant of the front face
    for (x, y), expected in {
        (-q, q): FRONT_TOP_LEFT,
        (q, q): FRONT_TOP_RIGHT,
        (-q, -q): FRONT_BOTTOM_LEFT,
        (q, -q): FRONT_BOTTOM_RIGHT,
    }.items():
        where = render.project(matrix, np.array([[x, y, HALF]]))[0]
        assert close(pixel(image, where), expected), (x, y, pixel(image, where))
    assert close(pixel(image, (5, 5)), BACKGROUND, 0)


def test_z_buffer_hides_the_back_face_whatever_the_drawing_order() -> None:
    for back_last in (True, False):
        image, _ = render.render_mesh(box_mesh(back_last=back_last), size=(200, 250))
        assert not colour_mask(image, BACK, 30).any()
        # nor any side face: seen straight on, only the front shows
        for colour in (PLUS_X, MINUS_X, TOP_BOTTOM):
            assert colour_mask(image, colour).sum() == 0


def test_occluded_parts_are_hidden_when_turned(box: TexturedMesh) -> None:
    image, _ = render.render_mesh(box, yaw_deg=-30, pitch_deg=-20, size=(400, 500))
    assert colour_mask(image, PLUS_X).sum() > 1000  # the +x side turned toward the camera
    assert colour_mask(image, TOP_BOTTOM).sum() > 1000  # the bottom, chin raised
    assert colour_mask(image, MINUS_X).sum() == 0
    assert colour_mask(image, BACK, 30).sum() == 0


def test_untextured_mesh_is_shaded_clay_lit_from_the_upper_left() -> None:
    mesh = uv_sphere()
    image, matrix = render.render_mesh(mesh, size=(300, 300), lighting=0.0)
    centre = render.project(matrix, np.array([[0.0, 0.0, 50.0]]))[0]
    r, g, b = pixel(image, centre)
    assert r >= g >= b
    assert r > 120
    upper_left = pixel(image, render.project(matrix, np.array([[-25.0, 25.0, 35.4]]))[0])
    lower_right = pixel(image, render.project(matrix, np.array([[25.0, -25.0, 35.4]]))[0])
    assert sum(upper_left) > sum(lower_right) + 60


def test_lighting_option_shades_a_textured_mesh(box: TexturedMesh) -> None:
    flat, matrix = render.render_mesh(box, yaw_deg=-30, size=(300, 400))
    shaded, _ = render.render_mesh(box, yaw_deg=-30, size=(300, 400), lighting=1.0)
    side = render.project(matrix, np.array([[HALF, 0.0, 0.0]]))[0]
    assert close(pixel(flat, side), PLUS_X)
    assert pixel(shaded, side) != pixel(flat, side)


def test_edges_are_anti_aliased(box: TexturedMesh) -> None:
    image, _ = render.render_mesh(box, yaw_deg=20, size=(400, 500))
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
    turned_left, left_matrix = render.render_mesh(box, yaw_deg=yaw)
    turned_right, right_matrix = render.render_mesh(box, yaw_deg=-yaw)
    assert colour_mask(turned_left, MINUS_X).sum() > 5000
    assert colour_mask(turned_left, PLUS_X).sum() == 0
    assert colour_mask(turned_right, PLUS_X).sum() > 5000
    assert colour_mask(turned_right, MINUS_X).sum() == 0
    nose = np.array([[0.0, 0.0, HALF]])
    assert render.project(left_matrix, nose)[0, 0] > (width - 1) / 2 + 10
    assert render.project(right_matrix, nose)[0, 0] < (width - 1) / 2 - 10
    marker = render.project(right_matrix, np.array([[HALF, 0.0, 0.0]]))[0]
    assert marker[0] > (width - 1) / 2
    assert close(pixel(turned_right, marker), PLUS_X)
    marker = render.project(left_matrix, np.array([[-HALF, 0.0, 0.0]]))[0]
    assert marker[0] < (width - 1) / 2
    assert close(pixel(turned_left, marker), MINUS_X)


def test_positive_pitch_turns_the_nose_down(box: TexturedMesh) -> None:
    image, matrix = render.render_mesh(box, pitch_deg=25)
    nose = render.project(matrix, np.array([[0.0, 0.0, HALF]]))[0]
    assert nose[1] > (1000 - 1) / 2 + 10  # down in the picture
    top = render.project(matrix, np.array([[0.0, HALF, 0.0]]))[0]
    assert close(pixel(image, top), TOP_BOTTOM)  # the top of the head shows
    raised, raised_matrix = render.render_mesh(box, pitch_deg=-25)
    assert render.project(raised_matrix, np.array([[0.0, 0.0, HALF]]))[0, 1] < (1000 - 1) / 2 - 10
    bottom = render.project(raised_matrix, np.array([[0.0, -HALF, 0.0]]))[0]
    assert close(pixel(raised, bottom), TOP_BOTTOM)


def test_rotation_uses_the_engines_pose_angles() -> None:
    pose = pytest.importorskip("face3d.engine.pose")
    for yaw, pitch in [(30.0, 0.0), (-25.0, 10.0), (5.0, -15.0)]:
        expected = pose.rotation_from_angles(yaw, pitch, 0.0)
        assert np.allclose(render.rotation(yaw, pitch), expected)


@pytest.mark.parametrize(("yaw", "pitch"), [(0.0, 0.0), (25.0, 10.0), (-33.0, -8.0)])
def test_matrix_maps_model_points_to_where_they_are_drawn(
    box: TexturedMesh, yaw: float, pitch: float
) -> None:
    image, matrix = render.render_mesh(box, yaw_deg=yaw, pitch_deg=pitch, size=(800, 1000))
    corners = np.array(
        [[x, y, z] for x in (-HALF, HALF) for y in (-HALF, HALF) for z in (-HALF, HALF)]
    )
    projected = render.project(matrix, corners)
    drawn = ~colour_mask(image, BACKGROUND, 2)
    ys, xs = np.nonzero(drawn)
    # the silhouette's extremes are corners of the box: within a pixel of their projections
    assert abs(xs.min() - projected[:, 0].min()) <= 1.0
    assert abs(xs.max() - projected[:, 0].max()) <= 1.0
    assert abs(ys.min() - projected[:, 1].min()) <= 1.0
    assert abs(ys.max() - projected[:, 1].max()) <= 1.0


def test_face_height_fraction_and_centring(box: TexturedMesh) -> None:
    image, matrix = render.render_mesh(box, size=(800, 1000), face_height_fraction=0.55)
    ys, xs = np.nonzero(~colour_mask(image, BACKGROUND, 2))
    assert abs((ys.max() - ys.min() + 1) - 550) <= 2
    assert abs((xs.min() + xs.max()) / 2 - 399.5) <= 1
    assert abs((ys.min() + ys.max()) / 2 - 499.5) <= 1
    assert matrix.shape == (4, 4)
    assert matrix[3].tolist() == [0.0, 0.0, 0.0, 1.0]
    assert render.project(matrix, np.zeros((1, 3)))[0].tolist() == pytest.approx([399.5, 499.5])
    # row 3: depth in pixels, growing away from the camera, zero at the model's origin
    assert (matrix @ [0, 0, HALF, 1])[2] == pytest.approx(-0.55 * 1000 / 2)
    assert matrix[2, 3] == 0.0
    assert np.linalg.det(matrix[:3, :3]) > 0  # a scaled proper rotation


def test_render_view_ignores_the_depth_rows_sign(box: TexturedMesh) -> None:
    """Visibility comes from rows 1-2 (x right, y down): a matrix whose third row points the
    other way, or is zero, renders the same picture."""
    _, matrix = render.render_mesh(box, yaw_deg=25, size=(300, 400))
    reference = render.render_view(box, matrix, (300, 400))
    for third_row in ([0.0, 0.0, 0.0, 0.0], -matrix[2]):
        other = matrix.copy()
        other[2] = third_row
        assert np.array_equal(render.render_view(box, other, (300, 400)), reference)


def test_rendering_is_deterministic(box: TexturedMesh) -> None:
    first, m1 = render.render_mesh(box, yaw_deg=27, pitch_deg=5, lighting=0.4)
    second, m2 = render.render_mesh(box, yaw_deg=27, pitch_deg=5, lighting=0.4)
    assert np.array_equal(first, second)
    assert np.array_equal(m1, m2)


def test_background_and_size(box: TexturedMesh) -> None:
    image, _ = render.render_mesh(box, size=(321, 123), background=(10, 20, 30))
    assert image.shape == (123, 321, 3)
    assert pixel(image, (0, 0)) == (10, 20, 30)
    with pytest.raises(ValueError, match="face_height_fraction"):
        render.render_mesh(box, face_height_fraction=0)


# -- wireframe overlay ------------------------------------------------------------------------


def test_wireframe_removes_hidden_lines_and_outlines_the_silhouette(box: TexturedMesh) -> None:
    _, matrix = render.render_mesh(box, yaw_deg=-30, pitch_deg=-20, size=(400, 500))
    layer = render.render_wireframe(box, matrix, (400, 500), opacity=1.0, fill_opacity=0.1)
    assert layer.shape == (500, 400, 4)
    alpha = layer[:, :, 3]
    # a visible edge (front face meets +x face) and a hidden one (back face meets top face)
    visible = render.project(matrix, np.array([[HALF, HALF / 3, HALF]]))[0]
    hidden = render.project(matrix, np.array([[HALF / 3, HALF, -HALF]]))[0]
    assert pixel(layer, visible)[0] > 0
    assert alpha[round(visible[1]), round(visible[0])] > 200
    assert abs(int(alpha[round(hidden[1]), round(hidden[0])]) - 26) <= 3  # just the tint
    assert alpha[0, 0] == 0
    ys, xs = np.nonzero(alpha == 255)
    corners = np.array(
        [[x, y, z] for x in (-HALF, HALF) for y in (-HALF, HALF) for z in (-HALF, HALF)]
    )
    projected = render.project(matrix, corners)
    assert abs(xs.min() - projected[:, 0].min()) <= 1.0
    assert abs(ys.max() - projected[:, 1].max()) <= 1.0
    photo = np.full((500, 400, 3), 100, dtype=np.uint8)
    over = render.composite(photo, layer)
    assert over[0, 0].tolist() == [100, 100, 100]
    assert over[round(visible[1]), round(visible[0])].tolist() != [100, 100, 100]


# -- matrices ---------------------------------------------------------------------------------


def test_pixel_matrix_accepts_rows_or_sixteen_numbers_and_refuses_the_rest() -> None:
    rows = [[2, 0, 0, 10], [0, -2, 0, 20], [0, 0, 2, 0], [0, 0, 0, 1]]
    assert render.pixel_matrix(rows).tolist() == rows
    assert render.pixel_matrix([n for row in rows for n in row]).tolist() == rows
    for bad in ([[1, 2], [3, 4]], [["a"] * 4] * 4, [[float("nan")] * 4] * 4, [[0] * 4] * 4, "x"):
        with pytest.raises(ValueError, match="matrix"):
            render.pixel_matrix(bad)


def test_toward_camera_of_a_front_matrix_is_plus_z() -> None:
    matrix = np.array([[3.0, 0, 0, 5], [0, -3.0, 0, 7], [0, 0, 0, 0], [0, 0, 0, 1]])
    assert render.toward_camera(matrix).tolist() == [0.0, 0.0, 1.0]


# -- reading OBJ, MTL and result folders ------------------------------------------------------


def test_parse_obj_handles_the_usual_forms() -> None:
    obj = b"""# a comment
mtllib face.mtl
v 0 0 0
v 1 0 0
v 1 1 0
v 0 1 0 0.5 0.5 0.5
vt 0 0
vt 1 0
vt 1 1
vt 0 1
vn 0 0 1
f 1/1/1 2/2/1 3/3/1 4/4/1
f -4/-4 -2/-2 -1/-1
"""
    parsed = render.parse_obj(obj)
    assert parsed.mtllib == "face.mtl"
    assert parsed.vertices.shape == (4, 3)
    assert parsed.faces.tolist() == [[0, 1, 2], [0, 2, 3], [0, 2, 3]]
    assert parsed.face_uvs is not None
    assert parsed.face_uvs.tolist() == parsed.faces.tolist()


def test_parse_obj_drops_uvs_unless_every_face_has_them() -> None:
    parsed = render.parse_obj(b"v 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nf 1/1 2/1 3/1\nf 1//1 2 3\n")
    assert parsed.uvs is None
    assert parsed.face_uvs is None
    assert len(parsed.faces) == 2


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (b"", "no vertices"),
        (b"v 0 0 0\nv 1 0 0\n", "no faces"),
        (b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 4\n", "line 4: vertex 4 does not exist"),
        (b"v 0 0\n", "line 1: malformed record"),
        (b"v 0 0 x\n", "line 1: malformed record"),
        (b"v 0 0 0\nv 1 0 0\nf 1 2\n", "line 3: a face needs at least three corners"),
        (b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1/5 2 3\n", "texture coordinate 5 does not exist"),
        (b"v 0 0 nan\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", "not a finite number"),
    ],
)
def test_parse_obj_refuses_invalid_files(obj: bytes, message: str) -> None:
    with pytest.raises(Face3DError) as caught:
        render.parse_obj(obj)
    assert caught.value.code == INVALID_INPUT
    assert message in caught.value.message


def test_parse_mtl_texture() -> None:
    assert render.parse_mtl_texture(b"newmtl m\nKd 1 1 1\nmap_Kd -s 1 1 1 tex.jpg\n") == "tex.jpg"
    assert render.parse_mtl_texture(b"newmtl m\n") is None


def write_folder(
    folder: Path, mesh: TexturedMesh, *, mtl: bool = True, texture: bool = True
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "face.obj").write_bytes(box_obj(mesh, mtllib="face.mtl" if mtl else None))
    if mtl:
        (folder / "face.mtl").write_bytes(b"newmtl material_0\nKd 1 1 1\nmap_Kd tex.jpg\n")
    if texture:
        assert mesh.texture is not None
        (folder / "tex.jpg").write_bytes(png_bytes(mesh.texture))  # PNG bytes: lossless


def test_load_result_mesh_round_trips_a_textured_folder(tmp_path: Path, box: TexturedMesh) -> None:
    write_folder(tmp_path, box)
    mesh = render.load_result_mesh(tmp_path)
    assert mesh.textured
    assert mesh.texture is not None
    assert np.allclose(mesh.vertices, box.vertices)
    assert np.array_equal(mesh.texture, box_texture())
    assert np.array_equal(
        render.render_mesh(mesh, yaw_deg=20, size=(200, 250))[0],
        render.render_mesh(box, yaw_deg=20, size=(200, 250))[0],
    )


def test_load_result_mesh_without_mtl_uses_tex_jpg(tmp_path: Path, box: TexturedMesh) -> None:
    write_folder(tmp_path, box, mtl=False)
    assert render.load_result_mesh(tmp_path).textured


def test_load_result_mesh_without_texture_is_untextured(tmp_path: Path, box: TexturedMesh) -> None:
    write_folder(tmp_path, box, texture=False)
    mesh = render.load_result_mesh(tmp_path)
    assert not mesh.textured
    assert mesh.uvs is not None
    image, _ = render.render_mesh(mesh, size=(100, 120))
    assert image.shape == (120, 100, 3)


def test_load_result_mesh_ignores_a_map_kd_outside_the_folder(
    tmp_path: Path, box: TexturedMesh
) -> None:
    folder = tmp_path / "result"
    write_folder(folder, box, texture=False)
    (folder / "face.mtl").write_bytes(b"newmtl m\nmap_Kd ../secret.png\n")
    assert box.texture is not None
    (tmp_path / "secret.png").write_bytes(png_bytes(box.texture))
    assert not render.load_result_mesh(folder).textured


def test_load_result_mesh_errors(tmp_path: Path, box: TexturedMesh) -> None:
    with pytest.raises(Face3DError, match=r"no face\.obj") as caught:
        render.load_result_mesh(tmp_path)
    assert caught.value.code == INVALID_INPUT
    write_folder(tmp_path, box)
    (tmp_path / "tex.jpg").write_bytes(b"not an image")
    with pytest.raises(Face3DError, match="not a readable image"):
        render.load_result_mesh(tmp_path)


def test_mesh_validation() -> None:
    v = np.zeros((3, 3))
    with pytest.raises(ValueError, match="vertex that does not exist"):
        TexturedMesh(v, np.array([[0, 1, 3]]))
    with pytest.raises(ValueError, match="go together"):
        TexturedMesh(v, np.array([[0, 1, 2]]), uvs=np.zeros((3, 2)))
    faces = np.array([[0, 1, 2]])
    with pytest.raises(ValueError, match="uint8"):
        TexturedMesh(v, faces, np.zeros((3, 2)), faces, np.zeros((2, 2, 3)))  # type: ignore[arg-type]


def uv_sphere(radius: float = 50.0, rings: int = 24, segments: int = 48) -> TexturedMesh:
    theta = np.linspace(0.0, np.pi, rings + 1)
    phi = np.linspace(0.0, 2 * np.pi, segments, endpoint=False)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    vertices = np.stack(
        [radius * np.sin(t) * np.sin(p), radius * np.cos(t), radius * np.sin(t) * np.cos(p)], -1
    ).reshape(-1, 3)
    faces = []
    for i in range(rings):
        for j in range(segments):
            a, b = i * segments + j, i * segments + (j + 1) % segments
            c, d = a + segments, b + segments
            faces += [(a, c, b), (b, c, d)]
    return TexturedMesh(vertices, np.asarray(faces, dtype=np.int64))
