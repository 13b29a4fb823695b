"""Wavefront OBJ and MTL text, byte-for-byte reproducible.

Fixed decimals (0.1 micrometre for positions) and no negative zeros, so that the same mesh always
gives the same bytes. Each vertex has one texture coordinate and one unit normal (`vn`, the
area-weighted mean of its triangles' normals), and the whole surface is one smoothing group
(`s 1`): Blender, assimp and other viewers shade it smooth rather than faceted. Faces are
`f v/vt/vn`, 1-based, with the same index three times (the layout has no seams).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

import numpy as np
import numpy.typing as npt

from face3d.contract import MTL_NAME, TEXTURE_NAME
from face3d.geometry import vertex_normals

MATERIAL_NAME: Final = "face"


def write_obj(
    vertices: npt.NDArray[np.float64],
    uv: npt.NDArray[np.float64],
    triangles: npt.NDArray[np.int64],
    *,
    with_material: bool,
) -> bytes:
    if len(vertices) != len(uv):
        raise ValueError(f"{len(vertices)} vertices but {len(uv)} texture coordinates")
    normals = vertex_normals(vertices, triangles)
    lines = [
        "# face3d offline engine: millimetres; x the subject's left, y up, z out of the face",
        f"# {len(vertices)} vertices, {len(triangles)} triangles",
    ]
    if with_material:
        lines.append(f"mtllib {MTL_NAME}")
    lines.append(_rows("v", vertices, 4))
    lines.append(_fixed_rows("vt", np.ascontiguousarray(uv, np.float64).tobytes(), 6))
    lines.append(_rows("vn", normals, 6))
    if with_material:
        lines.append(f"usemtl {MATERIAL_NAME}")
    lines.append("s 1")
    lines.append(_face_rows(np.ascontiguousarray(triangles, np.int64).tobytes()))
    return ("\n".join(lines) + "\n").encode("ascii")


def write_mtl(*, with_texture: bool) -> bytes:
    # With a texture, Kd is white: most viewers multiply the texture by Kd.
    diffuse = "1.000000 1.000000 1.000000" if with_texture else "0.800000 0.650000 0.560000"
    lines = [
        "# face3d offline engine",
        f"newmtl {MATERIAL_NAME}",
        "Ka 1.000000 1.000000 1.000000",
        f"Kd {diffuse}",
        "Ks 0.000000 0.000000 0.000000",
        "Ns 10.000000",
        "d 1.000000",
        "illum 1",
    ]
    if with_texture:
        lines.append(f"map_Kd {TEXTURE_NAME}")
    return ("\n".join(lines) + "\n").encode("ascii")


# The layout and the triangles are the same for every face the engine writes: their text is
# made once (keyed by the arrays' bytes), which halves the time write_obj takes.
@lru_cache(maxsize=4)
def _fixed_rows(keyword: str, data: bytes, decimals: int) -> str:
    return _rows(keyword, np.frombuffer(data, np.float64).reshape(-1, 2), decimals)


@lru_cache(maxsize=4)
def _face_rows(data: bytes) -> str:
    corners = np.repeat(np.frombuffer(data, np.int64).reshape(-1, 3) + 1, 3, axis=1)
    return ("f %d/%d/%d %d/%d/%d %d/%d/%d\n" * len(corners) % tuple(corners.ravel().tolist()))[:-1]


def _rows(keyword: str, values: npt.NDArray[np.float64], decimals: int) -> str:
    # Rounded first, then + 0.0: a value that rounds to zero prints as 0.000, never -0.000.
    rounded = np.round(values, decimals) + 0.0
    # One format string for all the rows: a join over per-row formatting takes twice as long.
    template = (f"{keyword}" + f" %.{decimals}f" * values.shape[1] + "\n") * len(values)
    return (template % tuple(rounded.ravel().tolist()))[:-1]
