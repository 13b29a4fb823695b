"""Baking the photos into the fixed texture layout (`tex.jpg`): the face only.

Per view, a texel counts as seen when the photo shows it: inside the image, on the side of the
surface facing that camera (fading in from grazing angles), not hidden behind another part of the
face (a depth test against the mesh drawn in that view), and on the person, not the background
(MediaPipe's selfie segmentation, `segmentation.py`). Views are blended with weights that fall
steeply with how much less squarely a view sees a spot than the best view, so the best-facing
view wins it and others mix in only along seams; side views' colours are scaled to match the
front view where both see the face.

What no photo shows (the hidden cheek of a turned face, the sides of a frontal one) is filled
from its mirror image: the layout is exactly left-right symmetric (`uv.py`), so the texture
flipped left to right holds, at each texel, the colour of the mirrored spot of the face. The
mirror's exposure is matched to the seen side where both are seen (a shadowed cheek must not
come back bright), and only texels away from the face's rim are mirrored (ears, hair and glasses
frames sit at the rim). What neither side shows gets a neutral skin colour, the median of the
seen skin. All three are blended by confidences that are feathered inwards only, so seams fade
over a few texels and nothing unseen leaks in. No pixel at the face's border is ever spread over
the texture: a colour either comes from where the mesh lies on a photo, or from its mirror image,
or is the skin colour.

Speed: geometry (where each texel lies in each photo, whether it is seen, the weights) is worked
out on a coarse `MAP_SIZE` grid of the layout and interpolated up: all of it is smooth over the
texture (the texel-to-pixel map is continuous and piecewise affine). Only the photo lookups
(`cv2.remap`) and the final blends run at the texture's own size, in 8-bit colour, each one pass
of `cv2.blendLinear` (per-texel weights over all three channels at once). The coarse maps
continue past the layout's rim with their nearest inside values, so the texture's margin holds
the rim's colours without a pass of its own; where each colour came from (`Bake.sources`, for
tests and diagnostics) is worked out only when asked for.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from face3d.engine.pose import ViewPose
from face3d.engine.raster import (
    UVRaster,
    layout_inside,
    layout_raster,
    rasterise_ids,
)
from face3d.engine.reference_face import reference_mesh
from face3d.engine.segmentation import PersonMask
from face3d.engine.surface import fine_mesh
from face3d.engine.topology import face_topology
from face3d.geometry import FloatArray, ImageArray, IntArray, triangle_areas, vertex_normals

F32 = npt.NDArray[np.float32]

TEXTURE_SIZES: Final = (512, 1024, 2048)
MAP_SIZE: Final = 256
JPEG_QUALITY: Final = 90
# Views are weighted by exp((facing - best facing) / SHARPNESS): a view that faces a spot less
# squarely than the best by 0.1 (about 25 degrees off at the front) weighs under 10%.
SHARPNESS: Final = 0.04
# Grazing surface smears a pixel over many texels: up to FULL_FACING a view's confidence rises
# from 0 to 1, and where it is low the mirror image is preferred to it (but not the skin fill).
MIN_FACING: Final = 0.0
FULL_FACING: Final = 0.35
# The person mask's confidence maps to ours between these two (MediaPipe's own threshold: 0.5).
MASK_RANGE: Final = (0.35, 0.75)
FEATHER_SIGMA: Final = 1.5  # coarse texels
# A texel this far (mm) behind the nearest surface in a view is hidden in it; less is noise.
OCCLUSION_TOLERANCE_MM: Final = 2.5
OCCLUSION_PIXELS: Final = 200  # the depth test's picture: the face this many pixels across
MAX_GAIN: Final = 1.5  # exposure corrections are bounded: a larger one means a wrong overlap
MIN_OVERLAP_TEXELS: Final = 200  # coarse texels
# Texels per millimetre of the face: the texture holds about the photo's own detail.
TEXELS_PER_PIXEL: Final = 1.0
# Inside the mouth, where no photo looks, the fill is dark like a mouth's shadow, not skin.
MOUTH_COLOUR: Final = np.array([70.0, 35.0, 35.0], np.float32)


@dataclass(frozen=True)
class ViewImage:
    rgb: ImageArray  # (height, width, 3)
    pose: ViewPose
    is_front: bool
    person: PersonMask | None = None


@dataclass(frozen=True)
class Source:
    """Where a share of each texel's colour came from: pixel (x, y) of view `view`."""

    view: int
    x: F32  # (size, size) photo pixels
    y: F32
    weight: F32  # (size, size) share of the texel's colour, 0..1


@dataclass(frozen=True)
class Bake:
    """The texture, and where its colours came from (worked out when first asked for)."""

    jpeg: bytes
    size: int
    _coordinates: list[tuple[F32, F32]] = field(repr=False)  # coarse, per view
    _shares: list[F32] = field(repr=False)  # coarse, per view: its share of the seen colour
    _direct: F32 = field(repr=False)  # coarse: the share of the texel's own views' colour
    _mirrored: F32 = field(repr=False)  # coarse: the share of its mirror image's

    @cached_property
    def inside(self) -> npt.NDArray[np.bool_]:
        """(size, size): texels the mesh covers."""
        return layout_inside(self.size)

    @cached_property
    def sources(self) -> list[Source]:
        """Direct and mirrored samples per view, in that order; the rest is the fill colour."""
        direct = _upsample(self._direct, self.size)
        mirrored = _upsample(self._mirrored, self.size)
        sources = []
        for k, ((x, y), share) in enumerate(zip(self._coordinates, self._shares, strict=True)):
            x, y, share = (_upsample(plane, self.size) for plane in (x, y, share))
            sources.append(Source(k, x, y, share * direct))
            sources.append(Source(k, x[:, ::-1], y[:, ::-1], share[:, ::-1] * mirrored))
        return sources


def prepare_tables() -> None:
    """Make the layout's fixed tables now (an engine's start) rather than on its first bake."""
    layout_raster(MAP_SIZE)
    _texel_corners(MAP_SIZE)
    _nearest_inside(MAP_SIZE)
    _layout_side_mm()


def texture_size(poses: Sequence[ViewPose]) -> int:
    """The texture's side for faces seen at these scales (pixels per millimetre): the smallest
    of TEXTURE_SIZES that holds the best view's detail, or the largest."""
    scale = max(pose.to_camera.scale for pose in poses)
    wanted = TEXELS_PER_PIXEL * scale * _layout_side_mm()
    return next((size for size in TEXTURE_SIZES if size >= 0.8 * wanted), TEXTURE_SIZES[-1])


@cache
def _layout_side_mm() -> float:
    """How many millimetres of the reference face the texture's side spans."""
    area_mm2 = float(triangle_areas(reference_mesh(), face_topology().triangles).sum())
    layout_share = float(layout_raster(MAP_SIZE).inside.mean())
    return float(np.sqrt(area_mm2 / layout_share))


def bake_texture(views: Sequence[ViewImage], vertices: FloatArray, size: int) -> Bake:
    """`tex.jpg` for the fine mesh (`surface.fine_mesh()`) with these vertices."""
    coarse = layout_raster(MAP_SIZE)
    triangles = fine_mesh().triangles
    normals = vertex_normals(vertices, triangles)
    maps = [_view_map(view, vertices, normals, coarse) for view in views]
    facings = np.stack([m.facing for m in maps])
    seen = np.stack([m.confidence for m in maps])
    best = facings.max(axis=0)
    # A tiny floor keeps every texel's shares summing to one (for the grazing fallback below).
    blend = (seen + 1e-6) * np.exp((facings - best) / SHARPNESS)
    total = blend.sum(axis=0)
    shares = np.divide(blend, total, out=np.zeros_like(blend), where=total > 0)
    confidence = _feathered_inwards(seen.max(axis=0), coarse.inside)
    # Grazing views are kept over the skin fill inside the face (under the nose), not at its
    # rim, where they would smear the silhouette's pixels.
    visible = _feathered_inwards(
        cv2.GaussianBlur((seen.max(axis=0) > 0).astype(np.float32), (0, 0), FEATHER_SIGMA),
        coarse.trusted,
    )

    coarse_colours = [_remap(view.rgb, m.x, m.y) for view, m in zip(views, maps, strict=True)]
    gains = _exposure_gains(coarse_colours, seen, [view.is_front for view in views])
    own_coarse = sum(
        (c * g * s[:, :, None] for c, g, s in zip(coarse_colours, gains, shares, strict=True)),
        np.zeros((MAP_SIZE, MAP_SIZE, 3), np.float32),
    )
    mirror_confidence = _feathered_inwards((confidence * coarse.trusted)[:, ::-1], coarse.inside)
    skin = _skin_colour(own_coarse, confidence, coarse)
    mirror_gain = _mirror_gain(own_coarse, confidence, mirror_confidence)

    # Each texel's colour: its own views' (share `direct`), its mirror image's (`mirrored`), else
    # the fill: `c_own * own + (1 - c_own) * (c_mirror * mirrored + (1 - c_mirror) * last)`, with
    # `last = c_visible * own + (1 - c_visible) * fill`, expanded. Worked out on the coarse grid,
    # and carried past the layout's rim with the nearest inside texel's values, so that the
    # texture's margin (for filtered lookups at the rim) holds the rim's own colours.
    direct = confidence + (1 - confidence) * (1 - mirror_confidence) * visible
    mirrored = (1 - confidence) * mirror_confidence
    direct, mirrored = (_nearest_filled_grid(plane, coarse) for plane in (direct, mirrored))
    shares = [_nearest_filled_grid(share, coarse) for share in shares]
    in_mouth = _nearest_filled_grid(coarse.mouth.astype(np.float32), coarse) > 0.5
    fill = np.empty((MAP_SIZE, MAP_SIZE, 3), np.uint8)
    fill[:] = np.clip(np.rint(skin), 0, 255)
    fill[in_mouth] = MOUTH_COLOUR

    # At the texture's size, in 8-bit colour: each step a weighted blend of two pictures by
    # per-texel weights (`cv2.blendLinear`), one pass over memory where NumPy takes several.
    own: ImageArray | None = None
    gathered = np.zeros_like(shares[0])  # the shares blended into `own` so far (coarse)
    for view, m, share, gain in zip(views, maps, shares, gains, strict=True):
        if share.max() <= 0:
            continue
        sampled = _remap_u8(view.rgb, _upsample(m.x, size), _upsample(m.y, size))
        sampled = _gained(sampled, gain)
        if own is None:
            own = sampled
        else:
            own = _blend(own, sampled, _upsample(gathered, size), _upsample(share, size))
        gathered += share
    assert own is not None  # shares sum to one: some view has a share
    mirror_image = _gained(np.asarray(cv2.flip(own, 1), dtype=np.uint8), mirror_gain)
    direct_up, mirrored_up = _upsample(direct, size), _upsample(mirrored, size)
    shown = _blend(own, mirror_image, direct_up, mirrored_up)
    shown_share = direct_up + mirrored_up
    filled = np.asarray(cv2.resize(fill, (size, size), interpolation=cv2.INTER_LINEAR), np.uint8)
    jpeg = _jpeg(_blend(shown, filled, shown_share, np.maximum(1 - shown_share, 0)))
    return Bake(jpeg, size, [(m.x, m.y) for m in maps], shares, direct, mirrored)


@dataclass(frozen=True)
class _ViewMap:
    x: F32  # (MAP_SIZE, MAP_SIZE) photo pixel of each coarse texel; outside: nearest inside
    y: F32
    facing: F32  # cosine of the surface normal with the view direction where seen, else 0
    confidence: F32  # 0..1: seen squarely enough, on the person, not hidden


def _view_map(
    view: ViewImage,
    vertices: FloatArray,
    normals: FloatArray,
    raster: UVRaster,
) -> _ViewMap:
    height, width = view.rgb.shape[:2]
    projected = view.pose.project(vertices)  # (x, y, depth) in the photo's pixels
    # The camera looks along +z of its frame: a surface faces it when its normal's z is < 0.
    facing_vertex = -(normals @ view.pose.to_camera.rotation.T)[:, 2]
    corners, bary = _texel_corners(raster.size)
    per_texel = np.einsum("mk,mkd->md", bary, np.column_stack([projected, facing_vertex])[corners])
    where, facing = per_texel[:, :3], per_texel[:, 3]
    inside = (where[:, 0] >= -0.5) & (where[:, 0] <= width - 1.5) & (where[:, 1] >= -0.5)
    inside &= where[:, 1] <= height - 1.5
    confidence = np.clip((facing - MIN_FACING) / (FULL_FACING - MIN_FACING), 0.0, 1.0)
    confidence *= inside & _unoccluded(projected, where, raster, view)
    if view.person is not None:
        on_person = view.person.at(where[:, 0], where[:, 1])
        low, high = MASK_RANGE
        confidence *= np.clip((on_person - low) / (high - low), 0.0, 1.0)
    planes = [where[:, 0], where[:, 1], np.where(confidence > 0, facing, 0.0), confidence]
    grids = [_nearest_filled(values, raster) for values in planes[:2]]
    grids += [_scatter(values, raster) for values in planes[2:]]
    x, y, seen_facing, seen = grids
    return _ViewMap(x, y, seen_facing, seen)


@cache
def _texel_corners(size: int) -> tuple[IntArray, FloatArray]:
    """Per texel of the layout raster at `size`: its fine-mesh triangle's corners and its
    barycentric coordinates (float64), the same for every view and every face."""
    raster = layout_raster(size)
    corners = fine_mesh().triangles[raster.triangle]
    return corners, raster.barycentric.astype(np.float64)


def _unoccluded(
    projected: FloatArray, where: FloatArray, raster: UVRaster, view: ViewImage
) -> npt.NDArray[np.bool_]:
    """Whether each texel is the surface nearest the camera along its pixel's ray, judged on
    the closed mesh drawn with the face OCCLUSION_PIXELS across."""
    topology = face_topology()
    base = projected[: topology.vertex_count]
    triangles = topology.triangles
    low = base[:, :2].min(axis=0) - 2
    extent = float(max(base[:, :2].max(axis=0) - low)) + 2
    step = max(extent / OCCLUSION_PIXELS, 1e-6)
    points = (base[:, :2] - low) / step
    shape = (int(np.ceil(extent / step)) + 1,) * 2
    far_first = np.argsort(-base[triangles].mean(axis=1)[:, 2], kind="stable")
    nearest = rasterise_ids(points, triangles, far_first, shape)
    at = (where[:, :2] - low) / step
    cols = np.clip(np.rint(at[:, 0]).astype(np.int64), 0, shape[1] - 1)
    rows = np.clip(np.rint(at[:, 1]).astype(np.int64), 0, shape[0] - 1)
    front = nearest[rows, cols].astype(np.int64)
    drawn = front >= 0
    # Under an orthographic camera depth is affine over each triangle: one plane per triangle
    # (986 of them) is far cheaper than barycentric coordinates per texel (45,000 of them).
    origin, slope = _depth_planes(points, base[:, 2], triangles)
    hit = front[drawn]
    front_depth = np.full(len(where), np.inf)
    offset = at[drawn] - points[triangles[hit, 0]]
    front_depth[drawn] = origin[hit] + np.einsum("md,md->m", offset, slope[hit])
    tolerance = OCCLUSION_TOLERANCE_MM * view.pose.to_camera.scale
    return np.asarray(where[:, 2] <= front_depth + tolerance)


def _depth_planes(
    points: FloatArray, depth: FloatArray, triangles: IntArray
) -> tuple[FloatArray, FloatArray]:
    """Per triangle, the depth at its first corner and the depth's gradient over the picture
    (an edge-on triangle, which covers no pixel centre, gets its mean depth and no slope)."""
    corner = points[triangles]  # (T, 3, 2)
    e1, e2 = corner[:, 1] - corner[:, 0], corner[:, 2] - corner[:, 0]
    d = depth[triangles]
    d1, d2 = d[:, 1] - d[:, 0], d[:, 2] - d[:, 0]
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    flat = np.abs(det) < 1e-9
    safe = np.where(flat, 1.0, det)
    slope = np.stack([d1 * e2[:, 1] - d2 * e1[:, 1], e1[:, 0] * d2 - e2[:, 0] * d1], axis=1)
    slope = np.where(flat[:, None], 0.0, slope / safe[:, None])
    origin = np.where(flat, d.mean(axis=1), d[:, 0])
    return origin, slope


def _scatter(values: FloatArray, raster: UVRaster) -> F32:
    grid = np.zeros(raster.size * raster.size, np.float32)
    grid[raster.texels] = values
    return grid.reshape(raster.size, raster.size)


def _nearest_filled(values: FloatArray, raster: UVRaster) -> F32:
    """Values on the layout, and outside it each texel's nearest inside texel's (so that
    interpolating up does not pull the rim towards zero)."""
    return _nearest_filled_grid(_scatter(values, raster), raster)


def _nearest_filled_grid(grid: F32, raster: UVRaster) -> F32:
    """The grid inside the layout, and its nearest inside texel's value outside."""
    return np.asarray(grid.ravel()[_nearest_inside(raster.size)].reshape(grid.shape))


@cache
def _nearest_inside(size: int) -> IntArray:
    """Per texel of the layout at `size`, the flat index of the nearest texel inside it."""
    inside = layout_raster(size).inside
    outside = (~inside).astype(np.uint8)
    _, labels = cv2.distanceTransformWithLabels(
        outside, cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL
    )
    # Labels number the zero pixels (the inside) in raster order, from 1.
    nearest = np.flatnonzero(inside.ravel())[labels.ravel() - 1]
    nearest.setflags(write=False)
    return np.asarray(nearest, dtype=np.int64)


def _feathered_inwards(confidence: F32, inside: npt.NDArray[np.bool_]) -> F32:
    blurred = cv2.GaussianBlur(confidence, (0, 0), FEATHER_SIGMA)
    return np.asarray(np.minimum(confidence, blurred) * inside, dtype=np.float32)


def _upsample(grid: F32, size: int) -> F32:
    if grid.shape[0] == size:
        return grid
    return np.asarray(cv2.resize(grid, (size, size), interpolation=cv2.INTER_LINEAR))


def _gained(rgb: ImageArray, gain: F32) -> ImageArray:
    """The picture with its channels scaled by `gain` (saturating), or itself for no gain."""
    if np.allclose(gain, 1.0):
        return rgb
    return np.asarray(cv2.transform(rgb, np.diag(gain.astype(np.float64))), dtype=np.uint8)


def _blend(first: ImageArray, second: ImageArray, w_first: F32, w_second: F32) -> ImageArray:
    """Per texel `(w_first * first + w_second * second) / (w_first + w_second)`; black where
    both weights are zero."""
    return np.asarray(cv2.blendLinear(first, second, w_first, w_second), dtype=np.uint8)


def _remap(rgb: ImageArray, x: F32, y: F32) -> F32:
    return np.asarray(_remap_u8(rgb, x, y), dtype=np.float32)


def _remap_u8(rgb: ImageArray, x: F32, y: F32) -> ImageArray:
    colour = cv2.remap(rgb, x, y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(colour, dtype=np.uint8)


def _exposure_gains(colours: list[F32], seen: F32, is_front: list[bool]) -> list[F32]:
    """Per view, per channel: the gain that matches its colours to the front view's where both
    see the face well."""
    ones = np.ones(3, np.float32)
    gains = [ones for _ in colours]
    if True not in is_front:
        return gains
    front = is_front.index(True)
    for k in range(len(colours)):
        both = (seen[front] > 0.5) & (seen[k] > 0.5)
        if k == front or np.count_nonzero(both) < MIN_OVERLAP_TEXELS:
            continue
        ratio = colours[front][both].mean(axis=0) / np.maximum(colours[k][both].mean(axis=0), 1)
        gains[k] = np.clip(ratio, 1 / MAX_GAIN, MAX_GAIN).astype(np.float32)
    return gains


def _mirror_gain(own: F32, confidence: F32, mirror_confidence: F32) -> F32:
    """Per channel: the seen side's colour over its mirror image's, where both are seen."""
    both = (confidence > 0.8) & (mirror_confidence > 0.8)
    if np.count_nonzero(both) < MIN_OVERLAP_TEXELS:
        return np.ones(3, np.float32)
    ratio = own[both].mean(axis=0) / np.maximum(own[:, ::-1][both].mean(axis=0), 1)
    return np.asarray(np.clip(ratio, 1 / MAX_GAIN, MAX_GAIN), dtype=np.float32)


def _skin_colour(own: F32, confidence: F32, raster: UVRaster) -> F32:
    """The median colour of the seen skin (no eyes, brows or lips); mid-grey skin tone when
    nothing is seen well enough."""
    sure = raster.skin & (confidence > 0.9)
    if np.count_nonzero(sure) < MIN_OVERLAP_TEXELS:
        sure = raster.inside & (confidence > 0.5)
    if not sure.any():
        return np.array([170.0, 140.0, 120.0], np.float32)
    return np.asarray(np.median(own[sure], axis=0), dtype=np.float32)


def _jpeg(rgb: ImageArray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()
