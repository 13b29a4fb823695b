"""The fixed texture layout: one set of texture coordinates shared by every reconstruction.

A Tutte embedding of the closed disk mesh (`face_topology()`): the face oval is pinned to a circle,
forehead at the top, and every inner vertex sits at a weighted mean of its neighbours. With a
convex boundary and positive weights the result is an embedding (Tutte; Floater 2003): no
triangle is flipped or degenerate, whatever the weights. The oval is laid out counter-clockwise
in the direction the outward winding induces, so the layout reads like a frontal photo (forehead
up, the subject's right on the left) and every triangle is counter-clockwise in (u, v).

The weights are then tuned for even texel density (Yoshizawa, Belyaev and Seidel 2004 use the
same fixed-point idea against stretch): where a triangle takes more texture area than its share
of the reference face's surface (`reference_face.py`), the springs on its edges are stiffened,
which pulls it smaller, and where it takes less they are slackened; weights stay positive, so
every round is still an embedding. The share is weighted by what a viewer looks at: the eyes
and lips get `DETAIL_GAIN` times the texels per square millimetre of the forehead and cheeks,
the inside of the mouth a small share. The oval's points are spaced by their distance along the
reference face's rim.

The layout is exactly left-right symmetric: weights and boundary are made symmetric under the
mesh's mirror map, and the answer is averaged with its mirror image, so a texel and its mirror
image across u = 0.5 (column c and size - 1 - c) hold mirrored points of the surface. The texture
bake fills what a photo does not show from that mirror image.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Final

import numpy as np

from face3d.engine.landmark_ids import FOREHEAD, LIPS
from face3d.engine.topology import MOUTH, FaceTopology, boundary_loops, face_topology
from face3d.geometry import FloatArray, IntArray, triangle_areas

# The oval's circle in (u, v); the margin keeps bilinear and mipmapped lookups near the rim
# inside the filled texture.
CENTRE: Final = (0.5, 0.5)
RADIUS: Final = 0.47
REFINEMENT_ROUNDS: Final = 40
# How far each round moves the weights towards even density (a damped fixed point).
STEP: Final = 0.5
# Texels per square millimetre, relative to the forehead's: eyes and lips carry the expression.
DETAIL_GAIN: Final = 2.5
MOUTH_INSIDE_GAIN: Final = 0.3


@cache
def face_uv() -> FloatArray:
    """Texture coordinates (u, v), v up, of every vertex of `face_topology()`."""
    from face3d.engine.reference_face import reference_mesh

    topology = face_topology()
    uv = even_layout(topology, reference_mesh(), detail_weights(topology), REFINEMENT_ROUNDS)
    uv.setflags(write=False)
    return uv


def detail_weights(topology: FaceTopology) -> FloatArray:
    """Per closed-mesh triangle, its texel density relative to the forehead's."""
    triangles = topology.triangles
    gain = np.ones(len(triangles))
    eyes = set(topology.holes[0]) | set(topology.holes[1])
    lips = set(LIPS)
    for t, tri in enumerate(triangles.tolist()):
        if any(v in eyes for v in tri) or all(v in lips for v in tri):
            gain[t] = DETAIL_GAIN
    eye_inside = {v for closure in topology.closures[:2] for ring in closure.rings for v in ring}
    eye_inside |= {c.centre for c in topology.closures[:2] if c.centre is not None}
    mouth_inside = set(topology.closures[MOUTH].rings[0])
    for t, tri in enumerate(triangles.tolist()):
        if any(v in eye_inside for v in tri):
            gain[t] = DETAIL_GAIN
        if any(v in mouth_inside for v in tri):
            gain[t] = MOUTH_INSIDE_GAIN
    return gain


def even_layout(
    topology: FaceTopology, reference: FloatArray, gain: FloatArray, rounds: int
) -> FloatArray:
    """The symmetric embedding whose texel density approaches `gain` (per triangle) times the
    mean, measured on the `reference` surface (vertices of `topology`)."""
    triangles = topology.triangles
    mirror = np.array(topology.mirror)
    edges = unique_edges(triangles)
    boundary = np.array(topology.boundary)
    rim = np.linalg.norm(reference[boundary] - reference[np.roll(boundary, -1)], axis=1)
    rim = (rim + rim[_mirror_edge_order(boundary, mirror)]) / 2
    target = gain * triangle_areas(reference, triangles)
    target /= target.sum()
    mirrored_edges = _edge_index(edges, mirror[edges])
    weights = np.ones(len(edges))
    uv = tutte(triangles, topology.boundary, topology.vertex_count, weights, rim)
    for _ in range(rounds):
        area = np.abs(signed_areas(uv, triangles))
        ratio = (area / area.sum()) / target  # > 1: more texture than its share
        per_edge = _edge_mean(ratio, triangles, edges)
        weights = weights * per_edge**STEP
        weights = np.sqrt(weights * weights[mirrored_edges])  # symmetric, still positive
        weights /= weights.mean()
        uv = tutte(triangles, topology.boundary, topology.vertex_count, weights, rim)
    return symmetrised(uv, mirror)


def tutte(
    triangles: IntArray,
    boundary: Sequence[int],
    vertex_count: int,
    weights: FloatArray | None,
    rim: FloatArray | None = None,
) -> FloatArray:
    """The embedding with `boundary` on the circle (forehead at the top, points spaced by `rim`,
    the lengths of its edges, or evenly) and each inner vertex at the `weights`-mean of its
    neighbours (`weights` per edge of `unique_edges(triangles)`, uniform when None)."""
    n = vertex_count
    loop = np.array(boundary, dtype=np.int64)
    # Start at the forehead (the oval's first vertex is arbitrary) so that it sits at the top.
    shift = int(np.flatnonzero(loop == FOREHEAD)[0])
    loop = np.roll(loop, -shift)
    steps = np.ones(len(loop)) if rim is None else np.roll(np.asarray(rim), -shift)
    angles = np.pi / 2 + 2 * np.pi * np.concatenate([[0.0], np.cumsum(steps)[:-1]]) / steps.sum()
    fixed = np.stack(
        [CENTRE[0] + RADIUS * np.cos(angles), CENTRE[1] + RADIUS * np.sin(angles)], axis=1
    )
    edges = unique_edges(triangles)
    w = np.ones(len(edges)) if weights is None else weights
    inner = np.setdiff1d(np.arange(n), loop)
    adjacency = np.zeros((n, n))
    adjacency[edges[:, 0], edges[:, 1]] = w
    adjacency[edges[:, 1], edges[:, 0]] = w
    laplacian = np.diag(adjacency.sum(axis=1)) - adjacency
    uv = np.zeros((n, 2))
    uv[loop] = fixed
    rhs = -laplacian[np.ix_(inner, loop)] @ fixed
    uv[inner] = np.linalg.solve(laplacian[np.ix_(inner, inner)], rhs)
    return uv


def disk_embedding(faces: IntArray, boundary: Sequence[int], vertex_count: int) -> FloatArray:
    """The plain Tutte embedding of a disk with holes, each hole closed by a fan (its centre
    dropped from the answer), the oval evenly on the circle."""
    loops = [loop for loop in boundary_loops(faces) if set(loop) != set(boundary)]
    closed = [faces]
    for index, loop in enumerate(loops):
        centre = vertex_count + index
        closed.append(
            np.array([(loop[(k + 1) % len(loop)], loop[k], centre) for k in range(len(loop))])
        )
    uv = tutte(np.concatenate(closed), boundary, vertex_count + len(loops), None)
    return uv[:vertex_count]


def symmetrised(uv: FloatArray, mirror: IntArray) -> FloatArray:
    """`uv` averaged with its mirror image, then made exact: u[mirror[i]] == 1 - u[i] and the
    vertices on the midline at u == 0.5."""
    image = uv[mirror] * np.array([-1.0, 1.0]) + np.array([1.0, 0.0])
    mean = (uv + image) / 2
    out = mean.copy()
    for vertex, other in enumerate(mirror.tolist()):
        if other == vertex:
            out[vertex, 0] = 0.5
        elif other > vertex:
            out[other, 0] = 1.0 - out[vertex, 0]
            out[other, 1] = out[vertex, 1]
    return np.asarray(out, dtype=np.float64)


def subdivided_uv(uv: FloatArray, edges: IntArray) -> FloatArray:
    """Texture coordinates of a mesh split at the midpoints of `edges` (vertices after the
    original ones, in that order): the midpoints of the ends'."""
    return np.concatenate([uv, (uv[edges[:, 0]] + uv[edges[:, 1]]) / 2])


def unique_edges(triangles: IntArray) -> IntArray:
    """Each undirected edge once, as (low, high), sorted."""
    pairs = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    return np.asarray(np.unique(np.sort(pairs, axis=1), axis=0), dtype=np.int64)


def signed_areas(uv: FloatArray, triangles: IntArray) -> FloatArray:
    """Twice the signed area of each triangle in (u, v): positive when counter-clockwise."""
    a, b, c = uv[triangles[:, 0]], uv[triangles[:, 1]], uv[triangles[:, 2]]
    ab, ac = b - a, c - a
    return np.asarray(ab[:, 0] * ac[:, 1] - ab[:, 1] * ac[:, 0], dtype=np.float64)


def _edge_index(edges: IntArray, wanted: IntArray) -> IntArray:
    keys = {(int(a), int(b)): k for k, (a, b) in enumerate(edges.tolist())}
    return np.array([keys[(min(a, b), max(a, b))] for a, b in wanted.tolist()], dtype=np.int64)


def _edge_mean(values: FloatArray, triangles: IntArray, edges: IntArray) -> FloatArray:
    """Per edge, the geometric mean of `values` over the (one or two) triangles beside it."""
    pairs = np.sort(
        np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]]), axis=1
    )
    owner = np.tile(np.arange(len(triangles)), 3)
    index = _edge_index(edges, pairs)
    total = np.zeros(len(edges))
    count = np.zeros(len(edges))
    np.add.at(total, index, np.log(values[owner]))
    np.add.at(count, index, 1.0)
    return np.asarray(np.exp(total / count))


def _mirror_edge_order(loop: IntArray, mirror: IntArray) -> IntArray:
    """For each edge (loop[k], loop[k+1]) of the oval, the index of its mirror image's edge."""
    position = {int(v): k for k, v in enumerate(loop.tolist())}
    out = []
    for k in range(len(loop)):
        # The mirror walks the oval the other way: the image of edge (a, b) is (b', a').
        out.append(position[int(mirror[loop[(k + 1) % len(loop)]])])
    return np.array(out, dtype=np.int64)
