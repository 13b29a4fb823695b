"""Indices of the MediaPipe Face Mesh landmarks our code relies on by name.

Right and left are the subject's own: the subject's right eye is on the image's left in a frontal
photo. Indices 468..477 exist only with `refine_landmarks=True` (the iris model).
"""

from __future__ import annotations

from typing import Final

MESH_LANDMARK_COUNT: Final = 468  # the surface's vertices; the iris points come after them
LANDMARK_COUNT: Final = 478

FOREHEAD: Final = 10  # top of the forehead, on the midline and on the face oval
CHIN: Final = 152  # lowest point of the chin, on the midline and on the face oval
RIGHT_CHEEK: Final = 234  # face oval, level with the eyes
LEFT_CHEEK: Final = 454
RIGHT_EYE_OUTER: Final = 33  # eye corners, on the eye openings
RIGHT_EYE_INNER: Final = 133
LEFT_EYE_OUTER: Final = 263
LEFT_EYE_INNER: Final = 362
RIGHT_MOUTH_CORNER: Final = 61
LEFT_MOUTH_CORNER: Final = 291
UPPER_INNER_LIP: Final = 13  # on the mouth opening
RIGHT_IRIS: Final = tuple(range(468, 473))  # centre first, then four points on the iris rim
LEFT_IRIS: Final = tuple(range(473, 478))
RIGHT_IRIS_CENTRE: Final = 468
LEFT_IRIS_CENTRE: Final = 473

# The oval as seen from in front of the face, counter-clockwise (y up): forehead, then the
# subject's right cheek (image left), chin, left cheek.
OVAL_COUNTER_CLOCKWISE: Final = (FOREHEAD, RIGHT_CHEEK, CHIN, LEFT_CHEEK)
# (subject's left, subject's right) pairs whose differences give the head's x axis.
SYMMETRIC_PAIRS: Final = (
    (LEFT_EYE_OUTER, RIGHT_EYE_OUTER),
    (LEFT_EYE_INNER, RIGHT_EYE_INNER),
    (LEFT_MOUTH_CORNER, RIGHT_MOUTH_CORNER),
    (LEFT_CHEEK, RIGHT_CHEEK),
    (LEFT_IRIS_CENTRE, RIGHT_IRIS_CENTRE),
)

RIGHT_MOUTH_INNER_CORNER: Final = 78  # where the inner lip lines meet, on the mouth opening
LEFT_MOUTH_INNER_CORNER: Final = 308
# The lips' outer and inner contours (the wheel's FACEMESH_LIPS), for the texture layout.
LIPS: Final = (
    0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181,
    185, 191, 267, 269, 270, 291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375, 402, 405,
    409, 415,
)  # fmt: skip
# The eyebrows (the wheel's FACEMESH_RIGHT_EYEBROW, FACEMESH_LEFT_EYEBROW): not skin.
RIGHT_EYEBROW: Final = (46, 52, 53, 55, 63, 65, 66, 70, 105, 107)
LEFT_EYEBROW: Final = (276, 282, 283, 285, 293, 295, 296, 300, 334, 336)
NOSE_TIP: Final = 4
LOWER_INNER_LIP: Final = 14
