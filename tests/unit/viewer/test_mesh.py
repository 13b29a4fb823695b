"""Reading meshes: OBJ records (through trimesh) in their usual forms, negative indices,
polygons, texture coordinates on only some faces, UV seams; result folders (the texture the MTL
names, tex.jpg, never a file outside the folder); and errors that name the unreadable file."""

from __future__ import annotations

from pathlib import Path

import pytest

from face3d.errors import INVALID_INPUT, Face3DError

pytest.importorskip("numpy")
pytest.importorskip("trimesh")

import numpy as np

from face3d.viewer.mesh import TexturedMesh, load_result_mesh, mesh_from_bytes
from tests.unit.viewer.meshes import box_mesh, box_obj, box_texture, png_bytes, write_folder

Corner = tuple[float, ...]


@pytest.fixture(scope="module")
def box() -> TexturedMesh:
    return box_mesh()


def triangles(mesh: TexturedMesh) -> list[list[Corner]]:
    """What is drawn, whatever the vertex numbering: each triangle's corners as (x, y, z) or
    (x, y, z, u, v), in `turned` order."""
    drawn = []
    for index, face in enumerate(mesh.faces):
        corners: list[Corner] = [tuple(mesh.vertices[v].tolist()) for v in face]
        if mesh.uvs is not None and mesh.face_uvs is not None:
            uvs = [tuple(mesh.uvs[t].tolist()) for t in mesh.face_uvs[index]]
            corners = [xyz + uv for xyz, uv in zip(corners, uvs, strict=True)]
        drawn.append(turned(*corners))
    return drawn


def turned(*corners: Corner) -> list[Corner]:
    """A triangle's corners starting from its smallest, the winding kept."""
    first = corners.index(min(corners))
    return [*corners[first:], *corners[:first]]


# -- OBJ records ------------------------------------------------------------------------------

SQUARE = b"""v 0 0 0
v 1 0 0
v 1 1 0
v 0 1 0
vt 0 0
vt 1 0
vt 1 1
vt 0 1
vn 0 0 1
"""
A, B, C, D = (0.0, 0.0, 0.0), (1.0, 0.0, 0.0), (1.0, 1.0, 0.0), (0.0, 1.0, 0.0)
UV_A, UV_B, UV_C, UV_D = (0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)


@pytest.mark.parametrize(
    ("face", "textured"),
    [
        (b"f 1 2 3", False),
        (b"f 1/1 2/2 3/3", True),
        (b"f 1/1/1 2/2/1 3/3/1", True),
        (b"f 1//1 2//1 3//1", False),
        (b"f -4/-4 -3/-3 -2/-2", True),  # negative: counted back from the last vertex read
    ],
)
def test_face_records_in_every_form(face: bytes, textured: bool) -> None:
    mesh = mesh_from_bytes(SQUARE + face + b"\n")
    if textured:
        assert triangles(mesh) == [[A + UV_A, B + UV_B, C + UV_C]]
    else:
        assert mesh.uvs is None
        assert mesh.face_uvs is None
        assert triangles(mesh) == [[A, B, C]]


def test_the_usual_file_comments_material_vertex_colours_quads_and_negative_indices() -> None:
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
usemtl material_0
f 1/1/1 2/2/1 3/3/1 4/4/1
f -4/-4 -2/-2 -1/-1
"""
    mesh = mesh_from_bytes(obj)
    assert mesh.texture is None  # the MTL is only read from a result folder
    assert triangles(mesh) == [
        [A + UV_A, B + UV_B, C + UV_C],
        [A + UV_A, C + UV_C, D + UV_D],
        [A + UV_A, C + UV_C, D + UV_D],
    ]


def test_polygons_are_triangulated_as_fans_in_the_files_vertex_order() -> None:
    pentagon = b"v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0.5 1.5 0\nv 0 1 0\nf 1 2 3 4 5\n"
    mesh = mesh_from_bytes(pentagon)
    assert mesh.vertices.tolist()[3] == [0.5, 1.5, 0.0]
    assert mesh.faces.tolist() == [[0, 1, 2], [0, 2, 3], [0, 3, 4]]
    quad_and_triangle = b"v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nf 1 2 3 4\nf 1 2 4\n"
    assert triangles(mesh_from_bytes(quad_and_triangle)) == [[A, B, C], [A, C, D], [A, B, D]]


def test_texture_coordinates_are_kept_only_when_every_face_has_them() -> None:
    mixed = mesh_from_bytes(b"v 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nf 1/1 2/1 3/1\nf 1//1 2 3\n")
    assert mixed.uvs is None
    assert mixed.face_uvs is None
    assert len(mixed.faces) == 2
    # trimesh drops texture coordinates that do not exist rather than refusing the file
    missing = mesh_from_bytes(b"v 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nf 1/5 2/5 3/5\n")
    assert missing.uvs is None
    assert missing.faces.tolist() == [[0, 1, 2]]


def test_a_vertex_with_two_texture_coordinates_keeps_both() -> None:
    """At a UV seam a vertex has one texture coordinate in one face, another in the next."""
    seam = SQUARE + b"vt 0.5 0.5\nf 1/1 2/2 4/4\nf 2/5 3/3 4/4\n"
    mesh = mesh_from_bytes(seam)
    assert triangles(mesh) == [
        turned(A + UV_A, B + UV_B, D + UV_D),
        turned((*B, 0.5, 0.5), C + UV_C, D + UV_D),
    ]


def test_the_engines_layout_keeps_its_vertex_numbering(box: TexturedMesh) -> None:
    """One texture coordinate per vertex, `f v/v` (as the engine writes): the same arrays back."""
    mesh = mesh_from_bytes(box_obj(box), png_bytes(box_texture()))
    assert np.allclose(mesh.vertices, box.vertices)
    assert mesh.faces.tolist() == box.faces.tolist()
    assert mesh.uvs is not None
    assert box.uvs is not None
    assert np.allclose(mesh.uvs, box.uvs)
    assert mesh.face_uvs is not None
    assert mesh.face_uvs.tolist() == box.faces.tolist()
    assert mesh.texture is not None
    assert np.array_equal(mesh.texture, box_texture())


@pytest.mark.parametrize(
    ("obj", "problem"),
    [
        (b"", "no vertices"),
        (b"not an OBJ file at all\n", "no vertices"),
        (b"v 0 0 0\nv 1 0 0\n", "no faces"),
        (b"v 0 0 0\nv 1 0 0\nf 1 2\n", "no faces"),  # a face needs three corners
        (b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 4\n", "a face refers to a vertex that does not exist"),
        (b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1/5 2 3\n", "does not exist"),
        (b"v 0 0\nv 1 0\nv 0 1\nf 1 2 3\n", "(N, 3)"),
        (b"v 0 0 x\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", "malformed"),
        (b"v 0 0 nan\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", "vertices must be finite"),
    ],
)
# numpy's text parser, under trimesh, warns before it gives up on `x`
@pytest.mark.filterwarnings("ignore:string or file could not be read:DeprecationWarning")
def test_unreadable_obj_files_are_refused_naming_the_file(obj: bytes, problem: str) -> None:
    with pytest.raises(Face3DError) as caught:
        mesh_from_bytes(obj, obj_name="subject/face.obj")
    assert caught.value.code == INVALID_INPUT
    assert caught.value.message.startswith("subject/face.obj is not a readable OBJ file: ")
    assert problem in caught.value.message


def test_texture_bytes(box: TexturedMesh) -> None:
    obj = box_obj(box)
    with pytest.raises(Face3DError, match=r"tex\.jpg is not a readable image") as caught:
        mesh_from_bytes(obj, b"not an image")
    assert caught.value.code == INVALID_INPUT
    untextured = mesh_from_bytes(b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", png_bytes(box_texture()))
    assert untextured.texture is None  # no texture coordinates: nothing to map it with


# -- result folders ---------------------------------------------------------------------------


def test_load_result_mesh_round_trips_a_textured_folder(tmp_path: Path, box: TexturedMesh) -> None:
    write_folder(tmp_path, box)
    mesh = load_result_mesh(tmp_path)
    assert mesh.textured
    assert np.allclose(mesh.vertices, box.vertices)
    assert mesh.faces.tolist() == box.faces.tolist()
    assert mesh.texture is not None
    assert np.array_equal(mesh.texture, box_texture())


def test_load_result_mesh_without_mtl_uses_tex_jpg(tmp_path: Path, box: TexturedMesh) -> None:
    write_folder(tmp_path, box, mtl=False)
    assert load_result_mesh(tmp_path).textured


def test_load_result_mesh_without_texture_is_untextured(tmp_path: Path, box: TexturedMesh) -> None:
    write_folder(tmp_path, box, texture=False)
    mesh = load_result_mesh(tmp_path)
    assert not mesh.textured
    assert mesh.uvs is not None


@pytest.mark.parametrize(
    "map_kd", ["-s 1 1 1 skin.png", "maps\\skin.png", "maps/skin.png"], ids=["options", "\\", "/"]
)
def test_the_texture_the_mtl_names_comes_before_tex_jpg(
    tmp_path: Path, box: TexturedMesh, map_kd: str
) -> None:
    write_folder(tmp_path, box)
    (tmp_path / "tex.jpg").write_bytes(png_bytes(np.zeros((4, 4, 3), dtype=np.uint8)))
    skin = tmp_path / ("skin.png" if map_kd.startswith("-s") else "maps/skin.png")
    skin.parent.mkdir(exist_ok=True)
    skin.write_bytes(png_bytes(box_texture()))
    (tmp_path / "face.mtl").write_text(f"newmtl material_0\nmap_Kd {map_kd}\n")
    texture = load_result_mesh(tmp_path).texture
    assert texture is not None
    assert np.array_equal(texture, box_texture())


@pytest.mark.parametrize("where", ["relative", "absolute", "symbolic link"])
def test_load_result_mesh_reads_nothing_outside_the_folder(
    tmp_path: Path, box: TexturedMesh, where: str
) -> None:
    folder = tmp_path / "result"
    write_folder(folder, box, texture=False)
    secret = tmp_path / "secret.png"
    secret.write_bytes(png_bytes(box_texture()))
    name = {"relative": "../secret.png", "absolute": str(secret)}.get(where, "link.png")
    (folder / "link.png").symlink_to(secret)
    (folder / "face.mtl").write_text(f"newmtl material_0\nmap_Kd {name}\n")
    assert not load_result_mesh(folder).textured
    # nor an MTL outside it, even one naming a texture inside
    (folder / "inside.png").write_bytes(png_bytes(box_texture()))
    (folder / "face.obj").write_bytes(box_obj(box, mtllib=f"../{folder.name}/../face.mtl"))
    (tmp_path / "face.mtl").write_text("newmtl material_0\nmap_Kd inside.png\n")
    assert not load_result_mesh(folder).textured


def test_load_result_mesh_errors_name_the_file(tmp_path: Path, box: TexturedMesh) -> None:
    with pytest.raises(Face3DError, match=r"no face\.obj in ") as caught:
        load_result_mesh(tmp_path)
    assert caught.value.code == INVALID_INPUT
    (tmp_path / "face.obj").mkdir()
    with pytest.raises(Face3DError, match=r"cannot read .*face\.obj"):
        load_result_mesh(tmp_path)
    (tmp_path / "face.obj").rmdir()
    write_folder(tmp_path, box)
    (tmp_path / "tex.jpg").write_bytes(b"not an image")
    with pytest.raises(Face3DError, match=rf"{tmp_path}/tex\.jpg is not a readable image"):
        load_result_mesh(tmp_path)
    (tmp_path / "face.mtl").write_text("newmtl material_0\nmap_Kd skin.png\n")
    (tmp_path / "skin.png").write_bytes(b"not an image either")
    with pytest.raises(Face3DError, match=rf"{tmp_path}/skin\.png is not a readable image"):
        load_result_mesh(tmp_path)
    (tmp_path / "face.obj").write_bytes(b"v 1 2\nf 1 2 3\n")
    with pytest.raises(Face3DError, match=rf"{tmp_path}/face\.obj is not a readable OBJ file"):
        load_result_mesh(tmp_path)


def test_mesh_validation() -> None:
    v = np.zeros((3, 3))
    with pytest.raises(ValueError, match="vertex that does not exist"):
        TexturedMesh(v, np.array([[0, 1, 3]]))
    with pytest.raises(ValueError, match="go together"):
        TexturedMesh(v, np.array([[0, 1, 2]]), uvs=np.zeros((3, 2)))
    faces = np.array([[0, 1, 2]])
    with pytest.raises(ValueError, match="uint8"):
        TexturedMesh(v, faces, np.zeros((3, 2)), faces, np.zeros((2, 2, 3)))  # type: ignore[arg-type]
