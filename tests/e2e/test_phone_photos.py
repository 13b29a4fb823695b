"""Photos as phones save them (HEIC, AVIF: turned by their EXIF orientation, in Display P3,
with a GPS position) reconstruct with the real engine like the JPEG they were made from."""

from __future__ import annotations

import numpy as np
import pytest

from face3d.client.http import Credentials, FaceppClient
from face3d.client.preparation import SourceImage
from face3d.client.reconstruct import Outcome, reconstruct_set
from face3d.client.retries import RetryPolicy
from face3d.contract import View
from tests import photos
from tests.e2e.servers import API_KEY, API_SECRET, EngineServer

pytest.importorskip("werkzeug", reason="face3d serve needs the engine extra (werkzeug)")


def reconstruct(engine_server: EngineServer, data: bytes, name: str) -> Outcome:
    retry = RetryPolicy(max_attempts=1, read_timeout=120.0)
    with FaceppClient(engine_server.endpoint, retry=retry) as client:
        return reconstruct_set(
            client,
            lambda force: Credentials(API_KEY, API_SECRET),
            [SourceImage(View.FRONT, data, name)],
            texture=False,
            mtl=False,
        )


def rotation(outcome: Outcome) -> np.ndarray:
    """The matrix's rotation, without its scale: how the face lies in the photo."""
    rows = np.array(outcome.reconstruction.matrix_rows(View.FRONT), dtype=float)[:3, :3]
    unscaled: np.ndarray = rows / np.linalg.norm(rows[0])
    return unscaled


@pytest.mark.engine
@pytest.mark.parametrize(
    ("pillow_format", "name"), [("HEIF", "IMG_0042.HEIC"), ("AVIF", "ada.avif")]
)
def test_a_phone_photo_reconstructs_like_the_jpeg_it_was_made_from(
    engine_server: EngineServer, pillow_format: str, name: str
) -> None:
    jpeg = photos.astronaut_jpeg()
    phone = photos.as_phone_photo(jpeg, pillow_format, orientation=6)

    reference = reconstruct(engine_server, jpeg, "ada.jpg")
    outcome = reconstruct(engine_server, phone, name)

    (prepared,) = outcome.prepared
    assert prepared.original_format == pillow_format
    assert outcome.reconstruction.obj.count(b"\nv ") > 400  # a face mesh
    # Upright as the JPEG: turned a quarter, the face would lie across the photo.
    assert np.allclose(rotation(outcome), rotation(reference), atol=0.1)
