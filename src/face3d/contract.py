"""The facts of the 3dface contract that outsiders rely on, each stated once.

Standard library only: the Lambda function, the client, the engine, its server and the viewer
all import this module. Sources: facepp-3dface-api.txt (the API) and DESIGN.md (our layout).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Final

# -- the API: where it is, and what one call may carry ---------------------------------------

DEFAULT_ENDPOINT: Final = "https://api-us.faceplusplus.com/facepp/v1/3dface"
API_PATH: Final = "/facepp/v1/3dface"

# The document's "2MB" for a request entity and for one image file. Our engine enforces the
# larger reading (MiB); the client aims under the smaller one (10^6), so both readings are met.
MAX_REQUEST_BYTES: Final = 2 * 1024 * 1024
MAX_IMAGE_BYTES: Final = 2 * 1024 * 1024
SAFE_REQUEST_BYTES: Final = 2_000_000
SAFE_IMAGE_BYTES: Final = 2_000_000
# Each side of an image, in pixels.
MIN_IMAGE_SIDE: Final = 200
MAX_IMAGE_SIDE: Final = 4096
# One 4x4 row-major matrix per image sent.
TRANSFER_MATRIX_SIZE: Final = 16


class View(StrEnum):
    """A photo's viewpoint. Its API number (image slot) is fixed: front 1, left 2, right 3."""

    FRONT = "front"
    LEFT = "left"
    RIGHT = "right"

    @property
    def number(self) -> int:
        return _NUMBERS[self]

    @classmethod
    def from_number(cls, number: int) -> View:
        for view, n in _NUMBERS.items():
            if n == number:
                return view
        raise ValueError(f"no view has API number {number}")

    @classmethod
    def from_param(cls, param: str) -> View | None:
        """The view an API parameter names (`image_base64_2` -> left), if any."""
        prefix, _, suffix = param.strip().rpartition("_")
        if prefix in IMAGE_FIELDS and suffix.isdigit():
            try:
                return cls.from_number(int(suffix))
            except ValueError:
                return None
        return None


_NUMBERS: Final = {View.FRONT: 1, View.LEFT: 2, View.RIGHT: 3}
# Image slots in API order; slot 1 (the front view) is required.
SLOTS: Final = (1, 2, 3)
FRONT_SLOT: Final = 1
# Per slot N the image comes as `<field>_N`, in this order of precedence when several are sent.
IMAGE_FIELDS: Final = ("image_file", "image_base64", "image_url")


def in_api_order(views: Iterable[View | str]) -> list[View]:
    """Views sorted by API number, which is also the order of `transfer_matrix`."""
    return sorted((View(v) for v in views), key=lambda v: v.number)


# -- the result: fixed names in one folder (DESIGN.md section 4) ------------------------------

# Fixed by the API document: viewers resolve face.mtl and tex.jpg beside face.obj.
OBJ_NAME: Final = "face.obj"
MTL_NAME: Final = "face.mtl"
TEXTURE_NAME: Final = "tex.jpg"
OUTPUT_FILES: Final = (OBJ_NAME, MTL_NAME, TEXTURE_NAME)
# Written last on success: the commit marker consumers wait for.
RESULT_DOCUMENT: Final = "result.json"
# Written on a permanent failure: the failure envelope.
ERROR_DOCUMENT: Final = "error.json"

RESULT_SCHEMA: Final = "face3d.result/v1"
FAILURE_SCHEMA: Final = "face3d.failure/v1"
