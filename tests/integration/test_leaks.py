"""No secret, key or image data in anything the pipeline shows, across the fault scenarios.

One container lives through a success, permanent and configuration failures, an endpoint that
quotes the request back (defect 8), S3, SQS and Secrets Manager failing, and kills; then every
log line (at DEBUG), DLQ body and attribute, error.json, result.json, claim and exception text is
scanned with `tests.leaks.LeakScanner`.
"""

from __future__ import annotations

import io
import json
import logging
import traceback
from collections.abc import Callable
from typing import Any

import pytest

from face3d.function import handler
from tests import photos
from tests.fakes import error_payload, success_payload
from tests.integration.faults import Faults, Killed
from tests.integration.harness import (
    API_KEY,
    API_SECRET,
    ENDPOINT,
    Pipeline,
    fresh_secret_cache,
    request_fields,
)
from tests.leaks import LeakScanner

Answer = Callable[[Any], tuple[int, dict[str, str], str]]


def quoting(status: int) -> Answer:
    """An endpoint (or its gateway) whose error page quotes the whole request back."""

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        return status, {"Content-Type": "text/html"}, f"<pre>{request.body.decode('latin-1')}</pre>"

    return answer


def quoting_in_json(request: Any) -> tuple[int, dict[str, str], str]:
    """An API error whose message quotes the image field back."""
    image = request_fields(request)["image_base64_1"].get_payload()
    return 400, {}, json.dumps(error_payload(f"BAD_ARGUMENTS:{image}"))


def plain(status: int, body: dict[str, Any]) -> Answer:
    return lambda request: (status, {"Content-Type": "application/json"}, json.dumps(body))


class Scenarios:
    """Runs scenarios in one container, keeping what was raised and every image that travelled."""

    def __init__(self, pipeline: Pipeline, faults: Faults) -> None:
        self.pipeline = pipeline
        self.faults = faults
        self.raised: list[BaseException] = []
        self.images: list[bytes] = []
        self.answer: Answer = plain(200, success_payload())
        pipeline.api.add_callback("POST", ENDPOINT, callback=self._api)

    def _api(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.faults.check()
        for name, part in request_fields(request).items():
            if name.startswith("image_base64_"):
                self.images.append(part.get_payload(decode=True))
        return self.answer(request)

    def run(self, subject: str, photo: bytes, answer: Answer, *, times: int = 1) -> None:
        self.answer = answer
        self.images.append(photo)
        event = self.pipeline.put(f"incoming/{subject}.jpg", photo)
        for _ in range(times):
            try:
                self.pipeline.invoke(event, f"req-{subject}")
            except (Exception, Killed) as exc:  # noqa: BLE001 (kept and scanned)
                self.raised.append(exc)
                self.faults.revive()


def texts(
    pipeline: Pipeline, scenarios: Scenarios, logs: str, records: list[logging.LogRecord]
) -> list[tuple[str, str]]:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    found = [("stdout", logs)]
    found += [(f"log {r.name}", formatter.format(r)) for r in records]
    for message in pipeline.messages():
        found.append(("dlq body", json.dumps(message["body"])))
        found.append(("dlq attributes", json.dumps(message["attributes"])))
    for key in pipeline.keys("results/"):
        if key.endswith(".json"):
            found.append((key, pipeline.read(key).decode()))
    for exc in scenarios.raised:
        found.append(("raised", "".join(traceback.format_exception(exc)) + repr(exc)))
    return found


def test_nothing_shown_holds_the_secret_the_key_or_image_data(
    pipeline: Pipeline,
    faults: Faults,
    json_logs: io.StringIO,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    scenarios = Scenarios(pipeline, faults)
    astronaut, grace = photos.astronaut_jpeg(), photos.grace_hopper_jpeg()

    scenarios.run("ok", grace, plain(200, success_payload()))
    scenarios.run("noface", astronaut, plain(400, error_payload("NO_FACE_FOUND:image_base64_1")))
    scenarios.run("denied", grace, plain(401, error_payload("AUTHENTICATION_ERROR")))
    scenarios.run("quoted-400", astronaut, quoting(400))  # defect 8: permanent, error.json
    scenarios.run("quoted-502", grace, quoting(502), times=3)  # transient, then parked
    scenarios.run("quoted-200", astronaut, quoting(200), times=3)  # BAD_RESPONSE
    scenarios.run("quoted-json", grace, quoting_in_json)
    faults.fail("PutObject", "results/s3-write/tex.jpg")
    scenarios.run("s3-write", astronaut, plain(200, success_payload()), times=2)
    faults.fail("SendMessage")
    scenarios.run("sqs", grace, plain(400, error_payload("NO_FACE_FOUND:image_base64_1")), times=2)
    fresh_secret_cache()  # a new container, whose first fetches fail
    handler.install(None)
    faults.fail("GetSecretValue", code="InternalServiceError", times=3)
    scenarios.run("secrets", astronaut, plain(200, success_payload()), times=3)
    faults.kill("PutObject", "results/killed/face.obj")
    scenarios.run("killed", grace, plain(200, success_payload()), times=2)
    faults.deny("HeadObject", "incoming/forbidden.jpg")
    scenarios.run("forbidden", astronaut, plain(200, success_payload()))

    assert len(scenarios.raised) >= 9
    assert any(isinstance(exc, Killed) for exc in scenarios.raised)
    scanner = LeakScanner({"api_secret": API_SECRET, "api_key": API_KEY})
    scanner.add_images(scenarios.images)
    found = texts(pipeline, scenarios, json_logs.getvalue(), caplog.records)
    assert len(found) > 50
    assert scanner.check(found) == []
    assert any(where == "dlq body" and "HTTP_ERROR" in text for where, text in found)
    assert any("[base64 removed]" in text for _, text in found)  # the quotes were there


def test_the_scanner_finds_what_it_is_for() -> None:
    """The scan above could not pass by missing leaks: what it looks for, it finds."""
    import base64

    image = photos.astronaut_jpeg()
    scanner = LeakScanner({"api_secret": API_SECRET, "api_key": API_KEY})
    scanner.add_image(image)
    encoded = base64.b64encode(image[5:]).decode()  # any alignment
    assert scanner.scan("text", f"x {encoded[3000:3040]} y")
    assert scanner.scan("text", json.dumps({"m": encoded[:80]}))
    assert scanner.scan("text", f"api_secret={API_SECRET}")
    assert scanner.scan("text", f"key {API_KEY}")
    assert scanner.scan("text", f"x {encoded[3000:3039]} y") == []  # 39 characters are not a leak
    assert scanner.scan("text", "fingerprint " + "0123456789abcdef" * 4) == []
