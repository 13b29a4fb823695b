"""The engine's mesh connectivity: MediaPipe's edges to one closed, consistently wound disk."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from face3d.engine import landmark_ids as ids
from face3d.engine.topology import (
    FaceTopology,
    boundary_loops,
    build_topology,
    edge_face_counts,
    orient_consistently,
    surface_triangles,
)

# A triangle (0, 1, 2) split into five faces around inner vertices 3 and 4, with a face outside
# each of its sides: (0, 1, 2) is a 3-clique of the edges but not a face.
SEPARATING_TRIANGLE_FACES = [
    (0, 1, 3),
    (1, 4, 3),
    (1, 2, 4),
    (2, 0, 4),
    (0, 3, 4),
    (0, 5, 1),
    (1, 6, 2),
    (2, 7, 0),
]


def edges_of(faces: list[tuple[int, int, int]]) -> list[tuple[int, int]]:
    return [
        (a, b) for tri in faces for a, b in ((tri[0], tri[1]), (tri[1], tri[2]), (tri[2], tri[0]))
    ]


def test_cliques_that_are_not_faces_are_dropped() -> None:
    found = surface_triangles(edges_of(SEPARATING_TRIANGLE_FACES))

    assert {tuple(t) for t in found.tolist()} == {
        tuple(sorted(face)) for face in SEPARATING_TRIANGLE_FACES
    }


def test_orientation_is_made_consistent() -> None:
    shuffled = np.array(
        [face if k % 2 else face[::-1] for k, face in enumerate(SEPARATING_TRIANGLE_FACES)]
    )

    oriented = orient_consistently(shuffled)

    directed = [(a, b) for a, b, c in oriented.tolist() for a, b in ((a, b), (b, c), (c, a))]
    assert len(set(directed)) == len(directed)
    assert len(boundary_loops(oriented)) == 1


def test_boundary_loop_follows_the_winding() -> None:
    fan = np.array([(0, k, k % 6 + 1) for k in range(1, 7)])

    (loop,) = boundary_loops(fan)

    assert loop == [1, 2, 3, 4, 5, 6]


# -- the face mesh itself (MediaPipe's tessellation from the wheel) ------------------------------


@pytest.fixture(scope="module")
def topology() -> FaceTopology:
    pytest.importorskip("mediapipe", reason="the face mesh topology comes from the engine extra")
    from face3d.engine.topology import face_topology

    return face_topology()


def test_the_open_surface_has_the_eyes_and_mouth_as_holes(topology: FaceTopology) -> None:
    loops = boundary_loops(topology.open_triangles)

    assert len(loops) == 4  # the face oval, two eyes, the mouth
    assert [len(hole) for hole in topology.holes] == [16, 16, 20]
    assert ids.RIGHT_EYE_OUTER in topology.holes[0]
    assert ids.RIGHT_EYE_INNER in topology.holes[0]
    assert ids.LEFT_EYE_OUTER in topology.holes[1]
    assert ids.LEFT_EYE_INNER in topology.holes[1]
    assert ids.UPPER_INNER_LIP in topology.holes[2]


def test_closed_mesh_is_one_manifold_disk(topology: FaceTopology) -> None:
    triangles = topology.triangles
    counts = edge_face_counts(triangles)
    loops = boundary_loops(triangles)

    assert topology.vertex_count == ids.MESH_LANDMARK_COUNT + 2 * (16 + 1) + 10
    assert set(np.unique(triangles)) == set(range(topology.vertex_count))  # no stray vertex
    assert max(counts.values()) == 2
    assert len(loops) == 1
    assert tuple(loops[0]) == topology.boundary
    assert len(topology.boundary) == 36
    euler = topology.vertex_count - len(counts) + len(triangles)
    assert euler == 1  # a disk
    # Manifold at every vertex: the faces around it form one fan (its link is one path or cycle).
    link: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for a, b, c in triangles.tolist():
        link[a].append((b, c))
        link[b].append((c, a))
        link[c].append((a, b))
    for vertex, edges in link.items():
        assert _is_one_path_or_cycle(edges), vertex


def test_winding_is_consistent(topology: FaceTopology) -> None:
    directed = [
        (a, b) for a, b, c in topology.triangles.tolist() for a, b in ((a, b), (b, c), (c, a))
    ]
    assert len(set(directed)) == len(directed)
    # Every edge but the oval's is walked once each way.
    interior = [(a, b) for a, b in directed if (b, a) in set(directed)]
    assert len(interior) == len(directed) - len(topology.boundary)


def test_outward_winding_runs_the_oval_counter_clockwise_seen_from_the_front(
    topology: FaceTopology,
) -> None:
    oval = list(topology.boundary)
    positions = [oval.index(v) for v in ids.OVAL_COUNTER_CLOCKWISE]
    start = positions.index(min(positions))
    assert positions[start:] + positions[:start] == sorted(positions)


def test_each_hole_is_closed_by_rings_around_its_own_centre(topology: FaceTopology) -> None:
    for loop, closure in zip(topology.holes[:2], topology.closures[:2], strict=True):
        assert closure.loop == loop
        (ring,) = closure.rings
        assert len(ring) == len(loop)
        fan = topology.triangles[(topology.triangles == closure.centre).any(axis=1)]
        assert len(fan) == len(loop)
        assert set(fan.ravel()) == {*ring, closure.centre}
    mouth = topology.closures[2]
    assert mouth.centre is None  # closed like a zip: one vertex per quad between the lips
    assert len(mouth.rings[0]) == len(mouth.loop) // 2


def test_the_mirror_map_is_a_left_right_symmetry(topology: FaceTopology) -> None:
    mirror = np.array(topology.mirror)
    faces = {frozenset(t) for t in topology.triangles.tolist()}

    assert np.array_equal(mirror[mirror], np.arange(topology.vertex_count))
    assert {frozenset(mirror[list(t)].tolist()) for t in faces} == faces
    pairs = [(ids.RIGHT_EYE_OUTER, ids.LEFT_EYE_OUTER), (ids.RIGHT_CHEEK, ids.LEFT_CHEEK)]
    pairs += [(246, 466), (161, 388), (ids.RIGHT_MOUTH_CORNER, ids.LEFT_MOUTH_CORNER)]
    for right, left in pairs:
        assert (mirror[right], mirror[left]) == (left, right)
    for midline in (ids.FOREHEAD, ids.CHIN, ids.NOSE_TIP, ids.UPPER_INNER_LIP):
        assert mirror[midline] == midline
    assert mirror[topology.closures[0].centre or 0] == topology.closures[1].centre


def test_topology_is_rebuilt_identically() -> None:
    mediapipe = pytest.importorskip("mediapipe")
    from face3d.engine.topology import face_topology

    edges = sorted(mediapipe.solutions.face_mesh.FACEMESH_TESSELATION)
    again = build_topology(reversed(edges), ids.MESH_LANDMARK_COUNT)

    assert np.array_equal(again.triangles, face_topology().triangles)


def _is_one_path_or_cycle(edges: list[tuple[int, int]]) -> bool:
    successor = dict(edges)
    if len(successor) != len(edges) or len(set(successor.values())) != len(edges):
        return False
    starts = set(successor) - set(successor.values())
    if len(starts) > 1:
        return False
    vertex = next(iter(starts)) if starts else edges[0][0]
    seen = {vertex}
    while vertex in successor:
        vertex = successor[vertex]
        if vertex in seen:
            break
        seen.add(vertex)
    return len(seen) == len(set(successor) | set(successor.values()))
