"""face3d.server: the 3dface contract served in-process with a fake engine (werkzeug)."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import responses

pytest.importorskip("werkzeug", reason="face3d serve needs the engine extra (werkzeug)")

from werkzeug.test import Client, EnvironBuilder, TestResponse

from face3d.cli.main import main
from face3d.contract import API_PATH
from face3d.engine import EngineError, EngineResult
from face3d.server import app as server
from face3d.server import serving
from face3d.server.admission import SlidingWindowLimiter
from face3d.server.api_error import ApiError
from face3d.server.images import fetch_image
from tests import photos
from tests.fakes import (
    MTL_WITH_TEXTURE,
    OBJ_PLAIN,
    OBJ_WITH_MTL,
    SAMPLE_MATRIX,
    FakeEngine,
    engine_result,
)

API = API_PATH
KEY, SECRET = "key-123", "secret-456-never-logged"
CREDENTIALS = {"api_key": KEY, "api_secret": SECRET}
MIB = 1024 * 1024
REQUEST_ID = re.compile(
    r"^(\d{10}),([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})$"
)
PHOTO_URL = "https://images.test/front.jpg"


# Fakes: the clock here; the engine is tests.fakes.FakeEngine (its EngineError is the real one) ----


class FakeClock:
    """A monotonic clock that moves only when told to (or when the app sleeps)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


# Helpers ------------------------------------------------------------------------------------------


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def client(engine: FakeEngine) -> Client:
    return Client(server.FaceApp(engine))


@pytest.fixture
def urls() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def file_part(data: bytes, name: str = "photo.jpg") -> tuple[io.BytesIO, str, str]:
    return io.BytesIO(data), name, "image/jpeg"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def post(client: Client, fields: Mapping[str, Any], **kwargs: Any) -> TestResponse:
    """A multipart POST to the API, as the document asks (credentials added unless given)."""
    data = {**CREDENTIALS, **fields}
    return client.post(API, data=data, content_type="multipart/form-data", **kwargs)


def body(response: TestResponse) -> dict[str, Any]:
    assert response.mimetype == "application/json"
    payload = json.loads(response.get_data(as_text=True))
    assert isinstance(payload, dict)
    return payload


def error_of(response: TestResponse) -> tuple[int, str]:
    payload = body(response)
    assert set(payload) == {"time_used", "error_message", "request_id"}
    assert REQUEST_ID.match(payload["request_id"])
    assert isinstance(payload["time_used"], int)
    return response.status_code, payload["error_message"]


def multipart(
    fields: Mapping[str, str], files: Mapping[str, bytes] = {}, boundary: str = "b0undary"
) -> tuple[bytes, str]:
    """A multipart/form-data body built by hand, so that its length is exact."""
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        + value.encode()
        + b"\r\n"
        for name, value in fields.items()
    ]
    parts += [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}.jpg"\r\n'
        f"Content-Type: image/jpeg\r\n\r\n".encode()
        + data
        + b"\r\n"
        for name, data in files.items()
    ]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), (
        f"multipart/form-data; boundary={boundary}"
    )


class CountingInput(io.RawIOBase):
    """A wsgi.input that counts what the app reads of it."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        chunk = self._data.read(-1 if size is None else size)
        self.bytes_read += len(chunk)
        return chunk

    def readline(self, size: int | None = -1) -> bytes:
        line = self._data.readline(-1 if size is None else size)
        self.bytes_read += len(line)
        return line


def raw_environ(
    data: bytes, content_type: str, *, content_length: int | None, path: str = API
) -> tuple[dict[str, Any], CountingInput]:
    """A POST environ whose body is read from a CountingInput; no length: a chunked body."""
    environ = EnvironBuilder(path=path, method="POST").get_environ()
    counting = CountingInput(data)
    environ["wsgi.input"] = counting
    environ["CONTENT_TYPE"] = content_type
    environ.pop("CONTENT_LENGTH", None)
    if content_length is None:
        environ["HTTP_TRANSFER_ENCODING"] = "chunked"
        environ["wsgi.input_terminated"] = True  # the server de-chunks, and ends the stream
    else:
        environ["CONTENT_LENGTH"] = str(content_length)
    return environ, counting


def call_raw(app: server.FaceApp, environ: dict[str, Any]) -> tuple[str, dict[str, str], bytes]:
    status: list[str] = []
    headers: dict[str, str] = {}

    def start_response(
        status_line: str, response_headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        status.append(status_line)
        headers.update(response_headers)
        return lambda data: None

    chunks = app(environ, start_response)
    try:
        data = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return status[0], headers, data


# Success ------------------------------------------------------------------------------------------


def test_one_image_file_gives_the_documented_success_fields(
    client: Client, engine: FakeEngine
) -> None:
    before = int(time.time())
    response = post(client, {"image_file_1": file_part(photos.astronaut_jpeg())})

    assert response.status_code == 200
    payload = body(response)
    # texture and mtl default to 0: only the obj and the matrices.
    assert set(payload) == {"request_id", "time_used", "obj_file", "transfer_matrix"}
    seconds, request_uuid = REQUEST_ID.match(payload["request_id"]).groups()  # type: ignore[union-attr]
    assert before <= int(seconds) <= int(time.time())
    assert uuid.UUID(request_uuid).version == 4
    assert isinstance(payload["time_used"], int)
    assert payload["time_used"] >= 0
    assert base64.b64decode(payload["obj_file"], validate=True) == OBJ_PLAIN.encode()
    assert payload["transfer_matrix"] == [[value + 1 for value in SAMPLE_MATRIX]]
    [call] = engine.calls
    assert call.images == {1: photos.astronaut_jpeg()}
    assert (call.texture, call.mtl) == (False, False)


def test_request_ids_are_unique(client: Client) -> None:
    ids = {
        body(post(client, {"image_file_1": file_part(photos.astronaut_jpeg())}))["request_id"]
        for _ in range(3)
    }
    assert len(ids) == 3


def test_texture_and_mtl_on_return_the_decodable_files(client: Client, engine: FakeEngine) -> None:
    response = post(
        client,
        {"image_base64_1": b64(photos.grace_hopper_jpeg()), "texture": "1", "mtl": "1"},
    )

    payload = body(response)
    assert response.status_code == 200
    assert base64.b64decode(payload["obj_file"]) == OBJ_WITH_MTL.encode()
    assert base64.b64decode(payload["mtl_file"]) == MTL_WITH_TEXTURE.encode()
    texture = base64.b64decode(payload["texture_img"], validate=True)
    assert photos.decode(texture).format == "JPEG"
    assert (engine.calls[0].texture, engine.calls[0].mtl) == (True, True)


@pytest.mark.parametrize(
    ("texture", "mtl", "present"),
    [
        ("0", "0", set()),
        ("1", "0", {"texture_img"}),
        ("0", "1", {"mtl_file"}),
        ("", "", set()),  # sent empty: not sent, so the defaults
        (" 1 ", "1\r\n", {"texture_img", "mtl_file"}),
    ],
)
def test_texture_and_mtl_flags(
    client: Client, engine: FakeEngine, texture: str, mtl: str, present: set[str]
) -> None:
    response = post(
        client,
        {"image_file_1": file_part(photos.astronaut_jpeg()), "texture": texture, "mtl": mtl},
    )

    payload = body(response)
    assert set(payload) - {"request_id", "time_used", "obj_file", "transfer_matrix"} == present
    assert engine.calls[0].texture is ("texture_img" in present)
    assert engine.calls[0].mtl is ("mtl_file" in present)


def test_three_slots_from_three_kinds_of_parameter(
    client: Client, engine: FakeEngine, urls: responses.RequestsMock
) -> None:
    urls.get(PHOTO_URL, body=photos.astronaut_jpeg(), content_type="image/jpeg")
    left = photos.grace_hopper_jpeg()
    right = photos.as_progressive_jpeg(photos.astronaut_jpeg())

    response = post(
        client,
        {"image_url_1": PHOTO_URL, "image_base64_2": b64(left), "image_file_3": file_part(right)},
    )

    payload = body(response)
    assert response.status_code == 200
    assert engine.calls[0].images == {1: photos.astronaut_jpeg(), 2: left, 3: right}
    # One matrix per image sent, in slot order.
    assert payload["transfer_matrix"] == [
        [value + slot for value in SAMPLE_MATRIX] for slot in (1, 2, 3)
    ]


def test_front_and_right_send_two_images_and_get_two_matrices(
    client: Client, engine: FakeEngine
) -> None:
    response = post(
        client,
        {
            "image_file_1": file_part(photos.astronaut_jpeg()),
            "image_file_3": file_part(photos.grace_hopper_jpeg()),
        },
    )

    assert sorted(engine.calls[0].images) == [1, 3]
    assert body(response)["transfer_matrix"] == [
        [value + slot for value in SAMPLE_MATRIX] for slot in (1, 3)
    ]


def test_urlencoded_form_is_accepted_too(client: Client, engine: FakeEngine) -> None:
    response = client.post(
        API, data={**CREDENTIALS, "image_base64_1": b64(photos.astronaut_jpeg())}
    )

    assert response.status_code == 200
    assert engine.calls[0].images == {1: photos.astronaut_jpeg()}


def test_an_mpo_from_a_phone_is_a_jpeg(client: Client) -> None:
    mpo = photos.as_mpo(photos.astronaut_jpeg())
    assert post(client, {"image_file_1": file_part(mpo)}).status_code == 200


def test_base64_with_line_breaks_and_without_padding_is_accepted(
    client: Client, engine: FakeEngine
) -> None:
    photo = photos.astronaut_jpeg()[:-1]  # 1 byte short of a multiple of 3: padding needed
    encoded = b64(photo).rstrip("=")
    wrapped = "\r\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))

    response = post(client, {"image_base64_1": wrapped})

    # The photo is one byte short: a truncated JPEG, refused, yet only once decoded.
    assert error_of(response) == (400, "IMAGE_ERROR_UNSUPPORTED_FORMAT:image_base64_1")
    whole = b64(photos.grace_hopper_jpeg())
    assert (
        post(
            client,
            {"image_base64_1": "\n".join(whole[i : i + 64] for i in range(0, len(whole), 64))},
        ).status_code
        == 200
    )


def test_a_two_mb_base64_field_is_accepted(client: Client, engine: FakeEngine) -> None:
    # werkzeug >= 3.1 would refuse a field over 500 kB by default (DESIGN.md section 9).
    photo = photos.with_detail_jpeg(photos.astronaut_jpeg(), 2200, 2200, seed=5)
    encoded = b64(photo)
    assert 1.9e6 < len(encoded) < 2 * MIB - 4096

    response = post(client, {"image_base64_1": encoded})

    assert response.status_code == 200, response.get_data(as_text=True)
    assert engine.calls[0].images == {1: photo}


# Precedence ---------------------------------------------------------------------------------------


def test_file_wins_over_base64_and_url(
    client: Client, engine: FakeEngine, urls: responses.RequestsMock
) -> None:
    response = post(
        client,
        {
            "image_url_1": PHOTO_URL,
            "image_base64_1": b64(photos.grace_hopper_jpeg()),
            "image_file_1": file_part(photos.astronaut_jpeg()),
        },
    )

    assert response.status_code == 200
    assert engine.calls[0].images == {1: photos.astronaut_jpeg()}
    assert len(urls.calls) == 0  # the URL was not even fetched


def test_base64_wins_over_url(
    client: Client, engine: FakeEngine, urls: responses.RequestsMock
) -> None:
    response = post(
        client,
        {"image_url_2": PHOTO_URL, "image_base64_2": b64(photos.grace_hopper_jpeg())}
        | {"image_file_1": file_part(photos.astronaut_jpeg())},
    )

    assert response.status_code == 200
    assert engine.calls[0].images[2] == photos.grace_hopper_jpeg()
    assert len(urls.calls) == 0


def test_a_lower_parameter_is_ignored_even_when_bad(client: Client, engine: FakeEngine) -> None:
    response = post(
        client,
        {"image_file_1": file_part(photos.astronaut_jpeg()), "image_base64_1": "not base64!"},
    )
    assert response.status_code == 200


def test_an_empty_file_part_counts_as_not_sent(client: Client, engine: FakeEngine) -> None:
    # An HTML form sends an empty file part for a file input left empty.
    response = post(
        client,
        {"image_file_1": file_part(b"", ""), "image_base64_1": b64(photos.astronaut_jpeg())},
    )
    assert response.status_code == 200
    assert engine.calls[0].images == {1: photos.astronaut_jpeg()}


# Arguments ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"api_secret": SECRET}, "MISSING_ARGUMENTS: api_key"),
        ({"api_key": KEY}, "MISSING_ARGUMENTS: api_secret"),
        ({}, "MISSING_ARGUMENTS: api_key"),
        ({"api_key": "", "api_secret": SECRET}, "MISSING_ARGUMENTS: api_key"),
    ],
)
def test_missing_credentials(client: Client, fields: dict[str, str], message: str) -> None:
    response = client.post(
        API,
        data={**fields, "image_file_1": file_part(photos.astronaut_jpeg())},
        content_type="multipart/form-data",
    )
    assert error_of(response) == (400, message)


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"image_file_2": file_part(photos.astronaut_jpeg())},
        {"image_base64_1": "", "image_url_1": "  "},
    ],
)
def test_missing_image_1(client: Client, engine: FakeEngine, fields: dict[str, Any]) -> None:
    response = post(client, fields)

    assert error_of(response) == (
        400,
        "MISSING_ARGUMENTS: image_url_1, image_file_1, image_base64_1",
    )
    assert engine.calls == []


def test_a_request_without_a_form_misses_its_arguments(client: Client) -> None:
    response = client.post(API, json={"api_key": KEY})
    assert error_of(response) == (400, "MISSING_ARGUMENTS: api_key")


@pytest.mark.parametrize(
    ("name", "value"), [("texture", "2"), ("texture", "true"), ("mtl", "-1"), ("mtl", "1.0")]
)
def test_bad_flags(client: Client, engine: FakeEngine, name: str, value: str) -> None:
    response = post(client, {"image_file_1": file_part(photos.astronaut_jpeg()), name: value})

    assert error_of(response) == (400, f"BAD_ARGUMENTS:{name}")
    assert engine.calls == []


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("image_file_1", "/home/me/photo.jpg"),
        ("image_base64_1", b64(photos.astronaut_jpeg()).encode()),
    ],
    ids=["file-as-text", "text-as-file"],
)
def test_a_parameter_sent_as_the_wrong_kind_of_part_is_a_bad_argument(
    client: Client, param: str, value: str | bytes
) -> None:
    # Bytes go as a file part, text as a text field.
    part = (io.BytesIO(value), "photo.b64") if isinstance(value, bytes) else value
    response = post(client, {param: part})
    assert error_of(response) == (400, f"BAD_ARGUMENTS:{param}")


def test_a_malformed_multipart_body_is_a_bad_argument(client: Client) -> None:
    response = client.post(API, data=b"--x\r\nno headers", content_type="multipart/form-data")
    assert error_of(response) == (400, "BAD_ARGUMENTS:body")


# Images -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("param", "data", "message"),
    [
        ("image_file_1", photos.TEXT_NAMED_JPG, "IMAGE_ERROR_UNSUPPORTED_FORMAT:image_file_1"),
        ("image_file_1", photos.truncated_jpeg(), "IMAGE_ERROR_UNSUPPORTED_FORMAT:image_file_1"),
        ("image_file_1", photos.grace_hopper_png(), "IMAGE_ERROR_UNSUPPORTED_FORMAT:image_file_1"),
        (
            "image_base64_2",
            photos.as_webp(photos.astronaut_jpeg()),
            "IMAGE_ERROR_UNSUPPORTED_FORMAT:image_base64_2",
        ),
        ("image_file_3", photos.tiny_jpeg(), "INVALID_IMAGE_SIZE:image_file_3"),
        (
            "image_base64_2",
            photos.resized_jpeg(photos.astronaut_jpeg(), 4200, 300),
            "INVALID_IMAGE_SIZE:image_base64_2",
        ),
        (
            "image_file_2",
            photos.resized_jpeg(photos.astronaut_jpeg(), 512, 199),
            "INVALID_IMAGE_SIZE:image_file_2",
        ),
        # 400 megapixels in a few kB: refused from its header, never decoded.
        ("image_file_1", photos.png_bomb(20_000), "INVALID_IMAGE_SIZE:image_file_1"),
    ],
    ids=["text", "truncated", "png", "webp", "tiny", "too-wide", "too-short", "bomb"],
)
def test_images_that_break_the_requirements(
    client: Client, engine: FakeEngine, param: str, data: bytes, message: str
) -> None:
    value: Any = file_part(data) if param.startswith("image_file_") else b64(data)
    fields = {param: value}
    if not param.endswith("_1"):
        fields["image_file_1"] = file_part(photos.astronaut_jpeg())

    assert error_of(post(client, fields)) == (400, message)
    assert engine.calls == []


def test_an_engine_that_decodes_images_gets_the_damaged_photo_but_not_a_wrong_header(
    engine: FakeEngine,
) -> None:
    client = Client(server.FaceApp(engine, engine_decodes_images=True))
    truncated = photos.truncated_jpeg()

    assert post(client, {"image_file_1": file_part(truncated)}).status_code == 200
    assert engine.calls[-1].images == {1: truncated}  # the engine's decode is the one that refuses
    for data, message in (
        (photos.grace_hopper_png(), "IMAGE_ERROR_UNSUPPORTED_FORMAT:image_file_1"),
        (photos.tiny_jpeg(), "INVALID_IMAGE_SIZE:image_file_1"),
    ):
        assert error_of(post(client, {"image_file_1": file_part(data)})) == (400, message)
    assert len(engine.calls) == 1


@pytest.mark.parametrize(("width", "height"), [(200, 200), (4096, 256)])
def test_sides_at_the_limits_are_accepted(client: Client, width: int, height: int) -> None:
    photo = photos.resized_jpeg(photos.astronaut_jpeg(), width, height)
    assert post(client, {"image_file_1": file_part(photo)}).status_code == 200


@pytest.mark.parametrize("value", ["not base64!", "QUJD*", "aGVsbG8=aGVsbG8=x", "ü"])
def test_bad_base64_is_an_unsupported_image(client: Client, value: str) -> None:
    response = post(client, {"image_base64_1": value})
    assert error_of(response) == (400, "IMAGE_ERROR_UNSUPPORTED_FORMAT:image_base64_1")


def test_an_image_file_over_2_mb_is_too_large(engine: FakeEngine) -> None:
    # The 2 MiB entity limit stops such a file first; with a larger one, the image check does.
    client = Client(server.FaceApp(engine, max_request_bytes=8 * MIB))
    photo = photos.with_detail_jpeg(photos.astronaut_jpeg(), 2800, 2800, seed=11)
    assert len(photo) > 2 * MIB

    response = post(client, {"image_file_1": file_part(photo)})

    assert error_of(response) == (400, "IMAGE_FILE_TOO_LARGE:image_file_1")
    assert engine.calls == []


# image_url_N --------------------------------------------------------------------------------------


def test_image_url_is_fetched(
    client: Client, engine: FakeEngine, urls: responses.RequestsMock
) -> None:
    urls.get(PHOTO_URL, body=photos.grace_hopper_jpeg(), content_type="image/jpeg")

    response = post(client, {"image_url_1": PHOTO_URL})

    assert response.status_code == 200
    assert engine.calls[0].images == {1: photos.grace_hopper_jpeg()}
    assert len(urls.calls) == 1


@pytest.mark.parametrize(
    "answer",
    [
        *(
            {"status": status, "headers": {"Location": "ftp://elsewhere/"}}
            for status in (404, 500, 302)
        ),
        {"body": requests.exceptions.ConnectionError("connection refused")},
        {"body": "<html>Sign in to see this photo</html>", "content_type": "text/html"},
    ],
    ids=["404", "500", "302", "unreachable", "no-image"],
)
def test_image_url_without_an_image_behind_it_is_invalid(
    client: Client, urls: responses.RequestsMock, answer: dict[str, Any]
) -> None:
    urls.get(PHOTO_URL, **answer)
    assert error_of(post(client, {"image_url_1": PHOTO_URL})) == (400, "INVALID_IMAGE_URL")


@pytest.mark.parametrize(
    "failure",
    [
        requests.exceptions.ConnectTimeout("connect timed out"),
        requests.exceptions.ReadTimeout("read timed out"),
    ],
)
def test_image_url_timeout_is_412(
    client: Client, urls: responses.RequestsMock, failure: Exception
) -> None:
    urls.get(PHOTO_URL, body=failure)
    assert error_of(post(client, {"image_url_1": PHOTO_URL})) == (412, "IMAGE_DOWNLOAD_TIMEOUT")


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "no-length"])
def test_image_url_over_2_mb_is_too_large(
    client: Client, urls: responses.RequestsMock, declared: bool
) -> None:
    big = photos.with_detail_jpeg(photos.astronaut_jpeg(), 2800, 2800, seed=11)
    urls.get(PHOTO_URL, body=big, auto_calculate_content_length=declared)

    response = post(client, {"image_url_1": PHOTO_URL})

    assert error_of(response) == (400, "IMAGE_FILE_TOO_LARGE:image_url_1")


def test_image_url_to_a_png_is_an_unsupported_format(
    client: Client, urls: responses.RequestsMock
) -> None:
    urls.get(PHOTO_URL, body=photos.grace_hopper_png(), content_type="image/png")
    assert error_of(post(client, {"image_url_1": PHOTO_URL})) == (
        400,
        "IMAGE_ERROR_UNSUPPORTED_FORMAT:image_url_1",
    )


@pytest.mark.parametrize(
    "url", ["ftp://images.test/front.jpg", "file:///etc/passwd", "front.jpg", "http://"]
)
def test_image_url_must_be_http(client: Client, urls: responses.RequestsMock, url: str) -> None:
    assert error_of(post(client, {"image_url_1": url})) == (400, "INVALID_IMAGE_URL")
    assert len(urls.calls) == 0


def test_image_url_slower_than_the_total_timeout_is_412(urls: responses.RequestsMock) -> None:
    # Every chunk arrives within the read timeout, but the whole takes longer than allowed.
    times = iter([0.0, 1.0, 2.0, 9.0, 9.5, 10.0])
    urls.get(PHOTO_URL, body=photos.with_detail_jpeg(photos.astronaut_jpeg(), 800, 800, seed=3))

    with pytest.raises(ApiError) as caught:
        fetch_image(PHOTO_URL, "image_url_1", timeout=5.0, clock=lambda: next(times))

    assert (caught.value.status, caught.value.error_message) == (412, "IMAGE_DOWNLOAD_TIMEOUT")


def test_image_url_2_names_its_own_slot(client: Client, urls: responses.RequestsMock) -> None:
    urls.get(PHOTO_URL, body=photos.tiny_jpeg())
    response = post(
        client, {"image_file_1": file_part(photos.astronaut_jpeg()), "image_url_2": PHOTO_URL}
    )
    assert error_of(response) == (400, "INVALID_IMAGE_SIZE:image_url_2")


# Engine errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "slot", "message"),
    [
        ("NO_FACE_FOUND", 1, "NO_FACE_FOUND: image_file_1"),
        ("MULTIPLE_FACE_FOUND", 2, "MULTIPLE_FACE_FOUND: image_base64_2"),
        ("NO_FACE_FOUND", 3, "NO_FACE_FOUND: image_url_3"),
        ("INVALID_IMAGE_SIZE", 2, "INVALID_IMAGE_SIZE:image_base64_2"),
        ("IMAGE_ERROR_UNSUPPORTED_FORMAT", 1, "IMAGE_ERROR_UNSUPPORTED_FORMAT:image_file_1"),
        ("NO_FACE_FOUND", None, "NO_FACE_FOUND"),
    ],
)
def test_engine_errors_name_the_parameter_of_their_slot(
    urls: responses.RequestsMock, code: str, slot: int | None, message: str
) -> None:
    urls.get(PHOTO_URL, body=photos.astronaut_jpeg())
    client = Client(server.FaceApp(FakeEngine(error=EngineError(code, slot))))

    response = post(
        client,
        {
            "image_file_1": file_part(photos.astronaut_jpeg()),
            "image_base64_2": b64(photos.grace_hopper_jpeg()),
            "image_url_3": PHOTO_URL,
        },
    )

    assert error_of(response) == (400, message)


def test_an_unknown_engine_code_is_an_internal_error() -> None:
    client = Client(server.FaceApp(FakeEngine(error=EngineError("GPU_ON_FIRE", 1))))
    response = post(client, {"image_file_1": file_part(photos.astronaut_jpeg())})
    assert error_of(response) == (500, "INTERNAL_ERROR")


def test_an_engine_crash_is_an_internal_error_logged_without_image_or_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = Client(server.FaceApp(FakeEngine(error=RuntimeError("mesh exploded"))))
    photo = photos.astronaut_jpeg()

    with caplog.at_level(logging.DEBUG):
        response = post(client, {"image_base64_1": b64(photo)})

    assert error_of(response) == (500, "INTERNAL_ERROR")
    [crash] = [record for record in caplog.records if record.exc_info]
    assert "mesh exploded" in caplog.text  # the traceback is logged
    assert crash.exc_info is not None
    assert body(response)["request_id"] in crash.getMessage()
    assert SECRET not in caplog.text
    assert b64(photo)[:40] not in caplog.text


@pytest.mark.parametrize(
    ("fields", "result"),
    [
        ({}, engine_result(b"v 0 0 0\n", None, None, [])),
        ({}, engine_result(b"v", None, None, [[1.0] * 15])),
        ({}, engine_result(b"v", None, None, [[float("nan")] * 16])),
        ({}, engine_result(b"", None, None, [[1.0] * 16])),
        ({"texture": "1"}, engine_result(b"v", None, None, [[1.0] * 16])),
        ({"mtl": "1"}, engine_result(b"v", None, b"t", [[1.0] * 16])),
    ],
    ids=["no-matrix", "short-matrix", "nan", "no-obj", "no-texture", "no-mtl"],
)
def test_a_malformed_engine_result_is_an_internal_error(
    fields: dict[str, str], result: EngineResult
) -> None:
    client = Client(server.FaceApp(FakeEngine(result=lambda images, texture, mtl: result)))
    response = post(client, {"image_file_1": file_part(photos.astronaut_jpeg()), **fields})
    assert error_of(response) == (500, "INTERNAL_ERROR")


def test_a_call_that_waits_too_long_for_the_busy_engine_is_refused() -> None:
    gate = threading.Event()
    engine = FakeEngine(gate=gate)
    app = server.FaceApp(engine, engine_wait_timeout=0.05)
    first: list[TestResponse] = []
    worker = threading.Thread(
        target=lambda: first.append(
            post(Client(app), {"image_file_1": file_part(photos.astronaut_jpeg())})
        )
    )
    worker.start()
    try:
        deadline = time.monotonic() + 5
        while not engine.calls and time.monotonic() < deadline:
            time.sleep(0.01)
        response = post(Client(app), {"image_file_1": file_part(photos.astronaut_jpeg())})
    finally:
        gate.set()
        worker.join(10)

    assert error_of(response) == (403, "CONCURRENCY_LIMIT_EXCEEDED")
    assert first[0].status_code == 200
    assert len(engine.calls) == 1


def test_the_engine_runs_as_many_calls_at_once_as_its_workers() -> None:
    gate = threading.Event()
    engine = FakeEngine(gate=gate)
    app = server.FaceApp(engine, engine_wait_timeout=0.2, concurrency=2)
    answers: list[TestResponse] = []

    def call() -> None:
        answers.append(post(Client(app), {"image_file_1": file_part(photos.astronaut_jpeg())}))

    running = [threading.Thread(target=call) for _ in range(2)]
    for thread in running:
        thread.start()
    try:
        deadline = time.monotonic() + 5
        while len(engine.calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        third = post(Client(app), {"image_file_1": file_part(photos.astronaut_jpeg())})
    finally:
        gate.set()
        for thread in running:
            thread.join(10)

    assert engine.max_overlap == 2
    assert [answer.status_code for answer in answers] == [200, 200]
    assert error_of(third) == (403, "CONCURRENCY_LIMIT_EXCEEDED")


# Authentication, QPS, failures, latency -----------------------------------------------------------


def test_credentials_are_checked_when_configured(engine: FakeEngine) -> None:
    client = Client(server.FaceApp(engine, api_key=KEY, api_secret=SECRET))
    photo = {"image_file_1": file_part(photos.astronaut_jpeg())}

    assert error_of(post(client, {**photo, "api_secret": "wrong"})) == (401, "AUTHENTICATION_ERROR")
    photo = {"image_file_1": file_part(photos.astronaut_jpeg())}
    assert error_of(post(client, {**photo, "api_key": "wrong"})) == (401, "AUTHENTICATION_ERROR")
    photo = {"image_file_1": file_part(photos.astronaut_jpeg())}
    assert post(client, photo).status_code == 200
    assert len(engine.calls) == 1


def test_without_configured_credentials_any_pair_is_accepted(client: Client) -> None:
    response = post(
        client,
        {"api_key": "x", "api_secret": "y", "image_file_1": file_part(photos.astronaut_jpeg())},
    )
    assert response.status_code == 200


def test_qps_limit_per_one_second_window(engine: FakeEngine) -> None:
    clock = FakeClock()
    client = Client(server.FaceApp(engine, qps=2, clock=clock))

    def call() -> TestResponse:
        return post(client, {"image_file_1": file_part(photos.astronaut_jpeg())})

    assert call().status_code == 200
    clock.now += 0.5
    assert call().status_code == 200
    assert error_of(call()) == (403, "CONCURRENCY_LIMIT_EXCEEDED")
    clock.now += 0.5  # the first call has left the window
    assert call().status_code == 200
    assert error_of(call()) == (403, "CONCURRENCY_LIMIT_EXCEEDED")
    clock.now += 1.0
    assert call().status_code == 200
    assert len(engine.calls) == 4


def test_unauthenticated_calls_do_not_use_the_qps(engine: FakeEngine) -> None:
    client = Client(server.FaceApp(engine, qps=1, api_key=KEY, api_secret=SECRET))
    wrong = post(client, {"api_secret": "no", "image_file_1": file_part(photos.astronaut_jpeg())})
    assert error_of(wrong) == (401, "AUTHENTICATION_ERROR")
    assert post(client, {"image_file_1": file_part(photos.astronaut_jpeg())}).status_code == 200


def test_the_limiter_is_thread_safe() -> None:
    limiter = SlidingWindowLimiter(10, clock=lambda: 5.0)
    results: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(20)

    def admit() -> None:
        start.wait(5)
        for _ in range(5):
            admitted = limiter.admit()
            with lock:
                results.append(admitted)

    threads = [threading.Thread(target=admit) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert len(results) == 100
    assert results.count(True) == 10


def test_fail_rate_is_deterministic_with_a_seed(engine: FakeEngine) -> None:
    client = Client(server.FaceApp(engine, fail_rate=0.3, seed=42))
    statuses = [
        post(client, {"image_file_1": file_part(photos.astronaut_jpeg())}).status_code
        for _ in range(30)
    ]

    rng = random.Random(42)
    expected = [500 if rng.random() < 0.3 else 200 for _ in range(30)]
    assert statuses == expected
    assert 0 < statuses.count(500) < 30
    assert len(engine.calls) == statuses.count(200)


def test_fail_rate_one_fails_every_call_with_internal_error(engine: FakeEngine) -> None:
    client = Client(server.FaceApp(engine, fail_rate=1.0))
    for _ in range(3):
        response = post(client, {"image_file_1": file_part(photos.astronaut_jpeg())})
        assert error_of(response) == (500, "INTERNAL_ERROR")
    assert engine.calls == []


def test_latency_is_added_and_counted_in_time_used(engine: FakeEngine) -> None:
    clock = FakeClock()
    client = Client(server.FaceApp(engine, latency_ms=250, clock=clock, sleep=clock.sleep))

    response = post(client, {"image_file_1": file_part(photos.astronaut_jpeg())})

    assert clock.sleeps == [0.25]
    assert body(response)["time_used"] == 250


@pytest.mark.parametrize(
    "options",
    [
        {"api_key": KEY},
        {"api_secret": SECRET},
        {"api_key": "", "api_secret": ""},
        {"fail_rate": 1.5},
        {"latency_ms": -1},
        {"qps": 0},
        {"fetch_timeout": 0},
    ],
)
def test_bad_app_options(engine: FakeEngine, options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (the message varies)
        server.FaceApp(engine, **options)


# Paths, methods and the 413 -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("POST", "/facepp/v3/detect"),
        ("POST", "/facepp/v1/3dface/"),
        ("POST", "/facepp/v1/3DFACE"),
    ],
)
def test_other_paths_are_api_not_found(client: Client, method: str, path: str) -> None:
    response = client.open(path, method=method, data={**CREDENTIALS})
    assert error_of(response) == (404, "API_NOT_FOUND")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "OPTIONS"])
def test_other_methods_on_the_api_are_api_not_found(client: Client, method: str) -> None:
    response = client.open(API, method=method)

    assert error_of(response) == (404, "API_NOT_FOUND")
    assert response.headers["Allow"] == "POST"


def test_over_2_mb_is_a_plain_text_413_refused_before_reading(engine: FakeEngine) -> None:
    app = server.FaceApp(engine)
    payload, content_type = multipart(CREDENTIALS, {"image_file_1": b"x" * (3 * MIB)})
    environ, counting = raw_environ(payload, content_type, content_length=len(payload))

    status, headers, text = call_raw(app, environ)

    assert status.startswith("413")
    assert headers["Content-Type"].startswith("text/plain")
    assert text == b"Request Entity Too Large"
    assert counting.bytes_read == 0
    assert engine.calls == []


def test_a_chunked_body_is_cut_off_just_past_2_mb(engine: FakeEngine) -> None:
    app = server.FaceApp(engine)
    payload, content_type = multipart(CREDENTIALS, {"image_file_1": b"x" * (8 * MIB)})
    environ, counting = raw_environ(payload, content_type, content_length=None)

    status, _, text = call_raw(app, environ)

    assert status.startswith("413")
    assert text == b"Request Entity Too Large"
    assert 2 * MIB < counting.bytes_read <= 2 * MIB + 64 * 1024
    assert engine.calls == []


@pytest.mark.parametrize(("size", "status"), [(2 * MIB, 200), (2 * MIB + 1, 413)])
def test_the_limit_is_exactly_2_mib(engine: FakeEngine, size: int, status: int) -> None:
    fields = {**CREDENTIALS, "image_base64_1": b64(photos.astronaut_jpeg())}
    unpadded, _ = multipart({**fields, "padding": ""})
    payload, content_type = multipart({**fields, "padding": "p" * (size - len(unpadded))})
    assert len(payload) == size

    response = Client(server.FaceApp(engine)).post(API, data=payload, content_type=content_type)

    assert response.status_code == status


def test_a_chunked_body_under_the_limit_is_served(engine: FakeEngine) -> None:
    app = server.FaceApp(engine)
    payload, content_type = multipart(
        {**CREDENTIALS, "image_base64_1": b64(photos.astronaut_jpeg())}
    )
    environ, _ = raw_environ(payload, content_type, content_length=None)

    status, _, text = call_raw(app, environ)

    assert status.startswith("200"), text
    assert engine.calls[0].images == {1: photos.astronaut_jpeg()}


def test_a_body_shorter_than_its_length_is_a_bad_argument(engine: FakeEngine) -> None:
    payload, content_type = multipart(CREDENTIALS)
    environ, _ = raw_environ(payload, content_type, content_length=len(payload) + 100)

    status, _, text = call_raw(server.FaceApp(engine), environ)

    assert status.startswith("400")
    assert json.loads(text)["error_message"] == "BAD_ARGUMENTS:body"


def test_more_form_parts_than_any_call_needs_is_a_413(engine: FakeEngine) -> None:
    fields = {**CREDENTIALS, **{f"extra_{n}": "x" for n in range(100)}}
    payload, content_type = multipart(fields)

    response = Client(server.FaceApp(engine)).post(API, data=payload, content_type=content_type)

    assert response.status_code == 413
    assert response.get_data() == b"Request Entity Too Large"


# The access log -----------------------------------------------------------------------------------


def test_one_access_line_per_request_without_secrets_or_images(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    photo = photos.astronaut_jpeg()
    remote = {"REMOTE_ADDR": "127.0.0.1"}
    hostile, _ = raw_environ(b"", "text/plain", content_length=0)
    hostile["PATH_INFO"] = "/a b\r\nstatus=200"  # as a server might pass a hostile path on
    with caplog.at_level(logging.INFO):
        ok = post(client, {"image_base64_1": b64(photo)}, environ_base=remote)
        bad = post(client, {"api_key": KEY, "api_secret": "", "image_base64_1": b64(photo)})
        missing = json.loads(call_raw(client.application, hostile)[2])  # type: ignore[arg-type]

    lines = [r.getMessage() for r in caplog.records if r.name == "face3d.server.app.access"]
    assert len(lines) == 3
    assert re.fullmatch(
        rf"method=POST path={API} status=200 error=- param=- ms=\d+ "
        rf"request_id={re.escape(body(ok)['request_id'])} remote=127\.0\.0\.1",
        lines[0],
    )
    assert "status=400 error=MISSING_ARGUMENTS param=api_secret" in lines[1]
    assert f"request_id={body(bad)['request_id']}" in lines[1]
    assert lines[2].startswith("method=POST path=/a%20b%0D%0Astatus=200 status=404 error=API")
    assert f"request_id={missing['request_id']}" in lines[2]
    assert SECRET not in caplog.text
    assert b64(photo)[:40] not in caplog.text


def test_the_413_is_logged(engine: FakeEngine, caplog: pytest.LogCaptureFixture) -> None:
    payload, content_type = multipart(CREDENTIALS, {"image_file_1": b"x" * (3 * MIB)})
    with caplog.at_level(logging.INFO, logger="face3d.server.app.access"):
        Client(server.FaceApp(engine)).post(API, data=payload, content_type=content_type)
    assert "status=413 error=REQUEST_ENTITY_TOO_LARGE" in caplog.text


# The command line ---------------------------------------------------------------------------------


@dataclass
class ServeRecorder:
    engine: FakeEngine = field(default_factory=FakeEngine)
    kwargs: dict[str, Any] = field(default_factory=dict)
    app: Any = None
    workers: int | None = None

    def load_engine(self, workers: int = 1) -> FakeEngine:
        self.workers = workers
        return self.engine


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> ServeRecorder:
    """`face3d serve` with a fake engine and a serve() that returns once it is ready."""
    recorder = ServeRecorder()

    def fake_serve(app: Any, **kwargs: Any) -> None:
        recorder.app = app
        recorder.kwargs = kwargs
        kwargs["on_ready"](kwargs["host"], 43210 if kwargs["port"] == 0 else kwargs["port"])

    monkeypatch.setattr(server, "load_engine", recorder.load_engine)
    monkeypatch.setattr(serving, "serve", fake_serve)
    return recorder


def test_cli_serve_prints_one_line_and_wires_the_options(
    served: ServeRecorder, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "serve",
            "--port",
            "0",
            "--api-key",
            KEY,
            "--api-secret",
            SECRET,
            "--qps",
            "5",
            "--fail-rate",
            "0.25",
            "--seed",
            "3",
            "--latency-ms",
            "40",
            "--threads",
            "6",
            "--workers",
            "3",
        ]
    )

    assert code == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert f"http://127.0.0.1:43210{API}" in out
    assert "6 threads" in out
    assert "3 engine workers" in out
    assert served.workers == 3
    assert served.app.concurrency == 3
    assert "api key required" in out
    assert "qps 5" in out
    assert SECRET not in out
    assert served.kwargs["host"] == "127.0.0.1"
    assert served.kwargs["threads"] == 6
    app = served.app
    assert (app.qps, app.fail_rate, app.latency_ms, app.auth_required) == (5, 0.25, 40, True)
    assert served.engine.closed


def test_cli_serve_defaults(served: ServeRecorder, capsys: pytest.CaptureFixture[str]) -> None:
    cores = len(os.sched_getaffinity(0))
    assert main(["serve"]) == 0
    assert f"http://127.0.0.1:8765{API}" in capsys.readouterr().out
    assert served.kwargs["port"] == 8765
    # One engine worker per core, and threads enough to keep them all busy.
    assert served.workers == served.app.concurrency == cores
    assert served.kwargs["threads"] == max(4, cores + 2)
    assert (served.app.qps, served.app.fail_rate, served.app.auth_required) == (None, 0.0, False)


def test_cli_serve_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["serve", "--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    for flag in (
        "--host",
        "--port",
        "--api-key",
        "--qps",
        "--fail-rate",
        "--latency-ms",
        "--threads",
        "--workers",
        "--seed",
    ):
        assert flag in out


@pytest.mark.parametrize(
    "argv",
    [
        ["--api-key", "k"],
        ["--api-secret", "s"],
        ["--fail-rate", "1.5"],
        ["--fail-rate", "x"],
        ["--qps", "0"],
        ["--threads", "0"],
        ["--threads", "65"],
        ["--workers", "0"],
        ["--workers", "65"],
        ["--port", "70000"],
        ["--latency-ms", "-5"],
    ],
)
def test_cli_serve_usage_errors(served: ServeRecorder, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["serve", *argv])
    assert caught.value.code == 2


def test_cli_serve_without_the_engine_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def missing(workers: int = 1) -> Any:
        raise ModuleNotFoundError("No module named 'mediapipe'")

    monkeypatch.setattr(server, "load_engine", missing)

    assert main(["serve"]) == 3
    err = capsys.readouterr().err
    assert "INVALID_CONFIGURATION" in err
    assert "mediapipe" in err


def test_cli_serve_on_a_taken_port_is_a_configuration_error(
    served: ServeRecorder, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def taken(app: Any, **kwargs: Any) -> None:
        raise OSError(98, "Address already in use")

    monkeypatch.setattr(serving, "serve", taken)

    assert main(["serve", "--port", "8765"]) == 3
    assert "Address already in use" in capsys.readouterr().err
    assert served.engine.closed


def test_waitress_options_bound_every_queue() -> None:
    options = serving.waitress_options(threads=4)
    assert options["threads"] == 4
    assert options["connection_limit"] == 16
    assert options["backlog"] == 64
    # waitress refuses a body whose size is >= max_request_body_size: over 2 MiB, as the API.
    assert options["max_request_body_size"] == 2 * MIB + 1
    # Every body it takes stays in memory (16 x 2 MiB at most), never in a temporary file.
    assert options["inbuf_overflow"] > 2 * MIB
