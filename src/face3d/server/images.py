"""Each slot's image: the parameter it comes in, its bytes, and the checks they must pass.

Where the document is silent, this module decides as follows.

* Images: JPEG only, as the document says (an MPO, a phone's JPEG with extra frames, is a JPEG).
  Anything else, a damaged or truncated JPEG, and bad base64 (whitespace is ignored and missing
  padding tolerated) are `IMAGE_ERROR_UNSUPPORTED_FORMAT:<param>`: the document's code for an
  image its parameter does not resolve to. Sides outside 200..4096 px, and decompression bombs,
  are `INVALID_IMAGE_SIZE:<param>`; a file over 2 MiB is `IMAGE_FILE_TOO_LARGE:<param>` (with
  the 2 MiB entity limit only a URL can deliver one). `<param>` is the field the image came in.
* `image_url_N`: http or https only, fetched with a 5 s connect, read and total timeout (over:
  412 `IMAGE_DOWNLOAD_TIMEOUT`), at most 5 redirects, at most 2 MiB (else
  `IMAGE_FILE_TOO_LARGE:image_url_N`). A failed fetch, an answer other than 200, or a body that
  is no image at all is `INVALID_IMAGE_URL`; an image in the wrong format is
  `IMAGE_ERROR_UNSUPPORTED_FORMAT:image_url_N`. The server fetches any URL it is given: it is
  meant for loopback and trusted networks, not the open internet.
* `COEXISTENCE_ARGUMENTS` is never sent: the document defines a precedence (file, then base64,
  then URL) instead of refusing coexisting image fields, and no other parameters exclude each
  other.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field

import requests
from PIL import Image

from face3d.contract import FRONT_SLOT, MAX_IMAGE_BYTES, MAX_IMAGE_SIDE, MIN_IMAGE_SIDE, SLOTS
from face3d.errors import (
    BAD_ARGUMENTS,
    IMAGE_DOWNLOAD_TIMEOUT,
    IMAGE_ERROR_UNSUPPORTED_FORMAT,
    IMAGE_FILE_TOO_LARGE,
    INVALID_IMAGE_SIZE,
    INVALID_IMAGE_URL,
    MISSING_ARGUMENTS,
)
from face3d.server.api_error import ApiError
from face3d.server.form import Form

DEFAULT_FETCH_TIMEOUT = 5.0

_READ_CHUNK = 64 * 1024
_MAX_REDIRECTS = 5
# Formats Pillow reports for a JPEG file. MPO is a JPEG with further frames after the first.
_JPEG_FORMATS = frozenset({"JPEG", "MPO"})
_MISSING_IMAGE_1 = f"{MISSING_ARGUMENTS}: image_url_1, image_file_1, image_base64_1"
_FETCH_HEADERS = {"User-Agent": "face3d-serve", "Accept": "image/jpeg, image/*;q=0.8, */*;q=0.1"}

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageSource:
    """Where one slot's image comes from: the parameter and its raw value."""

    param: str
    data: bytes | None = field(default=None, repr=False)
    text: str | None = field(default=None, repr=False)


def pick_sources(form: Form) -> dict[int, ImageSource]:
    """Each sent slot's image source; slot 1 (the front view) is required."""
    sources = {slot: source for slot in SLOTS if (source := _pick_source(form, slot)) is not None}
    if FRONT_SLOT not in sources:
        raise ApiError(400, _MISSING_IMAGE_1)
    return sources


def _pick_source(form: Form, slot: int) -> ImageSource | None:
    """The slot's image by the API's precedence: file, then base64, then URL."""
    file_param = f"image_file_{slot}"
    storage = form.files.get(file_param)
    if storage is not None:
        # One byte past the cap, so that an oversized file is recognised as such.
        data = storage.stream.read(MAX_IMAGE_BYTES + 1)
        if data:
            return ImageSource(file_param, data=data)
    elif form.fields.get(file_param):
        raise ApiError(400, BAD_ARGUMENTS, file_param)  # a text field: the bytes are lost
    for param in (f"image_base64_{slot}", f"image_url_{slot}"):
        value = form.text(param)
        if value is not None and value.strip():
            return ImageSource(param, text=value.strip())
    return None


def load_image(
    source: ImageSource,
    *,
    fetch_timeout: float = DEFAULT_FETCH_TIMEOUT,
    clock: Callable[[], float] = time.monotonic,
    decode: bool = True,
) -> bytes:
    """The slot's checked JPEG bytes; `decode=False` checks the header only (`check_image`)."""
    param = source.param
    if source.data is not None:
        data = source.data
    elif param.startswith("image_base64_"):
        assert source.text is not None
        data = _decode_base64(source.text, param)
    else:
        assert source.text is not None
        data = fetch_image(source.text, param, timeout=fetch_timeout, clock=clock)
    if len(data) > MAX_IMAGE_BYTES:
        raise ApiError(400, IMAGE_FILE_TOO_LARGE, param)
    check_image(data, param, from_url=param.startswith("image_url_"), decode=decode)
    return data


def _decode_base64(text: str, param: str) -> bytes:
    compact = "".join(text.split())
    compact += "=" * (-len(compact) % 4)
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):  # ValueError: non-ASCII text
        raise ApiError(400, IMAGE_ERROR_UNSUPPORTED_FORMAT, param) from None


def check_image(data: bytes, param: str, *, from_url: bool = False, decode: bool = True) -> None:
    """Raise the API's error for `data` unless it is a JPEG of 200..4096 px a side.

    With `decode`, the JPEG is decoded in full, at 1/8 scale (cheap, yet every byte of it is
    read), so that a damaged or truncated file is refused before the engine is called; without,
    only its header is read, for an engine that decodes every image in full itself.
    """
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise ApiError(400, INVALID_IMAGE_SIZE, param) from None
    except Exception:  # noqa: BLE001 (Pillow raises many kinds for hostile input)
        # Bytes that are no image at all: from a URL, the URL is wrong (an HTML error page).
        if from_url:
            raise ApiError(400, INVALID_IMAGE_URL) from None
        raise ApiError(400, IMAGE_ERROR_UNSUPPORTED_FORMAT, param) from None
    with image:
        if image.format not in _JPEG_FORMATS:
            raise ApiError(400, IMAGE_ERROR_UNSUPPORTED_FORMAT, param)
        width, height = image.size
        if not (
            MIN_IMAGE_SIDE <= width <= MAX_IMAGE_SIDE and MIN_IMAGE_SIDE <= height <= MAX_IMAGE_SIDE
        ):
            raise ApiError(400, INVALID_IMAGE_SIZE, param)
        if not decode:
            return
        try:
            image.draft(None, (max(1, width // 8), max(1, height // 8)))
            image.load()
        except Exception:  # noqa: BLE001 (truncated or corrupt data)
            raise ApiError(400, IMAGE_ERROR_UNSUPPORTED_FORMAT, param) from None


def fetch_image(
    url: str,
    param: str,
    *,
    timeout: float = DEFAULT_FETCH_TIMEOUT,
    max_bytes: int = MAX_IMAGE_BYTES,
    clock: Callable[[], float] = time.monotonic,
) -> bytes:
    """Download `url` (http or https), within `timeout` seconds in total and `max_bytes`."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ApiError(400, INVALID_IMAGE_URL)
    deadline = clock() + timeout
    try:
        with requests.Session() as session:
            session.max_redirects = _MAX_REDIRECTS
            with session.get(
                url, timeout=(timeout, timeout), stream=True, headers=_FETCH_HEADERS
            ) as response:
                if response.status_code != 200:
                    raise ApiError(400, INVALID_IMAGE_URL)
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise ApiError(400, IMAGE_FILE_TOO_LARGE, param)
                chunks: list[bytes] = []
                received = 0
                for chunk in response.iter_content(_READ_CHUNK):
                    received += len(chunk)
                    if received > max_bytes:
                        raise ApiError(400, IMAGE_FILE_TOO_LARGE, param)
                    if clock() > deadline:
                        raise ApiError(412, IMAGE_DOWNLOAD_TIMEOUT)
                    chunks.append(chunk)
                return b"".join(chunks)
    except requests.exceptions.Timeout:
        raise ApiError(412, IMAGE_DOWNLOAD_TIMEOUT) from None
    except requests.exceptions.RequestException as exc:
        # A read timeout in the middle of the body comes as a ConnectionError.
        if clock() >= deadline or "timed out" in str(exc).lower():
            raise ApiError(412, IMAGE_DOWNLOAD_TIMEOUT) from None
        logger.info("%s: download failed: %s", param, type(exc).__name__)
        raise ApiError(400, INVALID_IMAGE_URL) from None
