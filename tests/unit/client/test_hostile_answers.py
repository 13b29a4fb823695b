"""Answers a hostile or broken endpoint may send: never a crash, never a leak (issue 8).

A 200 that cannot be interpreted is the transient BAD_RESPONSE whatever trips the parser (numbers
out of range, JSON nested absurdly deep); an error body that quotes the request back reaches no
message cut or scrubbed of less than the secret, the key and anything that looks like base64;
a 413 tells how large the refused request was, so that the retry can be smaller than it.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import responses

from face3d.client.http import Credentials, FaceppClient, ImageInput
from face3d.client.retries import RetryPolicy
from face3d.contract import View
from face3d.errors import (
    BAD_RESPONSE,
    HTTP_ERROR,
    Face3DError,
    RequestEntityTooLargeError,
    TransientError,
)
from tests import photos
from tests.fakes import error_payload, success_payload

ENDPOINT = "https://facepp.test/facepp/v1/3dface"
CREDENTIALS = Credentials("key-public-4c1d9a7e", "secret-DO-NOT-LEAK-9f8e7d6c")
BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{40,}")


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def client() -> FaceppClient:
    return FaceppClient(ENDPOINT, retry=RetryPolicy(max_attempts=2), sleep=lambda _: None)


def front() -> list[ImageInput]:
    return [ImageInput(View.FRONT, data=photos.astronaut_jpeg())]


def raised(client: FaceppClient) -> Face3DError:
    with pytest.raises(Face3DError) as caught:
        client.reconstruct(CREDENTIALS, front())
    return caught.value


# Defect 4: malformed successes.


def deeply_nested(depth: int) -> str:
    return "[" * depth + "]" * depth


MALFORMED_SUCCESSES = {
    # 309 to 401 digits: an int that float() cannot hold.
    "matrix entry of 309 digits": lambda p: p["transfer_matrix"][0].__setitem__(0, 10**308 * 9),
    "matrix entry of 401 digits": lambda p: p["transfer_matrix"][0].__setitem__(0, -(10**400)),
    "matrix entry 1e400": lambda p: p["transfer_matrix"][0].__setitem__(0, "__1e400__"),
}


@pytest.mark.parametrize("mutate", MALFORMED_SUCCESSES.values(), ids=MALFORMED_SUCCESSES.keys())
def test_a_number_out_of_range_is_a_bad_response(
    api: responses.RequestsMock, client: FaceppClient, mutate: Any
) -> None:
    payload = success_payload()
    mutate(payload)
    body = json.dumps(payload).replace('"__1e400__"', "1e400")
    api.post(ENDPOINT, body=body, content_type="application/json")

    err = raised(client)

    assert isinstance(err, TransientError)
    assert err.code == BAD_RESPONSE
    assert err.http_status == 200
    assert len(api.calls) == 2  # retried like any transient error


@pytest.mark.parametrize("status", [200, 400, 502])
def test_json_nested_absurdly_deep_is_no_crash(
    api: responses.RequestsMock, client: FaceppClient, status: int
) -> None:
    api.post(ENDPOINT, status=status, body=deeply_nested(100_000), content_type="application/json")

    err = raised(client)

    assert err.http_status == status
    assert err.code == (BAD_RESPONSE if status == 200 else HTTP_ERROR)
    assert len(err.message) < 400


def test_an_object_nested_deep_inside_a_success_is_a_bad_response(
    api: responses.RequestsMock, client: FaceppClient
) -> None:
    body = json.dumps(success_payload())[:-1] + ', "extra": ' + deeply_nested(100_000) + "}"
    api.post(ENDPOINT, body=body, content_type="application/json")

    err = raised(client)

    assert (err.code, err.transient) == (BAD_RESPONSE, True)


# Defect 8: an endpoint that quotes the request back.


def echoed_request(request: Any) -> str:
    """The request's own body, as some gateways quote it in their error pages."""
    return f"<pre>could not process:\n{request.body.decode('latin-1')}</pre>"


@pytest.mark.parametrize("status", [400, 422, 502])
def test_an_error_body_quoting_the_request_leaks_no_base64_key_or_secret(
    api: responses.RequestsMock, client: FaceppClient, status: int
) -> None:
    api.add_callback(
        "POST", ENDPOINT, callback=lambda request: (status, {}, echoed_request(request))
    )
    images = front()
    encoded = base64.b64encode(images[0].data or b"").decode()

    err = raised(client)

    shown = " ".join([str(err), repr(err), json.dumps(err.to_dict())])
    assert encoded[:40] not in shown
    assert encoded[1000:1040] not in shown
    assert BASE64_RUN.search(shown) is None
    assert CREDENTIALS.api_secret not in shown
    assert CREDENTIALS.api_key not in shown
    assert "could not process" in err.message  # the rest of the excerpt is still there


def test_base64_split_into_lines_or_json_escaped_is_scrubbed_too(
    api: responses.RequestsMock, client: FaceppClient
) -> None:
    encoded = base64.b64encode(photos.astronaut_jpeg()[:3000]).decode()
    lines = "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
    escaped = json.dumps({"echo": encoded.replace("/", "\\/")})
    api.post(ENDPOINT, status=400, body=f"{lines[:300]} {escaped[:300]}", content_type="text/plain")

    err = raised(client)

    assert BASE64_RUN.search(err.message.replace("\\/", "/")) is None


def test_an_api_error_message_carrying_base64_is_scrubbed(
    api: responses.RequestsMock, client: FaceppClient
) -> None:
    encoded = base64.b64encode(photos.astronaut_jpeg()).decode()
    api.post(ENDPOINT, status=400, json=error_payload(f"BAD_ARGUMENTS:{encoded[:5000]}"))

    err = raised(client)

    assert err.code == "BAD_ARGUMENTS"
    shown = json.dumps(err.to_dict())
    assert BASE64_RUN.search(shown) is None
    assert len(shown) < 1000


def test_an_error_message_that_is_no_code_is_not_taken_as_one(
    api: responses.RequestsMock, client: FaceppClient
) -> None:
    encoded = base64.b64encode(photos.astronaut_jpeg()).decode()
    api.post(ENDPOINT, status=400, json=error_payload(encoded[:3000]))

    err = raised(client)

    assert err.code == HTTP_ERROR
    assert BASE64_RUN.search(json.dumps(err.to_dict())) is None


# Defect 10: a 413 tells what was refused.


def test_a_413_tells_the_size_of_the_request_it_refused(
    api: responses.RequestsMock, client: FaceppClient
) -> None:
    api.post(ENDPOINT, status=413, body="Request Entity Too Large", content_type="text/plain")

    err = raised(client)

    assert isinstance(err, RequestEntityTooLargeError)
    body = api.calls[0].request.body
    assert isinstance(body, bytes)
    assert err.request_bytes == len(body)


def test_a_request_over_the_budget_tells_its_size_without_a_call(
    api: responses.RequestsMock, client: FaceppClient
) -> None:
    with pytest.raises(RequestEntityTooLargeError) as caught:
        client.reconstruct(CREDENTIALS, front(), request_budget=1000)

    assert caught.value.request_bytes is not None
    assert caught.value.request_bytes > 1000
    assert len(api.calls) == 0


# A response cut off halfway, by a real socket on loopback.


class CuttingServer:
    """Answers each request with headers promising a whole success, half of it, then closes."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(10)
        self.port = self.listener.getsockname()[1]
        self.served = 0
        self.thread = threading.Thread(target=self._serve, args=(2,), daemon=True)
        self.thread.start()

    def _serve(self, requests_to_serve: int) -> None:
        body = json.dumps(success_payload()).encode()
        for _ in range(requests_to_serve):
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            with connection:
                connection.settimeout(10)
                received = b""
                while b"\r\n\r\n" not in received:
                    received += connection.recv(65536)
                head, _, rest = received.partition(b"\r\n\r\n")
                length = int(re.search(rb"Content-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
                while len(rest) < length:
                    rest += connection.recv(65536)
                connection.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                    + body[: len(body) // 2]
                )
                self.served += 1

    def close(self) -> None:
        self.listener.close()
        self.thread.join(timeout=10)


def test_a_response_cut_off_halfway_is_a_transient_connection_error() -> None:
    server = CuttingServer()
    client = FaceppClient(
        f"http://127.0.0.1:{server.port}/facepp/v1/3dface",
        retry=RetryPolicy(max_attempts=2, connect_timeout=5, read_timeout=5),
        sleep=lambda _: None,
    )
    try:
        with pytest.raises(Face3DError) as caught:
            client.reconstruct(CREDENTIALS, front(), time_budget=30)
    finally:
        client.close()
        server.close()

    assert isinstance(caught.value, TransientError)
    assert caught.value.code == "CONNECTION_ERROR"
    assert caught.value.attempts == 2
    assert server.served == 2
