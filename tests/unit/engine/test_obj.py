"""The engine's OBJ and MTL writers: what viewers and the API's consumers read."""

from __future__ import annotations

import numpy as np
import pytest

from face3d.engine.obj import write_mtl, write_obj

# A unit square as two triangles, wound counter-clockwise seen from +z.
VERTICES = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, -0.00001], [1.0, 1.0, 0.0], [0.0, 1.0, 2.5]])
UV = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
TRIANGLES = np.array([[0, 1, 2], [0, 2, 3]])


def lines_of(data: bytes) -> list[str]:
    return data.decode("ascii").splitlines()


def test_obj_with_material_names_the_mtl_and_uses_it_before_the_faces() -> None:
    lines = lines_of(write_obj(VERTICES, UV, TRIANGLES, with_material=True))

    assert "mtllib face.mtl" in lines
    first_face = next(k for k, line in enumerate(lines) if line.startswith("f "))
    assert lines[first_face - 2 : first_face] == ["usemtl face", "s 1"]
    assert lines.index("mtllib face.mtl") < lines.index("v 0.0000 0.0000 0.0000")


def test_obj_without_material_has_no_material_lines() -> None:
    text = write_obj(VERTICES, UV, TRIANGLES, with_material=False).decode("ascii")

    assert "mtllib" not in text
    assert "usemtl" not in text


def test_obj_lists_positions_texture_coordinates_and_one_based_faces() -> None:
    lines = lines_of(write_obj(VERTICES, UV, TRIANGLES, with_material=False))

    assert [line for line in lines if line.startswith("v ")] == [
        "v 0.0000 0.0000 0.0000",
        "v 1.0000 0.0000 0.0000",  # -0.00001 rounds to zero, written without a sign
        "v 1.0000 1.0000 0.0000",
        "v 0.0000 1.0000 2.5000",
    ]
    assert [line for line in lines if line.startswith("vt ")] == [
        "vt 0.000000 0.000000",
        "vt 1.000000 0.000000",
        "vt 1.000000 1.000000",
        "vt 0.000000 1.000000",
    ]
    assert [line for line in lines if line.startswith("f ")] == [
        "f 1/1/1 2/2/2 3/3/3",
        "f 1/1/1 3/3/3 4/4/4",
    ]
    assert all(line.startswith(("#", "v ", "vt ", "vn ", "s ", "f ")) for line in lines)


def test_obj_has_unit_normals_and_one_smoothing_group_before_the_faces() -> None:
    """Blender and assimp shade an OBJ flat unless it has normals or a smoothing group."""
    lines = lines_of(write_obj(VERTICES, UV, TRIANGLES, with_material=True))
    normals = np.array([line.split()[1:] for line in lines if line.startswith("vn ")], float)

    assert normals.shape == (len(VERTICES), 3)
    assert np.allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-5)
    assert normals[:, 2].min() > 0  # the square faces +z: its normals too
    assert lines.index("s 1") < min(k for k, line in enumerate(lines) if line.startswith("f "))
    assert lines.index("usemtl face") < lines.index("s 1")


def test_obj_is_the_same_bytes_every_time() -> None:
    first = write_obj(VERTICES, UV, TRIANGLES, with_material=True)

    assert write_obj(VERTICES.copy(), UV.copy(), TRIANGLES.copy(), with_material=True) == first
    assert first.endswith(b"\n")


def test_obj_refuses_mismatched_texture_coordinates() -> None:
    with pytest.raises(ValueError, match="texture coordinates"):
        write_obj(VERTICES, UV[:3], TRIANGLES, with_material=False)


def test_mtl_with_texture_maps_tex_jpg() -> None:
    lines = lines_of(write_mtl(with_texture=True))

    assert "newmtl face" in lines
    assert {line.split()[0] for line in lines if line and not line.startswith("#")} >= {
        "Ka",
        "Kd",
        "Ks",
        "map_Kd",
    }
    assert "map_Kd tex.jpg" in lines
    assert "Kd 1.000000 1.000000 1.000000" in lines  # viewers multiply the texture by Kd


def test_mtl_without_texture_has_no_map() -> None:
    text = write_mtl(with_texture=False).decode("ascii")

    assert "newmtl face" in text
    assert "map_Kd" not in text
    assert "\nKd " in text


def test_trimesh_reads_the_files_back(tmp_path) -> None:  # type: ignore[no-untyped-def]
    trimesh = pytest.importorskip("trimesh")
    from PIL import Image

    (tmp_path / "face.obj").write_bytes(write_obj(VERTICES, UV, TRIANGLES, with_material=True))
    (tmp_path / "face.mtl").write_bytes(write_mtl(with_texture=True))
    Image.new("RGB", (8, 8), (200, 150, 120)).save(tmp_path / "tex.jpg")

    mesh = trimesh.load(tmp_path / "face.obj", force="mesh")

    assert len(mesh.faces) == 2
    assert mesh.visual.uv.shape == (len(mesh.vertices), 2)
    assert mesh.visual.material.image.size == (8, 8)
    assert (mesh.face_normals[:, 2] > 0).all()  # the winding survives the round trip
