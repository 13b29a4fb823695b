"""Settings, parsed once from the environment into one typed object.

This is the only module that reads `os.environ`. Every bad or missing variable is named in one
`INVALID_CONFIGURATION` error rather than discovered one at a time.
"""

from __future__ import annotations

import os
import re
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

# S3's rules for a bucket name (general purpose buckets).
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
# An EventBridge bus, by name or ARN, as PutEvents takes it.
_EVENT_BUS = re.compile(r"(arn:[a-z-]+:events:[a-z0-9-]+:\d{12}:event-bus/)?[A-Za-z0-9._/-]{1,256}")


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


def folder_prefix(value: str) -> str:
    if not value.endswith("/") or value.startswith("/") or "//" in value:
        raise ValueError("must be a folder prefix like 'incoming/'")
    return value


def prefixes_apart(input_prefix: str, result_prefix: str) -> None:
    shorter, longer = sorted((input_prefix, result_prefix), key=len)
    if longer.startswith(shorter):
        # Results written under the input prefix would trigger the function again.
        raise ValueError("INPUT_PREFIX and RESULT_PREFIX must not overlap")


class FunctionSettings(Settings):
    """What the function needs on top: where sets come from, where results and failures go."""

    secret_id: str = Field(alias="FACEPP_SECRET_ID")
    dlq_url: str = Field(alias="DLQ_URL")
    # The bucket the function serves: events for any other are ignored. The template always sets
    # it; unset (local runs), events from any bucket are served.
    input_bucket: str | None = Field(None, alias="INPUT_BUCKET")
    input_prefix: str = Field("incoming/", alias="INPUT_PREFIX")
    result_prefix: str = Field("results/", alias="RESULT_PREFIX")
    # Where results, error.json and claims go; default: the input bucket (the upload's bucket).
    result_bucket: str | None = Field(None, alias="RESULT_BUCKET")
    # A claim older than this was left by a dead invocation and may be taken over.
    function_timeout_s: int = Field(900, ge=3, le=900, alias="FUNCTION_TIMEOUT_S")
    max_async_retries: int = Field(2, ge=0, le=2, alias="MAX_ASYNC_RETRIES")
    # The least time kept back from the API call for writing results and failure records; the
    # function adds a term per MB it will write (processing.WRITE_SECONDS_PER_MB).
    write_reserve_s: float = Field(2.0, ge=0.5, le=120, alias="WRITE_RESERVE_S")
    # The bus each terminal outcome is announced on (DESIGN.md section 9); unset: no events.
    event_bus: str | None = Field(None, alias="EVENT_BUS")
    # Pacing (client/pacing.py): the API key's QPS (0: calls are not paced), shared by at most
    # API_CALLERS containers calling at once (the reserved concurrency).
    api_qps: float = Field(0.0, ge=0, le=10_000, alias="API_QPS")
    api_callers: int = Field(1, ge=1, le=10_000, alias="API_CALLERS")

    @field_validator("input_bucket", "result_bucket")
    @classmethod
    def _bucket_name(cls, value: str | None) -> str | None:
        if value is not None and not _BUCKET_NAME.fullmatch(value):
            raise ValueError("must be an S3 bucket name (3 to 63 of a-z, 0-9, '.' and '-')")
        return value

    @field_validator("event_bus")
    @classmethod
    def _event_bus(cls, value: str | None) -> str | None:
        if value is not None and not _EVENT_BUS.fullmatch(value):
            raise ValueError("must be an EventBridge bus name or ARN")
        return value

    @field_validator("input_prefix", "result_prefix")
    @classmethod
    def _folder_prefix(cls, value: str) -> str:
        return folder_prefix(value)

    @model_validator(mode="after")
    def _prefixes_do_not_overlap(self) -> Self:
        prefixes_apart(self.input_prefix, self.result_prefix)
        return self

    @property
    def max_async_attempts(self) -> int:
        return 1 + self.max_async_retries


class OperatorSettings(Settings):
    """What `face3d status`, `backfill` and `redrive` read (each also takes them as options),
    named as in the function's environment so that one set of variables serves both."""

    bucket: str | None = Field(None, alias="INPUT_BUCKET")
    result_bucket: str | None = Field(None, alias="RESULT_BUCKET")  # default: the bucket
    input_prefix: str = Field("incoming/", alias="INPUT_PREFIX")
    result_prefix: str = Field("results/", alias="RESULT_PREFIX")
    function_name: str | None = Field(None, alias="FUNCTION_NAME")
    dlq_url: str | None = Field(None, alias="DLQ_URL")
    # The function's timeout: a claim held longer was left by a dead invocation.
    function_timeout_s: int = Field(900, ge=3, le=900, alias="FUNCTION_TIMEOUT_S")

    @field_validator("input_prefix", "result_prefix")
    @classmethod
    def _folder_prefix(cls, value: str) -> str:
        return folder_prefix(value)
