"""The face surface's connectivity, derived once from the edges MediaPipe's wheel ships.

`mp.solutions.face_mesh.FACEMESH_TESSELATION` lists edges only. Every face of the surface is a
3-clique of that graph, but a few 3-cliques are not faces (three mutually adjacent vertices that
enclose other triangles). The surface is a disk with three holes (the eyes and the mouth). Each
hole is closed by rings of new vertices and a centre (`close_hole`): one ring for an eye (the cap
over the eyeball), two for the mouth (the cavity behind the lips). What is left is a single disk:
one boundary loop (the face oval), manifold, consistently wound. A ring's vertices belong to the
edges (or vertices) of the loop outside it, so that no diagonal has to be chosen: the closed
mesh is as left-right symmetric as MediaPipe's, and `mirror_map` finds that symmetry from the
connectivity alone.

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
class Closure:
    """How one hole is closed: rings of new vertices inwards, then a centre vertex."""

    loop: tuple[int, ...]  # the hole's loop, in the direction the outward winding induces
    rings: tuple[tuple[int, ...], ...]  # outermost first; ring k's vertex j lies inside ...
    # ... the edge (previous[j], previous[j + 1]) of the loop or ring outside it; for the mouth,
    # one vertex per quad between the upper and lower inner lip lines (`zip_hole`)
    centre: int | None


@dataclass(frozen=True)
class FaceTopology:
    """The closed disk mesh: vertices 0..467 are MediaPipe's landmarks, then the closures'."""

    triangles: IntArray  # (F, 3), outward winding, the holes closed
    open_triangles: IntArray  # (F0, 3), the landmark surface alone, same winding
    boundary: tuple[int, ...]  # the face oval, in the direction the outward winding induces
    holes: tuple[tuple[int, ...], ...]  # right eye, left eye, mouth: the loops closed
    closures: tuple[Closure, ...]  # in the same order
    mirror: tuple[int, ...]  # each vertex's left-right counterpart (itself on the midline)
    vertex_count: int


RIGHT_EYE: Final = 0
LEFT_EYE: Final = 1
MOUTH: Final = 2
# Rings per eye: a cap over each eyeball.
RINGS: Final = (1, 1)


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
    faces = made_symmetric(faces, oval, vertex_count)
    loops = boundary_loops(faces)
    holes = (
        _loop_through(loops, ids.RIGHT_EYE_OUTER),
        _loop_through(loops, ids.LEFT_EYE_OUTER),
        _loop_through(loops, ids.UPPER_INNER_LIP),
    )
    if len(loops) != 1 + len(holes) or len({min(loop) for loop in (oval, *holes)}) != len(loops):
        raise ValueError(f"expected the face oval and three holes, found {len(loops)} loops")
    parts = [faces]
    closures = []
    next_vertex = vertex_count
    for loop, rings in zip(holes[:MOUTH], RINGS, strict=True):
        closure, triangles = close_hole(loop, rings, next_vertex)
        next_vertex = max(max(ring) for ring in closure.rings) + 2
        closures.append(closure)
        parts.append(triangles)
    closure, triangles = zip_hole(holes[MOUTH], ids.RIGHT_MOUTH_INNER_CORNER, next_vertex)
    next_vertex = max(closure.rings[0]) + 1
    closures.append(closure)
    parts.append(triangles)
    closed = np.concatenate(parts)
    return FaceTopology(
        triangles=closed,
        open_triangles=faces,
        boundary=tuple(oval),
        holes=tuple(tuple(loop) for loop in holes),
        closures=tuple(closures),
        mirror=mirror_map(closed, oval, ids.FOREHEAD),
        vertex_count=next_vertex,
    )


def made_symmetric(faces: IntArray, oval: Sequence[int], vertex_count: int) -> IntArray:
    """The surface with its few asymmetric triangles replaced by mirror images of the others.

    MediaPipe's tessellation is left-right symmetric but for a few quads split along the other
    diagonal on one side (at the outer eye corners and beside the nose). Which landmark mirrors
    which is read from a symmetric layout of the connectivity (the Tutte embedding with the oval
    on a circle, forehead up): the two vertices of a pair land at mirrored places, matched
    closest first. Triangles on the subject's right whose mirror image is missing are mirrored
    over the left side's; the vertices stay the same.
    """
    from face3d.engine.uv import disk_embedding  # the layout module depends on this one

    uv = disk_embedding(faces, oval, vertex_count)
    mirrored = uv * np.array([-1.0, 1.0]) + np.array([1.0, 0.0])
    distance = np.linalg.norm(uv[:, None, :] - mirrored[None, :, :], axis=2)
    cost = (distance + distance.T) / 2
    pairs = np.dstack(np.unravel_index(np.argsort(cost, axis=None, kind="stable"), cost.shape))[0]
    image = [-1] * vertex_count
    for a, b in pairs.tolist():
        if image[a] < 0 and image[b] < 0:
            image[a], image[b] = b, a
    present = {frozenset(t) for t in faces.tolist()}
    image = _most_consistent(image, faces, present)
    kept, added = [], []
    for t in faces.tolist():
        if frozenset(image[v] for v in t) in present:
            kept.append(t)
        elif uv[t, 0].mean() < 0.5:  # the subject's right, on the layout's left
            kept.append(t)
            added.append([image[t[0]], image[t[2]], image[t[1]]])
    symmetric = np.array(kept + added, dtype=np.int64)
    if len(symmetric) != len(faces):
        raise ValueError("the face mesh cannot be made left-right symmetric")
    return symmetric


def _most_consistent(image: list[int], faces: IntArray, present: set[frozenset[int]]) -> list[int]:
    """The pairing improved by swapping the partners of neighbouring vertices wherever that maps
    more triangles onto triangles: the layout cannot tell two close lid points apart."""

    def score(candidate: list[int]) -> int:
        return sum(frozenset(candidate[v] for v in t) in present for t in faces.tolist())

    best = score(image)
    improved = True
    while improved:
        improved = False
        odd = {
            v for t in faces.tolist() if frozenset(image[v] for v in t) not in present for v in t
        }
        for a, b in unique_pairs(faces):
            if a not in odd and b not in odd:
                continue
            pa, pb = image[a], image[b]
            if len({a, b, pa, pb}) < 4:
                continue
            trial = list(image)
            trial[a], trial[pb], trial[b], trial[pa] = pb, a, pa, b
            if (value := score(trial)) > best:
                image, best, improved = trial, value, True
    return image


def unique_pairs(faces: IntArray) -> list[tuple[int, int]]:
    return sorted({(min(a, b), max(a, b)) for t in faces.tolist() for a, b in _directed_edges(t)})


def close_hole(loop: Sequence[int], rings: int, first_vertex: int) -> tuple[Closure, IntArray]:
    """Rings of new vertices inside `loop`, one per edge of the loop outside, and a centre.

    The faces outside walk each loop edge a -> b; the triangles inside walk it b -> a.
    """
    outer = list(loop)
    made: list[tuple[int, ...]] = []
    triangles: list[tuple[int, int, int]] = []
    vertex = first_vertex
    for _ in range(rings):
        ring = list(range(vertex, vertex + len(outer)))
        vertex += len(outer)
        for k, a in enumerate(outer):
            b = outer[(k + 1) % len(outer)]
            triangles.append((b, a, ring[k]))  # on the edge a -> b
            triangles.append((ring[k], a, ring[k - 1]))  # at the corner a
        made.append(tuple(ring))
        outer = ring
    centre = vertex
    triangles += [(outer[(k + 1) % len(outer)], outer[k], centre) for k in range(len(outer))]
    return Closure(tuple(loop), tuple(made), centre), np.array(triangles, dtype=np.int64)


def zip_hole(loop: Sequence[int], corner: int, first_vertex: int) -> tuple[Closure, IntArray]:
    """The mouth: a thin hole between two lines that meet at two corners. A closed mouth's
    outline is wavy and a hair wide, seen whole from no single point, so it is closed like a
    zip: the two lines are walked together from `corner`, and each quad between a pair of upper
    and lower points and the next pair (a triangle at the corners) gets a vertex inside it and
    a fan around it."""
    n = len(loop)
    start = list(loop).index(corner)
    upper = [loop[(start + k) % n] for k in range(n // 2 + 1)]
    lower = [loop[(start - k) % n] for k in range(n // 2 + 1)]
    # The faces walk the loop forwards (upper line from the corner); the closure walks back.
    triangles: list[tuple[int, int, int]] = []
    made = []
    for k in range(n // 2):
        q = first_vertex + k
        made.append(q)
        # In loop order the boundary runs upper[k] -> upper[k+1] and lower[k+1] -> lower[k].
        edges = [(upper[k], upper[k + 1]), (lower[k + 1], lower[k])]
        if k > 0:
            edges.append((lower[k], upper[k]))  # shared with the previous quad
        if k < n // 2 - 1:
            edges.append((upper[k + 1], lower[k + 1]))
        triangles += [(b, a, q) for a, b in edges]
    return Closure(tuple(loop), (tuple(made),), None), np.array(triangles, dtype=np.int64)


def mirror_map(triangles: IntArray, boundary: Sequence[int], on_midline: int) -> tuple[int, ...]:
    """The mesh's orientation-reversing symmetry, from connectivity alone.

    A symmetry of a triangulated disk is fixed by where it sends one triangle: the one on the
    boundary edge leaving `on_midline` goes to the one on the boundary edge entering it. From
    there each neighbour across an edge goes to the neighbour across the image edge. Raises
    ValueError if the connectivity has no such symmetry.
    """
    across: dict[frozenset[int], list[int]] = defaultdict(list)
    for index, tri in enumerate(triangles.tolist()):
        for a, b in _directed_edges(tri):
            across[frozenset((a, b))].append(index)
    at = list(boundary).index(on_midline)
    after, before = boundary[(at + 1) % len(boundary)], boundary[at - 1]
    image: dict[int, int] = {on_midline: on_midline, after: before, before: after}

    def third(edge: tuple[int, int]) -> tuple[int, int]:
        (index,) = across[frozenset(edge)]
        (vertex,) = set(triangles[index].tolist()) - set(edge)
        return index, vertex

    start, apex = third((on_midline, after))
    _, image_apex = third((before, on_midline))
    image[apex] = image_apex
    done = {start}
    queue = deque([start])
    while queue:
        tri = triangles[queue.popleft()].tolist()
        for a, b in _directed_edges(tri):
            (c,) = set(tri) - {a, b}
            for other in across[frozenset((a, b))]:
                if other in done:
                    continue
                done.add(other)
                queue.append(other)
                (x,) = set(triangles[other].tolist()) - {a, b}
                candidates = [
                    t
                    for t in across.get(frozenset((image[a], image[b])), [])
                    if image[c] not in triangles[t]
                ]
                if len(candidates) != 1:
                    raise ValueError("the mesh is not left-right symmetric")
                (y,) = set(triangles[candidates[0]].tolist()) - {image[a], image[b]}
                if image.setdefault(x, y) != y:
                    raise ValueError("the mesh is not left-right symmetric")
    count = int(triangles.max()) + 1
    mirror = tuple(image.get(v, -1) for v in range(count))
    faces = {frozenset(t) for t in triangles.tolist()}
    if -1 in mirror or {frozenset(mirror[v] for v in t) for t in faces} != faces:
        raise ValueError("the mesh is not left-right symmetric")
    if any(mirror[mirror[v]] != v for v in range(count)):
        raise ValueError("the mesh's symmetry is not an involution")
    return mirror


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
