"""Wavefront OBJ and MTL text, byte-for-byte reproducible.

Fixed decimals (0.1 micrometre for positions) and no negative zeros, so that the same mesh always
gives the same bytes. Faces are `f v/vt` with one texture coordinate per vertex (the layout has
no seams), 1-based.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from face3d.contract import MTL_NAME, TEXTURE_NAME

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
    lines = [
        "# face3d offline engine: millimetres; x the subject's left, y up, z out of the face",
        f"# {len(vertices)} vertices, {len(triangles)} triangles",
    ]
    if with_material:
        lines.append(f"mtllib {MTL_NAME}")
    lines += [f"v {_num(x, 4)} {_num(y, 4)} {_num(z, 4)}" for x, y, z in vertices.tolist()]
    lines += [f"vt {_num(u, 6)} {_num(v, 6)}" for u, v in uv.tolist()]
    if with_material:
        lines.append(f"usemtl {MATERIAL_NAME}")
    lines += [f"f {a}/{a} {b}/{b} {c}/{c}" for a, b, c in (triangles + 1).tolist()]
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


def _num(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    return text[1:] if text.startswith("-") and not text.strip("-0.") else text
