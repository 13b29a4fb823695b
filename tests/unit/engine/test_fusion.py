"""Fusing views: poses and one shape from several landmark sets, checked on synthetic views.

The landmarks come from MediaPipe on a real photo; the side views are that face turned by a known
pose through our own pose code, so the truth is known exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

from face3d.contract import FRONT_SLOT
from face3d.engine import landmark_ids as ids
from face3d.engine.pose import VIEWER_FROM_CAMERA, Similarity, ViewPose
from face3d.engine.topology import FaceTopology
from face3d.geometry import rotation_from_angles
from tests import photos

pytestmark = pytest.mark.engine
mediapipe = pytest.importorskip("mediapipe", reason="fusion tests use MediaPipe's landmarks")

from face3d.engine.fusion import (  # noqa: E402 (after the skip: needs the engine extra)
    fit_views,
    visibility_weights,
)

FloatArray = np.ndarray  # type: ignore[type-arg]


@pytest.fixture(scope="module")
def topology() -> FaceTopology:
    from face3d.engine.topology import face_topology

    return face_topology()


@pytest.fixture(scope="module")
def front() -> FloatArray:
    """The astronaut's 478 landmarks in her photo's camera frame (pixels)."""
    from face3d.engine.images import decode_rgb
    from face3d.engine.landmarks import FaceMeshDetector

    detector = FaceMeshDetector()
    try:
        return detector.detect(decode_rgb(photos.astronaut_jpeg(), 1), 1)
    finally:
        detector.close()


def camera_pose(
    yaw: float, pitch: float, roll: float, scale: float, at: tuple[float, float]
) -> ViewPose:
    rotation = VIEWER_FROM_CAMERA @ rotation_from_angles(yaw, pitch, roll)
    return ViewPose(Similarity(scale, rotation, np.array([at[0], at[1], 0.0])))


def reprojection_errors(fit_pose: ViewPose, shape: FloatArray, observed: FloatArray) -> FloatArray:
    projected = fit_pose.project(shape)[:, :2]
    return np.asarray(np.linalg.norm(projected - observed[:, :2], axis=1))


def test_single_view_reprojects_exactly(front: FloatArray, topology: FaceTopology) -> None:
    fit = fit_views({FRONT_SLOT: front}, topology)

    errors = reprojection_errors(fit.poses[FRONT_SLOT], fit.shape, front)

    assert errors.max() < 1e-6
    ipd = np.linalg.norm(fit.shape[ids.LEFT_IRIS_CENTRE] - fit.shape[ids.RIGHT_IRIS_CENTRE])
    assert ipd == pytest.approx(63.0)
    assert np.allclose((fit.shape[ids.LEFT_IRIS_CENTRE] + fit.shape[ids.RIGHT_IRIS_CENTRE]) / 2, 0)


def test_matrix_row_three_is_depth_zero_at_the_origin(
    front: FloatArray, topology: FaceTopology
) -> None:
    pose = fit_views({FRONT_SLOT: front}, topology).poses[FRONT_SLOT]

    assert pose.project(np.zeros((1, 3)))[0, 2] == 0.0
    # Depth grows away from the camera: the nose tip is nearer than the cheeks.
    model = fit_views({FRONT_SLOT: front}, topology).shape
    depth = pose.project(model)[:, 2]
    assert depth[4] < depth[ids.RIGHT_CHEEK]


@pytest.mark.parametrize(
    "side_poses",
    [
        {2: (35.0, 5.0, -3.0), 3: (-40.0, -4.0, 6.0)},
        {3: (-25.0, 0.0, 0.0)},
        {2: (55.0, 10.0, 0.0)},
    ],
)
def test_turned_views_of_one_face_give_back_their_poses_and_the_same_shape(
    front: FloatArray,
    topology: FaceTopology,
    side_poses: dict[int, tuple[float, float, float]],
) -> None:
    truth = fit_views({FRONT_SLOT: front}, topology)
    observations = {FRONT_SLOT: front}
    for slot, angles in side_poses.items():
        pose = camera_pose(*angles, scale=1.7 + 0.2 * slot, at=(400.0 + slot, 300.0))
        observations[slot] = pose.project(truth.shape)
        # MediaPipe's depth is relative to a point of its own choosing: any offset must do.
        observations[slot][:, 2] += 123.0

    fit = fit_views(observations, topology)

    for slot, angles in side_poses.items():
        assert fit.poses[slot].angles() == pytest.approx(angles, abs=0.05)
        assert fit.poses[slot].to_camera.scale == pytest.approx(1.7 + 0.2 * slot, rel=1e-4)
    assert fit.poses[FRONT_SLOT].angles() == pytest.approx(
        truth.poses[FRONT_SLOT].angles(), abs=0.05
    )
    assert np.abs(fit.shape - truth.shape).max() < 0.05  # millimetres
    for slot, observed in observations.items():
        assert reprojection_errors(fit.poses[slot], fit.shape, observed).max() < 0.05
        assert fit.depth_scales[slot] == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("compression", [0.8, 0.9, 1.15])
def test_side_views_whose_depth_is_compressed_give_back_the_true_shape(
    front: FloatArray, topology: FaceTopology, compression: float
) -> None:
    """MediaPipe flattens the depth of a turned face: its depth scale is fitted per side view."""
    truth = fit_views({FRONT_SLOT: front}, topology)
    observations = {FRONT_SLOT: front}
    for slot, yaw in ((2, -35.0), (3, 35.0)):
        observed = camera_pose(yaw, 3.0, 0, scale=2.0, at=(300.0, 300.0)).project(truth.shape)
        observed[:, 2] = compression * observed[:, 2] + 40.0
        observations[slot] = observed

    fit = fit_views(observations, topology)

    assert fit.poses[2].angles() == pytest.approx((-35.0, 3.0, 0.0), abs=0.05)
    assert fit.poses[3].angles() == pytest.approx((35.0, 3.0, 0.0), abs=0.05)
    assert fit.depth_scales[2] == pytest.approx(compression, abs=1e-3)
    assert fit.depth_scales[3] == pytest.approx(compression, abs=1e-3)
    assert fit.depth_scales[FRONT_SLOT] == 1.0
    assert np.abs(fit.shape - truth.shape).max() < 0.05


def test_landmarks_a_side_view_misplaces_do_not_drag_the_shape(
    front: FloatArray, topology: FaceTopology
) -> None:
    """A side view that slides a few outline points along the silhouette (as MediaPipe does)
    leaves them, and the rest of the face, where the other views put them."""
    truth = fit_views({FRONT_SLOT: front}, topology)
    observations = {FRONT_SLOT: front}
    for slot, yaw in ((2, -30.0), (3, 30.0)):
        observations[slot] = camera_pose(yaw, 0, 0, scale=2.0, at=(300, 300)).project(truth.shape)
    misplaced = list(ids.OVAL_COUNTER_CLOCKWISE)
    observations[3][misplaced, 0] += 2.0 * 12.0  # 12 mm sideways in the right view

    fit = fit_views(observations, topology)

    error = np.linalg.norm(fit.shape - truth.shape, axis=1)
    # Millimetres; taken at face value (least squares) they move 4 to 7.5 mm, the rest 0.9 mm.
    assert error[misplaced].max() < 1.0
    assert np.median(error) < 0.25
    assert fit.poses[3].angles() == pytest.approx((30.0, 0.0, 0.0), abs=0.2)


def test_noisy_side_views_still_give_their_poses(front: FloatArray, topology: FaceTopology) -> None:
    rng = np.random.default_rng(7)
    truth = fit_views({FRONT_SLOT: front}, topology)
    observations = {FRONT_SLOT: front}
    for slot, yaw in ((2, 30.0), (3, -30.0)):
        projected = camera_pose(yaw, 0, 0, scale=2.0, at=(300.0, 300.0)).project(truth.shape)
        projected[:, :2] += rng.normal(scale=1.0, size=(len(projected), 2))  # 1 px of noise
        projected[:, 2] += rng.normal(scale=5.0, size=len(projected))  # MediaPipe's depth: worse
        observations[slot] = projected

    fit = fit_views(observations, topology)

    assert fit.poses[2].angles() == pytest.approx((30.0, 0.0, 0.0), abs=1.0)
    assert fit.poses[3].angles() == pytest.approx((-30.0, 0.0, 0.0), abs=1.0)
    assert np.median(np.linalg.norm(fit.shape - truth.shape, axis=1)) < 1.0
    # The front view is preferred: the model stays on its landmarks.
    assert reprojection_errors(fit.poses[FRONT_SLOT], fit.shape, front).max() < 1.0


def test_side_view_trusts_the_cheek_it_faces(front: FloatArray, topology: FaceTopology) -> None:
    shape = fit_views({FRONT_SLOT: front}, topology).shape
    # Yaw > 0: the subject turned to their left; the camera sees their right cheek squarely.
    turned = camera_pose(45.0, 0, 0, scale=2.0, at=(300.0, 300.0)).project(shape)

    weights = visibility_weights(turned, topology)

    assert weights[ids.RIGHT_CHEEK] > 4 * weights[ids.LEFT_CHEEK]
    assert weights.min() > 0
