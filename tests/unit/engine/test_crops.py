"""The upright crop: a face turned any way in a photo comes out standing up, never mirrored."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.engine
cv2 = pytest.importorskip("cv2", reason="the crop needs the engine extra (OpenCV)")

from face3d.engine import landmark_ids as ids  # noqa: E402
from face3d.engine.crops import CROP_FACES, CROP_SIZE, OUTSIDE, UprightCrop  # noqa: E402

FloatArray = np.ndarray  # type: ignore[type-arg]
# A face in its own frame (pixels, y down): eyes 60 apart, mouth 70 below them, chin and
# forehead giving it a height of 200 and a width of 150.
FACE_POINTS = {
    ids.RIGHT_IRIS_CENTRE: (-30.0, 0.0),
    ids.LEFT_IRIS_CENTRE: (30.0, 0.0),
    ids.UPPER_INNER_LIP: (0.0, 68.0),
    ids.LOWER_INNER_LIP: (0.0, 72.0),
    ids.NOSE_TIP: (0.0, 40.0),
    ids.FOREHEAD: (0.0, -80.0),
    ids.CHIN: (0.0, 120.0),
    ids.RIGHT_CHEEK: (-75.0, 10.0),
    ids.LEFT_CHEEK: (75.0, 10.0),
}


def face_in_photo(degrees: float, centre: tuple[float, float], scale: float = 1.0) -> FloatArray:
    """478 landmarks of FACE_POINTS turned counter-clockwise by `degrees` in the image, scaled
    and moved to `centre`; the landmarks not named sit on the nose tip."""
    angle = np.radians(degrees)
    # Counter-clockwise on screen (y down): x' = x cos + y sin, y' = -x sin + y cos.
    turn = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    points = np.tile(np.array(FACE_POINTS[ids.NOSE_TIP]), (ids.LANDMARK_COUNT, 1))
    for index, point in FACE_POINTS.items():
        points[index] = point
    placed = scale * points @ turn.T + np.array(centre)
    return np.c_[placed, np.zeros(len(placed))]


@pytest.mark.parametrize("degrees", [0.0, 30.0, 90.0, 180.0, 250.0])
def test_the_face_stands_upright_in_the_middle_whatever_its_turn(degrees: float) -> None:
    photo = np.zeros((600, 800, 3), np.uint8)
    landmarks = face_in_photo(degrees, (400.0, 300.0))

    crop = UprightCrop.of(photo, landmarks)

    assert crop is not None
    assert crop.rgb.shape == (CROP_SIZE, CROP_SIZE, 3)
    points = crop.landmarks
    right_eye, left_eye = points[ids.RIGHT_IRIS_CENTRE], points[ids.LEFT_IRIS_CENTRE]
    mouth = points[ids.UPPER_INNER_LIP]
    assert right_eye[1] == pytest.approx(left_eye[1], abs=1e-6)  # the eye line is level
    assert right_eye[0] < left_eye[0]  # the subject's right eye on the crop's left: not mirrored
    assert mouth[1] > right_eye[1]  # eyes above the mouth
    # The face (200 tall, the larger side) fills 1 / CROP_FACES of the crop, in its middle.
    height = points[ids.CHIN, 1] - points[ids.FOREHEAD, 1]
    assert height == pytest.approx(CROP_SIZE / CROP_FACES, rel=1e-6)
    middle = (points[:, :2].min(axis=0) + points[:, :2].max(axis=0)) / 2
    assert middle == pytest.approx(((CROP_SIZE - 1) / 2,) * 2, abs=1e-6)
    assert np.linalg.det(crop.to_crop[:, :2]) > 0


@pytest.mark.parametrize("scale", [1.0, 6.0])  # 6: the photo is shrunk before the warp
def test_crop_pixels_show_the_photo_where_the_transform_says(scale: float) -> None:
    """A red dot painted on the nose tip is at the nose tip's crop pixel."""
    size = int(900 * scale)
    photo = np.zeros((size, size, 3), np.uint8)
    landmarks = face_in_photo(35.0, (size / 2, size / 2), scale)
    nose = landmarks[ids.NOSE_TIP, :2]
    cv2.circle(photo, (round(nose[0]), round(nose[1])), round(8 * scale), (255, 0, 0), -1)

    crop = UprightCrop.of(photo, landmarks)

    assert crop is not None
    x, y = np.rint(crop.landmarks[ids.NOSE_TIP]).astype(int)
    assert tuple(crop.rgb[y, x]) == pytest.approx((255, 0, 0), abs=40)
    mapped = crop.to_crop @ np.array([*nose, 1.0])
    assert mapped == pytest.approx(crop.landmarks[ids.NOSE_TIP], abs=1e-6)


def test_past_the_photo_border_the_crop_is_plain_grey() -> None:
    photo = np.full((400, 400, 3), 200, np.uint8)
    landmarks = face_in_photo(0.0, (20.0, 200.0))  # the face's right half past the left border

    crop = UprightCrop.of(photo, landmarks)

    assert crop is not None
    assert tuple(crop.rgb[CROP_SIZE // 2, 2]) == OUTSIDE
    assert tuple(crop.rgb[CROP_SIZE // 2, CROP_SIZE - 3]) == (200, 200, 200)


def test_landmarks_without_an_eye_line_have_no_crop() -> None:
    landmarks = np.zeros((ids.LANDMARK_COUNT, 3))

    assert UprightCrop.of(np.zeros((300, 300, 3), np.uint8), landmarks) is None
