import base64
import io
import json
import socket
import threading
from collections.abc import Iterator
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from importlib import metadata
from pathlib import Path
from typing import Any

import boto3
import pytest
import responses
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws
from PIL import Image

from face3d.cli.main import main
from face3d.contract import View
from tests import photos
from tests.fakes import error_payload, success_payload

ENDPOINT = "https://facepp.test/facepp/v1/3dface"


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FACEPP_SECRET_ID", "FACEPP_ENDPOINT", "FACEPP_API_KEY", "FACEPP_API_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FACEPP_API_KEY", "key-123")
    monkeypatch.setenv("FACEPP_API_SECRET", "secret-456")
    monkeypatch.setenv("FACEPP_ENDPOINT", ENDPOINT)


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def front(tmp_path: Path) -> Path:
    path = tmp_path / "ada.jpg"
    path.write_bytes(photos.astronaut_jpeg())
    return path


def form_fields(call: Any) -> dict[str, Message]:
    """The multipart parts of a recorded request, by field name."""
    body = call.request.body
    head = f"Content-Type: {call.request.headers['Content-Type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    return {
        part.get_param("name", header="content-disposition"): part for part in message.iter_parts()
    }


def field_text(call: Any, name: str) -> str:
    return form_fields(call)[name].get_payload(decode=True).decode()


def test_reconstruct_writes_the_result_folder(
    api: responses.RequestsMock, front: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api.post(ENDPOINT, json=success_payload([View.FRONT]))
    out = tmp_path / "out"

    assert main(["reconstruct", str(front), "-o", str(out)]) == 0

    assert sorted(p.name for p in out.iterdir()) == [
        "face.mtl",
        "face.obj",
        "result.json",
        "tex.jpg",
    ]
    document = json.loads((out / "result.json").read_text())
    assert document["schema"] == "face3d.result/v1"
    assert document["subject"] == "ada"
    assert document["status"] == "succeeded"
    assert document["views"] == ["front"]
    assert document["request_id"] == "1576058873,18105fd0-28fe-4790-a44e-6102009bc195"
    assert document["time_used"] == 2114
    assert document["endpoint"] == ENDPOINT
    assert len(document["transfer_matrix"]["front"]) == 4
    assert document["transfer_matrix"]["front"][0][3] == pytest.approx(-69.249084)
    for name in ("face.obj", "face.mtl", "tex.jpg"):
        record = document["outputs"][name]
        assert record["size"] == (out / name).stat().st_size
    assert document["inputs"]["front"]["key"] == str(front)
    assert len(document["fingerprint"]) == 64
    assert "Z" in document["started_at"]
    assert document["finished_at"] >= document["started_at"]

    # What travelled: the prepared JPEG as image_base64_1, and both credentials.
    (call,) = api.calls
    sent = base64.b64decode(field_text(call, "image_base64_1"))
    assert Image.open(io.BytesIO(sent)).format == "JPEG"
    assert field_text(call, "api_key") == "key-123"
    assert field_text(call, "texture") == "1"
    assert field_text(call, "mtl") == "1"

    line = capsys.readouterr().out.strip()
    assert line.count("\n") == 0
    assert "reconstructed ada from front" in line


def test_three_views_keep_their_api_numbers(
    api: responses.RequestsMock, front: Path, tmp_path: Path
) -> None:
    left, right = tmp_path / "l.png", tmp_path / "r.jpg"
    left.write_bytes(photos.grace_hopper_png())
    right.write_bytes(photos.grace_hopper_jpeg())
    api.post(ENDPOINT, json=success_payload([View.FRONT, View.LEFT, View.RIGHT]))

    assert main(["reconstruct", str(front), str(left), str(right), "-o", str(tmp_path / "o")]) == 0

    fields = form_fields(api.calls[0])
    assert {"image_base64_1", "image_base64_2", "image_base64_3"} <= set(fields)
    document = json.loads((tmp_path / "o" / "result.json").read_text())
    assert list(document["transfer_matrix"]) == ["front", "left", "right"]
    # Each view got its own matrix (the fake offsets the sample by the image's index).
    assert document["transfer_matrix"]["left"][0][0] == pytest.approx(7.7192183)
    assert any("convert" in step for step in document["inputs"]["left"]["transformations"])


def test_no_texture_no_mtl_asks_for_and_writes_only_the_mesh(
    api: responses.RequestsMock, front: Path, tmp_path: Path
) -> None:
    api.post(ENDPOINT, json=success_payload([View.FRONT], texture=False, mtl=False))
    out = tmp_path / "o"
    assert main(["reconstruct", str(front), "-o", str(out), "--no-texture", "--no-mtl"]) == 0
    assert field_text(api.calls[0], "texture") == "0"
    assert field_text(api.calls[0], "mtl") == "0"
    assert sorted(p.name for p in out.iterdir()) == ["face.obj", "result.json"]


def test_api_refusal_prints_the_code_and_writes_nothing(
    api: responses.RequestsMock, front: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api.post(ENDPOINT, status=400, json=error_payload("NO_FACE_FOUND: image_base64_1"))
    out = tmp_path / "o"
    assert main(["reconstruct", str(front), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "NO_FACE_FOUND:front" in err
    assert "HTTP 400" in err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ada.jpg"]


def test_undecodable_photo_is_refused_before_any_call(
    api: responses.RequestsMock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = tmp_path / "notes.jpg"
    photo.write_text("this is not a photo")
    assert main(["reconstruct", str(photo), "-o", str(tmp_path / "o")]) == 1
    assert "IMAGE_ERROR_UNSUPPORTED_FORMAT:front" in capsys.readouterr().err
    assert len(api.calls) == 0


def test_missing_file_is_an_input_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reconstruct", str(tmp_path / "gone.jpg"), "-o", str(tmp_path / "o")]) == 1
    assert "INVALID_INPUT:front" in capsys.readouterr().err


def test_without_credentials_it_is_a_configuration_error(
    api: responses.RequestsMock,
    front: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("FACEPP_API_SECRET")
    assert main(["reconstruct", str(front), "-o", str(tmp_path / "o")]) == 3
    assert "INVALID_CONFIGURATION" in capsys.readouterr().err
    assert len(api.calls) == 0


def test_transient_failure_exits_4_after_the_retry_budget(
    api: responses.RequestsMock,
    front: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MAX_ATTEMPTS", "2")
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    api.post(ENDPOINT, status=403, json=error_payload("CONCURRENCY_LIMIT_EXCEEDED"))
    assert main(["reconstruct", str(front), "-o", str(tmp_path / "o")]) == 4
    assert "CONCURRENCY_LIMIT_EXCEEDED" in capsys.readouterr().err
    assert len(api.calls) == 2


def test_a_413_is_retried_once_with_a_smaller_budget_then_refused(
    api: responses.RequestsMock, front: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api.post(ENDPOINT, status=413, body="Request Entity Too Large", content_type="text/plain")
    assert main(["reconstruct", str(front), "-o", str(tmp_path / "o")]) == 1
    assert "REQUEST_ENTITY_TOO_LARGE" in capsys.readouterr().err
    assert len(api.calls) == 2


def test_a_413_then_success_writes_the_result(
    api: responses.RequestsMock, front: Path, tmp_path: Path
) -> None:
    api.post(ENDPOINT, status=413, body="Request Entity Too Large", content_type="text/plain")
    api.post(ENDPOINT, json=success_payload([View.FRONT]))
    assert main(["reconstruct", str(front), "-o", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "result.json").exists()


@pytest.fixture
def secret_store(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.delenv("FACEPP_API_KEY")
    monkeypatch.delenv("FACEPP_API_SECRET")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    parameters.clear_caches()
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")
    parameters.clear_caches()


def test_secret_id_reads_credentials_from_secrets_manager(
    secret_store: Any, api: responses.RequestsMock, front: Path, tmp_path: Path
) -> None:
    secret_store.create_secret(
        Name="facepp", SecretString=json.dumps({"api_key": "sm-key", "api_secret": "sm-secret"})
    )
    api.post(ENDPOINT, json=success_payload([View.FRONT]))
    assert (
        main(["reconstruct", str(front), "-o", str(tmp_path / "o"), "--secret-id", "facepp"]) == 0
    )
    assert field_text(api.calls[0], "api_secret") == "sm-secret"


def test_authentication_error_refreshes_a_rotated_secret_once(
    secret_store: Any, api: responses.RequestsMock, front: Path, tmp_path: Path
) -> None:
    secret_store.create_secret(
        Name="facepp", SecretString=json.dumps({"api_key": "k", "api_secret": "old"})
    )
    api.post(ENDPOINT, status=401, json=error_payload("AUTHENTICATION_ERROR"))
    api.post(ENDPOINT, json=success_payload([View.FRONT]))
    # Warm the cache with the old value, then rotate behind its back.
    from face3d.function.secrets import fetch_credentials

    fetch_credentials("facepp", max_age=300)
    secret_store.put_secret_value(
        SecretId="facepp", SecretString=json.dumps({"api_key": "k", "api_secret": "new"})
    )
    assert (
        main(["reconstruct", str(front), "-o", str(tmp_path / "o"), "--secret-id", "facepp"]) == 0
    )
    assert [field_text(c, "api_secret") for c in api.calls] == ["old", "new"]


def test_help_documents_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["reconstruct", "--help"])
    assert caught.value.code == 0
    text = capsys.readouterr().out
    for word in ("FRONT", "LEFT", "RIGHT", "--output", "--endpoint", "--no-texture", "--no-mtl"):
        assert word in text
    assert "--secret-id" in text
    assert "exit status" in text


def test_output_onto_an_existing_file_is_refused_before_any_call(
    api: responses.RequestsMock, front: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api.add(responses.POST, ENDPOINT, json=success_payload())
    existing = tmp_path / "face.obj"
    existing.write_text("mine")
    for output in (existing, existing / "deeper"):
        assert main(["reconstruct", str(front), "-o", str(output)]) == 1
        assert f"INVALID_INPUT: -o {output}: {existing} is a file" in capsys.readouterr().err
    assert len(api.calls) == 0
    assert existing.read_text() == "mine"


def test_a_refused_connection_fails_at_once_with_a_clear_message(
    front: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A loopback port that was just free: nothing listens there.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}/facepp/v1/3dface"

    code = main(["reconstruct", str(front), "-o", str(tmp_path / "out"), "--endpoint", endpoint])

    assert code == 4
    err = capsys.readouterr().err
    assert f"error: CONNECTION_ERROR: connection refused at 127.0.0.1:{port}" in err
    attempts = [r.getMessage() for r in caplog.records if "3dface attempt" in r.getMessage()]
    assert len(attempts) == 1  # not six
    assert attempts[0].endswith("giving up")
    assert not (tmp_path / "out").exists()


def test_https_to_a_plain_http_server_says_so(
    front: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]

        def answer_in_plain_http() -> None:
            connection, _ = server.accept()
            with connection:
                connection.recv(4096)
                connection.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

        thread = threading.Thread(target=answer_in_plain_http, daemon=True)
        thread.start()
        endpoint = f"https://127.0.0.1:{port}/facepp/v1/3dface"
        code = main(
            ["reconstruct", str(front), "-o", str(tmp_path / "out"), "--endpoint", endpoint]
        )
        thread.join(timeout=10)

    assert code == 3
    assert f"TLS_ERROR: 127.0.0.1:{port} does not speak TLS" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"face3d {metadata.version('face3d-pipeline')}"
