"""The engine's texture layout: fixed, even, symmetric, no flipped triangles."""

from __future__ import annotations

import numpy as np
import pytest

from face3d.engine import landmark_ids as ids
from face3d.engine.topology import FaceTopology
from face3d.engine.uv import (
    CENTRE,
    DETAIL_GAIN,
    RADIUS,
    REFINEMENT_ROUNDS,
    detail_weights,
    even_layout,
    face_uv,
    signed_areas,
    tutte,
    unique_edges,
)

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def topology() -> FaceTopology:
    pytest.importorskip("mediapipe", reason="the face mesh topology comes from the engine extra")
    from face3d.engine.topology import face_topology

    return face_topology()


def test_layout_is_fixed(topology: FaceTopology) -> None:
    from face3d.engine.reference_face import reference_mesh

    again = even_layout(topology, reference_mesh(), detail_weights(topology), REFINEMENT_ROUNDS)

    assert np.array_equal(face_uv(), again)
    assert face_uv().shape == (topology.vertex_count, 2)
    assert not face_uv().flags.writeable


@pytest.mark.parametrize("even", [False, True])
def test_no_triangle_is_flipped_or_degenerate(topology: FaceTopology, even: bool) -> None:
    uv = (
        face_uv()
        if even
        else tutte(topology.triangles, topology.boundary, topology.vertex_count, None)
    )

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


def texel_density(uv: np.ndarray, topology: FaceTopology) -> np.ndarray:  # type: ignore[type-arg]
    """Per triangle: its share of the layout over its share of the reference face's surface."""
    from face3d.engine.reference_face import reference_mesh

    vertices = reference_mesh()
    a, b, c = (vertices[topology.triangles[:, k]] for k in range(3))
    surface = np.linalg.norm(np.cross(b - a, c - a), axis=1)
    layout = signed_areas(uv, topology.triangles)
    return np.asarray((layout / layout.sum()) / (surface / surface.sum()))


def test_texel_density_is_even_with_more_for_the_eyes_and_lips(topology: FaceTopology) -> None:
    gain = detail_weights(topology)
    plain = texel_density(
        tutte(topology.triangles, topology.boundary, topology.vertex_count, None), topology
    )
    even = texel_density(face_uv(), topology)
    face = gain == 1  # forehead, cheeks, nose, chin
    spread = np.percentile(even[face], 95) / np.percentile(even[face], 5)
    before = np.percentile(plain[face], 95) / np.percentile(plain[face], 5)
    detail = np.median(even[gain == DETAIL_GAIN]) / np.median(even[face])

    print(f"texel density p95/p5: {before:.1f} plain, {spread:.2f} even; eyes+lips x{detail:.1f}")
    assert spread < 1.6
    assert spread < before / 3
    assert detail > 2


def test_layout_is_exactly_left_right_symmetric(topology: FaceTopology) -> None:
    uv = face_uv()
    mirror = np.array(topology.mirror)

    # Exact up to one rounding of 1 - u (u[mirror] is computed as 1 - u for one of each pair).
    assert np.allclose(uv[mirror, 0], 1.0 - uv[:, 0], rtol=0, atol=1e-15)
    assert np.array_equal(uv[mirror, 1], uv[:, 1])


def test_unique_edges() -> None:
    edges = unique_edges(np.array([[0, 1, 2], [2, 1, 3]]))

    assert edges.tolist() == [[0, 1], [0, 2], [1, 2], [1, 3], [2, 3]]


def _polygon_area(points: np.ndarray) -> float:  # type: ignore[type-arg]
    x, y = points[:, 0], points[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)
