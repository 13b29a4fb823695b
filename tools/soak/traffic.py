"""Every HTTP call an invocation makes, seen from inside the process, and cut off when the
invocation is killed.

The function's AWS clients (botocore) and its API session (requests) both send through urllib3's
`HTTPConnectionPool.urlopen`: one patch there sees S3, SQS, Secrets Manager and the 3dface API
alike, whatever the function's code looks like. The thread that runs an invocation carries it
(thread-local); other threads (the harness's own clients, the proxy) pass through untouched.

Killing is what Lambda does on a timeout or a crash: from one moment on, the invocation makes no
call at all. The kill lands before a call is sent (the call never happens) or after (the server
acted, the answer is lost), or right after the API's first success has arrived.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NoReturn
from urllib.parse import unquote, urlsplit

from urllib3.connectionpool import HTTPConnectionPool

# The proxy reads this header to tell which call of which invocation it is forwarding.
CALL_HEADER = "X-Soak-Call"
# A claim (or anything kept beside it) names the set it is for: the fingerprint.
_CLAIM = re.compile(r"\.claims/([0-9a-f]{64})")


class Killed(BaseException):
    """The invocation was stopped. A BaseException, so that no `except Exception` in the function
    can go on as if one call had merely failed."""


@dataclass
class Call:
    """One HTTP call: `service` is s3, sqs, secretsmanager or api."""

    index: int
    service: str
    action: str  # "PUT results/x/face.obj", "SendMessage", "POST", ...
    started: float
    status: int | None = None  # None: no answer reached the function (timeout, refused, killed)
    killed: str = ""  # "before" or "after" (sending) when the invocation died at this call
    fingerprint: str | None = None  # the set it concerns, where the call tells
    failure_fingerprint: str | None = None  # for a SendMessage: the envelope's set

    @property
    def sent(self) -> bool:
        return self.killed != "before"

    @property
    def verb(self) -> str:
        """The operation without its object: "PUT", "GetSecretValue", ..."""
        return self.action.partition(" ")[0]


@dataclass(frozen=True)
class KillPlan:
    """Where an invocation dies: at its `at_call`-th call, `after` sending it or before; or,
    with `at_answer`, as soon as the API has answered a success."""

    at_call: int = 0
    after: bool = False
    at_answer: bool = False

    def describe(self) -> str:
        if self.at_answer:
            return "after the API's answer"
        return f"{'after' if self.after else 'before'} call {self.at_call}"


@dataclass
class Invocation:
    """One run of the function, as the traffic hook sees it."""

    request_id: str
    attempt: int
    deadline: float  # time.monotonic()
    plan: KillPlan | None = None
    calls: list[Call] = field(default_factory=list)
    death: str = ""  # "killed" or "timed out"
    claimed: str | None = None  # the fingerprint of the last claim it wrote

    @property
    def tag(self) -> str:
        return f"{self.request_id}/{self.attempt}"

    def call_after(self, call: Call) -> Call | None:
        later = call.index  # calls are numbered from 1
        return self.calls[later] if later < len(self.calls) else None


class Traffic:
    """The urllib3 patch; `installed()` while the soak runs, `running(inv)` per invocation."""

    def __init__(self, *, api_port: int) -> None:
        self._api_port = api_port
        self._local = threading.local()

    @contextmanager
    def installed(self) -> Iterator[None]:
        real: Callable[..., Any] = HTTPConnectionPool.urlopen
        traffic = self

        def urlopen(pool: HTTPConnectionPool, *args: Any, **kwargs: Any) -> Any:
            invocation: Invocation | None = getattr(traffic._local, "invocation", None)
            if invocation is None:
                return real(pool, *args, **kwargs)
            return traffic._send(invocation, real, pool, args, kwargs)

        HTTPConnectionPool.urlopen = urlopen  # type: ignore[method-assign,assignment]
        try:
            yield
        finally:
            HTTPConnectionPool.urlopen = real  # type: ignore[method-assign]

    @contextmanager
    def running(self, invocation: Invocation) -> Iterator[None]:
        self._local.invocation = invocation
        try:
            yield
        finally:
            self._local.invocation = None

    def _send(
        self,
        invocation: Invocation,
        real: Callable[..., Any],
        pool: HTTPConnectionPool,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        method, url = _method_and_url(args, kwargs)
        headers = dict(kwargs.get("headers") or {})
        call = _describe(
            len(invocation.calls) + 1, pool.port == self._api_port, method, url, headers
        )
        call.fingerprint = invocation.claimed
        if call.service == "sqs" and call.action == "SendMessage":
            call.failure_fingerprint = _envelope_fingerprint(kwargs.get("body"))
        invocation.calls.append(call)
        plan = invocation.plan
        if invocation.death:
            _die(invocation, call, invocation.death, "before")
        if time.monotonic() > invocation.deadline:
            _die(invocation, call, "timed out", "before")
        if plan and not plan.at_answer and plan.at_call == call.index and not plan.after:
            _die(invocation, call, "killed", "before")
        if call.service == "api":
            headers[CALL_HEADER] = f"{invocation.tag}/{call.index}"
            kwargs["headers"] = headers
        response = real(pool, *args, **kwargs)
        call.status = int(response.status)
        claim = _CLAIM.search(call.action)
        if claim and call.action.startswith("PUT ") and call.status == 200:
            invocation.claimed = claim.group(1)
            call.fingerprint = invocation.claimed
        answered = plan is not None and plan.at_answer and call.service == "api"
        at_call = plan is not None and plan.after and plan.at_call == call.index
        if at_call or (answered and call.status == 200):
            response.close()  # the answer never reaches the function
            _die(invocation, call, "killed", "after")
        return response


def _die(invocation: Invocation, call: Call, death: str, when: str) -> NoReturn:
    invocation.death = death
    call.killed = when
    raise Killed(death)


def _method_and_url(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, str]:
    method = kwargs.get("method", args[0] if args else "")
    url = kwargs.get("url", args[1] if len(args) > 1 else "")
    return str(method), str(url)


def _describe(index: int, to_api: bool, method: str, url: str, headers: dict[str, Any]) -> Call:
    started = time.monotonic()
    if to_api:
        return Call(index, "api", method, started)
    # The JSON protocols (SQS, Secrets Manager) name the operation in a header; S3 names the
    # bucket and key in the path.
    target = next((_text(v) for k, v in headers.items() if k.lower() == "x-amz-target"), "")
    if target:
        prefix, _, operation = target.rpartition(".")
        service = "sqs" if prefix == "AmazonSQS" else prefix.lower()
        return Call(index, service, operation, started)
    parts = urlsplit(url)
    bucket_and_key = unquote(parts.path.lstrip("/"))
    key = bucket_and_key.partition("/")[2]
    query = parts.query.partition("=")[0]
    action = f"{method} {key}" + (f" ?{query}" if query else "")
    return Call(index, "s3", action, started)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _envelope_fingerprint(body: object) -> str | None:
    """The set a failure envelope being sent to SQS is about (None if it is not one)."""
    if not isinstance(body, bytes | str):
        return None
    try:
        request = json.loads(body)
        envelope = json.loads(request["MessageBody"])
        fingerprint = envelope.get("fingerprint")
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return fingerprint if isinstance(fingerprint, str) else None
