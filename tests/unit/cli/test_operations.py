"""The operator's commands without a usable AWS setup: a configuration error, exit 3."""

from pathlib import Path

import boto3
import pytest

from face3d.cli.main import main
from tests import photos

QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/face3d-dlq"


@pytest.fixture(autouse=True)
def no_aws_setup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "INPUT_BUCKET",
        "DLQ_URL",
        "FUNCTION_NAME",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance metadata to ask
    # boto3's default session keeps the credentials it once found (the soak's, say): none.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)


def test_without_a_region_redrive_is_a_configuration_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["redrive", "--queue-url", QUEUE_URL, "--function-name", "face3d"])
    assert code == 3
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error: INVALID_CONFIGURATION: no AWS region:")
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["status", "--bucket", "face3d-data"],
        ["status", "--bucket", "face3d-data", "ada", "--json"],
        ["backfill", "--bucket", "face3d-data", "--dry-run"],
        ["redrive", "--queue-url", QUEUE_URL, "--function-name", "face3d", "--dry-run"],
    ],
)
def test_without_credentials_each_command_is_a_configuration_error(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    code = main(argv)
    assert code == 3
    err = capsys.readouterr().err
    assert err.startswith("error: INVALID_CONFIGURATION: no usable AWS credentials")
    assert "AWS_PROFILE" in err  # says how to fix it


def test_an_unknown_profile_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "nobody")
    assert main(["status", "--bucket", "face3d-data"]) == 3
    assert "nobody" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["status"], "INPUT_BUCKET"),
        (["backfill", "--bucket", "b"], "FUNCTION_NAME"),
        (["redrive", "--function-name", "f"], "DLQ_URL"),
    ],
)
def test_a_missing_option_names_its_variable(
    argv: list[str], names: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 3
    assert names in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["backfill", "--bucket", "face3d-data", "--rate", "0"], "--rate: 0 is not a number more"),
        (["backfill", "--bucket", "face3d-data", "--rate", "nan"], "--rate: nan is not a number"),
        (["backfill", "--bucket", "face3d-data", "--rate", "fast"], "--rate: not a number: 'fast'"),
        (["redrive", "--queue-url", QUEUE_URL, "--max", "0"], "--max: 0 is not in 1 or more"),
    ],
)
def test_a_bad_option_value_is_a_usage_error_before_any_aws_call(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert says in capsys.readouterr().err


@pytest.mark.parametrize("command", ["status", "backfill", "redrive"])
def test_help_documents_the_command(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "exit status" in text
    assert "--dry-run" in text or command == "status"


def test_reconstruct_with_a_secret_but_no_region_is_a_configuration_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    front = tmp_path / "ada.jpg"
    front.write_bytes(photos.astronaut_jpeg())
    code = main(["reconstruct", str(front), "-o", str(tmp_path / "out"), "--secret-id", "x"])
    assert code == 3
    err = capsys.readouterr().err
    assert err.startswith("error: INVALID_CONFIGURATION: no AWS region")
    assert "Traceback" not in err
