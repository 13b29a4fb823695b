"""Property tests: whatever an endpoint answers, only the documented errors leave the client.

`FaceppClient.reconstruct` reads the answer (status, headers, body) and either returns a checked
`Reconstruction` or raises a `Face3DError` of a documented code, never anything else: not a
`KeyError`, an `OverflowError`, a `RecursionError` or a `UnicodeDecodeError` (issue 8).
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from face3d.client.http import Credentials, FaceppClient, ImageInput
from face3d.client.responses import Reconstruction
from face3d.client.retries import RetryPolicy
from face3d.contract import View
from face3d.errors import BAD_RESPONSE, KNOWN_CODES, Face3DError, Kind
from tests.fakes import success_payload

ENDPOINT = "https://facepp.test/facepp/v1/3dface"
CREDENTIALS = Credentials("key-public-4c1d9a7e", "secret-DO-NOT-LEAK-9f8e7d6c")
FRONT = b"\xff\xd8 front \xff\xd9" * 64
CODE_LIKE = st.from_regex(r"[A-Z][A-Z0-9_]{0,20}", fullmatch=True)


class AnsweringSession(requests.Session):
    """A session whose every send gets the same answer, built from parts."""

    def __init__(self, status: int, body: bytes, content_type: str) -> None:
        super().__init__()
        self.status, self.body, self.content_type = status, body, content_type

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        response = requests.Response()
        response.status_code = self.status
        response._content = self.body
        response.headers["Content-Type"] = self.content_type
        response.request = request
        response.url = str(request.url)
        return response


def answer(status: int, body: bytes, content_type: str = "application/json") -> object:
    client = FaceppClient(
        ENDPOINT,
        retry=RetryPolicy(max_attempts=1),
        session=AnsweringSession(status, body, content_type),
        sleep=lambda _: None,
    )
    try:
        return client.reconstruct(CREDENTIALS, [ImageInput(View.FRONT, data=FRONT)])
    except Face3DError as err:
        return err


def documented(outcome: object) -> None:
    """The outcome is a reconstruction or a documented error that carries no secret."""
    if isinstance(outcome, Reconstruction):
        return
    assert isinstance(outcome, Face3DError), repr(outcome)
    assert outcome.kind in Kind
    # Known codes, or a code the endpoint sent that looks like one (judged by its status).
    assert outcome.code in KNOWN_CODES or re.fullmatch(r"[A-Z][A-Z0-9_]{0,63}", outcome.code)
    shown = json.dumps(outcome.to_dict()) + str(outcome) + repr(outcome)
    assert CREDENTIALS.api_secret not in shown
    assert len(outcome.message) < 1000


JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**420), max_value=10**420),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)
FIELDS = ["request_id", "time_used", "obj_file", "mtl_file", "texture_img", "transfer_matrix"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(status=st.integers(min_value=100, max_value=599), body=st.binary(max_size=300))
def test_any_status_and_bytes(status: int, body: bytes) -> None:
    documented(answer(status, body))


@settings(max_examples=150, deadline=None)
@given(
    status=st.sampled_from([200, 400, 401, 403, 404, 412, 413, 429, 500, 502]), document=JSON_VALUES
)
def test_any_json_document(status: int, document: Any) -> None:
    documented(answer(status, json.dumps(document).encode()))


@settings(max_examples=200, deadline=None)
@given(field=st.sampled_from(FIELDS), value=JSON_VALUES)
def test_a_success_with_one_field_replaced_is_a_reconstruction_or_a_bad_response(
    field: str, value: Any
) -> None:
    payload = success_payload()
    payload[field] = value

    outcome = answer(200, json.dumps(payload).encode())

    documented(outcome)
    if isinstance(outcome, Face3DError):
        assert outcome.code == BAD_RESPONSE
        assert outcome.transient


@settings(max_examples=100, deadline=None)
@given(
    matrix=st.lists(
        st.one_of(st.integers(min_value=-(10**500), max_value=10**500), st.floats()),
        min_size=16,
        max_size=16,
    )
)
def test_any_numbers_in_a_matrix(matrix: list[Any]) -> None:
    payload = success_payload()
    payload["transfer_matrix"] = [matrix]

    outcome = answer(200, json.dumps(payload).encode())

    documented(outcome)


@settings(max_examples=100, deadline=None)
@given(depth=st.integers(min_value=1, max_value=200_000), opener=st.sampled_from(["[", '{"a":']))
def test_json_nested_to_any_depth(depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    body = (opener * depth + "1" + closer * depth).encode()
    documented(answer(200, body))


@settings(max_examples=150, deadline=None)
@given(
    status=st.sampled_from([400, 401, 403, 404, 500]),
    code=st.one_of(CODE_LIKE, st.text(max_size=60)),
    detail=st.text(max_size=200),
    quoted=st.booleans(),
)
def test_any_error_message(status: int, code: str, detail: str, quoted: bool) -> None:
    if quoted:  # an endpoint that quotes the image back in the detail
        detail += base64.b64encode(FRONT).decode()
    body = json.dumps({"error_message": f"{code}:{detail}", "request_id": detail[:40]})

    outcome = answer(status, body.encode())

    documented(outcome)
    assert isinstance(outcome, Face3DError)
    assert base64.b64encode(FRONT).decode()[:40] not in json.dumps(outcome.to_dict())
