"""Mesh geometry, head rotations and array types shared by the engine and the renderer (NumPy)."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ImageArray = npt.NDArray[np.uint8]  # RGB, shape (height, width, 3)


def vertex_normals(vertices: FloatArray, faces: IntArray) -> FloatArray:
    """Area-weighted unit vertex normals, outward for an outward winding.

    A vertex in no triangle gets (0, 0, 1), so that callers never divide by zero.
    """
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    face_normals = np.cross(b - a, c - a)
    normals = np.zeros_like(vertices)
    for i in range(3):
        np.add.at(normals, faces[:, i], face_normals)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.divide(normals, length, out=np.zeros_like(normals), where=length > 0)
    normals[length[:, 0] == 0] = (0.0, 0.0, 1.0)
    return normals


def triangle_areas(vertices: FloatArray, faces: IntArray) -> FloatArray:
    """Each triangle's area, in the vertices' units squared."""
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    return np.asarray(np.linalg.norm(np.cross(b - a, c - a), axis=1) / 2)


def rotation_from_angles(yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0) -> FloatArray:
    """The head rotation `Ry(yaw) @ Rx(pitch) @ Rz(roll)`, angles in degrees, right-hand rule
    about the viewer's axes (model frame: x to the picture's right, y up, z toward the camera).
    A frontal, upright face has the identity; `face3d.engine.pose.euler_angles` inverts it.

    * yaw > 0: the nose turns toward the picture's right: the subject has turned to their own
      left and the picture shows more of their RIGHT cheek (the model's -x side); yaw < 0 shows
      the left cheek (+x side).
    * pitch > 0: the nose turns down (chin toward the chest); pitch < 0 raises the chin.
    * roll > 0: the face turns counter-clockwise in the picture: the head tilts toward the
      subject's right shoulder.
    """
    a, b, c = (math.radians(angle) for angle in (yaw, pitch, roll))
    turn = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    tilt = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    lean = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    return np.asarray(turn @ tilt @ lean, dtype=np.float64)
