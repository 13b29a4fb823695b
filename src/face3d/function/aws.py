"""AWS clients for the function's adapters and its operator commands, made in one place.

Every client waits a bounded time and uses botocore's standard retries for throttling and 5xx.
`region` None takes the SDK's usual chain (AWS_REGION in Lambda); commands and the demo name it.
A missing region, credentials or profile is the operator's to fix: `configuration_problem`
turns botocore's exceptions for them into one `INVALID_CONFIGURATION` error, never a traceback.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    SSOError,
    TokenRetrievalError,
)

from face3d.errors import INVALID_CONFIGURATION, ConfigurationError

AWS_CONFIG = Config(
    connect_timeout=5, read_timeout=30, retries={"mode": "standard", "max_attempts": 4}
)
# Result events are sent after the outcome is stored, best effort: a slow EventBridge must not
# eat the time the invocation has left.
_SERVICE_CONFIGS = {
    "events": Config(
        connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 3}
    )
}

_CREDENTIAL_ERRORS = (
    NoCredentialsError,
    PartialCredentialsError,
    CredentialRetrievalError,
    ProfileNotFound,
    SSOError,
    TokenRetrievalError,
)
# What AWS answers to credentials it does not accept (expired, unknown, for another partition).
_REJECTED_CREDENTIAL_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "InvalidToken",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
        "TokenRefreshRequired",
    }
)

_HOW_TO_FIX = (
    "use the usual AWS chain: AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
    "and AWS_DEFAULT_REGION (or a profile's region)"
)


def client(service: str, region: str | None = None) -> Any:
    """A boto3 client for `service` (typed at the call site: mypy_boto3 stubs).

    Raises `INVALID_CONFIGURATION` when no region is configured or the profile does not exist.
    """
    try:
        return boto3.client(  # type: ignore[call-overload]
            service, config=_SERVICE_CONFIGS.get(service, AWS_CONFIG), region_name=region
        )
    except (BotoCoreError, ClientError) as exc:
        problem = configuration_problem(exc)
        if problem is None:
            raise
        raise problem from exc


def error_code(exc: BaseException) -> str:
    """The service's error code of a `ClientError` ("" for anything else)."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def configuration_problem(exc: BaseException) -> ConfigurationError | None:
    """The configuration error `exc` stands for, if the SDK's setup (not AWS) is at fault."""
    if isinstance(exc, NoRegionError):
        return ConfigurationError(INVALID_CONFIGURATION, f"no AWS region: {_HOW_TO_FIX}")
    if isinstance(exc, _CREDENTIAL_ERRORS):
        # botocore's messages name the profile or provider, never a key.
        return ConfigurationError(
            INVALID_CONFIGURATION, f"no usable AWS credentials ({exc}): {_HOW_TO_FIX}"
        )
    code = error_code(exc)
    if code in _REJECTED_CREDENTIAL_CODES:
        return ConfigurationError(
            INVALID_CONFIGURATION, f"AWS refused the credentials ({code}): {_HOW_TO_FIX}"
        )
    return None
