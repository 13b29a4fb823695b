"""The adapter to a Face++ 3dface endpoint: one HTTP session, timeouts, a retry budget.

The only module that speaks HTTP. Every failure leaves it as a `Face3DError` of the right kind
(DESIGN.md section 6): transient errors are retried here with exponential backoff and full
jitter within the caller's time budget; permanent and configuration errors are raised at once.
Neither the API secret nor image data ever reaches a log line or an exception message.
"""

from __future__ import annotations

import base64
import logging
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import NameResolutionError, NewConnectionError

from face3d.client.pacing import Pacer
from face3d.client.responses import Reconstruction, parse_success
from face3d.client.retries import DEFAULT_RETRY, RetryPolicy
from face3d.contract import DEFAULT_ENDPOINT, View, in_api_order
from face3d.errors import (
    API_NOT_FOUND,
    AUTHORIZATION_ERROR,
    BAD_RESPONSE,
    CONCURRENCY_LIMIT_EXCEEDED,
    CONNECTION_ERROR,
    DESCRIPTIONS,
    HTTP_ERROR,
    INVALID_CONFIGURATION,
    TIMEOUT,
    TLS_ERROR,
    ConfigurationError,
    Face3DError,
    RequestEntityTooLargeError,
    TransientError,
    error_for,
    parse_error_message,
)

logger = logging.getLogger(__name__)

# Enough of a non-API response body (a proxy's HTML page) to tell what answered.
_EXCERPT_CHARS = 200
# What looks like base64 (image data quoted back) in an endpoint's text: 40 or more characters of
# its alphabet, a JSON-escaped slash (\/) counting as one.
_BASE64_RUN = re.compile(r"(?:[A-Za-z0-9+/]|\\/){40,}=*")
# The API's error codes: CAPITALS_AND_UNDERSCORES.
_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
_HEADERS = {"User-Agent": "face3d-pipeline", "Accept": "application/json"}


# One multipart part for requests' `files=`: (None, text or ASCII bytes) for a form field, or
# (file name, bytes, content type) for a file part.
_Part = tuple[str | None, str] | tuple[None, bytes] | tuple[str, bytes, str]


@dataclass(frozen=True)
class Credentials:
    api_key: str
    api_secret: str = field(repr=False)


@dataclass(frozen=True)
class ImageInput:
    """One view to send, as bytes (base64 field, or a file part if `as_file`) or as a URL.

    When both `data` and `url` are given, `data` is sent: only one field per image goes out,
    chosen by the API's own precedence (file, then base64, then URL).
    """

    view: View
    data: bytes | None = field(default=None, repr=False)
    url: str | None = None
    as_file: bool = False

    def __post_init__(self) -> None:
        if self.data is None and self.url is None:
            raise ValueError(f"the {self.view} image has neither data nor url")
        if self.as_file and self.data is None:
            raise ValueError(f"the {self.view} image is to be sent as a file but has no data")

    def form_field(self) -> tuple[str, _Part]:
        number = self.view.number
        if self.data is not None and self.as_file:
            return f"image_file_{number}", (f"{self.view.value}.jpg", self.data, "image/jpeg")
        if self.data is not None:
            # Bytes as base64 makes them: a str would be encoded back to bytes in the body.
            return f"image_base64_{number}", (None, base64.b64encode(self.data))
        assert self.url is not None  # __post_init__ guarantees data or url
        return f"image_url_{number}", (None, self.url)


class UnreachableError(TransientError):
    """Nothing accepted the connection: refused, or the host name is unknown."""


class FaceppClient:
    """Calls one 3dface endpoint; safe to keep across warm Lambda invocations.

    Credentials are passed per call so that a refreshed secret needs no new client. The session
    is created here unless one is injected; `close()` closes only a session created here.
    With a `pacer`, every attempt waits for its turn within the caller's share of the key's QPS
    (pacing.py), and a call refused over the QPS is retried at the pacer's next turn, not after
    a backoff.
    """

    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        *,
        retry: RetryPolicy = DEFAULT_RETRY,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[float, float], float] = random.uniform,
        pacer: Pacer | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.retry = retry
        self.pacer = pacer
        self._owns_session = session is None
        self._session = requests.Session() if session is None else session
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter

    def reconstruct(
        self,
        credentials: Credentials,
        images: Sequence[ImageInput],
        *,
        texture: bool = True,
        mtl: bool = True,
        time_budget: float | None = None,
        request_budget: int | None = None,
    ) -> Reconstruction:
        """Send `images` (front required, at most one per view) and return the checked result.

        `time_budget` bounds the whole call, retries and backoff included, in seconds. Each
        attempt's timeouts shrink to the time left; the read timeout limits each wait for data,
        not the whole transfer, as in requests.
        `request_budget` is the largest request body to send, in bytes: a larger one raises
        `RequestEntityTooLargeError` without a call, as a 413 would.

        Raises `ValueError` for a malformed call and `Face3DError` for everything else; the
        error's `attempts` tells how many HTTP calls were made.
        """
        views = _check_images(images)
        request = self._prepare(credentials, images, texture=texture, mtl=mtl)
        size = len(request.body or b"")
        if request_budget is not None and size > request_budget:
            raise RequestEntityTooLargeError(
                f"request body of {size} bytes is over the budget of {request_budget}; not sent",
                request_bytes=size,
            )
        deadline = None if time_budget is None else self._clock() + time_budget
        if time_budget is not None and time_budget < self.retry.min_attempt_time:
            raise TransientError(
                TIMEOUT, f"a time budget of {time_budget:.2f}s is too short to try; not sent"
            )

        def attempt_once() -> Reconstruction:
            response = self._send(request, deadline)
            try:
                return _interpret(
                    response, views, texture=texture, mtl=mtl, sent=size, credentials=credentials
                )
            except Face3DError as err:
                if self.pacer is not None and err.code == CONCURRENCY_LIMIT_EXCEEDED:
                    self.pacer.refused()
                raise
            except Exception as exc:
                # The boundary where answers are read: whatever a malformed answer makes the
                # parser trip over (a number out of range, JSON nested absurdly deep) is an
                # answer to retry, never a crash.
                raise TransientError(
                    BAD_RESPONSE,
                    f"HTTP {response.status_code} answer could not be read: {type(exc).__name__}",
                    http_status=response.status_code,
                ) from exc

        return self._with_retries(attempt_once, views, deadline)

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _prepare(
        self, credentials: Credentials, images: Sequence[ImageInput], *, texture: bool, mtl: bool
    ) -> requests.PreparedRequest:
        parts: list[tuple[str, _Part]] = [
            ("api_key", (None, credentials.api_key)),
            ("api_secret", (None, credentials.api_secret)),
            *(image.form_field() for image in sorted(images, key=lambda i: i.view.number)),
            ("texture", (None, _flag(texture))),
            ("mtl", (None, _flag(mtl))),
        ]
        request = requests.Request("POST", self.endpoint, files=parts, headers=_HEADERS)
        try:
            # Prepared once: the body is measured against the budget and re-sent on retries.
            return self._session.prepare_request(request)
        except requests.exceptions.RequestException as exc:  # an endpoint that is no URL
            raise ConfigurationError(INVALID_CONFIGURATION, _describe_exception(exc)) from exc

    def _with_retries(
        self, attempt_once: Callable[[], Reconstruction], views: list[View], deadline: float | None
    ) -> Reconstruction:
        slots = ",".join(str(view.number) for view in views)
        attempt = 0
        while True:
            self._wait_for_turn(deadline, attempt)
            attempt += 1
            started = self._clock()
            try:
                result = attempt_once()
            except Face3DError as err:
                err.attempts = attempt
                delay = self._retry_delay(err, attempt, deadline)
                self._log_failure(err, attempt, slots, self._clock() - started, delay)
                if delay is None:
                    raise
                self._sleep(delay)
                continue
            logger.info(
                "3dface attempt %d/%d succeeded: views=%s status=200 request_id=%s elapsed=%.2fs",
                attempt,
                self.retry.max_attempts,
                slots,
                result.request_id,
                self._clock() - started,
            )
            return result

    def _retry_delay(self, err: Face3DError, attempt: int, deadline: float | None) -> float | None:
        """Seconds to wait before the next attempt, or None to give up with `err`."""
        if not err.transient or attempt >= self.retry.max_attempts:
            return None
        if isinstance(err, UnreachableError) and not self.retry.retry_unreachable:
            return None
        ceiling = self.retry.backoff_ceiling(attempt)
        if self.pacer is not None and err.code == CONCURRENCY_LIMIT_EXCEEDED:
            ceiling = 0.0  # the pacer picks the retry's turn
        delay = self._jitter(0.0, ceiling)
        if deadline is not None and self._clock() + delay + self.retry.min_attempt_time > deadline:
            return None
        return delay

    def _log_failure(
        self, err: Face3DError, attempt: int, slots: str, elapsed: float, delay: float | None
    ) -> None:
        outcome = "giving up" if delay is None else f"retrying in {delay:.2f}s"
        logger.warning(
            "3dface attempt %d/%d failed: views=%s status=%s code=%s request_id=%s "
            "elapsed=%.2fs; %s",
            attempt,
            self.retry.max_attempts,
            slots,
            err.http_status,
            err.code,
            err.request_id,
            elapsed,
            outcome,
        )

    def _wait_for_turn(self, deadline: float | None, attempts: int) -> None:
        """Wait for the pacer's turn; with none before the deadline, give up at once: turns
        only come later, so backing off and asking again would only spend the time left."""
        if self.pacer is None:
            return
        within = (
            None if deadline is None else deadline - self.retry.min_attempt_time - self._clock()
        )
        if not self.pacer.wait(within):
            err = TransientError(
                TIMEOUT,
                "no turn within this caller's share of the QPS before the deadline; not sent",
            )
            err.attempts = attempts
            logger.warning(
                "3dface: no turn before the deadline after %d attempt(s); giving up", attempts
            )
            raise err

    def _send(self, request: requests.PreparedRequest, deadline: float | None) -> requests.Response:
        # send() skips the environment merge that Session.request does; do it here so that
        # proxies and a CA bundle from the environment still apply. verify=True is passed
        # explicitly, so an injected session with verify=False cannot turn verification off.
        settings = self._session.merge_environment_settings(request.url, {}, None, True, None)
        try:
            # Following a redirect would resend the credentials wherever Location points (and
            # 301-303 turn the POST into a GET): a redirect means the endpoint setting is wrong.
            return self._session.send(
                request.copy(), timeout=self._timeouts(deadline), allow_redirects=False, **settings
            )
        except requests.exceptions.SSLError as exc:  # before ConnectionError, its base class
            raise ConfigurationError(TLS_ERROR, _describe_tls_error(exc, request.url)) from exc
        except requests.exceptions.Timeout as exc:  # ConnectTimeout is a ConnectionError too
            raise TransientError(TIMEOUT, _describe_exception(exc)) from exc
        except (
            requests.exceptions.ConnectionError,
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
        ) as exc:
            unreachable = _unreachable(exc, request.url)
            if unreachable is not None:
                raise UnreachableError(CONNECTION_ERROR, unreachable) from exc
            raise TransientError(CONNECTION_ERROR, _describe_exception(exc)) from exc
        except requests.exceptions.RequestException as exc:  # bad URL or scheme: the endpoint
            raise ConfigurationError(INVALID_CONFIGURATION, _describe_exception(exc)) from exc

    def _timeouts(self, deadline: float | None) -> tuple[float, float]:
        policy = self.retry
        if deadline is None:
            return policy.connect_timeout, policy.read_timeout
        # A sleep can overrun; an attempt once started still gets its minimal time.
        remaining = max(deadline - self._clock(), policy.min_attempt_time)
        return min(policy.connect_timeout, remaining), min(policy.read_timeout, remaining)


def _check_images(images: Sequence[ImageInput]) -> list[View]:
    views = [image.view for image in images]
    if not views:
        raise ValueError("no images: the front view is required")
    if len(set(views)) != len(views):
        raise ValueError(f"each view may be sent once, got {', '.join(views)}")
    if View.FRONT not in views:
        raise ValueError("the front view (API image 1) is required")
    return in_api_order(views)


def _flag(value: bool) -> str:
    return "1" if value else "0"


def _interpret(
    response: requests.Response,
    views: list[View],
    *,
    texture: bool,
    mtl: bool,
    sent: int,
    credentials: Credentials,
) -> Reconstruction:
    """The reconstruction in `response`, or the error it stands for, raised.

    `sent` is the size of the request body; the credentials are scrubbed from what is quoted.
    """
    status = response.status_code
    payload = _json_object(response)
    request_id = _request_id(payload, credentials)
    if status == 413:  # plain text from the front end, whatever the body says
        raise RequestEntityTooLargeError(
            "request entity too large",
            request_bytes=sent,
            http_status=status,
            request_id=request_id,
        )
    if payload is not None and isinstance(payload.get("error_message"), str):
        raise _api_error(response, payload["error_message"], request_id, credentials)
    if not 200 <= status < 300:
        raise _http_error(response, request_id, credentials)
    if status != 200 or payload is None:
        raise TransientError(
            BAD_RESPONSE,
            f"HTTP {status} without a JSON object: {_excerpt(response.text, credentials)}",
            http_status=status,
        )
    try:
        return parse_success(payload, views, texture=texture, mtl=mtl)
    except TransientError as err:
        err.http_status = status  # parse_success knows the body only
        raise


def _json_object(response: requests.Response) -> dict[str, Any] | None:
    try:
        payload = response.json()
    except (ValueError, RecursionError):  # requests' JSONDecodeError; JSON nested too deeply
        return None
    return payload if isinstance(payload, dict) else None


def _request_id(payload: dict[str, Any] | None, credentials: Credentials) -> str | None:
    request_id = None if payload is None else payload.get("request_id")
    return _excerpt(request_id, credentials) if isinstance(request_id, str) else None


def _api_error(
    response: requests.Response,
    error_message: str,
    request_id: str | None,
    credentials: Credentials,
) -> Face3DError:
    status = response.status_code
    code, detail = parse_error_message(error_message)
    if not _CODE.fullmatch(code):  # an endpoint's own text, not one of the API's codes
        return error_for(
            HTTP_ERROR,
            f"HTTP {status} with an error_message that is no API code: "
            + _excerpt(error_message, credentials),
            http_status=status,
            request_id=request_id,
        )
    detail = None if detail is None else _excerpt(detail, credentials)
    if code == AUTHORIZATION_ERROR:
        # The detail is a reason ("Denied by Admin"), not a parameter.
        return error_for(code, detail or "", http_status=status, request_id=request_id)
    return error_for(
        code,
        DESCRIPTIONS.get(code, ""),
        param=detail,
        http_status=status,
        request_id=request_id,
    )


def _http_error(
    response: requests.Response, request_id: str | None, credentials: Credentials
) -> Face3DError:
    """An answer without an API error message: a proxy, a load balancer or a wrong URL."""
    status = response.status_code
    if 300 <= status < 400:
        location = _excerpt(response.headers.get("Location", "nowhere"), credentials)
        return ConfigurationError(
            HTTP_ERROR,
            f"HTTP {status} redirect to {location}: set the endpoint to the final URL",
            http_status=status,
            request_id=request_id,
        )
    code = API_NOT_FOUND if status == 404 else HTTP_ERROR
    # error_for judges HTTP_ERROR by status: 5xx and 429 transient, other 4xx permanent.
    return error_for(
        code,
        f"HTTP {status} without an API error: {_excerpt(response.text, credentials)}",
        http_status=status,
        request_id=request_id,
    )


def _excerpt(text: str, credentials: Credentials) -> str:
    """The start of an endpoint's text, cut, without the credentials or anything like base64.

    Endpoints and gateways quote the request back in their error pages: the form's credentials,
    and its images as base64. Both are removed before cutting, so that a cut cannot leave a
    piece of either; lines are joined first, so that base64 wrapped at 76 columns is one run.
    """
    joined = " ".join(text[: _EXCERPT_CHARS * 40].split())
    for value in (credentials.api_secret, credentials.api_key):
        if value:
            joined = joined.replace(value, "[REDACTED]")
    excerpt = _BASE64_RUN.sub("[base64 removed]", joined)[:_EXCERPT_CHARS]
    return excerpt or "(empty body)"


def _describe_exception(exc: requests.exceptions.RequestException) -> str:
    # requests' messages name the host and path, never the body: safe to keep, but trimmed.
    return f"{type(exc).__name__}: {exc}"[: _EXCERPT_CHARS * 2]


def _unreachable(exc: requests.exceptions.RequestException, url: str | None) -> str | None:
    """Why nothing accepted the connection to `url`, if that is what `exc` says."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    if not isinstance(reason, NewConnectionError):
        return None
    if isinstance(reason, NameResolutionError):
        why = "unknown host"
    elif isinstance(reason.__context__, ConnectionRefusedError) or "refused" in str(reason):
        why = "connection refused"
    else:
        why = "cannot connect"
    netloc = urlsplit(url or "").netloc
    return f"{why} at {netloc}: is the endpoint URL right, and is its server running?"


_NOT_TLS = ("WRONG_VERSION_NUMBER", "wrong version number", "record layer failure", "PACKET_LENGTH")


def _describe_tls_error(exc: requests.exceptions.SSLError, url: str | None) -> str:
    text = str(exc)
    # OpenSSL's words for a plain-HTTP answer to a TLS handshake, across its versions.
    if any(words in text for words in _NOT_TLS):
        netloc = urlsplit(url or "").netloc
        # What a plain-HTTP server (`face3d serve`) answers to a TLS handshake.
        return f"{netloc} does not speak TLS: use an http:// endpoint for a plain HTTP server"
    return _describe_exception(exc)
