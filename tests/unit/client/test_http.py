"""FaceppClient against a mocked HTTP layer: the request it sends, the errors it maps, its retries.

Time is fake (clock, sleep and jitter are injected): nothing here really sleeps.
"""

from __future__ import annotations

import base64
import logging
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import pytest
import requests
import responses

from face3d.client.http import Credentials, FaceppClient, ImageInput
from face3d.client.retries import RetryPolicy
from face3d.contract import DEFAULT_ENDPOINT, View
from face3d.errors import (
    BAD_RESPONSE,
    CONNECTION_ERROR,
    HTTP_ERROR,
    INVALID_CONFIGURATION,
    REQUEST_ENTITY_TOO_LARGE,
    TIMEOUT,
    TLS_ERROR,
    ConfigurationError,
    Face3DError,
    Kind,
    PermanentError,
    RequestEntityTooLargeError,
    TransientError,
)
from tests.fakes import error_payload, success_payload
from tests.unit.client.clocks import FakeTime, RecordingJitter

ENDPOINT = "https://facepp.test/facepp/v1/3dface"
API_KEY = "key-public-123"
API_SECRET = "secret-DO-NOT-LEAK-9f8e7d6c"
CREDENTIALS = Credentials(API_KEY, API_SECRET)
REQUEST_ID = "1470378968,c6f50ec6"
MAX_ATTEMPTS = 3

# Not real JPEGs (the client does not look inside), but binary with CR, LF and "--" in it, so a
# body that mangled bytes or boundaries would show.
FRONT = b"\xff\xd8front\r\n--\r\n\x00\x01" + bytes(range(256)) * 8 + b"\xff\xd9"
LEFT = b"\xff\xd8left\n\r\x00" + bytes(range(255, -1, -1)) * 8 + b"\xff\xd9"
RIGHT = b"\xff\xd8right--\r\n\r\n" + bytes(range(0, 256, 3)) * 8 + b"\xff\xd9"


class SpySession(requests.Session):
    """A real session that records the keyword arguments of every send."""

    created = 0

    def __init__(self) -> None:
        super().__init__()
        SpySession.created += 1
        self.sends: list[dict[str, Any]] = []
        self.closed = False

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.sends.append(kwargs)
        return super().send(request, **kwargs)

    def close(self) -> None:
        self.closed = True
        super().close()


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def jitter() -> RecordingJitter:
    return RecordingJitter()


def make_client(
    fake_time: FakeTime,
    jitter: RecordingJitter,
    *,
    session: requests.Session | None = None,
    endpoint: str = ENDPOINT,
    **policy: Any,
) -> FaceppClient:
    policy.setdefault("max_attempts", MAX_ATTEMPTS)
    return FaceppClient(
        endpoint,
        retry=RetryPolicy(**policy),
        session=session,
        clock=fake_time.clock,
        sleep=fake_time.sleep,
        jitter=jitter,
    )


@pytest.fixture
def client(fake_time: FakeTime, jitter: RecordingJitter) -> FaceppClient:
    return make_client(fake_time, jitter)


def all_views() -> list[ImageInput]:
    return [
        ImageInput(View.FRONT, data=FRONT),
        ImageInput(View.LEFT, data=LEFT),
        ImageInput(View.RIGHT, data=RIGHT),
    ]


def reply_success(api: responses.RequestsMock, views: tuple[View, ...] = (View.FRONT,)) -> None:
    api.post(ENDPOINT, json=success_payload(views))


def reply_error(api: responses.RequestsMock, status: int, message: str) -> None:
    api.post(ENDPOINT, status=status, json=error_payload(message, REQUEST_ID))


def form(request: requests.PreparedRequest) -> dict[str, EmailMessage]:
    """The multipart parts of a recorded request, by field name (each name at most once)."""
    assert isinstance(request.body, bytes)
    head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + request.body)
    assert message.is_multipart()
    parts = [part for part in message.iter_parts() if isinstance(part, EmailMessage)]
    names = [str(part.get_param("name", header="content-disposition")) for part in parts]
    assert len(names) == len(set(names)), names
    return dict(zip(names, parts, strict=True))


def value(part: EmailMessage) -> bytes:
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload


def text(part: EmailMessage) -> str:
    assert part.get_filename() is None, "a text field must not be a file part"
    return value(part).decode()


def sent_form(api: responses.RequestsMock, index: int = 0) -> dict[str, EmailMessage]:
    request = api.calls[index].request
    assert isinstance(request, requests.PreparedRequest)
    return form(request)


def send_kwargs(api: responses.RequestsMock, index: int) -> dict[str, Any]:
    """What the adapter was asked to send with (responses records it on the request)."""
    kwargs: dict[str, Any] = api.calls[index].request.req_kwargs  # type: ignore[attr-defined]
    return kwargs


def raised(client: FaceppClient, images: list[ImageInput] | None = None, **kwargs: Any) -> Any:
    with pytest.raises(Face3DError) as caught:
        client.reconstruct(CREDENTIALS, images or all_views(), **kwargs)
    return caught.value


# --- the request ----------------------------------------------------------------------------


def test_body_carries_credentials_flags_and_base64_images(
    api: responses.RequestsMock, client: FaceppClient
) -> None:
    reply_success(api, (View.FRONT, View.LEFT, View.RIGHT))

    client.reconstruct(CREDENTIALS, all_views())

    parts = sent_form(api)
    assert list(parts) == [
        "api_key",
        "api_secret",
        "image_base64_1",
        "image_base64_2",
        "image_base64_3",
        "texture",
        "mtl",
    ]
    assert text(parts["api_key"]) == API_KEY
    assert text(parts["api_secret"]) == API_SECRET
    assert base64.b64decode(text(parts["image_base64_1"]), validate=True) == FRONT
    assert base64.b64decode(text(parts["image_base64_2"]), validate=True) == LEFT
    assert base64.b64decode(text(parts["image_base64_3"]), validate=True) == RIGHT
    assert text(parts["texture"]) == "1"
    assert text(parts["mtl"]) == "1"
    request = api.calls[0].request
    assert request.method == "POST"
    assert request.url == ENDPOINT
    assert request.headers["Content-Type"].startswith("multipart/form-data; boundary=")


def test_as_file_sends_a_binary_file_part(
    api: responses.RequestsMock, client: FaceppClient
) -> None:
    reply_success(api, (View.FRONT, View.LEFT))

    client.reconstruct(
        CREDENTIALS,
        [ImageInput(View.FRONT, data=FRONT, as_file=True), ImageInput(View.LEFT, data=LEFT)],
    )

    parts = sent_form(api)
    front = parts["image_file_1"]
    assert front.get_filename() == "front.jpg"
    assert front.get_content_type() == "image/jpeg"
    assert value(front) == FRONT
    assert "image_base64_1" not in parts
    assert base64.b64decode(text(parts["image_base64_2"])) == LEFT


def test_url_only_sends_image_url(api: responses.RequestsMock, client: FaceppClient) -> None:
    reply_success(api)

    client.reconstruct(CREDENTIALS, [ImageInput(View.FRONT, url="https://img.test/front.jpg")])

    parts = sent_form(api)
    assert text(parts["image_url_1"]) == "https://img.test/front.jpg"
    assert not {"image_file_1", "image_base64_1"} & set(parts)


@pytest.mark.parametrize(
    ("as_file", "expected"), [(False, "image_base64_1"), (True, "image_file_1")]
)
def test_data_wins_over_url_and_only_one_field_is_sent(
    api: responses.RequestsMock, client: FaceppClient, as_file: bool, expected: str
) -> None:
    reply_success(api)

    client.reconstruct(
        CREDENTIALS,
        [ImageInput(View.FRONT, data=FRONT, url="https://img.test/f.jpg", as_file=as_file)],
    )

    images = {name for name in sent_form(api) if name.startswith("image_")}
    assert images == {expected}


def test_front_and_right_use_slots_one_and_three(
    api: responses.RequestsMock, client: FaceppClient
) -> None:
    reply_success(api, (View.FRONT, View.RIGHT))

    result = client.reconstruct(
        CREDENTIALS, [ImageInput(View.RIGHT, data=RIGHT), ImageInput(View.FRONT, data=FRONT)]
    )

    parts = sent_form(api)
    assert {name for name in parts if name.startswith("image_")} == {
        "image_base64_1",
        "image_base64_3",
    }
    assert base64.b64decode(text(parts["image_base64_3"])) == RIGHT
    assert set(result.transfer_matrices) == {View.FRONT, View.RIGHT}


@pytest.mark.parametrize(("texture", "mtl"), [(True, True), (True, False), (False, True)])
def test_texture_and_mtl_flags(
    api: responses.RequestsMock, client: FaceppClient, texture: bool, mtl: bool
) -> None:
    api.post(ENDPOINT, json=success_payload(texture=texture, mtl=mtl))

    result = client.reconstruct(
        CREDENTIALS, [ImageInput(View.FRONT, data=FRONT)], texture=texture, mtl=mtl
    )

    parts = sent_form(api)
    assert text(parts["texture"]) == ("1" if texture else "0")
    assert text(parts["mtl"]) == ("1" if mtl else "0")
    assert (result.texture is not None) is texture
    assert (result.mtl is not None) is mtl


def test_both_flags_off(api: responses.RequestsMock, client: FaceppClient) -> None:
    api.post(ENDPOINT, json=success_payload(texture=False, mtl=False))

    result = client.reconstruct(
        CREDENTIALS, [ImageInput(View.FRONT, data=FRONT)], texture=False, mtl=False
    )

    parts = sent_form(api)
    assert (text(parts["texture"]), text(parts["mtl"])) == ("0", "0")
    assert set(result.files()) == {"face.obj"}


@pytest.mark.parametrize(
    ("images", "problem"),
    [
        ([], "no images"),
        ([ImageInput(View.FRONT, data=FRONT), ImageInput(View.FRONT, data=LEFT)], "once"),
        ([ImageInput(View.LEFT, data=LEFT)], "front view"),
        ([ImageInput(View.LEFT, data=LEFT), ImageInput(View.RIGHT, data=RIGHT)], "front view"),
    ],
    ids=["no images", "duplicate view", "no front", "left and right only"],
)
def test_malformed_calls_raise_value_error_without_a_request(
    api: responses.RequestsMock, client: FaceppClient, images: list[ImageInput], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        client.reconstruct(CREDENTIALS, images)

    assert len(api.calls) == 0


def test_image_input_needs_data_or_url() -> None:
    with pytest.raises(ValueError, match="neither data nor url"):
        ImageInput(View.FRONT)
    with pytest.raises(ValueError, match="no data"):
        ImageInput(View.FRONT, url="https://img.test/f.jpg", as_file=True)


@pytest.mark.parametrize(
    "policy",
    [
        {"max_attempts": 0},
        {"connect_timeout": 0},
        {"read_timeout": -1},
        {"min_attempt_time": 0},
        {"backoff_base": -0.1},
    ],
)
def test_retry_policy_rejects_nonsense(policy: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must"):
        RetryPolicy(**policy)


def test_default_endpoint_is_the_documented_url() -> None:
    assert DEFAULT_ENDPOINT == "https://api-us.faceplusplus.com/facepp/v1/3dface"


# --- success --------------------------------------------------------------------------------


def test_success_is_parsed_into_a_reconstruction(
    api: responses.RequestsMock, client: FaceppClient
) -> None:
    reply_success(api, (View.FRONT, View.LEFT, View.RIGHT))

    result = client.reconstruct(CREDENTIALS, all_views())

    assert result.request_id == "1576058873,18105fd0-28fe-4790-a44e-6102009bc195"
    assert result.time_used == 2114
    assert list(result.transfer_matrices) == [View.FRONT, View.LEFT, View.RIGHT]
    assert set(result.files()) == {"face.obj", "face.mtl", "tex.jpg"}
    assert len(api.calls) == 1


# --- every documented error -----------------------------------------------------------------

P, T, C = PermanentError, TransientError, ConfigurationError

# (HTTP status, error_message, class, code, param, view): from facepp-3dface-api.txt's tables.
DOCUMENTED_ERRORS = {
    "unsupported format": (
        400, "IMAGE_ERROR_UNSUPPORTED_FORMAT:image_base64_2", P,
        "IMAGE_ERROR_UNSUPPORTED_FORMAT", "image_base64_2", View.LEFT,
    ),
    "invalid size": (
        400, "INVALID_IMAGE_SIZE:image_file_3", P, "INVALID_IMAGE_SIZE", "image_file_3", View.RIGHT
    ),
    "invalid url": (400, "INVALID_IMAGE_URL", P, "INVALID_IMAGE_URL", None, None),
    "file too large": (
        400, "IMAGE_FILE_TOO_LARGE:image_base64_1", P,
        "IMAGE_FILE_TOO_LARGE", "image_base64_1", View.FRONT,
    ),
    "download timeout": (412, "IMAGE_DOWNLOAD_TIMEOUT", T, "IMAGE_DOWNLOAD_TIMEOUT", None, None),
    "authentication": (401, "AUTHENTICATION_ERROR", C, "AUTHENTICATION_ERROR", None, None),
    "concurrency": (
        403, "CONCURRENCY_LIMIT_EXCEEDED", T, "CONCURRENCY_LIMIT_EXCEEDED", None, None
    ),
    "no face (with space)": (
        400, "NO_FACE_FOUND: image_base64_1", P, "NO_FACE_FOUND", "image_base64_1", View.FRONT
    ),
    "multiple faces": (
        400, "MULTIPLE_FACE_FOUND: image_url_2", P,
        "MULTIPLE_FACE_FOUND", "image_url_2", View.LEFT,
    ),
    "missing arguments": (
        400, "MISSING_ARGUMENTS: api_key", P, "MISSING_ARGUMENTS", "api_key", None
    ),
    "bad arguments": (400, "BAD_ARGUMENTS:texture", P, "BAD_ARGUMENTS", "texture", None),
    "bad arguments on an image": (
        400, "BAD_ARGUMENTS:image_base64_3", P, "BAD_ARGUMENTS", "image_base64_3", View.RIGHT
    ),
    "coexistence": (400, "COEXISTENCE_ARGUMENTS", P, "COEXISTENCE_ARGUMENTS", None, None),
    "api not found": (404, "API_NOT_FOUND", C, "API_NOT_FOUND", None, None),
    "internal error": (500, "INTERNAL_ERROR", T, "INTERNAL_ERROR", None, None),
}  # fmt: skip


@pytest.mark.parametrize(
    ("status", "message", "cls", "code", "param", "view"),
    DOCUMENTED_ERRORS.values(),
    ids=DOCUMENTED_ERRORS.keys(),
)
def test_documented_error(
    api: responses.RequestsMock,
    client: FaceppClient,
    status: int,
    message: str,
    cls: type[Face3DError],
    code: str,
    param: str | None,
    view: View | None,
) -> None:
    reply_error(api, status, message)

    err = raised(client)

    assert type(err) is cls
    assert (err.code, err.param, err.view) == (code, param, view)
    assert err.http_status == status
    assert err.request_id == REQUEST_ID
    assert err.retryable is (cls is not PermanentError)
    calls = MAX_ATTEMPTS if cls is TransientError else 1
    assert len(api.calls) == calls
    assert err.attempts == calls


@pytest.mark.parametrize(
    "reason", ["Denied by Client", "Denied by Admin", "Insufficient Account Balance"]
)
def test_authorization_error_carries_its_reason(
    api: responses.RequestsMock, client: FaceppClient, reason: str
) -> None:
    reply_error(api, 403, f"AUTHORIZATION_ERROR:{reason}")

    err = raised(client)

    assert type(err) is ConfigurationError
    assert err.kind is Kind.CONFIGURATION
    assert (err.code, err.param, err.view) == ("AUTHORIZATION_ERROR", None, None)
    assert err.message == reason
    assert str(err) == f"AUTHORIZATION_ERROR: {reason}"
    assert (err.http_status, err.request_id, err.retryable) == (403, REQUEST_ID, True)
    assert len(api.calls) == 1


def test_documented_errors_explain_themselves(
    api: responses.RequestsMock, client: FaceppClient
) -> None:
    reply_error(api, 400, "NO_FACE_FOUND: image_base64_2")

    assert str(raised(client)) == "NO_FACE_FOUND:left: no face was detected in the image"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", "Request Entity Too Large"),
        ("text/html", "<html><head><title>413 Request Entity Too Large</title></head></html>"),
        ("application/json", '{"error_message": "Request Entity Too Large"}'),
    ],
)
def test_any_413_is_request_entity_too_large(
    api: responses.RequestsMock, client: FaceppClient, content_type: str, body: str
) -> None:
    api.post(ENDPOINT, status=413, body=body, content_type=content_type)

    err = raised(client)

    assert type(err) is RequestEntityTooLargeError
    assert (err.code, err.http_status, err.retryable) == (REQUEST_ENTITY_TOO_LARGE, 413, False)
    assert len(api.calls) == 1


def test_unknown_api_code_is_judged_by_status(
    api: responses.RequestsMock, client: FaceppClient
) -> None:
    reply_error(api, 400, "SOMETHING_NEW:image_base64_1")
    err = raised(client)
    assert (type(err), err.code, err.view) == (PermanentError, "SOMETHING_NEW", View.FRONT)

    api.replace(responses.POST, ENDPOINT, status=503, json=error_payload("OVERLOADED"))
    err = raised(client)
    assert (type(err), err.code, err.attempts) == (TransientError, "OVERLOADED", MAX_ATTEMPTS)


# --- answers that are not the API's ---------------------------------------------------------

BAD_GATEWAY = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
UNAVAILABLE = "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"
GATEWAY_TIMEOUT = "<!DOCTYPE html><html><body>504 Gateway Time-out</body></html>"

# (status, content type, body, class, code, excerpt expected in the message)
FOREIGN_ANSWERS = {
    "502 html": (502, "text/html", BAD_GATEWAY, T, HTTP_ERROR, "502 Bad Gateway"),
    "503 html": (503, "text/html", UNAVAILABLE, T, HTTP_ERROR, "Temporarily Unavailable"),
    "504 html": (504, "text/html", GATEWAY_TIMEOUT, T, HTTP_ERROR, "504 Gateway Time-out"),
    "502 empty": (502, "text/plain", "", T, HTTP_ERROR, "(empty body)"),
    "500 empty": (500, "text/plain", "", T, HTTP_ERROR, "(empty body)"),
    "503 json without error": (503, "application/json", '{"x": 1}', T, HTTP_ERROR, '{"x": 1}'),
    "429 plain": (429, "text/plain", "Too Many Requests", T, HTTP_ERROR, "Too Many Requests"),
    "404 plain": (404, "text/plain", "Not Found", C, "API_NOT_FOUND", "Not Found"),
    "400 html": (400, "text/html", "<h1>Bad Request</h1>", P, HTTP_ERROR, "Bad Request"),
    "401 empty": (401, "text/plain", "", P, HTTP_ERROR, "(empty body)"),
    "200 html": (200, "text/html", "<html>maintenance</html>", T, BAD_RESPONSE, "maintenance"),
    "200 empty": (200, "application/json", "", T, BAD_RESPONSE, "(empty body)"),
    "200 json list": (200, "application/json", "[1, 2]", T, BAD_RESPONSE, "[1, 2]"),
    "204 empty": (204, "text/plain", "", T, BAD_RESPONSE, "HTTP 204"),
    "200 json without fields": (
        200, "application/json", '{"request_id": "r-1"}', T, BAD_RESPONSE, "time_used"
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("status", "content_type", "body", "cls", "code", "excerpt"),
    FOREIGN_ANSWERS.values(),
    ids=FOREIGN_ANSWERS.keys(),
)
def test_foreign_answer(
    api: responses.RequestsMock,
    client: FaceppClient,
    status: int,
    content_type: str,
    body: str,
    cls: type[Face3DError],
    code: str,
    excerpt: str,
) -> None:
    api.post(ENDPOINT, status=status, body=body, content_type=content_type)

    err = raised(client)

    assert type(err) is cls
    assert err.code == code
    assert err.http_status == status
    assert excerpt in err.message
    calls = MAX_ATTEMPTS if cls is TransientError else 1
    assert len(api.calls) == calls
    assert err.attempts == calls


def test_long_foreign_body_is_cut_to_an_excerpt(
    api: responses.RequestsMock, client: FaceppClient
) -> None:
    api.post(ENDPOINT, status=502, body="<p>" + "x" * 5000 + "</p>", content_type="text/html")

    err = raised(client)

    assert len(err.message) < 300


def test_redirect_is_a_configuration_error_and_not_followed(
    api: responses.RequestsMock, client: FaceppClient
) -> None:
    api.post(ENDPOINT, status=301, headers={"Location": "https://elsewhere.test/3dface"})
    api.post("https://elsewhere.test/3dface", json=success_payload())

    err = raised(client)

    assert type(err) is ConfigurationError
    assert (err.code, err.http_status) == (HTTP_ERROR, 301)
    assert "https://elsewhere.test/3dface" in err.message
    assert [call.request.url for call in api.calls] == [ENDPOINT]


# --- transport failures ---------------------------------------------------------------------

TRANSPORT_FAILURES = {
    "connect timeout": (requests.exceptions.ConnectTimeout("connect timed out"), T, TIMEOUT),
    "read timeout": (requests.exceptions.ReadTimeout("read timed out"), T, TIMEOUT),
    "connection refused": (
        requests.exceptions.ConnectionError("connection refused"), T, CONNECTION_ERROR
    ),
    "proxy": (requests.exceptions.ProxyError("proxy said no"), T, CONNECTION_ERROR),
    "cut body": (
        requests.exceptions.ChunkedEncodingError("connection broken"), T, CONNECTION_ERROR
    ),
    "tls": (requests.exceptions.SSLError("certificate verify failed"), C, TLS_ERROR),
}  # fmt: skip


@pytest.mark.parametrize(
    ("exc", "cls", "code"), TRANSPORT_FAILURES.values(), ids=TRANSPORT_FAILURES.keys()
)
def test_transport_failure(
    api: responses.RequestsMock,
    client: FaceppClient,
    exc: requests.exceptions.RequestException,
    cls: type[Face3DError],
    code: str,
) -> None:
    api.post(ENDPOINT, body=exc)

    err = raised(client)

    assert type(err) is cls
    assert err.code == code
    assert err.__cause__ is exc
    assert err.http_status is None
    calls = MAX_ATTEMPTS if cls is TransientError else 1
    assert len(api.calls) == calls
    assert err.attempts == calls


@pytest.mark.parametrize("endpoint", ["facepp.test/3dface", "ftp://facepp.test/3dface"])
def test_unusable_endpoint_is_a_configuration_error(
    api: responses.RequestsMock,
    fake_time: FakeTime,
    jitter: RecordingJitter,
    endpoint: str,
) -> None:
    client = make_client(fake_time, jitter, endpoint=endpoint)

    err = raised(client)

    assert type(err) is ConfigurationError
    assert err.code == INVALID_CONFIGURATION
    assert isinstance(err.__cause__, requests.exceptions.RequestException)
    assert len(api.calls) == 0


# --- retries --------------------------------------------------------------------------------


def test_retry_then_success(
    api: responses.RequestsMock, client: FaceppClient, fake_time: FakeTime
) -> None:
    reply_error(api, 500, "INTERNAL_ERROR")
    reply_success(api, (View.FRONT, View.LEFT, View.RIGHT))

    result = client.reconstruct(CREDENTIALS, all_views())

    assert result.time_used == 2114
    assert len(api.calls) == 2
    assert fake_time.sleeps == [0.25]  # half (the fake jitter) of base * 2**0


def test_backoff_is_full_jitter_capped_and_never_after_the_last_attempt(
    api: responses.RequestsMock, fake_time: FakeTime, jitter: RecordingJitter
) -> None:
    client = make_client(fake_time, jitter, max_attempts=6, backoff_base=0.5, backoff_cap=3.0)
    reply_error(api, 403, "CONCURRENCY_LIMIT_EXCEEDED")

    err = raised(client)

    assert jitter.bounds == [(0.0, 0.5), (0.0, 1.0), (0.0, 2.0), (0.0, 3.0), (0.0, 3.0)]
    assert fake_time.sleeps == [0.25, 0.5, 1.0, 1.5, 1.5]
    assert len(api.calls) == 6
    assert err.attempts == 6


def test_default_jitter_stays_within_its_bounds(api: responses.RequestsMock) -> None:
    fake_time = FakeTime()
    client = FaceppClient(
        ENDPOINT,
        retry=RetryPolicy(max_attempts=6, backoff_base=0.5, backoff_cap=3.0),
        clock=fake_time.clock,
        sleep=fake_time.sleep,
    )
    api.post(ENDPOINT, status=503, body="")

    raised(client)

    bounds = [0.5, 1.0, 2.0, 3.0, 3.0]
    assert len(fake_time.sleeps) == len(bounds)
    assert all(0.0 <= slept <= bound for slept, bound in zip(fake_time.sleeps, bounds, strict=True))


def test_max_attempts_of_one_never_retries(
    api: responses.RequestsMock, fake_time: FakeTime, jitter: RecordingJitter
) -> None:
    client = make_client(fake_time, jitter, max_attempts=1)
    reply_error(api, 500, "INTERNAL_ERROR")

    err = raised(client)

    assert err.attempts == 1
    assert len(api.calls) == 1
    assert fake_time.sleeps == []
    assert jitter.bounds == []


@pytest.mark.parametrize(
    ("budget", "sleeps", "last_status"),
    [
        # t=0 fails, waits 1; t=1 fails, waits 2 (1+2+1 = 4 fits); t=3 fails, 3+4+1 > 4: stop.
        (4.0, [1.0, 2.0], 503),
        # t=1 fails, 1+2 would fit but 1+2+1 (a minimal attempt) does not: stop.
        (3.5, [1.0], 502),
    ],
)
def test_deadline_stops_retrying_and_raises_the_last_error(
    api: responses.RequestsMock,
    fake_time: FakeTime,
    budget: float,
    sleeps: list[float],
    last_status: int,
) -> None:
    jitter = RecordingJitter(fraction=1.0)
    client = make_client(fake_time, jitter, max_attempts=6, backoff_base=1.0, min_attempt_time=1.0)
    for status in (500, 502, 503, 504):
        api.post(ENDPOINT, status=status, body="")

    err = raised(client, time_budget=budget)

    assert fake_time.sleeps == sleeps
    assert len(api.calls) == len(sleeps) + 1
    assert err.attempts == len(sleeps) + 1
    assert (type(err), err.code, err.http_status) == (TransientError, HTTP_ERROR, last_status)


def test_read_timeout_shrinks_to_the_time_left(
    api: responses.RequestsMock, fake_time: FakeTime
) -> None:
    client = make_client(
        fake_time, RecordingJitter(fraction=1.0), backoff_base=2.0, min_attempt_time=1.0
    )
    reply_error(api, 500, "INTERNAL_ERROR")
    reply_success(api, (View.FRONT, View.LEFT, View.RIGHT))

    client.reconstruct(CREDENTIALS, all_views(), time_budget=10.0)

    timeouts = [send_kwargs(api, index)["timeout"] for index in range(len(api.calls))]
    assert timeouts == [(5.0, 10.0), (5.0, 8.0)]


def test_timeouts_without_a_budget_are_the_policy(
    api: responses.RequestsMock, client: FaceppClient
) -> None:
    reply_success(api, (View.FRONT, View.LEFT, View.RIGHT))

    client.reconstruct(CREDENTIALS, all_views())

    assert send_kwargs(api, 0)["timeout"] == (5.0, 60.0)


def test_an_overrun_sleep_still_leaves_the_attempt_its_minimal_time(
    api: responses.RequestsMock, jitter: RecordingJitter
) -> None:
    fake_time = FakeTime(overrun=3.0)
    client = make_client(fake_time, jitter, min_attempt_time=1.5)
    reply_error(api, 500, "INTERNAL_ERROR")
    reply_success(api, (View.FRONT, View.LEFT, View.RIGHT))

    client.reconstruct(CREDENTIALS, all_views(), time_budget=3.0)

    assert send_kwargs(api, 1)["timeout"] == (1.5, 1.5)


@pytest.mark.parametrize("budget", [0.0, 1.9])
def test_budget_too_short_for_one_attempt_sends_nothing(
    api: responses.RequestsMock, client: FaceppClient, budget: float
) -> None:
    err = raised(client, time_budget=budget)

    assert (type(err), err.code, err.attempts) == (TransientError, TIMEOUT, 0)
    assert len(api.calls) == 0


def test_request_budget_is_checked_before_sending(
    api: responses.RequestsMock, client: FaceppClient
) -> None:
    reply_success(api, (View.FRONT, View.LEFT, View.RIGHT))
    client.reconstruct(CREDENTIALS, all_views())
    size = len(api.calls[0].request.body or b"")

    client.reconstruct(CREDENTIALS, all_views(), request_budget=size)  # exactly fits
    err = raised(client, request_budget=size - 1)

    assert type(err) is RequestEntityTooLargeError
    assert (err.code, err.retryable, err.attempts, err.http_status) == (
        REQUEST_ENTITY_TOO_LARGE,
        False,
        0,
        None,
    )
    assert len(api.calls) == 2


# --- the session ----------------------------------------------------------------------------


def test_verify_timeouts_and_no_redirects_on_every_send(
    api: responses.RequestsMock,
    fake_time: FakeTime,
    jitter: RecordingJitter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    session = SpySession()
    session.verify = False  # explicit verify=True per send must win over a careless session
    client = make_client(fake_time, jitter, session=session)
    reply_error(api, 500, "INTERNAL_ERROR")
    reply_success(api, (View.FRONT, View.LEFT, View.RIGHT))

    client.reconstruct(CREDENTIALS, all_views())

    assert len(session.sends) == 2
    for kwargs in session.sends:
        assert kwargs["verify"] is True
        assert kwargs["allow_redirects"] is False
        assert kwargs["timeout"] == (5.0, 60.0)
    assert [send_kwargs(api, index)["verify"] for index in range(2)] == [True, True]


def test_one_session_is_reused_across_calls_and_closed_with_the_client(
    api: responses.RequestsMock,
    fake_time: FakeTime,
    jitter: RecordingJitter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(requests, "Session", SpySession)
    monkeypatch.setattr(SpySession, "created", 0)
    reply_success(api, (View.FRONT, View.LEFT, View.RIGHT))

    with make_client(fake_time, jitter) as client:
        client.reconstruct(CREDENTIALS, all_views())
        client.reconstruct(CREDENTIALS, all_views())

    assert SpySession.created == 1
    session = client._session
    assert isinstance(session, SpySession)
    assert len(session.sends) == 2
    assert session.closed


def test_an_injected_session_is_left_open(
    api: responses.RequestsMock, fake_time: FakeTime, jitter: RecordingJitter
) -> None:
    session = SpySession()
    reply_success(api, (View.FRONT, View.LEFT, View.RIGHT))

    with make_client(fake_time, jitter, session=session) as client:
        client.reconstruct(CREDENTIALS, all_views())
        client.reconstruct(CREDENTIALS, all_views())

    assert len(session.sends) == 2
    assert not session.closed


# --- logging and secrecy --------------------------------------------------------------------


def test_one_log_line_per_attempt(
    api: responses.RequestsMock, client: FaceppClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="face3d.client.http")
    reply_error(api, 500, "INTERNAL_ERROR")
    reply_success(api, (View.FRONT, View.RIGHT))

    client.reconstruct(
        CREDENTIALS, [ImageInput(View.FRONT, data=FRONT), ImageInput(View.RIGHT, data=RIGHT)]
    )

    records = [r for r in caplog.records if r.name == "face3d.client.http"]
    assert [r.levelno for r in records] == [logging.WARNING, logging.INFO]
    failed, succeeded = (r.getMessage() for r in records)
    assert "attempt 1/3 failed" in failed
    assert "views=1,3" in failed
    assert "status=500" in failed
    assert "code=INTERNAL_ERROR" in failed
    assert f"request_id={REQUEST_ID}" in failed
    assert "retrying in 0.25s" in failed
    assert "attempt 2/3 succeeded" in succeeded
    assert "request_id=1576058873,18105fd0-28fe-4790-a44e-6102009bc195" in succeeded


def test_giving_up_is_logged(
    api: responses.RequestsMock, client: FaceppClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="face3d.client.http")
    reply_error(api, 400, "NO_FACE_FOUND: image_base64_1")

    raised(client)

    (record,) = [r for r in caplog.records if r.name == "face3d.client.http"]
    assert "code=NO_FACE_FOUND" in record.getMessage()
    assert "giving up" in record.getMessage()


def forbidden_strings() -> list[str]:
    encoded = [base64.b64encode(image).decode() for image in (FRONT, LEFT, RIGHT)]
    # A fragment too, in case something logs a truncated field.
    return [API_SECRET, *encoded, *(value[:40] for value in encoded)]


def test_secret_and_image_data_never_leak(
    api: responses.RequestsMock, client: FaceppClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="urllib3")
    errors: list[Face3DError] = []
    answers: list[dict[str, Any]] = [
        {"status": 500, "json": error_payload("INTERNAL_ERROR")},
        {"status": 400, "json": error_payload("BAD_ARGUMENTS:api_secret")},
        {"status": 401, "json": error_payload("AUTHENTICATION_ERROR")},
        # An endpoint that echoes the form back must not get the secret into our messages.
        {"status": 502, "body": f"<pre>api_secret={API_SECRET}</pre>"},
        {"status": 200, "body": f"api_secret={API_SECRET}"},
        {"body": requests.exceptions.ConnectionError("connection reset")},
    ]
    for answer in answers:
        api.upsert(responses.POST, ENDPOINT, **answer)
        with pytest.raises(Face3DError) as caught:
            client.reconstruct(CREDENTIALS, all_views())
        errors.append(caught.value)
    api.upsert(responses.POST, ENDPOINT, json=success_payload((View.FRONT, View.LEFT)))
    result = client.reconstruct(
        CREDENTIALS, [ImageInput(View.FRONT, data=FRONT), ImageInput(View.LEFT, data=LEFT)]
    )

    logged = [f"{r.getMessage()} {r.args!r} {r.__dict__!r}" for r in caplog.records]
    shown = [
        *logged,
        *(str(err) for err in errors),
        *(repr(err) for err in errors),
        *(repr(err.to_dict()) for err in errors),
        repr(CREDENTIALS),
        repr(all_views()),
        repr(result),
    ]
    assert len(logged) >= len(answers)
    assert "[REDACTED]" in str(errors[3])
    for secret in forbidden_strings():
        assert not [line for line in shown if secret in line]


def test_reprs_hide_secret_and_bytes() -> None:
    assert repr(CREDENTIALS) == f"Credentials(api_key='{API_KEY}')"
    assert "data" not in repr(ImageInput(View.FRONT, data=FRONT))
    assert "front" in repr(ImageInput(View.FRONT, data=FRONT))


@pytest.mark.parametrize(("retry_unreachable", "attempts"), [(True, MAX_ATTEMPTS), (False, 1)])
def test_a_refused_connection_is_retried_unless_the_policy_says_not(
    retry_unreachable: bool, attempts: int
) -> None:
    # A loopback port that was just free: nothing listens there.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps: list[float] = []
    policy = RetryPolicy(max_attempts=MAX_ATTEMPTS, retry_unreachable=retry_unreachable)
    client = FaceppClient(f"http://127.0.0.1:{port}/3dface", retry=policy, sleep=sleeps.append)

    with pytest.raises(TransientError) as caught:
        client.reconstruct(CREDENTIALS, [ImageInput(View.FRONT, FRONT)])

    assert caught.value.code == CONNECTION_ERROR
    assert caught.value.attempts == attempts
    assert len(sleeps) == attempts - 1
    assert f"connection refused at 127.0.0.1:{port}" in caught.value.message
