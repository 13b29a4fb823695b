"""API credentials from Secrets Manager (Powertools Parameters) or from the settings."""

from __future__ import annotations

from aws_lambda_powertools.utilities import parameters
from botocore.exceptions import BotoCoreError, ClientError

from face3d.client.http import Credentials
from face3d.errors import (
    SECRET_MALFORMED,
    SECRET_NOT_FOUND,
    SECRETS_MANAGER_ERROR,
    ConfigurationError,
    TransientError,
)
from face3d.function import aws

# Secrets Manager answers these when the secret or our access to it is wrong: an operator must act.
_CONFIGURATION_CODES = frozenset(
    {
        "ResourceNotFoundException",
        "AccessDeniedException",
        "AccessDenied",
        "DecryptionFailure",
        "InvalidRequestException",
        "InvalidParameterException",
        "UnrecognizedClientException",
    }
)


def fetch_credentials(
    secret_id: str,
    *,
    max_age: int = 60,
    force: bool = False,
    provider: parameters.SecretsProvider | None = None,
) -> Credentials:
    """The `{"api_key", "api_secret"}` JSON secret, cached for `max_age` seconds.

    `force` bypasses the cache: the caller's one refresh after an `AUTHENTICATION_ERROR`, in
    case the secret was rotated. `provider` defaults to Powertools' shared one.
    """
    try:
        value: object
        if provider is None:
            value = parameters.get_secret(
                secret_id, transform="json", max_age=max_age, force_fetch=force
            )
        else:
            value = provider.get(secret_id, transform="json", max_age=max_age, force_fetch=force)
    except parameters.exceptions.TransformParameterError:
        raise ConfigurationError(
            SECRET_MALFORMED, f"secret {secret_id!r} is not JSON"
        ) from None  # the transform error quotes the secret's text
    except parameters.exceptions.GetParameterError as exc:
        raise _fetch_error(secret_id, exc) from exc
    except BotoCoreError as exc:  # making the client: no region or profile
        raise _fetch_error(secret_id, exc) from exc
    return _parse(secret_id, value)


def _fetch_error(secret_id: str, exc: Exception) -> ConfigurationError | TransientError:
    cause = exc if isinstance(exc, BotoCoreError) else exc.__cause__ or exc.__context__
    problem = None if cause is None else aws.configuration_problem(cause)
    if problem is not None:  # no region or credentials: the caller's AWS setup
        return problem
    if isinstance(cause, ClientError):
        code = aws.error_code(cause)
        if code in _CONFIGURATION_CODES:
            return ConfigurationError(SECRET_NOT_FOUND, f"secret {secret_id!r}: {code}")
        return TransientError(SECRETS_MANAGER_ERROR, f"secret {secret_id!r}: {code or 'error'}")
    if isinstance(cause, BotoCoreError):
        return TransientError(
            SECRETS_MANAGER_ERROR, f"secret {secret_id!r}: {type(cause).__name__}"
        )
    return ConfigurationError(SECRET_NOT_FOUND, f"secret {secret_id!r} could not be read")


def _parse(secret_id: str, value: object) -> Credentials:
    if not isinstance(value, dict):
        raise ConfigurationError(SECRET_MALFORMED, f"secret {secret_id!r} is not a JSON object")
    key, secret = value.get("api_key"), value.get("api_secret")
    missing = [
        name
        for name, v in (("api_key", key), ("api_secret", secret))
        if not isinstance(v, str) or not v
    ]
    if missing:
        raise ConfigurationError(
            SECRET_MALFORMED, f"secret {secret_id!r} lacks a non-empty {', '.join(missing)}"
        )
    assert isinstance(key, str)
    assert isinstance(secret, str)
    return Credentials(key, secret)
