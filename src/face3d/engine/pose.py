"""Head poses: similarity fits, the head's own frame, Euler angles and the API's matrix.

Frames:

* camera frame, a view's pixels: x right, y down, origin top-left with integer coordinates at
  pixel centres (OpenCV's convention), z away from the camera, in pixels (MediaPipe's z is
  scaled like x). Right-handed.
* model frame, millimetres: x to the image's right for a frontal face (the subject's left), y up,
  z towards the camera, origin midway between the iris centres. Right-handed.
* viewer frame: the camera frame turned to the model's conventions (y up, z towards the camera),
  `VIEWER_FROM_CAMERA @ camera`. A frontal, upright face has the identity as head rotation.

A view's pose maps model to camera: `camera = scale * rotation @ model + translation`, with
`rotation = VIEWER_FROM_CAMERA @ head` (a proper rotation, so the API matrix's upper 3x3 is a
scaled rotation and keeps the winding). The head rotation is decomposed as
`head = Ry(yaw) @ Rx(pitch) @ Rz(roll)`, right-hand rule about the viewer's axes, in degrees:

* yaw > 0: the nose turns towards the image's right: the subject turned to their own left, and the
  image shows more of their right cheek;
* pitch > 0: the nose turns down (chin towards the chest);
* roll > 0: the face turns counter-clockwise in the image: the head tilts towards the subject's
  right shoulder.

The head's own frame (what "frontal" means): x along the subject's left-minus-right landmark
pairs (eye corners, irises, mouth corners, cheeks), y from the chin to the top of the forehead
made perpendicular to x, z = x cross y. The scale comes from an anthropometric prior: the adult
mean interpupillary distance, 63 mm (Dodgson 2004), between MediaPipe's two iris centres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np

from face3d.engine import landmark_ids as ids
from face3d.geometry import FloatArray

INTERPUPILLARY_MM: Final = 63.0
# Camera (y down, z away) and viewer (y up, z towards the camera) differ by a half turn about x.
VIEWER_FROM_CAMERA: Final = np.diag([1.0, -1.0, -1.0])


@dataclass(frozen=True)
class Similarity:
    """`target = scale * rotation @ source + translation` (rotation proper, scale > 0)."""

    scale: float
    rotation: FloatArray  # (3, 3)
    translation: FloatArray  # (3,)

    def apply(self, points: FloatArray) -> FloatArray:
        return np.asarray(self.scale * points @ self.rotation.T + self.translation)

    def inverse(self) -> Similarity:
        rotation = self.rotation.T
        return Similarity(1.0 / self.scale, rotation, -(rotation @ self.translation) / self.scale)

    def then(self, outer: Similarity) -> Similarity:
        """`outer` applied after `self`."""
        return Similarity(
            outer.scale * self.scale,
            outer.rotation @ self.rotation,
            outer.scale * outer.rotation @ self.translation + outer.translation,
        )


@dataclass(frozen=True)
class ViewPose:
    """Where the model sits in one view: model millimetres to that view's camera frame."""

    to_camera: Similarity

    def project(self, model_points: FloatArray) -> FloatArray:
        """Camera-frame (x, y, depth) in pixels."""
        return self.to_camera.apply(model_points)

    def matrix(self) -> FloatArray:
        """The API's 4x4: rows 1-2 give pixel x, y; row 3 depth (zero at the model origin)."""
        matrix = np.eye(4)
        matrix[:3, :3] = self.to_camera.scale * self.to_camera.rotation
        matrix[:2, 3] = self.to_camera.translation[:2]
        return matrix

    def head_rotation(self) -> FloatArray:
        return np.asarray(VIEWER_FROM_CAMERA @ self.to_camera.rotation)

    def angles(self) -> tuple[float, float, float]:
        """(yaw, pitch, roll) in degrees; signs in this module's docstring."""
        return euler_angles(self.head_rotation())


def fit_similarity(
    source: FloatArray, target: FloatArray, weights: FloatArray | None = None
) -> Similarity:
    """Least-squares `target ~ scale * rotation @ source + translation` (Umeyama 1991)."""
    w = np.ones(len(source)) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    mean_s = w @ source
    mean_t = w @ target
    s0 = source - mean_s
    t0 = target - mean_t
    covariance = (t0 * w[:, None]).T @ s0
    u, sigma, vt = np.linalg.svd(covariance)
    reflect = np.ones(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        reflect[2] = -1.0
    rotation = (u * reflect) @ vt
    variance = float(w @ np.einsum("ij,ij->i", s0, s0))
    scale = float(sigma @ reflect) / variance
    translation = mean_t - scale * rotation @ mean_s
    return Similarity(scale, rotation, translation)


def head_frame(landmarks: FloatArray) -> Similarity:
    """The similarity taking landmarks (any right-handed frame, y up) to model millimetres.

    `landmarks` holds all 478 points, iris included.
    """
    pairs = np.array(ids.SYMMETRIC_PAIRS)
    x_axis = (landmarks[pairs[:, 0]] - landmarks[pairs[:, 1]]).sum(axis=0)
    x_axis /= np.linalg.norm(x_axis)
    up = landmarks[ids.FOREHEAD] - landmarks[ids.CHIN]
    y_axis = up - (up @ x_axis) * x_axis
    y_axis /= np.linalg.norm(y_axis)
    z_axis = np.cross(x_axis, y_axis)
    axes = np.stack([x_axis, y_axis, z_axis])  # rows: the head's axes in the landmarks' frame
    right_iris = landmarks[ids.RIGHT_IRIS_CENTRE]
    left_iris = landmarks[ids.LEFT_IRIS_CENTRE]
    scale = INTERPUPILLARY_MM / float(np.linalg.norm(left_iris - right_iris))
    origin = (left_iris + right_iris) / 2
    return Similarity(scale, axes, -scale * axes @ origin)


def euler_angles(head: FloatArray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees with `head = Ry(yaw) @ Rx(pitch) @ Rz(roll)`."""
    pitch = math.asin(max(-1.0, min(1.0, -float(head[1, 2]))))
    yaw = math.atan2(float(head[0, 2]), float(head[2, 2]))
    roll = math.atan2(float(head[1, 0]), float(head[1, 1]))
    return math.degrees(yaw), math.degrees(pitch), math.degrees(roll)
