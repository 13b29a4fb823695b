"""Pose arithmetic: similarity fits, the head frame, Euler angles and their signs, the matrix."""

from __future__ import annotations

import numpy as np
import pytest

from face3d.engine import landmark_ids as ids
from face3d.engine.pose import (
    INTERPUPILLARY_MM,
    VIEWER_FROM_CAMERA,
    Similarity,
    ViewPose,
    euler_angles,
    fit_similarity,
    head_frame,
)
from face3d.geometry import rotation_from_angles

NOSE = np.array([0.0, 0.0, 1.0])  # the model's z: out of the face


def random_similarity(rng: np.random.Generator) -> Similarity:
    rotation = rotation_from_angles(*rng.uniform(-80, 80, 3))
    return Similarity(float(rng.uniform(0.5, 5)), rotation, rng.uniform(-300, 300, 3))


def test_fit_similarity_recovers_a_known_one() -> None:
    rng = np.random.default_rng(1)
    truth = random_similarity(rng)
    source = rng.normal(size=(50, 3)) * 40

    fitted = fit_similarity(source, truth.apply(source), rng.uniform(0.1, 1, 50))

    assert fitted.scale == pytest.approx(truth.scale)
    assert np.allclose(fitted.rotation, truth.rotation)
    assert np.allclose(fitted.translation, truth.translation)


def test_fit_similarity_never_reflects() -> None:
    source = np.random.default_rng(2).normal(size=(20, 3))
    mirrored = source * np.array([-1.0, 1.0, 1.0])

    fitted = fit_similarity(source, mirrored)

    assert np.linalg.det(fitted.rotation) == pytest.approx(1.0)


def test_similarity_inverse_and_composition() -> None:
    rng = np.random.default_rng(3)
    first, second = random_similarity(rng), random_similarity(rng)
    points = rng.normal(size=(10, 3))

    assert np.allclose(first.inverse().apply(first.apply(points)), points)
    assert np.allclose(first.then(second).apply(points), second.apply(first.apply(points)))


@pytest.mark.parametrize(
    ("yaw", "pitch", "roll"), [(0, 0, 0), (30, -10, 5), (-60, 20, -15), (89, 0, 40), (10, 80, 0)]
)
def test_euler_angles_round_trip(yaw: float, pitch: float, roll: float) -> None:
    angles = euler_angles(rotation_from_angles(yaw, pitch, roll))

    assert angles == pytest.approx((yaw, pitch, roll))


def test_positive_yaw_turns_the_nose_to_the_image_right() -> None:
    # The subject turned to their own left: the camera sees more of their right cheek.
    nose = rotation_from_angles(30, 0, 0) @ NOSE
    right_cheek = rotation_from_angles(30, 0, 0) @ np.array([-1.0, 0.0, 0.0])

    assert nose[0] > 0
    assert right_cheek[2] > 0  # the subject's right cheek turned towards the camera


def test_positive_pitch_turns_the_nose_down() -> None:
    assert (rotation_from_angles(0, 20, 0) @ NOSE)[1] < 0


def test_positive_roll_turns_the_face_counter_clockwise_in_the_image() -> None:
    pose = ViewPose(
        Similarity(1.0, VIEWER_FROM_CAMERA @ rotation_from_angles(0, 0, 20), np.zeros(3))
    )
    right_eye, left_eye = pose.project(np.array([[-30.0, 0, 0], [30.0, 0, 0]]))

    assert left_eye[1] < right_eye[1]  # pixel y grows downwards: the left eye rose
    assert pose.angles() == pytest.approx((0, 0, 20))


def test_matrix_maps_model_millimetres_to_pixels() -> None:
    rng = np.random.default_rng(4)
    head = rotation_from_angles(25, -5, 3)
    pose = ViewPose(Similarity(2.5, VIEWER_FROM_CAMERA @ head, np.array([300.0, 200.0, 0.0])))
    points = rng.normal(size=(30, 3)) * 50

    matrix = pose.matrix()
    pixels = np.c_[points, np.ones(len(points))] @ matrix.T

    assert np.allclose(pixels[:, :3], pose.project(points))
    assert matrix[3].tolist() == [0.0, 0.0, 0.0, 1.0]
    assert matrix[2, 3] == 0.0
    # A scaled rotation (det > 0): the mesh's winding survives the projection.
    assert np.linalg.det(matrix[:3, :3]) == pytest.approx(2.5**3)
    # A frontal, upright face: model y up becomes pixel y down, model z (the nose) points at
    # the camera, which is depth decreasing.
    frontal = ViewPose(Similarity(2.0, VIEWER_FROM_CAMERA, np.zeros(3))).matrix()
    assert frontal[:3, :3].tolist() == [[2.0, 0, 0], [0, -2.0, 0], [0, 0, -2.0]]


def synthetic_landmarks(rng: np.random.Generator) -> np.ndarray:  # type: ignore[type-arg]
    """478 points, the named ones where a frontal face (y up, z out) has them, in mm."""
    points = rng.normal(size=(ids.LANDMARK_COUNT, 3)) * 30
    named = {
        ids.RIGHT_IRIS_CENTRE: (-31.5, 0, 0),
        ids.LEFT_IRIS_CENTRE: (31.5, 0, 0),
        ids.RIGHT_EYE_OUTER: (-45, -1, -5),
        ids.LEFT_EYE_OUTER: (45, -1, -5),
        ids.RIGHT_EYE_INNER: (-15, -1, 0),
        ids.LEFT_EYE_INNER: (15, -1, 0),
        ids.RIGHT_MOUTH_CORNER: (-25, -70, 5),
        ids.LEFT_MOUTH_CORNER: (25, -70, 5),
        ids.RIGHT_CHEEK: (-70, -10, -40),
        ids.LEFT_CHEEK: (70, -10, -40),
        ids.FOREHEAD: (0, 60, 0),
        ids.CHIN: (0, -110, 0),
    }
    for index, position in named.items():
        points[index] = position
    return points


def test_head_frame_of_a_frontal_face_is_the_identity() -> None:
    points = synthetic_landmarks(np.random.default_rng(5))

    frame = head_frame(points)

    assert frame.scale == pytest.approx(1.0)
    assert np.allclose(frame.rotation, np.eye(3))
    assert np.allclose(frame.apply(points), points)


def test_head_frame_undoes_any_pose_and_scales_to_the_interpupillary_prior() -> None:
    rng = np.random.default_rng(6)
    points = synthetic_landmarks(rng)
    posed = random_similarity(rng).apply(points)

    model = head_frame(posed).apply(posed)

    assert np.allclose(model, points)
    ipd = np.linalg.norm(model[ids.LEFT_IRIS_CENTRE] - model[ids.RIGHT_IRIS_CENTRE])
    assert ipd == pytest.approx(INTERPUPILLARY_MM)
