"""Texture baking on synthetic photos of a real face shape: coverage, masking, mirror fill, size."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests import photos

pytestmark = pytest.mark.engine
cv2 = pytest.importorskip("cv2", reason="texture baking needs the engine extra (OpenCV)")
pytest.importorskip("mediapipe", reason="the face mesh comes from the engine extra")

from face3d.engine.crops import CROP_SIZE  # noqa: E402
from face3d.engine.fusion import fit_views  # noqa: E402
from face3d.engine.pose import VIEWER_FROM_CAMERA, Similarity, ViewPose  # noqa: E402
from face3d.engine.raster import layout_raster  # noqa: E402
from face3d.engine.segmentation import PersonMask  # noqa: E402
from face3d.engine.surface import fine_mesh, surface_vertices  # noqa: E402
from face3d.engine.texture import (  # noqa: E402
    TEXTURE_SIZES,
    ViewImage,
    bake_texture,
    texture_size,
)
from face3d.engine.topology import face_topology  # noqa: E402
from face3d.geometry import rotation_from_angles  # noqa: E402

FloatArray = np.ndarray  # type: ignore[type-arg]
SIZE = 600
TEXTURE = 512
RED, BLUE = (200, 60, 60), (60, 60, 200)
# A mask over the whole photo: photo pixel (x, y) is mask pixel (x, y) * CROP_SIZE / SIZE.
WHOLE_PHOTO = np.array([[CROP_SIZE / SIZE, 0.0, 0.0], [0.0, CROP_SIZE / SIZE, 0.0]])


@pytest.fixture(scope="module")
def vertices() -> FloatArray:
    """The astronaut's fine mesh in model millimetres."""
    from face3d.engine.images import decode_rgb
    from face3d.engine.landmarks import FaceMeshDetector

    detector = FaceMeshDetector()
    try:
        landmarks = detector.detect(decode_rgb(photos.astronaut_jpeg(), 1), 1)
    finally:
        detector.close()
    return surface_vertices(fit_views({1: landmarks}, face_topology()).shape)


def pose(yaw: float, scale: float = 2.0) -> ViewPose:
    rotation = VIEWER_FROM_CAMERA @ rotation_from_angles(yaw, 0, 0)
    return ViewPose(Similarity(scale, rotation, np.array([SIZE / 2, SIZE / 2 - 40, 0.0])))


def texture_of(jpeg: bytes) -> FloatArray:
    return np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"), dtype=np.float64)


def everyone(value: float = 1.0) -> PersonMask:
    """A person mask over the whole 600-pixel photo."""
    return PersonMask(np.full((CROP_SIZE, CROP_SIZE), value, np.float32), WHOLE_PHOTO)


def test_bake_is_a_jpeg_covering_the_layout(vertices: FloatArray) -> None:
    photo = np.full((SIZE, SIZE, 3), RED, np.uint8)

    bake = bake_texture([ViewImage(photo, pose(0), True, everyone())], vertices, TEXTURE)

    texture = texture_of(bake.jpeg)
    assert texture.shape == (TEXTURE, TEXTURE, 3)
    assert bake.inside.mean() > 0.6  # the layout's disk
    assert np.abs(texture - RED).max(axis=2).mean() < 6  # one colour seen, mirrored or filled


def test_what_the_person_mask_calls_background_never_reaches_the_texture(
    vertices: FloatArray,
) -> None:
    """The face's left half (image right) lies on a blue wall the mask says is not the person."""
    photo = np.full((SIZE, SIZE, 3), RED, np.uint8)
    photo[:, SIZE // 2 + 30 :] = BLUE
    mask = np.ones((CROP_SIZE, CROP_SIZE), np.float32)
    mask[:, (SIZE // 2 + 30) * CROP_SIZE // SIZE :] = 0.0
    person = PersonMask(mask, WHOLE_PHOTO)

    bake = bake_texture([ViewImage(photo, pose(0), True, person)], vertices, TEXTURE)

    texture = texture_of(bake.jpeg)
    bluish = (texture[:, :, 2] - texture[:, :, 0] > 40) & bake.inside
    print(f"blue texels: {bluish.mean():.4%}")
    assert bluish.mean() < 0.001
    # The wall's half of the face came from the mirror image of the other half: red.
    assert np.abs(texture[bake.inside] - RED).max(axis=1).mean() < 12


def test_the_hidden_cheek_is_filled_from_its_mirror_image(vertices: FloatArray) -> None:
    """Turned 60 degrees, the photo shows the subject's right cheek; the left one is the mirror
    image of what it shows: here a gradient from top to bottom, which a flat fill would lose."""
    rows = np.linspace(40, 220, SIZE)[:, None, None]
    photo = np.broadcast_to(
        np.concatenate([rows, rows * 0 + 120, 240 - rows], axis=2), (SIZE, SIZE, 3)
    )
    photo = np.ascontiguousarray(photo, dtype=np.uint8)

    bake = bake_texture([ViewImage(photo, pose(60), True, everyone())], vertices, TEXTURE)

    texture = texture_of(bake.jpeg)
    raster = layout_raster(TEXTURE)
    left_cheek = raster.trusted & (np.arange(TEXTURE)[None, :] > 0.72 * TEXTURE)
    right_cheek = left_cheek[:, ::-1]
    assert np.corrcoef(texture[left_cheek, 0], texture[right_cheek, 0])[0, 1] > 0.9
    # The sources say so: the left cheek's colour comes from mirrored samples.
    mirrored = sum(source.weight for source in bake.sources[1::2])
    assert mirrored[left_cheek].mean() > 0.8
    direct = sum(source.weight for source in bake.sources[0::2])
    assert (direct + mirrored).max() <= 1.0 + 1e-5


def test_a_second_view_fills_the_other_side_instead_of_the_mirror(vertices: FloatArray) -> None:
    red, blue = np.full((SIZE, SIZE, 3), RED, np.uint8), np.full((SIZE, SIZE, 3), BLUE, np.uint8)
    views = [
        ViewImage(red, pose(50), True, everyone()),
        ViewImage(blue, pose(-50), False, everyone()),
    ]

    bake = bake_texture(views, vertices, TEXTURE)

    texture = texture_of(bake.jpeg)
    raster = layout_raster(TEXTURE)
    right_cheek = raster.trusted & (np.arange(TEXTURE)[None, :] < 0.25 * TEXTURE)
    left_cheek = right_cheek[:, ::-1]
    assert np.abs(texture[right_cheek] - RED).max(axis=1).mean() < 20
    # Exposure matching scales the blue view towards the front's colours, within bounds.
    assert (texture[left_cheek, 2] > texture[left_cheek, 0]).mean() > 0.9


def test_texture_size_follows_the_faces_size_in_the_photo() -> None:
    small = texture_size([pose(0, scale=1.0)])  # about 150 px across the face
    large = texture_size([pose(0, scale=8.0)])  # about 1200 px

    assert small == TEXTURE_SIZES[0] == 512
    assert large == TEXTURE_SIZES[-1] == 2048
    assert texture_size([pose(0, scale=1.0), pose(30, scale=4.0)]) == texture_size(
        [pose(0, scale=4.0)]
    )


def test_the_fine_mesh_has_enough_triangles_and_keeps_the_landmarks(vertices: FloatArray) -> None:
    mesh = fine_mesh()

    assert len(mesh.triangles) >= 3500
    assert vertices.shape == (mesh.vertex_count, 3)
    assert mesh.uv.shape == (mesh.vertex_count, 2)
