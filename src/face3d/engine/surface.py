"""The surface written to `face.obj`: the landmarks, the closures of the eyes and mouth, and one
round of smooth subdivision.

Closures (`face_topology().closures`): each eye gets a shallow spherical cap behind its lids,
bulging `EYE_BULGE_MM` at the middle like the eyeball under them: its ring shrinks towards a
centre from which the lids' outline is seen whole (a point of its kernel), so seen from the front
each triangle keeps its outward winding. The mouth gets a cavity behind the inner lip line,
closed like a zip (`topology.zip_hole`): a vertex inside each quad between the upper and lower
lip lines, as far back as the quad is open, doubled (within `MOUTH_DEPTH_MM`): an open mouth is
a recess, a closed one a shallow crease. A closed mouth's two inner lip lines often touch
or cross by a fraction of a millimetre in MediaPipe's output, which would fold any surface
spanning them; each lower inner lip point is moved `LIP_GAP_PX` below its upper partner first
(each by half the overlap and gap: well under a pixel). Closure edges are split at their
straight midpoints, which keeps every forward-facing triangle forward-facing.

Subdivision: each triangle is split in four at its edges' midpoints, and each new vertex is
lifted onto the curved patch of the triangles' point-normal (PN) cubic (Vlachos et al. 2001),
which depends on the edge's two ends and their normals only: the surface stays watertight,
silhouettes are curved instead of polygonal, and the original vertices, the landmarks, do not
move at all, so they still re-project exactly where they were found. Texture coordinates of a
new vertex are the midpoint of its edge's (the layout is fixed, so is its subdivision).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Final

import numpy as np

from face3d.engine import landmark_ids as ids
from face3d.engine.topology import MOUTH, Closure, FaceTopology, face_topology
from face3d.engine.uv import face_uv, subdivided_uv, unique_edges
from face3d.geometry import FloatArray, IntArray, vertex_normals

EYE_BULGE_MM: Final = 1.5
MOUTH_DEPTH_MM: Final = (1.0, 15.0)  # the cavity's depth: the opening's height times two, within
LIP_GAP_PX: Final = 0.3  # the least gap between the inner lips, in pixels of the front photo
# How far each ring sits from the centre, as a share of the way to the loop outside it.
RING_SCALE: Final = {1: (0.55,), 2: (0.45, 0.4)}
_GRID: Final = 15  # candidate centres per side of the hole's bounding box


@dataclass(frozen=True)
class FineMesh:
    """The subdivided mesh: the closed mesh's vertices first, then one per edge."""

    triangles: IntArray  # (4F, 3), outward winding
    edges: IntArray  # (E, 2): the closed mesh's edges, in the order of their new vertices
    uv: FloatArray  # (V + E, 2)
    mirror: IntArray  # (V + E,)
    base_vertex_count: int

    @property
    def vertex_count(self) -> int:
        return self.base_vertex_count + len(self.edges)


@cache
def fine_mesh() -> FineMesh:
    topology = face_topology()
    edges = unique_edges(topology.triangles)
    mesh = subdivide(topology.triangles, edges, topology.vertex_count)
    mirror = np.array(topology.mirror)
    index = {(int(a), int(b)): k for k, (a, b) in enumerate(edges.tolist())}
    edge_mirror = [
        topology.vertex_count + index[(min(mirror[a], mirror[b]), max(mirror[a], mirror[b]))]
        for a, b in edges.tolist()
    ]
    fine_mirror = np.concatenate([mirror, np.array(edge_mirror, dtype=np.int64)])
    uv = subdivided_uv(face_uv(), edges)
    for array in (mesh, uv, fine_mirror):
        array.setflags(write=False)
    return FineMesh(mesh, edges, uv, fine_mirror, topology.vertex_count)


def subdivide(triangles: IntArray, edges: IntArray, vertex_count: int) -> IntArray:
    """Each triangle split in four; edge k's midpoint is vertex `vertex_count + k`."""
    index = {(int(a), int(b)): vertex_count + k for k, (a, b) in enumerate(edges.tolist())}

    def mid(a: int, b: int) -> int:
        return index[(min(a, b), max(a, b))]

    out = []
    for a, b, c in triangles.tolist():
        ab, bc, ca = mid(a, b), mid(b, c), mid(c, a)
        out += [(a, ab, ca), (ab, b, bc), (ca, bc, c), (ab, bc, ca)]
    return np.array(out, dtype=np.int64)


def surface_vertices(shape: FloatArray, pixel_mm: float = 0.5) -> FloatArray:
    """The fine mesh's vertices from the fitted landmarks (478, model millimetres); `pixel_mm`
    is the front photo's pixel size at the face."""
    topology = face_topology()
    base = closed_vertices(shape, topology, LIP_GAP_PX * pixel_mm)
    edges = fine_mesh().edges
    # Straight midpoints on the closures' edges: a straight split keeps every small triangle
    # of a forward-facing one forward-facing, where the curved patch could tip a thin one over.
    closure_start = len(topology.open_triangles)
    straight = np.zeros(topology.vertex_count, dtype=bool)
    straight[np.unique(topology.triangles[closure_start:])] = True
    edge_straight = straight[edges[:, 0]] & straight[edges[:, 1]]
    vertices = pn_midpoints(base, topology.triangles, edges)
    middle = (base[edges[:, 0]] + base[edges[:, 1]]) / 2
    vertices[topology.vertex_count :][edge_straight] = middle[edge_straight]
    return vertices


def closed_vertices(shape: FloatArray, topology: FaceTopology, lip_gap_mm: float) -> FloatArray:
    """The 468 surface landmarks (inner lips kept apart), then the closures' vertices."""
    landmarks = separated_lips(shape[: ids.MESH_LANDMARK_COUNT], topology, lip_gap_mm)
    vertices = np.zeros((topology.vertex_count, 3))
    vertices[: ids.MESH_LANDMARK_COUNT] = landmarks
    for kind, closure in enumerate(topology.closures):
        _place_closure(vertices, closure, is_mouth=kind == MOUTH)
    return vertices


def separated_lips(landmarks: FloatArray, topology: FaceTopology, gap_mm: float) -> FloatArray:
    """Each lower inner lip point at least `gap_mm` below its upper partner (model y up)."""
    loop = topology.holes[MOUTH]
    n = len(loop)
    start = loop.index(ids.RIGHT_MOUTH_INNER_CORNER)
    out = landmarks.copy()
    for k in range(1, n // 2):
        upper, lower = loop[(start + k) % n], loop[(start - k) % n]
        if {upper, lower} & {ids.LEFT_MOUTH_INNER_CORNER}:
            continue
        overlap = out[lower, 1] - out[upper, 1] + gap_mm
        if overlap > 0:
            out[upper, 1] += overlap / 2
            out[lower, 1] -= overlap / 2
    return out


def _place_zip(vertices: FloatArray, closure: Closure) -> None:
    """Each quad's vertex at its middle, as far behind the lips as the quad is open, doubled."""
    loop = list(closure.loop)
    n = len(loop)
    start = loop.index(ids.RIGHT_MOUTH_INNER_CORNER)
    upper = [loop[(start + k) % n] for k in range(n // 2 + 1)]
    lower = [loop[(start - k) % n] for k in range(n // 2 + 1)]
    for k, q in enumerate(closure.rings[0]):
        corners = sorted({upper[k], upper[k + 1], lower[k + 1], lower[k]})
        points = vertices[corners]
        gap = max(vertices[upper[j], 1] - vertices[lower[j], 1] for j in (k, k + 1))
        depth = float(np.clip(2.0 * gap, *MOUTH_DEPTH_MM))
        vertices[q] = (*points[:, :2].mean(axis=0), points[:, 2].mean() - depth)


def _place_closure(vertices: FloatArray, closure: Closure, *, is_mouth: bool) -> None:
    if closure.centre is None:
        _place_zip(vertices, closure)
        return
    loop = np.array(closure.loop)
    outline = vertices[loop]
    centre_xy = kernel_point(outline[:, :2])
    base_depth = float(outline[:, 2].mean())
    if is_mouth:
        opening = float(np.ptp(outline[:, 1]))
        depth = float(np.clip(2.0 * opening, *MOUTH_DEPTH_MM))
    outer = outline
    reach = 1.0  # the share of the way from the centre to the loop
    scales = RING_SCALE[len(closure.rings)]
    for ring, scale in zip(closure.rings, scales, strict=True):
        midpoints = (outer + np.roll(outer, -1, axis=0)) / 2
        xy = centre_xy + scale * (midpoints[:, :2] - centre_xy)
        reach *= scale
        if is_mouth:
            z = base_depth - depth * (1 - reach) + (midpoints[:, 2] - base_depth) * reach
        else:
            z = midpoints[:, 2] * reach + base_depth * (1 - reach) + EYE_BULGE_MM * (1 - reach**2)
        placed = np.column_stack([xy, z])
        vertices[list(ring)] = placed
        outer = placed
    centre_z = base_depth - depth if is_mouth else base_depth + EYE_BULGE_MM
    vertices[closure.centre] = (centre_xy[0], centre_xy[1], centre_z)


def kernel_point(polygon: FloatArray) -> FloatArray:
    """A point from which the whole closed polygon (x, y) is seen: the candidate (the centroid,
    or a grid over its bounding box) deepest inside all of its edges' half-planes."""
    area = np.sum(
        polygon[:, 0] * np.roll(polygon[:, 1], -1) - np.roll(polygon[:, 0], -1) * polygon[:, 1]
    )
    start, end = polygon, np.roll(polygon, -1, axis=0)
    direction = end - start
    normal = np.stack([-direction[:, 1], direction[:, 0]], axis=1) * np.sign(area)
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
    low, high = polygon.min(axis=0), polygon.max(axis=0)
    steps = (np.arange(_GRID) + 0.5) / _GRID
    grid = np.stack(
        np.meshgrid(low[0] + steps * (high[0] - low[0]), low[1] + steps * (high[1] - low[1])),
        axis=-1,
    ).reshape(-1, 2)
    # Thin holes (a closed mouth) have their kernel along the middle: midpoints of point pairs.
    pairs = ((polygon[:, None, :] + polygon[None, :, :]) / 2).reshape(-1, 2)
    candidates = np.concatenate([polygon.mean(axis=0)[None], grid, pairs])
    depth = np.einsum("ekd,ed->ke", candidates[None] - start[:, None], normal).min(axis=1)
    return np.asarray(candidates[int(np.argmax(depth))])


def pn_midpoints(vertices: FloatArray, triangles: IntArray, edges: IntArray) -> FloatArray:
    """`vertices`, then each edge's point on the PN cubic through its ends."""
    normals = vertex_normals(vertices, triangles)
    a, b = vertices[edges[:, 0]], vertices[edges[:, 1]]
    na, nb = normals[edges[:, 0]], normals[edges[:, 1]]
    d = b - a
    # Bezier control points: each end's third of the edge projected onto its tangent plane.
    c1 = (2 * a + b - np.einsum("ij,ij->i", d, na)[:, None] * na) / 3
    c2 = (2 * b + a + np.einsum("ij,ij->i", d, nb)[:, None] * nb) / 3
    middle = (a + 3 * c1 + 3 * c2 + b) / 8
    return np.concatenate([vertices, middle])
