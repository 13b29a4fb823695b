"""One face shape and one pose per view, fitted to every view's landmarks at once.

Each view gives MediaPipe's 478 landmarks in its camera frame (pixels; depth is MediaPipe's
relative z, scaled like x). We look for the shape S (model millimetres) and per view a similarity
(scale, rotation, translation) and a depth scale k minimising

    sum over views v, landmarks i of  w[v, i] * (dx^2 + dy^2 + DEPTH_WEIGHT * k^2 * dz^2)

where (dx, dy) is the re-projection residual in that view and dz the residual of MediaPipe's
depth divided by k, all in millimetres at the face (pixels divided by the view's scale).

* `w[v, i]` says how well view v sees landmark i: how squarely the surface there faces that
  camera (from the view's own landmarks), times a preference for the front view, whose photo the
  texture mostly comes from; on the side views, times a robust (Cauchy) weight from the
  landmark's residual, so that a landmark a side view places inconsistently with the others (a
  point of the face's outline, where MediaPipe slides along the silhouette) stops pulling the
  shape. The front view keeps its landmarks: the texture is sampled through them.
* Depth counts less than position because MediaPipe infers it; a side view pins the depth that
  the front view cannot see.
* k is MediaPipe's depth scale on that view. It is 1 on the front view, where MediaPipe's depth
  matches a real face's (measured on the multi-view test's head scan: slope 0.96 between its depth
  and the scan's); on a turned face MediaPipe flattens the depth (slope 0.81 to 0.86 at 40
  degrees), which, taken at face value, pulls the shape flat and the recovered yaw short. So k is
  fitted per side view (within DEPTH_SCALE_RANGE).

Joint least squares by block coordinate descent: with the poses fixed, each landmark's position is
a 3x3 weighted least squares; with the shape fixed, each pose is a weighted similarity fit
(Umeyama), made to respect the depth weight by moving each depth target towards the prediction (a
majorisation step), then k and the depth offset a weighted line fit. After each round the shape
is put back into the head's own frame (pose.py), which fixes the similarity that the cost cannot
see.

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
# A side view's landmark whose residual is this large (millimetres) counts half.
ROBUST_SCALE_MM: Final = 2.0
DEPTH_SCALE_RANGE: Final = (0.6, 1.4)


@dataclass(frozen=True)
class Fit:
    shape: FloatArray  # (478, 3) landmarks in model millimetres, iris included
    poses: dict[int, ViewPose]  # slot -> pose, the model origin at depth zero
    depth_scales: dict[int, float]  # slot -> MediaPipe's depth over the model's (front: 1)


@dataclass(frozen=True)
class _View:
    """A view's camera: `pose` maps the model to pixels, and MediaPipe's depth reads
    `depth_scale` times the pose's depth (offset included)."""

    pose: Similarity
    depth_scale: float = 1.0

    def linear(self) -> FloatArray:
        scaled = np.diag([1.0, 1.0, self.depth_scale])
        return np.asarray(scaled @ (self.pose.scale * self.pose.rotation))

    def offset(self) -> FloatArray:
        return np.asarray(self.pose.translation * np.array([1.0, 1.0, self.depth_scale]))

    def squared_residuals_mm(self, shape: FloatArray, observed: FloatArray) -> FloatArray:
        """Per landmark, the weighted squared residual of the cost above, in square mm."""
        predicted = shape @ self.linear().T + self.offset()
        error = observed - predicted
        squared = error[:, 0] ** 2 + error[:, 1] ** 2 + DEPTH_WEIGHT * error[:, 2] ** 2
        return np.asarray(squared / self.pose.scale**2)


def fit_views(observations: Mapping[int, FloatArray], topology: FaceTopology) -> Fit:
    """Fuse the views' camera-frame landmarks (slot -> (478, 3)); slot 1 must be present."""
    slots = sorted(observations)
    prior = {
        slot: visibility_weights(observations[slot], topology)
        * (FRONT_PREFERENCE if slot == FRONT_SLOT else 1.0)
        for slot in slots
    }
    front = observations[FRONT_SLOT] @ VIEWER_FROM_CAMERA.T
    shape = head_frame(front).apply(front)
    views = {slot: _View(fit_similarity(shape, observations[slot], prior[slot])) for slot in slots}
    # Residuals in millimetres, not pixels: MediaPipe reads every face from a crop of the same
    # size, so its errors scale with the face, and a bigger photo must not outvote the others.
    prior = {slot: prior[slot] / views[slot].pose.scale ** 2 for slot in slots}
    weights = dict(prior)
    rounds = ROUNDS if len(slots) > 1 else 0
    for _ in range(rounds):
        shape, views = _in_head_frame(solve_shape(observations, weights, views), views)
        views = {
            slot: _refit_view(shape, observations[slot], weights[slot], views[slot], slot)
            for slot in slots
        }
        weights = {
            slot: prior[slot] * _robust_weights(shape, observations[slot], views[slot], slot)
            for slot in slots
        }
    shape, views = _in_head_frame(solve_shape(observations, weights, views), views)
    return Fit(
        shape,
        {slot: ViewPose(_depth_zeroed(views[slot].pose)) for slot in slots},
        {slot: views[slot].depth_scale for slot in slots},
    )


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
    views: Mapping[int, _View],
) -> FloatArray:
    """Each landmark's least-squares position given the views' cameras."""
    metric = np.diag([1.0, 1.0, DEPTH_WEIGHT])
    normal = np.zeros((ids.LANDMARK_COUNT, 3, 3))
    rhs = np.zeros((ids.LANDMARK_COUNT, 3))
    for slot, observed in observations.items():
        linear = views[slot].linear()
        normal += weights[slot][:, None, None] * (linear.T @ metric @ linear)
        rhs += weights[slot][:, None] * ((observed - views[slot].offset()) @ metric @ linear)
    return np.asarray(np.linalg.solve(normal, rhs[:, :, None])[:, :, 0])


def _refit_view(
    shape: FloatArray, observed: FloatArray, weights: FloatArray, view: _View, slot: int
) -> _View:
    """The pose for this shape, then (side views) MediaPipe's depth scale and offset on it."""
    k = view.depth_scale
    predicted = view.pose.apply(shape)
    target = observed.copy()
    # The depth residual weighs DEPTH_WEIGHT * k^2 (< 1) against x and y: majorised by a target
    # moved that share of the way from the prediction to MediaPipe's depth read at scale k.
    target[:, 2] = predicted[:, 2] + DEPTH_WEIGHT * k**2 * (observed[:, 2] / k - predicted[:, 2])
    pose = fit_similarity(shape, target, weights)
    if slot == FRONT_SLOT:
        return _View(pose)
    # MediaPipe's depth ~ k * (the pose's depth + its offset): a weighted line fit.
    depth = (pose.scale * shape @ pose.rotation.T)[:, 2]
    share = weights / weights.sum()
    mean_depth, mean_observed = float(share @ depth), float(share @ observed[:, 2])
    spread = float(share @ (depth - mean_depth) ** 2)
    slope = float(share @ ((depth - mean_depth) * (observed[:, 2] - mean_observed))) / spread
    k = float(np.clip(slope, *DEPTH_SCALE_RANGE))
    translation = pose.translation.copy()
    translation[2] = mean_observed / k - mean_depth
    return _View(Similarity(pose.scale, pose.rotation, translation), k)


def _robust_weights(shape: FloatArray, observed: FloatArray, view: _View, slot: int) -> FloatArray:
    if slot == FRONT_SLOT:
        return np.ones(len(observed))
    squared = view.squared_residuals_mm(shape, observed)
    return np.asarray(1.0 / (1.0 + squared / ROBUST_SCALE_MM**2))


def _in_head_frame(
    shape: FloatArray, views: Mapping[int, _View]
) -> tuple[FloatArray, dict[int, _View]]:
    to_model = head_frame(shape)
    from_model = to_model.inverse()
    return to_model.apply(shape), {
        slot: _View(from_model.then(view.pose), view.depth_scale) for slot, view in views.items()
    }


def _depth_zeroed(pose: Similarity) -> Similarity:
    translation = pose.translation.copy()
    translation[2] = 0.0
    return Similarity(pose.scale, pose.rotation, translation)
