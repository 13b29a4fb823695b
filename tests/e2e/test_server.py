"""`face3d serve` for real: waitress on a loopback port, driven as clients drive it.

Every request has a timeout; every server is torn down by its fixture.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import shutil
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

pytest.importorskip("werkzeug", reason="face3d serve needs the engine extra (werkzeug)")
pytest.importorskip("waitress", reason="face3d serve needs the engine extra (waitress)")

from face3d.cli.main import main
from face3d.client.http import Credentials, FaceppClient, ImageInput
from face3d.client.retries import RetryPolicy
from face3d.contract import View
from face3d.errors import NO_FACE_FOUND, Face3DError
from tests import photos
from tests.e2e.servers import API_KEY, API_SECRET, REQUEST_TIMEOUT_S, EngineServer, LiveServer
from tests.fakes import FakeEngine

MIB = 1024 * 1024
CREDENTIALS = {"api_key": API_KEY, "api_secret": API_SECRET}
REQUEST_ID = re.compile(
    r"^\d{10},[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
)


def post(endpoint: str, **kwargs: Any) -> requests.Response:
    return requests.post(endpoint, timeout=REQUEST_TIMEOUT_S, **kwargs)


# (a) our own client against the real engine --------------------------------------------------


@pytest.mark.engine
def test_client_reconstructs_with_the_real_engine(engine_server: EngineServer) -> None:
    retry = RetryPolicy(max_attempts=1, read_timeout=120.0)
    with FaceppClient(engine_server.endpoint, retry=retry) as client:
        result = client.reconstruct(
            Credentials(API_KEY, API_SECRET),
            [ImageInput(View.FRONT, data=photos.astronaut_jpeg())],
            texture=True,
            mtl=True,
        )

    # parse_success has checked the files: obj with mtllib, mtl with map_Kd, a JPEG texture.
    assert REQUEST_ID.match(result.request_id)
    assert set(result.files()) == {"face.obj", "face.mtl", "tex.jpg"}
    assert list(result.transfer_matrices) == [View.FRONT]
    assert result.obj.count(b"\nv ") > 400  # a face mesh, not a placeholder


@pytest.mark.engine
def test_the_real_engine_serves_concurrent_calls(engine_server: EngineServer) -> None:
    def call(index: int) -> int:
        photo = photos.astronaut_jpeg() if index % 2 else photos.grace_hopper_jpeg()
        response = post(
            engine_server.endpoint,
            data={**CREDENTIALS, "texture": "1", "mtl": "1"},
            files={"image_file_1": photo},
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=3) as pool:
        statuses = list(pool.map(call, range(3), timeout=300))

    assert statuses == [200, 200, 200]


@pytest.mark.engine
def test_the_real_engine_finds_no_face_in_a_coffee_cup(engine_server: EngineServer) -> None:
    skimage_data = pytest.importorskip("skimage.data")
    from PIL import Image

    cup = photos.encode(Image.fromarray(skimage_data.coffee()), quality=90)  # 600x400, no face
    retry = RetryPolicy(max_attempts=1, read_timeout=120.0)
    with (
        FaceppClient(engine_server.endpoint, retry=retry) as client,
        pytest.raises(Face3DError) as caught,
    ):
        client.reconstruct(
            Credentials(API_KEY, API_SECRET), [ImageInput(View.FRONT, data=cup)], texture=False
        )

    assert caught.value.code == NO_FACE_FOUND
    assert caught.value.param == "image_base64_1"
    assert caught.value.http_status == 400


@pytest.mark.engine
@pytest.mark.parametrize(
    ("field", "data", "answer"),
    [
        (
            "image_base64_1",
            photos.truncated_jpeg(),
            "IMAGE_ERROR_UNSUPPORTED_FORMAT:image_base64_1",
        ),
        ("image_file_2", photos.truncated_jpeg(), "IMAGE_ERROR_UNSUPPORTED_FORMAT:image_file_2"),
        ("image_file_2", photos.tiny_jpeg(), "INVALID_IMAGE_SIZE:image_file_2"),
    ],
    ids=["truncated-front", "truncated-side", "tiny-side"],
)
def test_the_real_engine_refuses_a_damaged_photo_as_the_api_does(
    engine_server: EngineServer, field: str, data: bytes, answer: str
) -> None:
    # `face3d serve` reads only the header and leaves the full decode to the engine, whose
    # refusal must be the answer the server's own check would give.
    fields: dict[str, Any] = {**CREDENTIALS}
    files: dict[str, Any] = {}
    if field.startswith("image_base64_"):
        fields[field] = base64.b64encode(data).decode()
    else:
        files = {"image_file_1": photos.astronaut_jpeg(), field: data}

    response = post(engine_server.endpoint, data=fields, files=files or None)

    assert (response.status_code, response.json()["error_message"]) == (400, answer)


# (b) multipart as curl and requests send it ---------------------------------------------------


@pytest.fixture
def front_file(tmp_path: Path) -> Path:
    path = tmp_path / "front.jpg"
    path.write_bytes(photos.grace_hopper_jpeg())
    return path


def test_requests_multipart_file_upload(live_server: LiveServer, front_file: Path) -> None:
    with front_file.open("rb") as handle:
        response = post(
            live_server.endpoint,
            data={**CREDENTIALS, "texture": "1", "mtl": "1"},
            files={"image_file_1": handle},
        )

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    payload = response.json()
    assert REQUEST_ID.match(payload["request_id"])
    assert isinstance(payload["time_used"], int)
    assert b"mtllib face.mtl" in base64.b64decode(payload["obj_file"])
    assert b"map_Kd tex.jpg" in base64.b64decode(payload["mtl_file"])
    assert photos.decode(base64.b64decode(payload["texture_img"])).format == "JPEG"
    assert len(payload["transfer_matrix"]) == 1
    assert {1: photos.grace_hopper_jpeg()} in [call.images for call in live_server.engine.calls]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_multipart(live_server: LiveServer, front_file: Path) -> None:
    completed = subprocess.run(  # noqa: S603 (a fixed command line)
        [
            shutil.which("curl") or "curl",
            "--silent",
            "--show-error",
            "--max-time",
            "30",
            "--write-out",
            "\n%{http_code}",
            "-F",
            f"image_file_1=@{front_file}",
            "-F",
            f"api_key={API_KEY}",
            "-F",
            f"api_secret={API_SECRET}",
            live_server.endpoint,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    text, status = completed.stdout.rsplit("\n", 1)
    assert status == "200"
    payload = json.loads(text)
    assert set(payload) == {"request_id", "time_used", "obj_file", "transfer_matrix"}


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_without_credentials(live_server: LiveServer, front_file: Path) -> None:
    completed = subprocess.run(  # noqa: S603 (a fixed command line)
        [
            shutil.which("curl") or "curl",
            "--silent",
            "--max-time",
            "30",
            "--write-out",
            "\n%{http_code}",
            "-F",
            f"image_file_1=@{front_file}",
            live_server.endpoint,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    text, status = completed.stdout.rsplit("\n", 1)
    assert status == "400"
    assert json.loads(text)["error_message"] == "MISSING_ARGUMENTS: api_key"


def test_wrong_secret_is_401(live_server: LiveServer, front_file: Path) -> None:
    response = post(
        live_server.endpoint,
        data={"api_key": API_KEY, "api_secret": "guess"},
        files={"image_file_1": front_file.read_bytes()},
    )
    assert (response.status_code, response.json()["error_message"]) == (
        401,
        "AUTHENTICATION_ERROR",
    )


def test_a_two_mb_base64_field_through_waitress(live_server: LiveServer) -> None:
    photo = photos.with_detail_jpeg(photos.astronaut_jpeg(), 2200, 2200, seed=5)
    encoded = base64.b64encode(photo).decode()
    assert len(encoded) > 1.9e6

    response = post(
        live_server.endpoint, files={**_fields(CREDENTIALS), "image_base64_1": (None, encoded)}
    )

    assert response.status_code == 200, response.text
    assert {1: photo} in [call.images for call in live_server.engine.calls]


def _fields(values: dict[str, str]) -> dict[str, tuple[None, str]]:
    """Text fields as multipart parts (requests' `files=` with no file name)."""
    return {name: (None, value) for name, value in values.items()}


# (c) the command line against the server -----------------------------------------------------


def test_cli_reconstruct_writes_a_result_folder(
    live_server: LiveServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("FACEPP_SECRET_ID", "FACEPP_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FACEPP_API_KEY", API_KEY)
    monkeypatch.setenv("FACEPP_API_SECRET", API_SECRET)
    front = tmp_path / "ada.png"  # not a JPEG: the CLI prepares it as the pipeline does
    front.write_bytes(photos.grace_hopper_png())
    left = tmp_path / "left.jpg"
    left.write_bytes(photos.astronaut_jpeg())
    out = tmp_path / "result"

    code = main(
        ["reconstruct", str(front), str(left), "-o", str(out), "--endpoint", live_server.endpoint]
    )

    assert code == 0, capsys.readouterr().err
    assert {path.name for path in out.iterdir()} >= {
        "face.obj",
        "face.mtl",
        "tex.jpg",
        "result.json",
    }
    document = json.loads((out / "result.json").read_text())
    assert REQUEST_ID.match(document["request_id"])
    assert document["views"] == ["front", "left"]
    assert set(document["transfer_matrix"]) == {"front", "left"}
    assert "reconstructed ada" in capsys.readouterr().out


# (d) the 413 over a real socket ---------------------------------------------------------------


def _read_response(sock: socket.socket) -> bytes:
    received = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        received += chunk
        if (
            b"\r\n\r\n" in received
            and b"Request Entity Too Large" in received.split(b"\r\n\r\n", 1)[1]
        ):
            break
    return received


def test_413_is_answered_before_the_body_is_sent(live_server: LiveServer) -> None:
    declared = 3 * MIB
    head = (
        f"POST /facepp/v1/3dface HTTP/1.1\r\nHost: 127.0.0.1:{live_server.port}\r\n"
        "Content-Type: multipart/form-data; boundary=x\r\n"
        f"Content-Length: {declared}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", live_server.port), timeout=10) as sock:
        sock.sendall(head + b"x" * (64 * 1024))  # a small part of the announced body, then wait
        answer = _read_response(sock)

    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 413"), answer[:200]
    headers, _, text = rest.partition(b"\r\n\r\n")
    assert b"content-type: text/plain" in headers.lower()
    assert text.startswith(b"Request Entity Too Large")


def test_413_for_a_chunked_body_once_past_2_mb(live_server: LiveServer) -> None:
    head = (
        f"POST /facepp/v1/3dface HTTP/1.1\r\nHost: 127.0.0.1:{live_server.port}\r\n"
        "Content-Type: multipart/form-data; boundary=x\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    chunk = 256 * 1024
    with socket.create_connection(("127.0.0.1", live_server.port), timeout=10) as sock:
        sock.sendall(head)
        for _ in range(9):  # 2.25 MiB, and never the last chunk: the server cannot wait for it
            sock.sendall(f"{chunk:x}\r\n".encode() + b"x" * chunk + b"\r\n")
        answer = _read_response(sock)

    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"Request Entity Too Large" in answer


def test_a_body_of_exactly_2_mib_is_served(live_server: LiveServer) -> None:
    boundary = "b0undary"
    fields = {**CREDENTIALS, "image_base64_1": base64.b64encode(photos.astronaut_jpeg()).decode()}

    def body(padding: str) -> bytes:
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            for name, value in {**fields, "padding": padding}.items()
        ]
        return ("".join(parts) + f"--{boundary}--\r\n").encode()

    data = body("p" * (2 * MIB - len(body(""))))
    assert len(data) == 2 * MIB
    content_type = f"multipart/form-data; boundary={boundary}"

    response = post(live_server.endpoint, data=data, headers={"Content-Type": content_type})

    assert response.status_code == 200, response.text


def test_serve_blocks_until_stopped() -> None:
    from face3d.server import app as server
    from face3d.server import serving

    ready: list[tuple[str, int]] = []
    stop = threading.Event()
    app = server.FaceApp(FakeEngine())
    serve = functools.partial(serving.serve, stop=stop)
    thread = threading.Thread(
        target=serve,
        args=(app,),
        kwargs={
            "port": 0,
            "threads": 2,
            "on_ready": lambda h, p: ready.append((h, p)),
            "stop": stop,
        },
        daemon=True,
    )
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not ready and time.monotonic() < deadline:
            time.sleep(0.02)
        host, port = ready[0]
        response = requests.get(f"http://{host}:{port}/", timeout=REQUEST_TIMEOUT_S)
        assert response.json()["error_message"] == "API_NOT_FOUND"
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://{host}:{port}/", timeout=2)


# (e) API_NOT_FOUND ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/"), ("POST", "/facepp/v3/detect"), ("GET", "/facepp/v1/3dface")]
)
def test_api_not_found(live_server: LiveServer, method: str, path: str) -> None:
    response = requests.request(method, live_server.url + path, timeout=REQUEST_TIMEOUT_S)

    assert response.status_code == 404
    payload = response.json()
    assert payload["error_message"] == "API_NOT_FOUND"
    assert REQUEST_ID.match(payload["request_id"])


# (f) concurrent calls -----------------------------------------------------------------------------


def test_concurrent_requests_are_all_answered(live_server: LiveServer) -> None:
    photo_pairs = [
        (photos.astronaut_jpeg(), photos.grace_hopper_jpeg()),
        (photos.grace_hopper_jpeg(), photos.astronaut_jpeg()),
    ]

    def call(index: int) -> tuple[int, str, int]:
        front, left = photo_pairs[index % 2]
        response = post(
            live_server.endpoint,
            data=CREDENTIALS,
            files={"image_file_1": front, "image_file_2": left},
        )
        return (
            response.status_code,
            response.json()["request_id"],
            len(response.json()["transfer_matrix"]),
        )

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(call, range(12), timeout=120))

    assert [status for status, _, _ in results] == [200] * 12
    assert len({request_id for _, request_id, _ in results}) == 12
    assert {matrices for _, _, matrices in results} == {2}
    assert live_server.engine.max_overlap == 1  # one engine, one call at a time
