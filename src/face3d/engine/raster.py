"""The fixed layout rasterised once per texture size: which triangle each texel lies in, and where.

Under an orthographic camera the map from a triangle's texture coordinates to its pixels in a
photo is affine, so the texture is a piecewise-affine warp of each photo. Because the layout
never changes, the table texel -> (triangle, barycentric coordinates) is made once per process
and size; a view's warp is then one barycentric sum per texel and one `cv2.remap`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

from face3d.engine import landmark_ids as ids
from face3d.engine.surface import fine_mesh
from face3d.engine.topology import MOUTH, FaceTopology, face_topology
from face3d.engine.uv import CENTRE
from face3d.geometry import FloatArray, IntArray

_SUBPIXEL_BITS: Final = 8  # cv2 fill functions take fixed-point coordinates
# Texels this far from the layout's centre are the rim of the face: ears, hair and the
# background beside the cheeks show there, so they are never mirrored to the other side.
TRUSTED_RADIUS: Final = 0.40


@dataclass(frozen=True)
class UVRaster:
    """Which triangle each covered texel lies in, and where in it."""

    size: int
    texels: IntArray  # (M,) flat indices row * size + col
    triangle: IntArray  # (M,)
    barycentric: npt.NDArray[np.float32]  # (M, 3)
    inside: npt.NDArray[np.bool_]  # (size, size): covered by the layout
    trusted: npt.NDArray[np.bool_]  # (size, size): inside TRUSTED_RADIUS
    skin: npt.NDArray[np.bool_]  # (size, size): forehead, cheeks, nose: no eyes, brows, lips
    mouth: npt.NDArray[np.bool_]  # (size, size): the cavity behind the lips


@cache
def layout_raster(size: int) -> UVRaster:
    """The raster of the fixed layout of the fine mesh (`surface.fine_mesh()`)."""
    mesh = fine_mesh()
    raster = uv_raster(mesh.uv, mesh.triangles, size)
    rows, cols = np.mgrid[0:size, 0:size]
    radius = np.hypot((cols + 0.5) / size - CENTRE[0], 1 - (rows + 0.5) / size - CENTRE[1])
    trusted = raster.inside & (radius < TRUSTED_RADIUS)
    # Skin: the closed mesh's triangles away from the eyes, brows, lips and mouth.
    topology = face_topology()
    away = _skin_triangles(topology)
    fine_away = np.repeat(away, 4)  # subdivide() puts a triangle's four children together
    skin = np.zeros(size * size, dtype=bool)
    skin[raster.texels] = fine_away[raster.triangle]
    skin = skin.reshape(size, size) & (radius < TRUSTED_RADIUS - 0.05)
    inner = set(topology.closures[MOUTH].rings[0])
    in_mouth = np.array([bool(set(t) & inner) for t in topology.triangles.tolist()])
    mouth = np.zeros(size * size, dtype=bool)
    mouth[raster.texels] = np.repeat(in_mouth, 4)[raster.triangle]
    return UVRaster(
        size,
        raster.texels,
        raster.triangle,
        raster.barycentric,
        raster.inside,
        trusted,
        skin,
        mouth.reshape(size, size),
    )


@cache
def layout_inside(size: int) -> npt.NDArray[np.bool_]:
    """(size, size): the texels the fine mesh's layout covers, as `layout_raster(size).inside`
    without the table (which a 2048-texel texture would need 3 million rows of)."""
    mesh = fine_mesh()
    order = np.arange(len(mesh.triangles))
    inside = rasterise_ids(_texel_points(mesh.uv, size), mesh.triangles, order, (size, size)) >= 0
    inside.setflags(write=False)
    return inside


def uv_raster(uv: FloatArray, triangles: IntArray, size: int) -> UVRaster:
    points = _texel_points(uv, size)
    ids = rasterise_ids(points, triangles, np.arange(len(triangles)), (size, size))
    texels = np.flatnonzero(ids >= 0)
    triangle = ids.ravel()[texels].astype(np.int64)
    cols = (texels % size).astype(np.float64)
    rows = (texels // size).astype(np.float64)
    barycentric = barycentric_of(points, triangles, triangle, np.stack([cols, rows], axis=1))
    inside = (ids >= 0).reshape(size, size)
    empty = np.zeros((size, size), dtype=bool)
    return UVRaster(
        size, texels, triangle, barycentric.astype(np.float32), inside, empty, empty, empty
    )


def _texel_points(uv: FloatArray, size: int) -> FloatArray:
    # Texel (col, row) has its centre at u = (col + 0.5) / size, v = 1 - (row + 0.5) / size.
    return np.stack([uv[:, 0] * size - 0.5, (1.0 - uv[:, 1]) * size - 0.5], axis=1)


def rasterise_ids(
    points: FloatArray, triangles: IntArray, order: IntArray, shape: tuple[int, int]
) -> npt.NDArray[np.int32]:
    """Triangle ids drawn in `order` (later ones on top); -1 where none is."""
    ids = np.full(shape, -1, dtype=np.int32)
    fixed = np.rint(points * (1 << _SUBPIXEL_BITS)).astype(np.int32)
    corners = fixed[triangles[order]]  # one gather, not one per triangle
    for t, corner in zip(order.tolist(), corners, strict=True):
        cv2.fillConvexPoly(ids, corner, (t,), cv2.LINE_8, _SUBPIXEL_BITS)
    return ids


def barycentric_of(
    points: FloatArray, triangles: IntArray, triangle: IntArray, at: FloatArray
) -> FloatArray:
    p0, p1, p2 = (points[triangles[triangle, k]] for k in range(3))
    e1, e2, d = p1 - p0, p2 - p0, at - p0
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    beta = (d[:, 0] * e2[:, 1] - d[:, 1] * e2[:, 0]) / det
    gamma = (e1[:, 0] * d[:, 1] - e1[:, 1] * d[:, 0]) / det
    return np.stack([1.0 - beta - gamma, beta, gamma], axis=1)


def _skin_triangles(topology: FaceTopology) -> npt.NDArray[np.bool_]:
    features = set(ids.LIPS) | set(ids.RIGHT_EYEBROW) | set(ids.LEFT_EYEBROW)
    for hole in topology.holes:
        features |= set(hole)
    for closure in topology.closures:
        features |= {v for ring in closure.rings for v in ring}
        if closure.centre is not None:
            features.add(closure.centre)
    return np.array([not (set(t) & features) for t in topology.triangles.tolist()], dtype=bool)
