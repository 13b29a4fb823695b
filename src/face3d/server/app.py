"""The WSGI application `FaceApp`: dispatch, the order of checks, the answers, the access log.

Where the document is silent, this module decides as follows (the form, the images and the
engine's results decide in `form.py`, `images.py` and `results.py`).

* Only `POST /facepp/v1/3dface` exists. Any other path, and any other method on that path, is
  404 `API_NOT_FOUND` (JSON, with `Allow: POST` for a wrong method): the document's error table
  has no 405, and its clients know only the codes it lists.
* Checks run in this order, and the first failure answers: path and method; entity size; form
  (both `form.py`); `MISSING_ARGUMENTS: api_key`, then `: api_secret`; `AUTHENTICATION_ERROR`
  (only when the server was started with a key and secret; otherwise any non-empty pair is
  accepted); the QPS limit (`CONCURRENCY_LIMIT_EXCEEDED`, counted over authenticated calls only,
  as upstream counts per key; `admission.py`); the added latency; the injected failure rate
  (`INTERNAL_ERROR`); `texture`, `mtl` (exactly `0` or `1`, default 0: `BAD_ARGUMENTS:texture`);
  slot 1 present (`MISSING_ARGUMENTS: image_url_1, image_file_1, image_base64_1`); then slots 1,
  2, 3 in turn (`images.py`).
* `AUTHORIZATION_ERROR:<reason>` is never sent: every key may call this API here.
* The engine runs `concurrency` calls at once: one, behind a lock, for an engine object (it is
  not thread-safe), or one per worker process (`workers.py`). A call that waits longer than
  `engine_wait_timeout` for its turn is 403 `CONCURRENCY_LIMIT_EXCEEDED`, the code the API uses
  when it is over capacity, so that clients back off and retry. An engine error other than the four
  image codes, any other exception, and a malformed engine result are 500 `INTERNAL_ERROR`,
  logged (exceptions with their traceback; never with image data).

Every request leaves one access-log line on the `face3d.server.app.access` logger (INFO): method,
path, status, error code and parameter, milliseconds, request_id, remote address. Never the
secret, a form value or image data.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol
from wsgiref.types import StartResponse, WSGIEnvironment

from werkzeug.wrappers import Response

# The contract (standard library only): importing it loads no MediaPipe.
from face3d.contract import API_PATH, MAX_REQUEST_BYTES
from face3d.engine import EngineError
from face3d.errors import (
    API_NOT_FOUND,
    AUTHENTICATION_ERROR,
    CONCURRENCY_LIMIT_EXCEEDED,
    INTERNAL_ERROR,
    MISSING_ARGUMENTS,
    REQUEST_ENTITY_TOO_LARGE,
)
from face3d.server.admission import FailureInjector, SlidingWindowLimiter
from face3d.server.api_error import ApiError
from face3d.server.form import EntityTooLarge, Form, read_form
from face3d.server.images import DEFAULT_FETCH_TIMEOUT, load_image, pick_sources
from face3d.server.results import EngineOutput, engine_error, success_fields

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_THREADS = 4
DEFAULT_ENGINE_WAIT_TIMEOUT = 30.0
TOO_LARGE_TEXT = "Request Entity Too Large"

logger = logging.getLogger(__name__)
access_logger = logging.getLogger(f"{__name__}.access")


# The engine, as this module uses it: face3d.engine.Engine, or a fake in tests. face3d.engine
# itself imports cheaply; MediaPipe loads when an Engine is made (`load_engine`).
class ReconstructionEngine(Protocol):
    def reconstruct(
        self, images: dict[int, bytes], /, *, texture: bool, mtl: bool
    ) -> EngineOutput: ...


class ClosableEngine(ReconstructionEngine, Protocol):
    def close(self) -> None: ...


def load_engine(workers: int = 1) -> ClosableEngine:
    """The offline engine (loads MediaPipe once), in this process for one worker, else in
    `workers` processes, each with its own. ImportError if the engine extra is missing,
    `EngineLoadError` if a worker process cannot load it."""
    from face3d.server.workers import EngineWorkers, keep_freed_memory

    if workers > 1:
        return EngineWorkers(workers)
    from face3d.engine import Engine

    keep_freed_memory()
    return Engine()


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
        concurrency: int = 1,
        max_request_bytes: int = MAX_REQUEST_BYTES,
        engine_decodes_images: bool = False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """The app around `engine` (see the module docstrings for its behaviour).

        `api_key`/`api_secret`: required credentials (both or neither; neither accepts any non-empty
        pair). `qps`: calls admitted in any one-second window. `fail_rate`: share of calls answered
        500 INTERNAL_ERROR, drawn from a `random.Random(seed)`. `latency_ms`: added to every call.
        `fetch_timeout`: seconds for each image URL (connect, each read and in total).
        `engine_wait_timeout`: seconds a call may wait for the engine before it is refused.
        `concurrency`: calls the engine takes at once (its worker processes; an engine object: 1).
        `engine_decodes_images`: the engine decodes every image in full and refuses a damaged
        one as the server would (`IMAGE_ERROR_UNSUPPORTED_FORMAT` for its slot), as
        `load_engine`'s do: the server then reads only each image's header, instead of decoding
        it a second time in the process that serves every call.
        """
        if (api_key is None) != (api_secret is None):
            raise ValueError("give both api_key and api_secret, or neither")
        if api_key == "" or api_secret == "":
            raise ValueError("api_key and api_secret must not be empty")
        self._failures = FailureInjector(fail_rate, seed)  # ValueError unless 0 <= fail_rate <= 1
        if latency_ms < 0:
            raise ValueError("latency_ms must not be negative")
        if fetch_timeout <= 0 or engine_wait_timeout <= 0:
            raise ValueError("timeouts must be positive")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._engine = engine
        self._engine_turns = threading.BoundedSemaphore(concurrency)
        self.concurrency = concurrency
        self._credentials = None if api_key is None or api_secret is None else (api_key, api_secret)
        self._limiter = None if qps is None else SlidingWindowLimiter(qps, clock=clock)
        self.latency_ms = latency_ms
        self.fetch_timeout = fetch_timeout
        self.engine_wait_timeout = engine_wait_timeout
        self.max_request_bytes = max_request_bytes
        self._decode_images = not engine_decodes_images
        self._clock = clock
        self._sleep = sleep

    @property
    def auth_required(self) -> bool:
        return self._credentials is not None

    @property
    def qps(self) -> int | None:
        return None if self._limiter is None else self._limiter.limit

    @property
    def fail_rate(self) -> float:
        return self._failures.rate

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
        except EntityTooLarge:
            code = REQUEST_ENTITY_TOO_LARGE
            response = Response(TOO_LARGE_TEXT, status=413, mimetype="text/plain")
        except ApiError as err:
            code, param = err.code, err.param
            response = self._error_response(err, started, request_id)
        except Exception:  # the catch-all that keeps the contract: log, then INTERNAL_ERROR
            logger.exception("unexpected error handling request_id=%s", request_id)
            code = INTERNAL_ERROR
            response = self._error_response(ApiError(500, code), started, request_id)
        self._log_access(environ, response.status_code, code, param, started, request_id)
        return response(environ, start_response)

    def _elapsed_ms(self, started: float) -> int:
        return max(0, round((self._clock() - started) * 1000))

    def _error_response(self, err: ApiError, started: float, request_id: str) -> Response:
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
            raise ApiError(404, API_NOT_FOUND)
        if environ.get("REQUEST_METHOD", "GET").upper() != "POST":
            raise ApiError(404, API_NOT_FOUND, headers={"Allow": "POST"})
        form = read_form(environ, self.max_request_bytes)
        try:
            return self._answer(form)
        finally:
            form.close()

    def _answer(self, form: Form) -> dict[str, Any]:
        api_key = form.text("api_key")
        if not api_key:
            raise ApiError(400, MISSING_ARGUMENTS, "api_key", space=True)
        api_secret = form.text("api_secret")
        if not api_secret:
            raise ApiError(400, MISSING_ARGUMENTS, "api_secret", space=True)
        self._authenticate(api_key, api_secret)
        if self._limiter is not None and not self._limiter.admit():
            raise ApiError(403, CONCURRENCY_LIMIT_EXCEEDED)
        if self.latency_ms:
            self._sleep(self.latency_ms / 1000)
        if self._failures.fails():
            logger.info("injected failure (fail rate %.3f)", self.fail_rate)
            raise ApiError(500, INTERNAL_ERROR)
        texture = form.flag("texture")
        mtl = form.flag("mtl")
        sources = pick_sources(form)
        images = {
            slot: load_image(
                source,
                fetch_timeout=self.fetch_timeout,
                clock=self._clock,
                decode=self._decode_images,
            )
            for slot, source in sources.items()
        }
        params = {slot: source.param for slot, source in sources.items()}
        result = self._reconstruct(images, params, texture=texture, mtl=mtl)
        return success_fields(result, len(images), texture=texture, mtl=mtl)

    def _authenticate(self, api_key: str, api_secret: str) -> None:
        if self._credentials is None:
            return
        key, secret = self._credentials
        # Both compared, in constant time, whatever the first comparison gave.
        key_ok = hmac.compare_digest(api_key.encode(), key.encode())
        secret_ok = hmac.compare_digest(api_secret.encode(), secret.encode())
        if not (key_ok and secret_ok):
            raise ApiError(401, AUTHENTICATION_ERROR)

    def _reconstruct(
        self, images: dict[int, bytes], params: Mapping[int, str], *, texture: bool, mtl: bool
    ) -> EngineOutput:
        if not self._engine_turns.acquire(timeout=self.engine_wait_timeout):
            logger.warning("engine busy for over %.0f s: refusing a call", self.engine_wait_timeout)
            raise ApiError(403, CONCURRENCY_LIMIT_EXCEEDED)
        try:
            return self._engine.reconstruct(images, texture=texture, mtl=mtl)
        except EngineError as exc:
            raise engine_error(exc, params) from exc
        finally:
            self._engine_turns.release()

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


def _json_response(payload: Mapping[str, Any], status: int) -> Response:
    return Response(
        json.dumps(payload, separators=(",", ":")), status=status, mimetype="application/json"
    )


def _path(path: str) -> str:
    # PATH_INFO is latin-1 decoded bytes; quoted, a hostile path cannot forge a log line.
    return urllib.parse.quote(path, safe="/:@!$&'()*+,;=-._~%")


def _token(value: str) -> str:
    return urllib.parse.quote(value, safe=":.-_[]")
