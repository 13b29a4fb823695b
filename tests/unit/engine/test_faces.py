"""The face-counting rule behind MULTIPLE_FACE_FOUND, on boxes (no model: see face3d.engine.faces).

The photos are in tests/e2e/test_engine.py; here the rule's edges, where photos cannot land
exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

from face3d.engine.faces import MIN_SCORE, MIN_SIZE_RATIO, FaceBox, count_faces


def square(left: float, top: float, side: float) -> FaceBox:
    return FaceBox(left, top, side, side)


SUBJECT = square(100, 100, 300)  # the face reconstructed, 300 px


def test_the_thresholds_are_the_documented_ones() -> None:
    assert MIN_SCORE == 0.5
    assert pytest.approx(1 / 3) == MIN_SIZE_RATIO  # a ninth of the area


def test_a_box_is_measured_by_its_longer_side() -> None:
    box = FaceBox(10, 20, 90, 120)

    assert box.size == 120
    assert box.centre == (55, 80)
    assert box.contains((10, 20))
    assert box.contains((100, 140))
    assert not box.contains((9, 80))
    assert not box.contains((55, 141))


def test_a_box_around_landmarks_spans_them() -> None:
    points = np.array([[12.0, 30.0, 5.0], [40.0, 10.0, -3.0], [25.0, 50.0, 0.0]])

    assert FaceBox.around(points) == FaceBox(12.0, 10.0, 28.0, 40.0)


def test_nothing_found_is_no_face() -> None:
    assert count_faces([], []) == 0


def test_the_detector_seeing_the_meshed_face_again_is_one_face() -> None:
    detected = [FaceBox(95, 110, 310, 310)]  # its centre is inside the mesh's box

    assert count_faces([SUBJECT], detected) == 1


@pytest.mark.parametrize(
    ("side", "count"),
    [(300, 2), (150, 2), (101, 2), (100, 2), (99, 1), (50, 1)],
)
def test_a_second_face_counts_from_a_third_of_the_largest(side: float, count: int) -> None:
    other = square(600, 100, side)

    assert count_faces([SUBJECT], [other]) == count  # the detector's
    assert count_faces([SUBJECT, other], []) == count  # Face Mesh's own second face


def test_small_faces_in_a_crowd_do_not_count_however_many() -> None:
    crowd = [square(500 + 80 * i, 50, 60) for i in range(8)]

    assert count_faces([SUBJECT], crowd) == 1


def test_the_largest_face_is_the_bound_even_when_only_the_detector_sees_it() -> None:
    # The mesh found a small face; the detector a large one elsewhere, which the mesh missed.
    # Both are people in the picture: refused rather than reconstructing the small one.
    small = square(10, 10, 80)
    large = square(300, 100, 400)

    assert count_faces([small], [large]) == 2


def test_the_reconstructed_face_counts_whatever_its_size() -> None:
    tiny = square(10, 10, 20)

    assert count_faces([tiny], []) == 1


def test_detector_faces_alone_are_counted_against_the_largest() -> None:
    # Face Mesh found nothing: two similar faces are still several faces (the API's answer).
    assert count_faces([], [square(0, 0, 100), square(200, 0, 90)]) == 2
    assert count_faces([], [square(0, 0, 100), square(200, 0, 30)]) == 1
