"""Meshes and picture helpers shared by the viewer's tests: a UV-mapped box whose faces show
known colours, a sphere, result folders written from them, and colour checks on pictures.

The box's front (+z) face shows a 2x2 grid of colours, every other face one colour of its own, so
what is visible can be read off a picture's colours. Needs numpy (callers skip without it).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from face3d.viewer.mesh import TexturedMesh

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
