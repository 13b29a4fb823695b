"""Baking the photos into the fixed texture layout (`tex.jpg`).

Under an orthographic camera, the map from a triangle's texture coordinates to its pixels in a
photo is affine, so the texture is a piecewise-affine warp of each photo. Because the layout never
changes, which triangle covers each texel and the texel's barycentric coordinates in it are
computed once per process; a view's warp is then one barycentric sum per texel (the vertices'
pixels) and one `cv2.remap`, which is exactly the per-triangle affine warp, without per-triangle
masks.

Per view, a texel counts only if the photo shows it: inside the image, on the side of the surface
facing that camera, and not hidden behind another part of the face (a depth test against the
mesh rasterised in that view, painter's order, nearest triangle last). Views are blended with
weights that fall steeply with how much less squarely a view sees a spot than the best view,
so the best-facing view wins it and others only mix in along the seams; the weights
are blurred a little within each view's visible area so that seams fade over a few texels instead
of cutting, and side views' colours are scaled to match the front view where they overlap, so
that exposure differences do not show as seams. Texels no view sees (under the chin, behind the
cheeks of a single frontal photo, outside the layout's disk) are filled from their neighbours by a
push-pull pyramid: no black holes anywhere a viewer may sample.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from face3d.engine.pose import ViewPose
from face3d.engine.topology import face_topology
from face3d.engine.uv import face_uv
from face3d.geometry import FloatArray, ImageArray, IntArray, vertex_normals

TEXTURE_SIZE: Final = 1024
JPEG_QUALITY: Final = 90
# Views are weighted by exp((facing - best facing) / SHARPNESS): a view that faces a spot less
# squarely than the best by 0.1 (about 25 degrees off at the front) weighs under 10%, so views mix
# only along a narrow seam, where they agree best, and misaligned views cannot ghost.
SHARPNESS: Final = 0.04
# Grazing surface smears a pixel over many texels: below MIN_FACING a view does not count, and
# up to FULL_FACING the best view's colour fades into the fill from neighbouring texels.
MIN_FACING: Final = 0.1
FULL_FACING: Final = 0.4
FEATHER_SIGMA: Final = 3.0  # texels
# A texel this far (mm) behind the nearest surface in a view is hidden in it; less is noise.
OCCLUSION_TOLERANCE_MM: Final = 2.5
# Side views' colour gains are bounded: a larger correction means the overlap is wrong.
MAX_GAIN: Final = 1.5
MIN_OVERLAP_TEXELS: Final = 500
_SUBPIXEL_BITS: Final = 8  # cv2 fill functions take fixed-point coordinates


@dataclass(frozen=True)
class ViewImage:
    rgb: ImageArray  # (height, width, 3)
    pose: ViewPose
    is_front: bool


@dataclass(frozen=True)
class UVRaster:
    """Which triangle each covered texel lies in, and where in it."""

    size: int
    texels: IntArray  # (M,) flat indices row * size + col
    triangle: IntArray  # (M,)
    barycentric: FloatArray  # (M, 3)


def bake_texture(
    views: Sequence[ViewImage], vertices: FloatArray, size: int = TEXTURE_SIZE
) -> bytes:
    """`tex.jpg` for the face mesh (`face_topology()`, `face_uv()`) with these vertices."""
    triangles = face_topology().triangles
    raster = face_uv_raster(size)
    normals = vertex_normals(vertices, triangles)
    colours: list[npt.NDArray[np.float32]] = []
    facings: list[npt.NDArray[np.float32]] = []
    for view in views:
        colour, facing = sample_view(view, vertices, normals, triangles, raster)
        colours.append(colour)
        facings.append(facing)
    best_facing = np.max(facings, axis=0)
    weights = [_feathered(_sharpened(facing, best_facing)) for facing in facings]
    _match_exposure(colours, weights, [view.is_front for view in views])
    total = np.sum(weights, axis=0)
    seen = total > 1e-6
    blended = np.zeros((size, size, 3), np.float32)
    for colour, weight in zip(colours, weights, strict=True):
        blended += colour * weight[:, :, None]
    blended[seen] /= total[seen][:, None]
    confidence = np.clip((best_facing - MIN_FACING) / (FULL_FACING - MIN_FACING), 0.0, 1.0)
    filled = push_pull_fill(blended, np.where(seen, confidence, 0.0).astype(np.float32))
    return _jpeg(np.clip(np.rint(filled), 0, 255).astype(np.uint8))


@cache
def face_uv_raster(size: int = TEXTURE_SIZE) -> UVRaster:
    """The raster of the fixed layout (`face_uv()`), made once per process and size."""
    return uv_raster(face_uv(), face_topology().triangles, size)


def uv_raster(uv: FloatArray, triangles: IntArray, size: int) -> UVRaster:
    # Texel (col, row) has its centre at u = (col + 0.5) / size, v = 1 - (row + 0.5) / size.
    points = np.stack([uv[:, 0] * size - 0.5, (1.0 - uv[:, 1]) * size - 0.5], axis=1)
    ids = _rasterise_ids(points, triangles, np.arange(len(triangles)), (size, size))
    texels = np.flatnonzero(ids >= 0)
    triangle = ids.ravel()[texels].astype(np.int64)
    cols = (texels % size).astype(np.float64)
    rows = (texels // size).astype(np.float64)
    barycentric = _barycentric(points, triangles, triangle, np.stack([cols, rows], axis=1))
    return UVRaster(size, texels, triangle, barycentric)


def sample_view(
    view: ViewImage,
    vertices: FloatArray,
    normals: FloatArray,
    triangles: IntArray,
    raster: UVRaster,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """One photo warped into the layout, and per texel how squarely the photo sees the surface
    there (the cosine of its normal with the view direction; 0 where the photo does not show
    it: outside the image, turned away, or hidden behind another part of the face)."""
    size = raster.size
    height, width = view.rgb.shape[:2]
    projected = view.pose.project(vertices)  # (x, y, depth) in the photo's pixels
    corners = triangles[raster.triangle]  # (M, 3) vertex ids
    where = np.einsum("mk,mkd->md", raster.barycentric, projected[corners])
    # The camera looks along +z of its frame: a surface faces it when its normal's z is < 0.
    facing_vertex = -(normals @ view.pose.to_camera.rotation.T)[:, 2]
    facing = np.einsum("mk,mk->m", raster.barycentric, facing_vertex[corners])
    # Integer coordinates are pixel centres: the photo spans [-0.5, size - 0.5].
    inside = (where[:, 0] >= -0.5) & (where[:, 0] < width - 0.5) & (where[:, 1] >= -0.5)
    inside &= where[:, 1] < height - 0.5
    visible = inside & (facing > MIN_FACING)
    visible &= _unoccluded(projected, triangles, raster.triangle, where, (height, width), view)

    seen_facing = np.zeros(size * size, np.float32)
    seen_facing[raster.texels] = np.where(visible, np.clip(facing, 0.0, 1.0), 0.0)
    map_x = np.full(size * size, -1.0, np.float32)
    map_y = np.full(size * size, -1.0, np.float32)
    map_x[raster.texels] = where[:, 0]
    map_y[raster.texels] = where[:, 1]
    colour = cv2.remap(
        view.rgb,
        map_x.reshape(size, size),
        map_y.reshape(size, size),
        interpolation=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return colour.astype(np.float32), seen_facing.reshape(size, size)


def _unoccluded(
    projected: FloatArray,
    triangles: IntArray,
    own_triangle: IntArray,
    where: FloatArray,
    shape: tuple[int, int],
    view: ViewImage,
) -> npt.NDArray[np.bool_]:
    """Whether each texel is the surface nearest the camera along its pixel's ray."""
    height, width = shape
    low = np.maximum(np.floor(projected[:, :2].min(axis=0)).astype(np.int64) - 2, 0)
    high = np.minimum(
        np.ceil(projected[:, :2].max(axis=0)).astype(np.int64) + 2, np.array([width, height])
    )
    if np.any(high <= low):
        return np.zeros(len(where), dtype=bool)
    roi = (int(high[1] - low[1]), int(high[0] - low[0]))
    points = projected[:, :2] - low
    far_first = np.argsort(-projected[triangles].mean(axis=1)[:, 2], kind="stable")
    nearest = _rasterise_ids(points, triangles, far_first, roi)

    cols = np.clip(np.rint(where[:, 0]).astype(np.int64) - low[0], 0, roi[1] - 1)
    rows = np.clip(np.rint(where[:, 1]).astype(np.int64) - low[1], 0, roi[0] - 1)
    front = nearest[rows, cols].astype(np.int64)
    plane = _depth_planes(projected, triangles)
    drawn = front >= 0
    front_depth = np.full(len(where), np.inf)
    f = front[drawn]
    front_depth[drawn] = plane[f, 0] * where[drawn, 0] + plane[f, 1] * where[drawn, 1] + plane[f, 2]
    tolerance = OCCLUSION_TOLERANCE_MM * view.pose.to_camera.scale
    return np.asarray((front == own_triangle) | (where[:, 2] <= front_depth + tolerance))


def _rasterise_ids(
    points: FloatArray, triangles: IntArray, order: IntArray, shape: tuple[int, int]
) -> npt.NDArray[np.int32]:
    """Triangle ids drawn in `order` (later ones on top); -1 where none is."""
    ids = np.full(shape, -1, dtype=np.int32)
    fixed = np.rint(points * (1 << _SUBPIXEL_BITS)).astype(np.int32)
    for t in order.tolist():
        cv2.fillConvexPoly(ids, fixed[triangles[t]], (t,), cv2.LINE_8, _SUBPIXEL_BITS)
    return ids


def _depth_planes(projected: FloatArray, triangles: IntArray) -> FloatArray:
    """Per triangle (a, b, c) with depth = a * x + b * y + c over its projection."""
    p0, p1, p2 = (projected[triangles[:, k]] for k in range(3))
    e1, e2 = p1 - p0, p2 - p0
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    flat = np.abs(det) < 1e-9  # seen edge-on: no plane; its mean depth will do
    safe = np.where(flat, 1.0, det)
    a = (e1[:, 2] * e2[:, 1] - e2[:, 2] * e1[:, 1]) / safe
    b = (e2[:, 2] * e1[:, 0] - e1[:, 2] * e2[:, 0]) / safe
    a[flat] = 0.0
    b[flat] = 0.0
    c = p0[:, 2] - a * p0[:, 0] - b * p0[:, 1]
    c[flat] = (p0[flat, 2] + p1[flat, 2] + p2[flat, 2]) / 3
    return np.stack([a, b, c], axis=1)


def _barycentric(
    points: FloatArray, triangles: IntArray, triangle: IntArray, at: FloatArray
) -> FloatArray:
    p0, p1, p2 = (points[triangles[triangle, k]] for k in range(3))
    e1, e2, d = p1 - p0, p2 - p0, at - p0
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    beta = (d[:, 0] * e2[:, 1] - d[:, 1] * e2[:, 0]) / det
    gamma = (e1[:, 0] * d[:, 1] - e1[:, 1] * d[:, 0]) / det
    return np.stack([1.0 - beta - gamma, beta, gamma], axis=1)


def _sharpened(
    facing: npt.NDArray[np.float32], best_facing: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    weight = np.exp((facing - best_facing) / SHARPNESS)
    return np.asarray(np.where(facing > 0, weight, 0.0), dtype=np.float32)


def _feathered(weight: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    # Blurred, then cut back to where the view sees: seams soften, nothing hidden leaks in.
    blurred = cv2.GaussianBlur(weight, (0, 0), FEATHER_SIGMA)
    return np.asarray(np.where(weight > 0, blurred, 0.0), dtype=np.float32)


def _match_exposure(
    colours: list[npt.NDArray[np.float32]],
    weights: list[npt.NDArray[np.float32]],
    is_front: list[bool],
) -> None:
    if True not in is_front:
        return
    front = is_front.index(True)
    for k in range(len(colours)):
        if k == front:
            continue
        both = (weights[front] > 0) & (weights[k] > 0)
        if np.count_nonzero(both) < MIN_OVERLAP_TEXELS:
            continue
        reference = colours[front][both].mean(axis=0)
        own = colours[k][both].mean(axis=0)
        gain = np.clip(reference / np.maximum(own, 1.0), 1 / MAX_GAIN, MAX_GAIN)
        colours[k] *= gain.astype(np.float32)


def push_pull_fill(
    image: npt.NDArray[np.float32], confidence: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """`image` where `confidence` is 1, filled smoothly from there where it is 0 (push-pull,
    Gortler et al. 1996); in between, a mix of both."""
    weight = np.clip(confidence, 0.0, 1.0).astype(np.float32)
    colour = np.where(weight[:, :, None] > 0, image, 0.0).astype(np.float32)
    if not weight.any():
        return colour
    levels: list[tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]] = []
    while True:
        levels.append((colour, weight))
        height, width = weight.shape
        if height == 1 and width == 1:
            break
        size = (max(1, width // 2), max(1, height // 2))
        mean_weight = cv2.resize(weight, size, interpolation=cv2.INTER_AREA)
        mean_colour = cv2.resize(colour * weight[:, :, None], size, interpolation=cv2.INTER_AREA)
        mean_colour = mean_colour.reshape(size[1], size[0], 3)
        colour = np.where(
            mean_weight[:, :, None] > 0,
            mean_colour / np.maximum(mean_weight, 1e-12)[:, :, None],
            0.0,
        ).astype(np.float32)
        # A coarse pixel is as sure as its four shares together, at most fully sure: one known
        # pixel below is enough to stop the coarser levels from overriding it.
        weight = np.minimum(mean_weight * 4.0, 1.0).astype(np.float32)
    filled = levels[-1][0]
    for colour, weight in reversed(levels[:-1]):
        height, width = weight.shape
        coarse = cv2.resize(filled, (width, height), interpolation=cv2.INTER_LINEAR)
        coarse = coarse.reshape(height, width, 3)
        filled = (colour * weight[:, :, None] + coarse * (1.0 - weight[:, :, None])).astype(
            np.float32
        )
    return filled


def _jpeg(rgb: ImageArray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()
