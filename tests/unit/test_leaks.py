"""tests/leaks.py: the scanner that the fault tests and `make soak` run over what they collect."""

from __future__ import annotations

import base64
import hashlib
import json
from urllib.parse import quote

import pytest

from tests.leaks import LeakScanner
from tests.photos import astronaut_jpeg, grace_hopper_jpeg

SECRET, KEY = "s3cr3t-value-for-the-scan", "key-value-for-the-scan"


def scanner() -> LeakScanner:
    return LeakScanner({"api_secret": SECRET, "api_key": KEY}, [astronaut_jpeg()])


@pytest.mark.parametrize("start", [0, 1, 2, 3, 4097, 10_001])
def test_a_40_character_fragment_of_an_image_at_any_offset_is_found(start: int) -> None:
    encoded = base64.b64encode(astronaut_jpeg()).decode()
    body = json.dumps({"error_message": "BAD_ARGUMENTS", "echo": encoded[start : start + 40]})

    (leak,) = scanner().scan("DLQ body", body)

    assert leak.kind == "image base64"
    assert leak.source == "DLQ body"
    assert body[leak.offset : leak.offset + 40] == encoded[start : start + 40]


def test_url_safe_base64_and_fragments_inside_longer_text_are_found() -> None:
    encoded = base64.urlsafe_b64encode(astronaut_jpeg()).decode()
    line = f"WARNING 3dface said: image_base64_1={encoded[5000:5300]}... (cut)"

    assert [leak.kind for leak in scanner().scan("log", line)] == ["image base64"]


def test_the_secret_and_the_key_are_found_and_never_quoted() -> None:
    leaks = scanner().scan("error.json", f"api_key={KEY}&api_secret={SECRET}")

    assert sorted(leak.kind for leak in leaks) == ["api_key", "api_secret"]
    assert all(SECRET not in str(leak) and KEY not in str(leak) for leak in leaks)


def test_digests_ids_and_another_images_base64_are_not_leaks() -> None:
    other = base64.b64encode(grace_hopper_jpeg()).decode()
    text = json.dumps(
        {
            "fingerprint": hashlib.sha256(b"set").hexdigest(),
            "sha256": hashlib.sha256(b"obj").hexdigest().upper(),
            "key": quote("incoming/subject with spaces/front.jpg"),
            "not_our_image": other[:400],
            "short": base64.b64encode(astronaut_jpeg()).decode()[:39],
        }
    )

    assert scanner().scan("result.json", text) == []


def test_an_image_added_later_is_found_in_text_scanned_before() -> None:
    scan = scanner()
    fragment = base64.b64encode(grace_hopper_jpeg()).decode()[800:900]
    assert scan.scan("log", fragment) == []

    scan.add_image(grace_hopper_jpeg())

    assert [leak.kind for leak in scan.scan("log", fragment)] == ["image base64"]
