"""The error tree: the API's own codes plus ours, each knowing how it is handled.

Three kinds, as in DESIGN.md section 6:

* transient: retried in place with backoff, then by Lambda's asynchronous retries;
* permanent: the input is at fault; never retried, ends in `error.json` and a DLQ message;
* configuration: the operator is at fault (credentials, endpoint); not retried in place, but
  `retryable` on the DLQ so that it can be redriven once fixed.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

from face3d.contract import View


class Kind(StrEnum):
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    CONFIGURATION = "configuration"


class Face3DError(Exception):
    """Base of every error the pipeline reports. Never carries secrets or image data."""

    kind: ClassVar[Kind] = Kind.PERMANENT
    # API calls the client made for the request before this error (0: it gave up before any).
    # Not the DLQ message's "attempts", which counts invocations (the claim's count).
    attempts: int = 0

    def __init__(
        self,
        code: str,
        message: str = "",
        *,
        param: str | None = None,
        view: View | None = None,
        http_status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        self.code = code
        self.param = param
        self.view = view if view is not None else (View.from_param(param) if param else None)
        self.http_status = http_status
        self.request_id = request_id
        self.message = message or code
        super().__init__(self.message)

    @property
    def retryable(self) -> bool:
        """Whether the set may succeed if tried again later (the DLQ's `retryable`)."""
        return self.kind is not Kind.PERMANENT

    @property
    def transient(self) -> bool:
        """Whether to retry right away, inside this invocation."""
        return self.kind is Kind.TRANSIENT

    @property
    def label(self) -> str:
        """`CODE:<view>` (or `CODE:<param>`), the form users see on the command line."""
        detail = self.view.value if self.view else self.param
        return f"{self.code}:{detail}" if detail else self.code

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "param": self.param,
            "view": self.view.value if self.view else None,
            "http_status": self.http_status,
            "message": self.message,
            "retryable": self.retryable,
        }

    def __str__(self) -> str:
        return self.label if self.message == self.code else f"{self.label}: {self.message}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, param={self.param!r}, "
            f"http_status={self.http_status!r}, request_id={self.request_id!r})"
        )


class TransientError(Face3DError):
    kind = Kind.TRANSIENT


class PermanentError(Face3DError):
    kind = Kind.PERMANENT


class ConfigurationError(Face3DError):
    kind = Kind.CONFIGURATION


class RequestEntityTooLargeError(PermanentError):
    """The plain-text 413: our request budget was wrong. Callers shrink it and retry once.

    `request_bytes` is the size of the request refused (or not sent for being over the budget):
    the retry is prepared within a quarter less than that, not than the budget.
    """

    def __init__(
        self, message: str = "", *, request_bytes: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(REQUEST_ENTITY_TOO_LARGE, message, **kwargs)
        self.request_bytes = request_bytes


# Codes of the upstream API (facepp-3dface-api.txt).
IMAGE_ERROR_UNSUPPORTED_FORMAT = "IMAGE_ERROR_UNSUPPORTED_FORMAT"
INVALID_IMAGE_SIZE = "INVALID_IMAGE_SIZE"
INVALID_IMAGE_URL = "INVALID_IMAGE_URL"
IMAGE_FILE_TOO_LARGE = "IMAGE_FILE_TOO_LARGE"
IMAGE_DOWNLOAD_TIMEOUT = "IMAGE_DOWNLOAD_TIMEOUT"
AUTHENTICATION_ERROR = "AUTHENTICATION_ERROR"
AUTHORIZATION_ERROR = "AUTHORIZATION_ERROR"
CONCURRENCY_LIMIT_EXCEEDED = "CONCURRENCY_LIMIT_EXCEEDED"
NO_FACE_FOUND = "NO_FACE_FOUND"
MULTIPLE_FACE_FOUND = "MULTIPLE_FACE_FOUND"
MISSING_ARGUMENTS = "MISSING_ARGUMENTS"
BAD_ARGUMENTS = "BAD_ARGUMENTS"
COEXISTENCE_ARGUMENTS = "COEXISTENCE_ARGUMENTS"
API_NOT_FOUND = "API_NOT_FOUND"
INTERNAL_ERROR = "INTERNAL_ERROR"
# The 413 comes as plain text "Request Entity Too Large"; we give it a code.
REQUEST_ENTITY_TOO_LARGE = "REQUEST_ENTITY_TOO_LARGE"

# Our own codes.
BAD_RESPONSE = "BAD_RESPONSE"
HTTP_ERROR = "HTTP_ERROR"
TIMEOUT = "TIMEOUT"
CONNECTION_ERROR = "CONNECTION_ERROR"
TLS_ERROR = "TLS_ERROR"
INVALID_MANIFEST = "INVALID_MANIFEST"
MISSING_VIEW = "MISSING_VIEW"
INVALID_INPUT = "INVALID_INPUT"
SECRET_NOT_FOUND = "SECRET_NOT_FOUND"  # noqa: S105 (an error code, not a password)
SECRET_MALFORMED = "SECRET_MALFORMED"  # noqa: S105 (an error code, not a password)
INVALID_CONFIGURATION = "INVALID_CONFIGURATION"
# An AWS service failed us; one code per service, so that an operator knows where to look.
S3_ERROR = "S3_ERROR"
SQS_ERROR = "SQS_ERROR"
SECRETS_MANAGER_ERROR = "SECRETS_MANAGER_ERROR"
LAMBDA_ERROR = "LAMBDA_ERROR"

_KIND_OF_CODE: dict[str, type[Face3DError]] = {
    IMAGE_ERROR_UNSUPPORTED_FORMAT: PermanentError,
    INVALID_IMAGE_SIZE: PermanentError,
    INVALID_IMAGE_URL: PermanentError,
    IMAGE_FILE_TOO_LARGE: PermanentError,
    # The engine timed out fetching an image URL; the URL may answer next time.
    IMAGE_DOWNLOAD_TIMEOUT: TransientError,
    AUTHENTICATION_ERROR: ConfigurationError,
    AUTHORIZATION_ERROR: ConfigurationError,
    CONCURRENCY_LIMIT_EXCEEDED: TransientError,
    NO_FACE_FOUND: PermanentError,
    MULTIPLE_FACE_FOUND: PermanentError,
    # Missing, bad or coexisting arguments are a bug in what we sent: retrying cannot help.
    MISSING_ARGUMENTS: PermanentError,
    BAD_ARGUMENTS: PermanentError,
    COEXISTENCE_ARGUMENTS: PermanentError,
    API_NOT_FOUND: ConfigurationError,
    INTERNAL_ERROR: TransientError,
    REQUEST_ENTITY_TOO_LARGE: PermanentError,
    BAD_RESPONSE: TransientError,
    TIMEOUT: TransientError,
    CONNECTION_ERROR: TransientError,
    TLS_ERROR: ConfigurationError,
    INVALID_MANIFEST: PermanentError,
    MISSING_VIEW: PermanentError,
    INVALID_INPUT: PermanentError,
    SECRET_NOT_FOUND: ConfigurationError,
    SECRET_MALFORMED: ConfigurationError,
    INVALID_CONFIGURATION: ConfigurationError,
    S3_ERROR: TransientError,
    SQS_ERROR: TransientError,
    SECRETS_MANAGER_ERROR: TransientError,
    LAMBDA_ERROR: TransientError,
}

KNOWN_CODES = frozenset(_KIND_OF_CODE)

# Short explanations from the API document, so that a DLQ message or a CLI line reads on its own.
DESCRIPTIONS = {
    IMAGE_ERROR_UNSUPPORTED_FORMAT: "the image cannot be decoded (unsupported or damaged file)",
    INVALID_IMAGE_SIZE: "the image is too small or too large (200 to 4096 px a side)",
    INVALID_IMAGE_URL: "the image could not be downloaded from its URL",
    IMAGE_FILE_TOO_LARGE: "the image file is larger than 2 MB",
    IMAGE_DOWNLOAD_TIMEOUT: "downloading the image from its URL timed out",
    AUTHENTICATION_ERROR: "api_key and api_secret do not match",
    CONCURRENCY_LIMIT_EXCEEDED: "the API key's QPS limit was exceeded",
    NO_FACE_FOUND: "no face was detected in the image",
    MULTIPLE_FACE_FOUND: "more than one face was found in the image",
    MISSING_ARGUMENTS: "a required argument is missing",
    BAD_ARGUMENTS: "an argument could not be parsed",
    COEXISTENCE_ARGUMENTS: "arguments that may not coexist were sent",
    API_NOT_FOUND: "the endpoint has no 3dface API: check the endpoint URL",
    INTERNAL_ERROR: "internal error at the endpoint",
}


def error_for(
    code: str,
    message: str = "",
    *,
    param: str | None = None,
    view: View | None = None,
    http_status: int | None = None,
    request_id: str | None = None,
) -> Face3DError:
    """The error of the right kind for `code`; unknown codes are judged by HTTP status."""
    if code == REQUEST_ENTITY_TOO_LARGE:
        return RequestEntityTooLargeError(
            message, param=param, view=view, http_status=http_status, request_id=request_id
        )
    cls = _KIND_OF_CODE.get(code)
    if cls is None:
        cls = TransientError if http_status is None or http_status >= 500 else PermanentError
        if http_status == 429:
            cls = TransientError
    return cls(
        code, message, param=param, view=view, http_status=http_status, request_id=request_id
    )


def parse_error_message(error_message: str) -> tuple[str, str | None]:
    """Split the API's `error_message` into code and detail.

    The document writes both `CODE:<param>` and `CODE: <param>`; `AUTHORIZATION_ERROR` carries a
    reason rather than a parameter.
    """
    code, sep, detail = error_message.partition(":")
    detail = detail.strip()
    return code.strip(), (detail if sep and detail else None)


# What an operator or a user does about a failure (`face3d status`, and README's troubleshooting
# table, which a test keeps equal to this); by kind for a code an endpoint made up.
_REDRIVE = "then `face3d redrive`"
_CHECK_ENDPOINT = "check that the Endpoint parameter names a 3dface API"
REMEDIES = {
    NO_FACE_FOUND: "upload a photo in which the face is clearly visible (front view first)",
    MULTIPLE_FACE_FOUND: "upload a photo of one person only, or crop it to one face",
    INVALID_IMAGE_SIZE: "upload a photo of 200 to 4096 px on each side",
    IMAGE_ERROR_UNSUPPORTED_FORMAT: "upload a JPEG, PNG, WebP or HEIC photo that opens in a viewer",
    IMAGE_FILE_TOO_LARGE: "upload a smaller file (the function's MAX_DOWNLOAD_BYTES)",
    REQUEST_ENTITY_TOO_LARGE: "upload smaller photos (fewer pixels)",
    INVALID_IMAGE_URL: "send the image itself, or a URL that serves an image",
    IMAGE_DOWNLOAD_TIMEOUT: "send the image itself, or a URL that answers sooner",
    INVALID_MANIFEST: "fix manifest.json and upload it again",
    MISSING_VIEW: "upload the missing view, then manifest.json again (it closes the set)",
    MISSING_ARGUMENTS: f"{_CHECK_ENDPOINT}, then `face3d redrive --include-permanent`",
    BAD_ARGUMENTS: f"{_CHECK_ENDPOINT}, then `face3d redrive --include-permanent`",
    COEXISTENCE_ARGUMENTS: f"{_CHECK_ENDPOINT}, then `face3d redrive --include-permanent`",
    HTTP_ERROR: f"{_CHECK_ENDPOINT} and answers, {_REDRIVE} (`--include-permanent` for a 4xx)",
    API_NOT_FOUND: f"set the Endpoint parameter to a 3dface URL, {_REDRIVE}",
    BAD_RESPONSE: f"{_CHECK_ENDPOINT} (not a proxy's page), {_REDRIVE}",
    AUTHENTICATION_ERROR: f"store the right api_key and api_secret in the secret, {_REDRIVE}",
    AUTHORIZATION_ERROR: f"have the API key allowed to call 3dface, {_REDRIVE}",
    CONCURRENCY_LIMIT_EXCEEDED: f"set ApiQps to the key's QPS or lower the concurrency, {_REDRIVE}",
    INTERNAL_ERROR: f"wait until the endpoint answers again, {_REDRIVE}",
    TIMEOUT: f"wait until the endpoint answers in time, {_REDRIVE}",
    CONNECTION_ERROR: f"check the Endpoint URL and that the function can reach it, {_REDRIVE}",
    TLS_ERROR: f"fix the Endpoint's scheme (https or http) or its certificate, {_REDRIVE}",
    SECRET_NOT_FOUND: "create the secret (or fix SecretName) and allow the function to read it, "
    + _REDRIVE,
    SECRET_MALFORMED: f'store {{"api_key": ..., "api_secret": ...}} in the secret, {_REDRIVE}',
    SECRETS_MANAGER_ERROR: f"wait until Secrets Manager answers again, {_REDRIVE}",
    S3_ERROR: f"allow the function's role on the bucket if access was denied, {_REDRIVE}",
    SQS_ERROR: "check that the queue (DLQ_URL) exists and the role may use it, then run again",
    LAMBDA_ERROR: "check FUNCTION_NAME and your lambda:InvokeFunction permission, then run again",
    INVALID_CONFIGURATION: "fix the variable, option or installation the message names",
    INVALID_INPUT: "pass a file or folder that exists and is what the command expects",
}
_REMEDY_BY_KIND = {
    Kind.PERMANENT: "fix the input and upload it again (for a folder set, manifest.json last)",
    Kind.CONFIGURATION: "fix the configuration, then `face3d redrive`",
    Kind.TRANSIENT: "retries ran out: `face3d redrive` once the cause has passed",
}


def remedy(code: str, retryable: bool) -> str:
    """What to do about a failure with `code`."""
    if code in REMEDIES:
        return REMEDIES[code]
    kind = _KIND_OF_CODE.get(code, TransientError if retryable else PermanentError).kind
    return _REMEDY_BY_KIND[kind]
