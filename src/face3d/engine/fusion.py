"""One face shape and one pose per view, fitted to every view's landmarks at once.

Each view gives MediaPipe's 478 landmarks in its camera frame (pixels; depth is MediaPipe's
relative z, scaled like x). We look for the shape S (model millimetres) and per-view similarities
(scale, rotation, translation) minimising

    sum over views v, landmarks i of  w[v, i] * (dx^2 + dy^2 + DEPTH_WEIGHT * dz^2)

where d is the re-projection residual in that view, in millimetres at the face (pixels divided by
the view's scale). `w[v, i]` says how well view v sees landmark i: how squarely the surface there
faces that camera (from the view's own landmarks), times a preference for the front view, whose
photo the texture mostly comes from. Depth counts less than position because MediaPipe infers it;
a side view pins the depth that the front view cannot see.

Block coordinate descent: with the poses fixed, each landmark's position is a 3x3 weighted least
squares; with the shape fixed, each pose is a weighted similarity fit (Umeyama), made to respect
the depth weight by moving each depth target towards the prediction (a majorisation step, so the
cost never rises). After each round the shape is put back into the head's own frame (pose.py),
which fixes the similarity that the cost cannot see.

With a single view, the shape is that view's landmarks mapped into the head frame, so re-projecting
them gives back the detected pixels exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np

from face3d.contract import FRONT_SLOT
from face3d.engine import landmark_ids as ids
from face3d.engine.pose import VIEWER_FROM_CAMERA, Similarity, ViewPose, fit_similarity, head_frame
from face3d.engine.topology import FaceTopology
from face3d.geometry import FloatArray, vertex_normals

DEPTH_WEIGHT: Final = 0.1
FRONT_PREFERENCE: Final = 4.0
# Landmarks turned away from a camera still count a little: MediaPipe places them from the rest
# of the face, which beats having no estimate at all.
WEIGHT_FLOOR: Final = 0.02
ROUNDS: Final = 30


@dataclass(frozen=True)
class Fit:
    shape: FloatArray  # (478, 3) landmarks in model millimetres, iris included
    poses: dict[int, ViewPose]  # slot -> pose, the model origin at depth zero


def fit_views(observations: Mapping[int, FloatArray], topology: FaceTopology) -> Fit:
    """Fuse the views' camera-frame landmarks (slot -> (478, 3)); slot 1 must be present."""
    slots = sorted(observations)
    weights = {
        slot: visibility_weights(observations[slot], topology)
        * (FRONT_PREFERENCE if slot == FRONT_SLOT else 1.0)
        for slot in slots
    }
    front = observations[FRONT_SLOT] @ VIEWER_FROM_CAMERA.T
    shape = head_frame(front).apply(front)
    poses = {slot: fit_similarity(shape, observations[slot], weights[slot]) for slot in slots}
    # Residuals in millimetres, not pixels: MediaPipe reads every face from a crop of the same
    # size, so its errors scale with the face, and a bigger photo must not outvote the others.
    weights = {slot: weights[slot] / poses[slot].scale ** 2 for slot in slots}
    rounds = ROUNDS if len(slots) > 1 else 0
    for _ in range(rounds):
        shape = solve_shape(observations, weights, poses)
        shape, poses = _in_head_frame(shape, poses)
        poses = {
            slot: _refit_pose(shape, observations[slot], weights[slot], poses[slot])
            for slot in slots
        }
    shape = solve_shape(observations, weights, poses)
    shape, poses = _in_head_frame(shape, poses)
    return Fit(shape, {slot: ViewPose(_depth_zeroed(poses[slot])) for slot in slots})


def visibility_weights(camera_landmarks: FloatArray, topology: FaceTopology) -> FloatArray:
    """Per landmark: how squarely the surface faces this camera, squared, plus a floor."""
    normals = vertex_normals(camera_landmarks[: ids.MESH_LANDMARK_COUNT], topology.open_triangles)
    facing = np.clip(-normals[:, 2], 0.0, 1.0)  # the camera looks along +z
    weights = np.empty(ids.LANDMARK_COUNT)
    weights[: ids.MESH_LANDMARK_COUNT] = WEIGHT_FLOOR + facing**2
    right_eye, left_eye = (list(topology.holes[k]) for k in (0, 1))
    weights[list(ids.RIGHT_IRIS)] = weights[right_eye].mean()
    weights[list(ids.LEFT_IRIS)] = weights[left_eye].mean()
    return weights


def solve_shape(
    observations: Mapping[int, FloatArray],
    weights: Mapping[int, FloatArray],
    poses: Mapping[int, Similarity],
) -> FloatArray:
    """Each landmark's least-squares position given the poses."""
    metric = np.diag([1.0, 1.0, DEPTH_WEIGHT])
    normal = np.zeros((ids.LANDMARK_COUNT, 3, 3))
    rhs = np.zeros((ids.LANDMARK_COUNT, 3))
    for slot, observed in observations.items():
        pose = poses[slot]
        linear = pose.scale * pose.rotation
        gram = linear.T @ metric @ linear
        normal += weights[slot][:, None, None] * gram
        rhs += weights[slot][:, None] * ((observed - pose.translation) @ metric @ linear)
    return np.asarray(np.linalg.solve(normal, rhs[:, :, None])[:, :, 0])


def _refit_pose(
    shape: FloatArray, observed: FloatArray, weights: FloatArray, pose: Similarity
) -> Similarity:
    predicted = pose.apply(shape)
    target = observed.copy()
    target[:, 2] = predicted[:, 2] + DEPTH_WEIGHT * (observed[:, 2] - predicted[:, 2])
    return fit_similarity(shape, target, weights)


def _in_head_frame(
    shape: FloatArray, poses: Mapping[int, Similarity]
) -> tuple[FloatArray, dict[int, Similarity]]:
    to_model = head_frame(shape)
    from_model = to_model.inverse()
    return to_model.apply(shape), {slot: from_model.then(p) for slot, p in poses.items()}


def _depth_zeroed(pose: Similarity) -> Similarity:
    translation = pose.translation.copy()
    translation[2] = 0.0
    return Similarity(pose.scale, pose.rotation, translation)


def mesh_vertices(shape: FloatArray, topology: FaceTopology) -> FloatArray:
    """The mesh's vertices: the 468 surface landmarks, then one centre per closed hole.

    A hole's centre is the mean of its loop. The eyes' centres come forward to the iris centre's
    depth when that is in front, so the closed eye bulges like the eyeball instead of caving in.
    """
    centres = []
    irises = (ids.RIGHT_IRIS_CENTRE, ids.LEFT_IRIS_CENTRE, None)
    for loop, iris in zip(topology.holes, irises, strict=True):
        centre = shape[list(loop)].mean(axis=0)
        if iris is not None:
            centre[2] = max(centre[2], shape[iris, 2])
        centres.append(centre)
    return np.concatenate([shape[: ids.MESH_LANDMARK_COUNT], np.array(centres)])
