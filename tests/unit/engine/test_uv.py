"""The engine's texture layout: fixed, derived from connectivity, no flipped triangles."""

from __future__ import annotations

import numpy as np
import pytest

from face3d.engine import landmark_ids as ids
from face3d.engine.topology import FaceTopology
from face3d.engine.uv import (
    CENTRE,
    RADIUS,
    REFINEMENT_ROUNDS,
    face_uv,
    signed_areas,
    tutte_embedding,
    unique_edges,
)

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def topology() -> FaceTopology:
    pytest.importorskip("mediapipe", reason="the face mesh topology comes from the engine extra")
    from face3d.engine.topology import face_topology

    return face_topology()


def test_layout_is_fixed(topology: FaceTopology) -> None:
    again = tutte_embedding(topology, REFINEMENT_ROUNDS)

    assert np.array_equal(face_uv(), again)
    assert face_uv().shape == (topology.vertex_count, 2)
    assert not face_uv().flags.writeable


@pytest.mark.parametrize("rounds", [0, REFINEMENT_ROUNDS])
def test_no_triangle_is_flipped_or_degenerate(topology: FaceTopology, rounds: int) -> None:
    uv = tutte_embedding(topology, rounds)

    areas = signed_areas(uv, topology.triangles)

    assert areas.min() > 0
    # Together they tile the disk exactly: nothing overlaps.
    assert areas.sum() / 2 == pytest.approx(_polygon_area(uv[list(topology.boundary)]))


def test_oval_is_on_the_circle_and_everything_inside(topology: FaceTopology) -> None:
    uv = face_uv()
    radius = np.hypot(uv[:, 0] - CENTRE[0], uv[:, 1] - CENTRE[1])

    assert np.allclose(radius[list(topology.boundary)], RADIUS)
    inner = np.setdiff1d(np.arange(topology.vertex_count), topology.boundary)
    assert radius[inner].max() < RADIUS


def test_layout_reads_like_a_frontal_photo(topology: FaceTopology) -> None:
    u, v = face_uv()[:, 0], face_uv()[:, 1]

    assert v[ids.FOREHEAD] > v[ids.RIGHT_EYE_OUTER] > v[ids.RIGHT_MOUTH_CORNER] > v[ids.CHIN]
    assert u[ids.FOREHEAD] == pytest.approx(0.5)
    # The subject's right is on the texture's left, as in a photo (not mirrored).
    assert u[ids.RIGHT_EYE_OUTER] < u[ids.RIGHT_EYE_INNER] < u[ids.LEFT_EYE_INNER]
    assert u[ids.LEFT_EYE_INNER] < u[ids.LEFT_EYE_OUTER]
    assert u[ids.RIGHT_CHEEK] < 0.5 < u[ids.LEFT_CHEEK]


def test_refinement_spreads_the_crowded_middle(topology: FaceTopology) -> None:
    plain = signed_areas(tutte_embedding(topology, 0), topology.triangles)
    refined = signed_areas(face_uv(), topology.triangles)

    assert refined.max() / refined.min() < plain.max() / plain.min() / 3
    mouth = (topology.triangles == topology.hole_centres[2]).any(axis=1)
    assert refined[mouth].sum() > 1.5 * plain[mouth].sum()


def test_unique_edges() -> None:
    edges = unique_edges(np.array([[0, 1, 2], [2, 1, 3]]))

    assert edges.tolist() == [[0, 1], [0, 2], [1, 2], [1, 3], [2, 3]]


def _polygon_area(points: np.ndarray) -> float:  # type: ignore[type-arg]
    x, y = points[:, 0], points[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)
