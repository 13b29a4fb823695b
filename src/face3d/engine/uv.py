"""The fixed texture layout: one set of texture coordinates shared by every reconstruction.

A Tutte embedding of the closed disk mesh, computed from connectivity alone: the face oval is
pinned to a circle at equal steps, forehead at the top, and every inner vertex sits at a weighted
mean of its neighbours. With a convex boundary and positive weights the result is an embedding
(Tutte; Floater 2003 for weights): no triangle is flipped or degenerate. The oval is laid out
counter-clockwise in the direction the outward winding induces, so the layout reads like a
frontal photo (forehead up, the subject's right on the left) and every triangle is
counter-clockwise in (u, v).

Uniform weights crowd the middle of the disk (nose, mouth) into a small area, so the layout is
refined: each edge's weight becomes its length in the previous layout, which pushes crowded
vertices apart, iterated to a fixed point. Lengths are positive, so the guarantee holds at every
step. MediaPipe's mesh is densest around the eyes and lips, so these get the most texels.
"""

from __future__ import annotations

from functools import cache
from typing import Final

import numpy as np

from face3d.engine.landmark_ids import FOREHEAD
from face3d.engine.topology import FaceTopology, face_topology
from face3d.geometry import FloatArray, IntArray

# The oval's circle in (u, v); the margin keeps bilinear and mipmapped lookups near the rim
# inside the filled texture.
CENTRE: Final = (0.5, 0.5)
RADIUS: Final = 0.47
# The refinement settles within about 20 rounds; more change nothing visible.
REFINEMENT_ROUNDS: Final = 25


@cache
def face_uv() -> FloatArray:
    """Texture coordinates (u, v), v up, of every vertex of `face_topology()`."""
    uv = tutte_embedding(face_topology(), REFINEMENT_ROUNDS)
    uv.setflags(write=False)
    return uv


def tutte_embedding(topology: FaceTopology, refinement_rounds: int = 0) -> FloatArray:
    n = topology.vertex_count
    boundary = np.array(topology.boundary, dtype=np.int64)
    # Start at the forehead (the oval's first vertex is arbitrary) so that it sits at the top.
    boundary = np.roll(boundary, -int(np.flatnonzero(boundary == FOREHEAD)[0]))
    angles = np.pi / 2 + 2 * np.pi * np.arange(len(boundary)) / len(boundary)
    fixed = np.stack(
        [CENTRE[0] + RADIUS * np.cos(angles), CENTRE[1] + RADIUS * np.sin(angles)], axis=1
    )
    edges = unique_edges(topology.triangles)
    inner = np.setdiff1d(np.arange(n), boundary)
    weights = np.ones(len(edges))
    uv = np.zeros((n, 2))
    for round_ in range(refinement_rounds + 1):
        if round_:
            lengths = np.linalg.norm(uv[edges[:, 0]] - uv[edges[:, 1]], axis=1)
            weights = lengths / lengths.mean()
        adjacency = np.zeros((n, n))
        adjacency[edges[:, 0], edges[:, 1]] = weights
        adjacency[edges[:, 1], edges[:, 0]] = weights
        laplacian = np.diag(adjacency.sum(axis=1)) - adjacency
        uv = np.zeros((n, 2))
        uv[boundary] = fixed
        rhs = -laplacian[np.ix_(inner, boundary)] @ fixed
        uv[inner] = np.linalg.solve(laplacian[np.ix_(inner, inner)], rhs)
    return uv


def unique_edges(triangles: IntArray) -> IntArray:
    """Each undirected edge once, as (low, high), sorted."""
    pairs = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    return np.asarray(np.unique(np.sort(pairs, axis=1), axis=0), dtype=np.int64)


def signed_areas(uv: FloatArray, triangles: IntArray) -> FloatArray:
    """Twice the signed area of each triangle in (u, v): positive when counter-clockwise."""
    a, b, c = uv[triangles[:, 0]], uv[triangles[:, 1]], uv[triangles[:, 2]]
    ab, ac = b - a, c - a
    return np.asarray(ab[:, 0] * ac[:, 1] - ab[:, 1] * ac[:, 0], dtype=np.float64)
