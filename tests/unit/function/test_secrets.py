import json
from collections.abc import Iterator

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from face3d.errors import SECRET_MALFORMED, SECRET_NOT_FOUND, ConfigurationError
from face3d.function.secrets import fetch_credentials

REGION = "us-east-1"


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    parameters.clear_caches()
    with mock_aws():
        yield boto3.client("secretsmanager", region_name=REGION)
    parameters.clear_caches()


def test_reads_the_json_secret(secrets: object) -> None:
    client = boto3.client("secretsmanager", region_name=REGION)
    secret = json.dumps({"api_key": "K", "api_secret": "s3cr3t-value"})
    client.create_secret(Name="facepp", SecretString=secret)
    creds = fetch_credentials("facepp")
    assert (creds.api_key, creds.api_secret) == ("K", "s3cr3t-value")
    assert "s3cr3t-value" not in repr(creds)


def test_cached_until_forced(secrets: object) -> None:
    client = boto3.client("secretsmanager", region_name=REGION)
    client.create_secret(
        Name="facepp", SecretString=json.dumps({"api_key": "K", "api_secret": "S1"})
    )
    assert fetch_credentials("facepp", max_age=300).api_secret == "S1"
    client.put_secret_value(
        SecretId="facepp", SecretString=json.dumps({"api_key": "K", "api_secret": "S2"})
    )
    assert fetch_credentials("facepp", max_age=300).api_secret == "S1"
    assert fetch_credentials("facepp", max_age=300, force=True).api_secret == "S2"


def test_missing_secret_is_a_configuration_error(secrets: object) -> None:
    with pytest.raises(ConfigurationError) as caught:
        fetch_credentials("nope")
    assert caught.value.code == SECRET_NOT_FOUND
    assert caught.value.retryable


@pytest.mark.parametrize(
    "value",
    [
        "not json {",
        json.dumps(["api_key", "api_secret"]),
        json.dumps({"api_key": "K"}),
        json.dumps({"api_key": "K", "api_secret": ""}),
        json.dumps({"api_key": 1, "api_secret": "S"}),
    ],
)
def test_malformed_secret_is_named_without_its_value(secrets: object, value: str) -> None:
    client = boto3.client("secretsmanager", region_name=REGION)
    client.create_secret(Name="facepp", SecretString=value)
    with pytest.raises(ConfigurationError) as caught:
        fetch_credentials("facepp")
    assert caught.value.code == SECRET_MALFORMED
    assert "facepp" in caught.value.message
    assert value not in str(caught.value)
