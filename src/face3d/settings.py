"""Settings, parsed once from the environment into one typed object.

This is the only module that reads `os.environ`. Every bad or missing variable is named in one
`INVALID_CONFIGURATION` error rather than discovered one at a time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Self
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from face3d.contract import DEFAULT_ENDPOINT, MAX_REQUEST_BYTES, SAFE_REQUEST_BYTES
from face3d.errors import INVALID_CONFIGURATION, ConfigurationError


class Settings(BaseModel):
    """What both the command line and the function need."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=False)

    endpoint: str = Field(DEFAULT_ENDPOINT, alias="FACEPP_ENDPOINT")
    secret_id: str | None = Field(None, alias="FACEPP_SECRET_ID")
    api_key: str | None = Field(None, alias="FACEPP_API_KEY")
    api_secret: SecretStr | None = Field(None, alias="FACEPP_API_SECRET")
    secret_max_age_s: int = Field(60, ge=0, le=3600, alias="SECRET_MAX_AGE_S")
    connect_timeout_s: float = Field(5.0, gt=0, le=60, alias="CONNECT_TIMEOUT_S")
    read_timeout_s: float = Field(60.0, gt=0, le=900, alias="READ_TIMEOUT_S")
    max_attempts: int = Field(6, ge=1, le=20, alias="MAX_ATTEMPTS")
    # The whole multipart request after base64; Face++ refuses entities over 2 MB.
    request_budget_bytes: int = Field(
        SAFE_REQUEST_BYTES, ge=100_000, le=MAX_REQUEST_BYTES, alias="REQUEST_BUDGET_BYTES"
    )
    max_download_bytes: int = Field(30_000_000, ge=1, le=500_000_000, alias="MAX_DOWNLOAD_BYTES")
    # Pillow refuses images over about 179 M pixels whatever we allow.
    max_image_pixels: int = Field(64_000_000, ge=40_000, le=178_956_970, alias="MAX_IMAGE_PIXELS")

    @field_validator("endpoint")
    @classmethod
    def _endpoint_is_http_url(cls, value: str) -> str:
        return _http_url(value)

    @staticmethod
    def valid_endpoint(url: str) -> str:
        """`url` if it can be an endpoint, else the configuration error naming it."""
        try:
            return _http_url(url)
        except ValueError as exc:
            raise ConfigurationError(INVALID_CONFIGURATION, f"endpoint {url!r}: {exc}") from None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Parse `environ` (default: the process environment); empty variables count as unset."""
        source = os.environ if environ is None else environ
        values: dict[str, Any] = {k: v for k, v in source.items() if v != ""}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ConfigurationError(
                INVALID_CONFIGURATION, _describe(exc, cls)
            ) from None  # pydantic's text echoes the input values, which may hold a secret


def tracing_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether Powertools' Tracer traces here, by its own rule: in Lambda (LAMBDA_TASK_ROOT), not
    under SAM local or Chalice, and not turned off with POWERTOOLS_TRACE_DISABLED."""
    source = os.environ if environ is None else environ
    disabled = source.get("POWERTOOLS_TRACE_DISABLED", "").strip().lower() in _TRUTHY
    local = bool(source.get("AWS_SAM_LOCAL") or source.get("AWS_CHALICE_CLI_MODE"))
    return bool(source.get("LAMBDA_TASK_ROOT")) and not local and not disabled


# What Powertools reads as true in its environment variables.
_TRUTHY = frozenset({"1", "y", "yes", "t", "true", "on"})


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http(s) URL")
    return value


def _describe(exc: ValidationError, model: type[BaseModel]) -> str:
    problems = []
    for err in exc.errors(include_input=False, include_url=False):
        if not err["loc"]:  # a rule across several variables names them itself
            problems.append(err["msg"].removeprefix("Value error, "))
            continue
        name = str(err["loc"][0])
        field = model.model_fields.get(name)
        variable = field.alias if field is not None and field.alias else name
        problems.append(f"{variable}: {err['msg']}")
    return "bad configuration: " + "; ".join(sorted(problems))


class FunctionSettings(Settings):
    """What the function needs on top: where sets come from, where results and failures go."""

    secret_id: str = Field(alias="FACEPP_SECRET_ID")
    dlq_url: str = Field(alias="DLQ_URL")
    input_prefix: str = Field("incoming/", alias="INPUT_PREFIX")
    result_prefix: str = Field("results/", alias="RESULT_PREFIX")
    result_bucket: str | None = Field(None, alias="RESULT_BUCKET")  # default: the event's bucket
    # A claim older than this was left by a dead invocation and may be taken over.
    function_timeout_s: int = Field(900, ge=3, le=900, alias="FUNCTION_TIMEOUT_S")
    max_async_retries: int = Field(2, ge=0, le=2, alias="MAX_ASYNC_RETRIES")
    # Time kept back from the API call for writing results and failure records.
    write_reserve_s: float = Field(10.0, ge=1, le=120, alias="WRITE_RESERVE_S")
    # Pacing (client/pacing.py): the API key's QPS (0: calls are not paced), shared by at most
    # API_CALLERS containers calling at once (the reserved concurrency).
    api_qps: float = Field(0.0, ge=0, le=10_000, alias="API_QPS")
    api_callers: int = Field(1, ge=1, le=10_000, alias="API_CALLERS")

    @field_validator("input_prefix", "result_prefix")
    @classmethod
    def _folder_prefix(cls, value: str) -> str:
        if not value.endswith("/") or value.startswith("/") or "//" in value:
            raise ValueError("must be a folder prefix like 'incoming/'")
        return value

    @model_validator(mode="after")
    def _prefixes_do_not_overlap(self) -> Self:
        shorter, longer = sorted((self.input_prefix, self.result_prefix), key=len)
        if longer.startswith(shorter):
            # Results written under the input prefix would trigger the function again.
            raise ValueError("INPUT_PREFIX and RESULT_PREFIX must not overlap")
        return self

    @property
    def max_async_attempts(self) -> int:
        return 1 + self.max_async_retries
