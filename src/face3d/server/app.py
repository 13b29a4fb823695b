"""`face3d serve`: the offline engine behind the Face++ 3dface HTTP contract.

`FaceApp(engine, ...)` builds the WSGI application (werkzeug parses the form; no framework);
`face3d.serving` runs it on waitress. The contract is facepp-3dface-api.txt; where the document is
silent, this module decides as follows.

* Only `POST /facepp/v1/3dface` exists. Any other path, and any other method on that path, is
  404 `API_NOT_FOUND` (JSON, with `Allow: POST` for a wrong method): the document's error table
  has no 405, and its clients know only the codes it lists.
* A request entity over 2 MiB (2 * 1024 * 1024 bytes) is a plain-text 413
  `Request Entity Too Large`, refused before the body is read: from its Content-Length, or, for a
  chunked body, as soon as more than 2 MiB has arrived. Under `serve` waitress itself enforces the
  limit (so it never buffers more); its 413 body starts with the same text. A form of more than
  64 parts (a call needs at most 11) gets the same 413, as werkzeug refuses it.
* The form is `multipart/form-data` (or `application/x-www-form-urlencoded`); parameters are read
  from the form only, never from the query string. Any other content type carries no parameters,
  so it ends as `MISSING_ARGUMENTS: api_key`. A malformed multipart body, or a body shorter than
  its Content-Length, is 400 `BAD_ARGUMENTS:body`.
* A parameter sent empty counts as not sent (as HTML forms send unset fields), and so does an
  empty file part. A text parameter sent as a file part, or `image_file_N` sent as a text field,
  is 400 `BAD_ARGUMENTS:<param>`. The first of repeated fields is used. Unknown fields are
  ignored.
* Checks run in this order, and the first failure answers: path and method; entity size; form;
  `MISSING_ARGUMENTS: api_key`, then `: api_secret`; `AUTHENTICATION_ERROR` (only when the server
  was started with a key and secret; otherwise any non-empty pair is accepted); the QPS limit
  (`CONCURRENCY_LIMIT_EXCEEDED`, counted over authenticated calls only, as upstream counts per
  key); the added latency; the injected failure rate (`INTERNAL_ERROR`); `texture`, `mtl`
  (exactly `0` or `1`, default 0: `BAD_ARGUMENTS:texture`); slot 1 present
  (`MISSING_ARGUMENTS: image_url_1, image_file_1, image_base64_1`); then slots 1, 2, 3 in turn.
* Images: JPEG only, as the document says (an MPO, a phone's JPEG with extra frames, is a JPEG).
  Anything else, a damaged or truncated JPEG, and bad base64 (whitespace is ignored and missing
  padding tolerated) are `IMAGE_ERROR_UNSUPPORTED_FORMAT:<param>`: the document's code for an
  image its parameter does not resolve to. Sides outside 200..4096 px, and decompression bombs,
  are `INVALID_IMAGE_SIZE:<param>`; a file over 2 MiB is `IMAGE_FILE_TOO_LARGE:<param>` (with
  the 2 MiB entity limit only a URL can deliver one). `<param>` is the field the image came in.
* `image_url_N`: http or https only, fetched with a 5 s connect, read and total timeout (over:
  412 `IMAGE_DOWNLOAD_TIMEOUT`), at most 5 redirects, at most 2 MiB (else
  `IMAGE_FILE_TOO_LARGE:image_url_N`). A failed fetch, an answer other than 200, or a body that
  is no image at all is `INVALID_IMAGE_URL`; an image in the wrong format is
  `IMAGE_ERROR_UNSUPPORTED_FORMAT:image_url_N`. The server fetches any URL it is given: it is
  meant for loopback and trusted networks, not the open internet.
* `NO_FACE_FOUND: <param>`, `MULTIPLE_FACE_FOUND: <param>` and `MISSING_ARGUMENTS: <key>` keep
  the document's space after the colon; the other codes have none.
* `COEXISTENCE_ARGUMENTS` is never sent: the document defines a precedence (file, then base64,
  then URL) instead of refusing coexisting image fields, and no other parameters exclude each
  other.
* `AUTHORIZATION_ERROR:<reason>` is never sent: every key may call this API here.
* One engine, behind a lock (it is not thread-safe). A call that waits longer than
  `engine_wait_timeout` for it is 403 `CONCURRENCY_LIMIT_EXCEEDED`, the code the API uses when it
  is over capacity, so that clients back off and retry. An engine error other than the four
  image codes, any other exception, and a malformed engine result are 500 `INTERNAL_ERROR`,
  logged (exceptions with their traceback; never with image data).

Every request leaves one access-log line on the `face3d.server.access` logger (INFO): method,
path, status, error code and parameter, milliseconds, request_id, remote address. Never the
secret, a form value or image data.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import io
import json
import logging
import math
import random
import threading
import time
import urllib.parse
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Protocol
from wsgiref.types import StartResponse, WSGIEnvironment

import requests
from PIL import Image
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.formparser import FormDataParser
from werkzeug.http import parse_options_header
from werkzeug.wrappers import Response

# The contract (standard library only): importing it loads no MediaPipe.
from face3d.contract import (
    API_PATH,
    MAX_IMAGE_BYTES,
    MAX_IMAGE_SIDE,
    MAX_REQUEST_BYTES,
    MIN_IMAGE_SIDE,
    SLOTS,
    TRANSFER_MATRIX_SIZE,
)
from face3d.engine import EngineError
from face3d.errors import (
    API_NOT_FOUND,
    AUTHENTICATION_ERROR,
    BAD_ARGUMENTS,
    CONCURRENCY_LIMIT_EXCEEDED,
    IMAGE_DOWNLOAD_TIMEOUT,
    IMAGE_ERROR_UNSUPPORTED_FORMAT,
    IMAGE_FILE_TOO_LARGE,
    INTERNAL_ERROR,
    INVALID_IMAGE_SIZE,
    INVALID_IMAGE_URL,
    MISSING_ARGUMENTS,
    MULTIPLE_FACE_FOUND,
    NO_FACE_FOUND,
    REQUEST_ENTITY_TOO_LARGE,
)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_THREADS = 4
DEFAULT_FETCH_TIMEOUT = 5.0
DEFAULT_ENGINE_WAIT_TIMEOUT = 30.0
TOO_LARGE_TEXT = "Request Entity Too Large"

_READ_CHUNK = 64 * 1024
_MAX_REDIRECTS = 5
# Our API has at most 11 fields; a few unknown ones are tolerated.
_MAX_FORM_PARTS = 64
# Formats Pillow reports for a JPEG file. MPO is a JPEG with further frames after the first.
_JPEG_FORMATS = frozenset({"JPEG", "MPO"})
_ENGINE_IMAGE_CODES = frozenset({IMAGE_ERROR_UNSUPPORTED_FORMAT, INVALID_IMAGE_SIZE})
# The document writes these two with a space after the colon.
_ENGINE_FACE_CODES = frozenset({NO_FACE_FOUND, MULTIPLE_FACE_FOUND})
_MISSING_IMAGE_1 = f"{MISSING_ARGUMENTS}: image_url_1, image_file_1, image_base64_1"
_FETCH_HEADERS = {"User-Agent": "face3d-serve", "Accept": "image/jpeg, image/*;q=0.8, */*;q=0.1"}

logger = logging.getLogger(__name__)
access_logger = logging.getLogger(f"{__name__}.access")


# The engine, as this module uses it: face3d.engine.Engine, or a fake in tests. face3d.engine
# itself imports cheaply; MediaPipe loads when an Engine is made (`load_engine`).
class EngineOutput(Protocol):
    @property
    def obj(self) -> bytes: ...
    @property
    def mtl(self) -> bytes | None: ...
    @property
    def texture(self) -> bytes | None: ...
    @property
    def matrices(self) -> Sequence[Sequence[float]]: ...


class ReconstructionEngine(Protocol):
    def reconstruct(
        self, images: dict[int, bytes], /, *, texture: bool, mtl: bool
    ) -> EngineOutput: ...


class ClosableEngine(ReconstructionEngine, Protocol):
    def close(self) -> None: ...


def load_engine() -> ClosableEngine:
    """The offline engine (loads MediaPipe once). ImportError if the engine extra is missing."""
    from face3d.engine import Engine

    return Engine()


class _ApiError(Exception):
    """Answers the request with the API's JSON error envelope."""

    def __init__(
        self,
        status: int,
        code: str,
        param: str | None = None,
        *,
        space: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.param = param
        self.headers = dict(headers or {})
        separator = ": " if space else ":"
        self.error_message = code if param is None else f"{code}{separator}{param}"
        super().__init__(self.error_message)


class _EntityTooLarge(Exception):
    """Answers with the plain-text 413."""


@dataclass(frozen=True)
class _Source:
    """Where one slot's image comes from: the parameter and its raw value."""

    param: str
    data: bytes | None = field(default=None, repr=False)
    text: str | None = field(default=None, repr=False)


class SlidingWindowLimiter:
    """Admits at most `limit` calls in any `window` seconds (a sliding log). Thread-safe."""

    def __init__(
        self, limit: int, window: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if limit < 1:
            raise ValueError("the QPS limit must be at least 1")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._admitted: deque[float] = deque()
        self._lock = threading.Lock()

    def admit(self) -> bool:
        with self._lock:
            now = self._clock()
            while self._admitted and self._admitted[0] <= now - self.window:
                self._admitted.popleft()
            if len(self._admitted) >= self.limit:
                return False
            self._admitted.append(now)
            return True


class FaceApp:
    """The WSGI application. Thread-safe: one instance serves all of waitress's threads."""

    def __init__(
        self,
        engine: ReconstructionEngine,
        *,
        api_key: str | None = None,
        api_secret: str | None = None,
        qps: int | None = None,
        fail_rate: float = 0.0,
        latency_ms: int = 0,
        seed: int | None = None,
        fetch_timeout: float = DEFAULT_FETCH_TIMEOUT,
        engine_wait_timeout: float = DEFAULT_ENGINE_WAIT_TIMEOUT,
        max_request_bytes: int = MAX_REQUEST_BYTES,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """The app around `engine` (see the module docstring for its behaviour).

        `api_key`/`api_secret`: required credentials (both or neither; neither accepts any non-empty
        pair). `qps`: calls admitted in any one-second window. `fail_rate`: share of calls answered
        500 INTERNAL_ERROR, drawn from a `random.Random(seed)`. `latency_ms`: added to every call.
        `fetch_timeout`: seconds for each image URL (connect, each read and in total).
        `engine_wait_timeout`: seconds a call may wait for the engine before it is refused.
        """
        if (api_key is None) != (api_secret is None):
            raise ValueError("give both api_key and api_secret, or neither")
        if api_key == "" or api_secret == "":
            raise ValueError("api_key and api_secret must not be empty")
        if not 0.0 <= fail_rate <= 1.0:
            raise ValueError("fail_rate must be between 0 and 1")
        if latency_ms < 0:
            raise ValueError("latency_ms must not be negative")
        if fetch_timeout <= 0 or engine_wait_timeout <= 0:
            raise ValueError("timeouts must be positive")
        self._engine = engine
        self._engine_lock = threading.Lock()
        self._credentials = None if api_key is None or api_secret is None else (api_key, api_secret)
        self._limiter = None if qps is None else SlidingWindowLimiter(qps, clock=clock)
        self.fail_rate = fail_rate
        self._rng = random.Random(seed)  # noqa: S311 (failure injection, not cryptography)
        self._rng_lock = threading.Lock()
        self.latency_ms = latency_ms
        self.fetch_timeout = fetch_timeout
        self.engine_wait_timeout = engine_wait_timeout
        self.max_request_bytes = max_request_bytes
        self._clock = clock
        self._sleep = sleep

    @property
    def auth_required(self) -> bool:
        return self._credentials is not None

    @property
    def qps(self) -> int | None:
        return None if self._limiter is None else self._limiter.limit

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        started = self._clock()
        request_id = f"{int(time.time())},{uuid.uuid4()}"
        code: str | None = None
        param: str | None = None
        try:
            fields = self._handle(environ)
            payload: dict[str, Any] = {
                "request_id": request_id,
                "time_used": self._elapsed_ms(started),
                **fields,
            }
            response = _json_response(payload, 200)
        except _EntityTooLarge:
            code = REQUEST_ENTITY_TOO_LARGE
            response = Response(TOO_LARGE_TEXT, status=413, mimetype="text/plain")
        except _ApiError as err:
            code, param = err.code, err.param
            response = self._error_response(err, started, request_id)
        except Exception:  # the catch-all that keeps the contract: log, then INTERNAL_ERROR
            logger.exception("unexpected error handling request_id=%s", request_id)
            code = INTERNAL_ERROR
            response = self._error_response(_ApiError(500, code), started, request_id)
        self._log_access(environ, response.status_code, code, param, started, request_id)
        return response(environ, start_response)

    def _elapsed_ms(self, started: float) -> int:
        return max(0, round((self._clock() - started) * 1000))

    def _error_response(self, err: _ApiError, started: float, request_id: str) -> Response:
        payload = {
            "time_used": self._elapsed_ms(started),
            "error_message": err.error_message,
            "request_id": request_id,
        }
        response = _json_response(payload, err.status)
        response.headers.update(err.headers)
        return response

    def _handle(self, environ: WSGIEnvironment) -> dict[str, Any]:
        path = environ.get("PATH_INFO") or "/"
        if path != API_PATH:
            raise _ApiError(404, API_NOT_FOUND)
        if environ.get("REQUEST_METHOD", "GET").upper() != "POST":
            raise _ApiError(404, API_NOT_FOUND, headers={"Allow": "POST"})
        body = _read_body(environ, self.max_request_bytes)
        form, files = _parse_form(environ, body, self.max_request_bytes)
        try:
            return self._answer(form, files)
        finally:
            for storage in files.values():
                storage.close()

    def _answer(
        self, form: MultiDict[str, str], files: MultiDict[str, FileStorage]
    ) -> dict[str, Any]:
        api_key = _text_param(form, files, "api_key")
        if not api_key:
            raise _ApiError(400, MISSING_ARGUMENTS, "api_key", space=True)
        api_secret = _text_param(form, files, "api_secret")
        if not api_secret:
            raise _ApiError(400, MISSING_ARGUMENTS, "api_secret", space=True)
        self._authenticate(api_key, api_secret)
        if self._limiter is not None and not self._limiter.admit():
            raise _ApiError(403, CONCURRENCY_LIMIT_EXCEEDED)
        if self.latency_ms:
            self._sleep(self.latency_ms / 1000)
        if self._inject_failure():
            logger.info("injected failure (fail rate %.3f)", self.fail_rate)
            raise _ApiError(500, INTERNAL_ERROR)
        texture = _flag_param(form, files, "texture")
        mtl = _flag_param(form, files, "mtl")
        sources = {
            slot: source
            for slot in SLOTS
            if (source := _pick_source(form, files, slot)) is not None
        }
        if 1 not in sources:
            raise _ApiError(400, _MISSING_IMAGE_1)
        images = {slot: self._resolve(source) for slot, source in sources.items()}
        params = {slot: source.param for slot, source in sources.items()}
        result = self._reconstruct(images, params, texture=texture, mtl=mtl)
        return _success_fields(result, len(images), texture=texture, mtl=mtl)

    def _authenticate(self, api_key: str, api_secret: str) -> None:
        if self._credentials is None:
            return
        key, secret = self._credentials
        # Both compared, in constant time, whatever the first comparison gave.
        key_ok = hmac.compare_digest(api_key.encode(), key.encode())
        secret_ok = hmac.compare_digest(api_secret.encode(), secret.encode())
        if not (key_ok and secret_ok):
            raise _ApiError(401, AUTHENTICATION_ERROR)

    def _inject_failure(self) -> bool:
        if self.fail_rate <= 0.0:
            return False
        with self._rng_lock:
            return self._rng.random() < self.fail_rate

    def _resolve(self, source: _Source) -> bytes:
        """The slot's checked JPEG bytes."""
        param = source.param
        if source.data is not None:
            data = source.data
        elif param.startswith("image_base64_"):
            assert source.text is not None
            data = _decode_base64(source.text, param)
        else:
            assert source.text is not None
            data = fetch_image(source.text, param, timeout=self.fetch_timeout, clock=self._clock)
        if len(data) > MAX_IMAGE_BYTES:
            raise _ApiError(400, IMAGE_FILE_TOO_LARGE, param)
        check_image(data, param, from_url=param.startswith("image_url_"))
        return data

    def _reconstruct(
        self, images: dict[int, bytes], params: Mapping[int, str], *, texture: bool, mtl: bool
    ) -> EngineOutput:
        if not self._engine_lock.acquire(timeout=self.engine_wait_timeout):
            logger.warning("engine busy for over %.0f s: refusing a call", self.engine_wait_timeout)
            raise _ApiError(403, CONCURRENCY_LIMIT_EXCEEDED)
        try:
            return self._engine.reconstruct(images, texture=texture, mtl=mtl)
        except EngineError as exc:
            raise _engine_error(exc, params) from exc
        finally:
            self._engine_lock.release()

    def _log_access(
        self,
        environ: WSGIEnvironment,
        status: int,
        code: str | None,
        param: str | None,
        started: float,
        request_id: str,
    ) -> None:
        access_logger.info(
            "method=%s path=%s status=%d error=%s param=%s ms=%d request_id=%s remote=%s",
            _token(environ.get("REQUEST_METHOD", "-")),
            _path(environ.get("PATH_INFO") or "/"),
            status,
            code or "-",
            param or "-",
            self._elapsed_ms(started),
            request_id,
            _token(environ.get("REMOTE_ADDR") or "-"),
        )


# Request parsing ---------------------------------------------------------------------------


def _read_body(environ: WSGIEnvironment, limit: int) -> bytes:
    """The whole body, at most `limit` bytes; `_EntityTooLarge` without reading further."""
    stream: IO[bytes] = environ["wsgi.input"]
    raw_length = str(environ.get("CONTENT_LENGTH") or "").strip()
    if raw_length:
        try:
            length = int(raw_length)
        except ValueError:
            raise _ApiError(400, BAD_ARGUMENTS, "body") from None
        if length < 0:
            raise _ApiError(400, BAD_ARGUMENTS, "body")
        if length > limit:
            raise _EntityTooLarge
        body = _read_at_most(stream, length)
        if len(body) < length:  # the client went away mid-body
            raise _ApiError(400, BAD_ARGUMENTS, "body")
        return body
    if environ.get("wsgi.input_terminated"):
        # Chunked: no length up front. Read one byte past the limit to know it is over.
        body = _read_at_most(stream, limit + 1)
        if len(body) > limit:
            raise _EntityTooLarge
        return body
    # Neither a length nor a terminated stream: by WSGI, there is no body to read.
    return b""


def _read_at_most(stream: IO[bytes], size: int) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining > 0:
        chunk = stream.read(min(_READ_CHUNK, remaining))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _parse_form(
    environ: WSGIEnvironment, body: bytes, limit: int
) -> tuple[MultiDict[str, str], MultiDict[str, FileStorage]]:
    mimetype, options = parse_options_header(environ.get("CONTENT_TYPE", ""))
    parser = FormDataParser(
        stream_factory=_memory_stream,  # the body is in memory already, and at most 2 MiB
        # werkzeug >= 3.1 caps a field at 500 kB by default: image_base64_N can be 2 MiB.
        max_form_memory_size=limit,
        max_content_length=limit,
        silent=False,
        max_form_parts=_MAX_FORM_PARTS,
    )
    try:
        _, form, files = parser.parse(io.BytesIO(body), mimetype, len(body), options)
    except ValueError:
        raise _ApiError(400, BAD_ARGUMENTS, "body") from None
    except Exception as exc:  # werkzeug's RequestEntityTooLarge (too many parts)
        if getattr(exc, "code", None) == 413:
            raise _EntityTooLarge from exc
        raise
    return form, files


def _memory_stream(
    total_content_length: int | None,
    content_type: str | None,
    filename: str | None,
    content_length: int | None = None,
) -> IO[bytes]:
    return io.BytesIO()


def _text_param(
    form: MultiDict[str, str], files: MultiDict[str, FileStorage], name: str
) -> str | None:
    """A text parameter's value; empty counts as absent. Sent as a file part: BAD_ARGUMENTS."""
    value = form.get(name)
    if value:
        return value
    if name in files:
        raise _ApiError(400, BAD_ARGUMENTS, name)
    return None


def _flag_param(form: MultiDict[str, str], files: MultiDict[str, FileStorage], name: str) -> bool:
    value = _text_param(form, files, name)
    if value is None:
        return False  # the API's default
    value = value.strip()
    if value not in ("0", "1"):
        raise _ApiError(400, BAD_ARGUMENTS, name)
    return value == "1"


def _pick_source(
    form: MultiDict[str, str], files: MultiDict[str, FileStorage], slot: int
) -> _Source | None:
    """The slot's image by the API's precedence: file, then base64, then URL."""
    file_param = f"image_file_{slot}"
    storage = files.get(file_param)
    if storage is not None:
        # One byte past the cap, so that an oversized file is recognised as such.
        data = storage.stream.read(MAX_IMAGE_BYTES + 1)
        if data:
            return _Source(file_param, data=data)
    elif form.get(file_param):
        raise _ApiError(400, BAD_ARGUMENTS, file_param)  # a text field: the bytes are lost
    for param in (f"image_base64_{slot}", f"image_url_{slot}"):
        value = _text_param(form, files, param)
        if value is not None and value.strip():
            return _Source(param, text=value.strip())
    return None


def _decode_base64(text: str, param: str) -> bytes:
    compact = "".join(text.split())
    compact += "=" * (-len(compact) % 4)
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):  # ValueError: non-ASCII text
        raise _ApiError(400, IMAGE_ERROR_UNSUPPORTED_FORMAT, param) from None


# Images ------------------------------------------------------------------------------------


def check_image(data: bytes, param: str, *, from_url: bool = False) -> None:
    """Raise the API's error for `data` unless it is a JPEG of 200..4096 px a side.

    The JPEG is decoded in full, at 1/8 scale (cheap, yet every byte of it is read), so that a
    damaged or truncated file is refused here rather than by the engine.
    """
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise _ApiError(400, INVALID_IMAGE_SIZE, param) from None
    except Exception:  # noqa: BLE001 (Pillow raises many kinds for hostile input)
        # Bytes that are no image at all: from a URL, the URL is wrong (an HTML error page).
        if from_url:
            raise _ApiError(400, INVALID_IMAGE_URL) from None
        raise _ApiError(400, IMAGE_ERROR_UNSUPPORTED_FORMAT, param) from None
    with image:
        if image.format not in _JPEG_FORMATS:
            raise _ApiError(400, IMAGE_ERROR_UNSUPPORTED_FORMAT, param)
        width, height = image.size
        if not (
            MIN_IMAGE_SIDE <= width <= MAX_IMAGE_SIDE and MIN_IMAGE_SIDE <= height <= MAX_IMAGE_SIDE
        ):
            raise _ApiError(400, INVALID_IMAGE_SIZE, param)
        try:
            image.draft(None, (max(1, width // 8), max(1, height // 8)))
            image.load()
        except Exception:  # noqa: BLE001 (truncated or corrupt data)
            raise _ApiError(400, IMAGE_ERROR_UNSUPPORTED_FORMAT, param) from None


def fetch_image(
    url: str,
    param: str,
    *,
    timeout: float = DEFAULT_FETCH_TIMEOUT,
    max_bytes: int = MAX_IMAGE_BYTES,
    clock: Callable[[], float] = time.monotonic,
) -> bytes:
    """Download `url` (http or https), within `timeout` seconds in total and `max_bytes`."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise _ApiError(400, INVALID_IMAGE_URL)
    deadline = clock() + timeout
    try:
        with requests.Session() as session:
            session.max_redirects = _MAX_REDIRECTS
            with session.get(
                url, timeout=(timeout, timeout), stream=True, headers=_FETCH_HEADERS
            ) as response:
                if response.status_code != 200:
                    raise _ApiError(400, INVALID_IMAGE_URL)
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise _ApiError(400, IMAGE_FILE_TOO_LARGE, param)
                chunks: list[bytes] = []
                received = 0
                for chunk in response.iter_content(_READ_CHUNK):
                    received += len(chunk)
                    if received > max_bytes:
                        raise _ApiError(400, IMAGE_FILE_TOO_LARGE, param)
                    if clock() > deadline:
                        raise _ApiError(412, IMAGE_DOWNLOAD_TIMEOUT)
                    chunks.append(chunk)
                return b"".join(chunks)
    except requests.exceptions.Timeout:
        raise _ApiError(412, IMAGE_DOWNLOAD_TIMEOUT) from None
    except requests.exceptions.RequestException as exc:
        # A read timeout in the middle of the body comes as a ConnectionError.
        if clock() >= deadline or "timed out" in str(exc).lower():
            raise _ApiError(412, IMAGE_DOWNLOAD_TIMEOUT) from None
        logger.info("%s: download failed: %s", param, type(exc).__name__)
        raise _ApiError(400, INVALID_IMAGE_URL) from None


# Results -----------------------------------------------------------------------------------


def _engine_error(failure: EngineError, params: Mapping[int, str]) -> _ApiError:
    param = params.get(failure.slot) if failure.slot is not None else None
    if failure.code in _ENGINE_FACE_CODES:
        return _ApiError(400, failure.code, param, space=True)
    if failure.code in _ENGINE_IMAGE_CODES:
        return _ApiError(400, failure.code, param)
    logger.error("engine failed with unknown code %s (slot %s)", failure.code, failure.slot)
    return _ApiError(500, INTERNAL_ERROR)


def _success_fields(
    result: EngineOutput, image_count: int, *, texture: bool, mtl: bool
) -> dict[str, Any]:
    if not result.obj:
        raise _engine_bug("no obj file")
    fields: dict[str, Any] = {"obj_file": _b64(result.obj)}
    if mtl:
        if not result.mtl:
            raise _engine_bug("no mtl file although mtl=1")
        fields["mtl_file"] = _b64(result.mtl)
    if texture:
        if not result.texture:
            raise _engine_bug("no texture although texture=1")
        fields["texture_img"] = _b64(result.texture)
    matrices = [list(matrix) for matrix in result.matrices]
    if len(matrices) != image_count or not all(_is_matrix(matrix) for matrix in matrices):
        raise _engine_bug(f"transfer matrices are not {image_count} lists of 16 finite numbers")
    fields["transfer_matrix"] = [[float(value) for value in matrix] for matrix in matrices]
    return fields


def _engine_bug(problem: str) -> _ApiError:
    logger.error("engine returned a malformed result: %s", problem)
    return _ApiError(500, INTERNAL_ERROR)


def _is_matrix(values: Sequence[object]) -> bool:
    return len(values) == TRANSFER_MATRIX_SIZE and all(
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        for value in values
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _json_response(payload: Mapping[str, Any], status: int) -> Response:
    return Response(
        json.dumps(payload, separators=(",", ":")), status=status, mimetype="application/json"
    )


def _path(path: str) -> str:
    # PATH_INFO is latin-1 decoded bytes; quoted, a hostile path cannot forge a log line.
    return urllib.parse.quote(path, safe="/:@!$&'()*+,;=-._~%")


def _token(value: str) -> str:
    return urllib.parse.quote(value, safe=":.-_[]")
