"""Texture baking on synthetic photos of a real face shape: coverage, occlusion, blending, fill."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests import photos

pytestmark = pytest.mark.engine
cv2 = pytest.importorskip("cv2", reason="texture baking needs the engine extra (OpenCV)")
pytest.importorskip("mediapipe", reason="the face mesh comes from the engine extra")

from face3d.engine.fusion import fit_views, mesh_vertices  # noqa: E402
from face3d.engine.pose import (  # noqa: E402
    VIEWER_FROM_CAMERA,
    Similarity,
    ViewPose,
)
from face3d.engine.texture import (  # noqa: E402
    TEXTURE_SIZE,
    ViewImage,
    bake_texture,
    face_uv_raster,
    push_pull_fill,
    sample_view,
)
from face3d.engine.topology import face_topology  # noqa: E402
from face3d.engine.uv import face_uv  # noqa: E402
from face3d.geometry import rotation_from_angles, vertex_normals  # noqa: E402

FloatArray = np.ndarray  # type: ignore[type-arg]
SIZE = 600
RED, GREEN, BLUE = (200, 60, 60), (60, 200, 60), (60, 60, 200)


@pytest.fixture(scope="module")
def vertices() -> FloatArray:
    """The astronaut's face mesh in model millimetres."""
    from face3d.engine.images import decode_rgb
    from face3d.engine.landmarks import FaceMeshDetector

    detector = FaceMeshDetector()
    try:
        landmarks = detector.detect(decode_rgb(photos.astronaut_jpeg(), 1), 1)
    finally:
        detector.close()
    shape = fit_views({1: landmarks}, face_topology()).shape
    return mesh_vertices(shape, face_topology())


def pose(yaw: float) -> ViewPose:
    rotation = VIEWER_FROM_CAMERA @ rotation_from_angles(yaw, 0, 0)
    return ViewPose(Similarity(2.0, rotation, np.array([SIZE / 2, SIZE / 2 - 40, 0.0])))


def solid(colour: tuple[int, int, int]) -> np.ndarray:  # type: ignore[type-arg]
    return np.full((SIZE, SIZE, 3), colour, dtype=np.uint8)


def test_raster_covers_the_layout_disk_exactly() -> None:
    raster = face_uv_raster()
    triangles = face_topology().triangles
    uv = face_uv()

    disk = np.pi * 0.47**2 * TEXTURE_SIZE**2
    assert len(raster.texels) == pytest.approx(disk, rel=0.01)
    assert np.allclose(raster.barycentric.sum(axis=1), 1.0)
    # Each texel's barycentric coordinates give back its own centre.
    corners = uv[triangles[raster.triangle]]
    centre = np.einsum("mk,mkd->md", raster.barycentric, corners)
    cols, rows = raster.texels % TEXTURE_SIZE, raster.texels // TEXTURE_SIZE
    assert np.allclose(centre[:, 0], (cols + 0.5) / TEXTURE_SIZE)
    assert np.allclose(centre[:, 1], 1 - (rows + 0.5) / TEXTURE_SIZE)


def test_a_frontal_photo_shows_the_face_and_hides_nothing(vertices: FloatArray) -> None:
    triangles = face_topology().triangles
    normals = vertex_normals(vertices, triangles)
    view = ViewImage(solid(RED), pose(0.0), is_front=True)

    colour, facing = sample_view(view, vertices, normals, triangles, face_uv_raster())

    seen = facing > 0
    assert seen.sum() > 0.8 * len(face_uv_raster().texels)
    assert np.allclose(colour[seen], RED)


def test_the_nose_hides_the_far_cheek_from_a_side_view(vertices: FloatArray) -> None:
    """Texels behind the nose must not take the nose's colour (no ghost nose on the cheek)."""
    triangles = face_topology().triangles
    normals = vertex_normals(vertices, triangles)
    side = pose(55.0)
    projected = side.project(vertices)
    depth_z = vertices[:, 2][triangles]
    nose = np.flatnonzero(depth_z.min(axis=1) > 15)  # the triangles standing out furthest
    behind = depth_z.max(axis=1) < 5
    image = solid(BLUE)
    nose_mask = np.zeros((SIZE, SIZE), np.uint8)
    for t in nose:
        corners = np.rint(projected[triangles[t], :2]).astype(np.int32)
        cv2.fillConvexPoly(image, corners, GREEN)
        cv2.fillConvexPoly(nose_mask, corners, 1)
    inner_nose = cv2.erode(nose_mask, np.ones((5, 5), np.uint8)) > 0
    raster = face_uv_raster()

    colour, facing = sample_view(
        ViewImage(image, side, is_front=False), vertices, normals, triangles, raster
    )

    where = np.einsum("mk,mkd->md", raster.barycentric, projected[triangles[raster.triangle]])
    pixel = np.rint(where[:, :2]).astype(int).clip(0, SIZE - 1)
    under_nose = inner_nose[pixel[:, 1], pixel[:, 0]] & behind[raster.triangle]
    flat_facing = facing.ravel()[raster.texels]
    assert under_nose.sum() > 200  # the scene does put surface behind the nose
    assert (flat_facing[under_nose] == 0).all()
    on_nose = np.isin(raster.triangle, nose) & (flat_facing > 0.3)
    assert on_nose.sum() > 100
    assert np.abs(colour.reshape(-1, 3)[raster.texels[on_nose]] - GREEN).max(axis=1).mean() < 10


def test_the_best_facing_view_wins_each_side(vertices: FloatArray) -> None:
    views = [
        ViewImage(solid(RED), pose(0.0), is_front=True),
        ViewImage(solid(BLUE), pose(60.0), is_front=False),
    ]

    texture = np.asarray(Image.open(io.BytesIO(bake_texture(views, vertices))), dtype=float)

    uv = face_uv()
    right_cheek, left_cheek, nose = uv[234], uv[454], uv[4]  # (subject's) cheeks, nose tip
    # Yaw > 0: the side view faces the subject's right cheek.

    def at(point: FloatArray) -> FloatArray:
        col = int(point[0] * TEXTURE_SIZE)
        row = int((1 - point[1]) * TEXTURE_SIZE)
        return np.asarray(texture[row - 3 : row + 4, col - 3 : col + 4].mean(axis=(0, 1)))

    for point in (nose, left_cheek):
        red, _, blue = at(point)
        assert red > blue + 60  # the front view's
    red, _, blue = at(uv[93] * 0.5 + right_cheek * 0.5)
    assert blue > red  # the side view's (exposure-matched, so not pure blue)


def test_bake_is_a_jpeg_of_the_layout_size(vertices: FloatArray) -> None:
    view = ViewImage(solid(RED), pose(0.0), is_front=True)

    data = bake_texture([view], vertices)

    image = Image.open(io.BytesIO(data))
    assert (image.format, image.size, image.mode) == ("JPEG", (TEXTURE_SIZE, TEXTURE_SIZE), "RGB")
    # One colour in, one colour out: unseen texels and the margin are filled with it too.
    assert np.abs(np.asarray(image, dtype=float) - RED).max() < 12


def test_push_pull_keeps_what_is_known_and_fills_the_rest_smoothly() -> None:
    rng = np.random.default_rng(8)
    image = rng.uniform(0, 255, (64, 64, 3)).astype(np.float32)
    known = np.zeros((64, 64), np.float32)
    known[:, :32] = 1.0
    image[:, :32] = (100.0, 150.0, 200.0)

    filled = push_pull_fill(image, known)

    assert np.allclose(filled[:, :32], (100.0, 150.0, 200.0))
    assert np.allclose(filled[:, 32:], (100.0, 150.0, 200.0), atol=1e-3)


def test_push_pull_mixes_partly_known_pixels_and_survives_nothing_known() -> None:
    image = np.zeros((16, 16, 3), np.float32)
    image[:8] = 200.0
    confidence = np.zeros((16, 16), np.float32)
    confidence[:8] = 1.0
    image[4, 4] = 0.0  # a black pixel, half sure, among sure grey ones
    confidence[4, 4] = 0.5

    filled = push_pull_fill(image, confidence)

    assert 50 < filled[4, 4, 0] < 150
    assert np.allclose(filled[12], 200.0, atol=30)
    assert np.allclose(push_pull_fill(image, np.zeros((16, 16), np.float32)), 0.0)
