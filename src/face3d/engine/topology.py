"""The face surface's connectivity, derived once from the edges MediaPipe's wheel ships.

`mp.solutions.face_mesh.FACEMESH_TESSELATION` lists edges only. Every face of the surface is a
3-clique of that graph, but a few 3-cliques are not faces (three mutually adjacent vertices that
enclose other triangles). The surface is a disk with three holes (the eyes and the mouth); we
close each hole with a fan around one new centre vertex, which leaves a single disk: one boundary
loop (the face oval), manifold, consistently wound.

Winding: a face is wound counter-clockwise when seen from outside the head (in front of the
face), so `(b - a) x (c - a)` points outwards. Which of the two consistent orientations that is
cannot be read from connectivity alone; we pick it from four well-known landmarks on the oval
(forehead, the subject's right cheek, chin, left cheek), which an outward-facing boundary visits
counter-clockwise as seen from the front.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Final

import numpy as np

from face3d.engine import landmark_ids as ids
from face3d.geometry import IntArray

Edge = tuple[int, int]


@dataclass(frozen=True)
class FaceTopology:
    """The closed disk mesh: vertices 0..467 are MediaPipe's landmarks, then one per hole."""

    triangles: IntArray  # (F, 3), outward winding, the holes closed
    open_triangles: IntArray  # (F0, 3), the landmark surface alone, same winding
    boundary: tuple[int, ...]  # the face oval, in the direction the outward winding induces
    holes: tuple[tuple[int, ...], ...]  # right eye, left eye, mouth: the loops closed
    hole_centres: tuple[int, ...]  # the vertex added inside each hole, in the same order
    vertex_count: int


RIGHT_EYE: Final = 0
LEFT_EYE: Final = 1
MOUTH: Final = 2


@cache
def face_topology() -> FaceTopology:
    """The topology of MediaPipe's face mesh as the installed wheel defines it."""
    from mediapipe.python.solutions import face_mesh  # heavy: only when the engine runs

    edges = [(int(a), int(b)) for a, b in face_mesh.FACEMESH_TESSELATION]
    return build_topology(edges, ids.MESH_LANDMARK_COUNT)


def build_topology(edges: Iterable[Edge], vertex_count: int) -> FaceTopology:
    faces = orient_consistently(surface_triangles(edges))
    loops = boundary_loops(faces)
    oval = _loop_through(loops, ids.FOREHEAD)
    if not _visits_in_cyclic_order(oval, ids.OVAL_COUNTER_CLOCKWISE):
        faces = faces[:, ::-1].copy()
        loops = boundary_loops(faces)
        oval = _loop_through(loops, ids.FOREHEAD)
    holes = (
        _loop_through(loops, ids.RIGHT_EYE_OUTER),
        _loop_through(loops, ids.LEFT_EYE_OUTER),
        _loop_through(loops, ids.UPPER_INNER_LIP),
    )
    if len(loops) != 1 + len(holes) or len({min(loop) for loop in (oval, *holes)}) != len(loops):
        raise ValueError(f"expected the face oval and three holes, found {len(loops)} loops")
    centres = tuple(range(vertex_count, vertex_count + len(holes)))
    fans = [_fan(loop, centre) for loop, centre in zip(holes, centres, strict=True)]
    closed = np.concatenate([faces, *fans])
    return FaceTopology(
        triangles=closed,
        open_triangles=faces,
        boundary=tuple(oval),
        holes=tuple(tuple(loop) for loop in holes),
        hole_centres=centres,
        vertex_count=vertex_count + len(holes),
    )


def surface_triangles(edges: Iterable[Edge]) -> IntArray:
    """The 3-cliques of the edge graph that are faces of the surface, sorted, unoriented.

    On a manifold surface an edge borders at most two faces. A clique that is not a face adds a
    third to each of its edges, while a real face next to it overloads only the shared edge; so
    we drop, one at a time, the clique with the most overloaded edges until none is left.
    (MediaPipe's mesh has two such cliques, both inside the surface. A 3-cycle around a hole or
    along the rim could not be told from a face by connectivity alone; its holes are loops of 16
    and 20 edges, and `build_topology` checks that it finds exactly the expected loops.)
    """
    neighbours: dict[int, set[int]] = defaultdict(set)
    for a, b in edges:
        if a != b:
            neighbours[a].add(b)
            neighbours[b].add(a)
    cliques = {
        (a, b, c)
        for a in neighbours
        for b in neighbours[a]
        if b > a
        for c in neighbours[a] & neighbours[b]
        if c > b
    }
    users: dict[Edge, set[tuple[int, int, int]]] = defaultdict(set)
    for tri in cliques:
        for edge in _edges_of(tri):
            users[edge].add(tri)

    def overload(tri: tuple[int, int, int]) -> int:
        return sum(len(users[edge]) > 2 for edge in _edges_of(tri))

    while True:
        suspects = [tri for tri in cliques if overload(tri) > 0]
        if not suspects:
            break
        worst = min(suspects, key=lambda tri: (-overload(tri), tri))
        cliques.remove(worst)
        for edge in _edges_of(worst):
            users[edge].discard(worst)
    return np.array(sorted(cliques), dtype=np.int64).reshape(-1, 3)


def orient_consistently(triangles: IntArray) -> IntArray:
    """The same faces wound so that every shared edge is walked once in each direction."""
    faces = [list(map(int, tri)) for tri in triangles]
    by_edge: dict[frozenset[int], list[int]] = defaultdict(list)
    for index, tri in enumerate(faces):
        for a, b in _directed_edges(tri):
            by_edge[frozenset((a, b))].append(index)
    done = [False] * len(faces)
    for seed in range(len(faces)):
        if done[seed]:
            continue
        done[seed] = True
        queue = deque([seed])
        while queue:
            current = queue.popleft()
            for a, b in _directed_edges(faces[current]):
                for other in by_edge[frozenset((a, b))]:
                    if done[other]:
                        continue
                    # A neighbour consistent with `current` walks the shared edge as b -> a.
                    if (a, b) in _directed_edges(faces[other]):
                        faces[other].reverse()
                    done[other] = True
                    queue.append(other)
    oriented = np.array(faces, dtype=np.int64).reshape(-1, 3)
    directed = [edge for tri in oriented for edge in _directed_edges(tri.tolist())]
    if len(set(directed)) != len(directed):
        raise ValueError("the surface is not orientable or not manifold")
    return oriented


def boundary_loops(triangles: IntArray) -> list[list[int]]:
    """Boundary loops of a consistently wound surface, each in the direction the faces induce."""
    directed = {edge for tri in triangles for edge in _directed_edges(tri.tolist())}
    successor: dict[int, int] = {}
    for a, b in directed:
        if (b, a) not in directed:
            if a in successor:
                raise ValueError(f"vertex {a} is on the boundary twice (not manifold)")
            successor[a] = b
    loops: list[list[int]] = []
    remaining = set(successor)
    while remaining:
        start = min(remaining)
        loop = [start]
        vertex = successor[start]
        while vertex != start:
            loop.append(vertex)
            vertex = successor[vertex]
        remaining.difference_update(loop)
        loops.append(loop)
    return loops


def edge_face_counts(triangles: IntArray) -> dict[frozenset[int], int]:
    counts: dict[frozenset[int], int] = defaultdict(int)
    for tri in triangles:
        for a, b in _directed_edges(tri.tolist()):
            counts[frozenset((a, b))] += 1
    return dict(counts)


def _fan(loop: Sequence[int], centre: int) -> IntArray:
    # The faces walk each boundary edge a -> b; the fan must walk it b -> a to stay consistent.
    return np.array(
        [(loop[(k + 1) % len(loop)], loop[k], centre) for k in range(len(loop))], dtype=np.int64
    )


def _loop_through(loops: list[list[int]], vertex: int) -> list[int]:
    for loop in loops:
        if vertex in loop:
            return loop
    raise ValueError(f"landmark {vertex} is on no boundary loop")


def _visits_in_cyclic_order(loop: Sequence[int], order: Sequence[int]) -> bool:
    positions = [loop.index(v) for v in order]
    start = positions.index(min(positions))
    rotated = positions[start:] + positions[:start]
    return rotated == sorted(rotated)


def _edges_of(tri: tuple[int, int, int]) -> tuple[Edge, Edge, Edge]:
    a, b, c = tri
    return (a, b), (b, c), (a, c)


def _directed_edges(tri: Sequence[int]) -> tuple[Edge, Edge, Edge]:
    a, b, c = tri
    return (a, b), (b, c), (c, a)
