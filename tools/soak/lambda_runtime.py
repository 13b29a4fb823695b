"""Lambda's asynchronous invocation, emulated around the real handler.

Events wait in a queue until due; a fixed number of workers (the function's concurrency) run the
handler with a context whose remaining time counts down. An invocation that raises, is killed or
overruns its timeout is retried after a delay, keeping its request id, up to
MaximumRetryAttempts times; then Lambda's on-failure destination receives its record (Lambda's own
format, `requestPayload` holding the event). Retry delays are Lambda's (1 and 2 minutes) scaled
down, so that a soak takes minutes.
"""

from __future__ import annotations

import heapq
import random
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from .traffic import Invocation, Killed, KillPlan, Traffic

FUNCTION_NAME = "face3d-soak"
FUNCTION_ARN = f"arn:aws:lambda:us-east-1:000000000000:function:{FUNCTION_NAME}"

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class CountdownContext:
    """What the handler reads of Lambda's context; the remaining time runs down for real."""

    aws_request_id: str
    deadline: float  # time.monotonic()
    function_name: str = FUNCTION_NAME
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = FUNCTION_ARN
    log_group_name: str = f"/aws/lambda/{FUNCTION_NAME}"
    log_stream_name: str = "soak"

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self.deadline - time.monotonic()) * 1000), 0)


@dataclass(frozen=True)
class KillDealer:
    """Which invocations die, and where: drawn per (request id, attempt), so a seed repeats."""

    share: float
    seed: int
    answer_share: float = 0.3  # of the kills: right after the API's success arrives
    max_call: int = 16  # kills aim at one of the first calls (a set takes 9 to 16)

    def plan(self, request_id: str, attempt: int) -> KillPlan | None:
        rng = random.Random(f"{self.seed}/{request_id}/{attempt}")  # noqa: S311
        if rng.random() >= self.share:
            return None
        if rng.random() < self.answer_share:
            return KillPlan(at_answer=True)
        return KillPlan(at_call=rng.randint(1, self.max_call), after=rng.random() < 0.5)


@dataclass
class Run:
    """One invocation: what it was given and how it ended."""

    invocation: Invocation
    event: dict[str, Any]
    label: str  # "delivery", "duplicate", "late" or "retry"
    outcome: str = ""  # "succeeded", "error", "killed" or "timed out"
    error: str = ""  # the exception's text and traceback, for the leak scan
    result: Any = None
    started: float = 0.0  # time.monotonic(), for the trace of a subject
    ended: float = 0.0


@dataclass(order=True)
class _Due:
    due: float
    sequence: int
    event: dict[str, Any] = field(compare=False)
    request_id: str = field(compare=False)
    attempt: int = field(compare=False)
    label: str = field(compare=False)


class AsyncLambda:
    def __init__(
        self,
        handler: Handler,
        traffic: Traffic,
        kills: KillDealer,
        on_failure: Callable[[dict[str, Any]], None],
        *,
        workers: int,
        timeout_s: float,
        retry_delays: Sequence[float],
        seed: int,
    ) -> None:
        self._handler = handler
        self._traffic = traffic
        self._kills = kills
        self._on_failure = on_failure
        self._timeout_s = timeout_s
        self._retry_delays = tuple(retry_delays)
        self._ids = random.Random(seed)  # noqa: S311
        self._queue: list[_Due] = []
        self._sequence = 0
        self._busy = 0
        self._running: dict[int, dict[str, Any]] = {}  # by worker thread: the event it runs
        self._stopping = False
        self._lock = threading.Condition()
        self._threads = [
            threading.Thread(target=self._work, name=f"soak-lambda-{n}", daemon=True)
            for n in range(workers)
        ]
        self.runs: list[Run] = []
        self.failure_records: list[dict[str, Any]] = []
        # Told of each invocation as it starts and once it has ended (the users' re-uploads
        # wait for these).
        self.on_start: Callable[[dict[str, Any]], None] = lambda event: None
        self.on_end: Callable[[dict[str, Any]], None] = lambda event: None

    @property
    def max_retries(self) -> int:
        return len(self._retry_delays)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def invoke_async(self, event: dict[str, Any], *, delay: float, label: str) -> str:
        """Queue `event` as S3 does (InvocationType=Event); returns its request id."""
        with self._lock:
            request_id = str(uuid.UUID(int=self._ids.getrandbits(128), version=4))
        self._enqueue(event, request_id, 1, label, delay)
        return request_id

    def running_keys(self) -> list[str]:
        """The (decoded) object keys of the events being handled right now."""
        with self._lock:
            events = list(self._running.values())
        return [key for event in events for key in event_keys(event)]

    def idle(self) -> bool:
        with self._lock:
            return not self._queue and not self._busy

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(min(left, 1.0))
        return True

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        for thread in self._threads:
            thread.join(60)

    def _enqueue(
        self, event: dict[str, Any], request_id: str, attempt: int, label: str, delay: float
    ) -> None:
        with self._lock:
            self._sequence += 1
            due = _Due(time.monotonic() + delay, self._sequence, event, request_id, attempt, label)
            heapq.heappush(self._queue, due)
            self._lock.notify()

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._stopping and (
                    not self._queue or self._queue[0].due > time.monotonic()
                ):
                    wait = self._queue[0].due - time.monotonic() if self._queue else 1.0
                    self._lock.wait(max(min(wait, 1.0), 0.001))
                if self._stopping:
                    return
                due = heapq.heappop(self._queue)
                self._busy += 1
                self._running[threading.get_ident()] = due.event
            try:
                self._invoke(due)
            finally:
                with self._lock:
                    self._busy -= 1
                    self._running.pop(threading.get_ident(), None)
                    self._lock.notify_all()

    def _invoke(self, due: _Due) -> None:
        deadline = time.monotonic() + self._timeout_s
        invocation = Invocation(
            due.request_id, due.attempt, deadline, self._kills.plan(due.request_id, due.attempt)
        )
        run = Run(invocation, due.event, due.label, started=time.monotonic())
        context = CountdownContext(due.request_id, deadline)
        self.on_start(due.event)
        try:
            with self._traffic.running(invocation):
                run.result = self._handler(due.event, context)
            overran = time.monotonic() > deadline
            run.outcome = "timed out" if overran else "succeeded"
        except Killed:
            run.outcome = invocation.death
        except Exception as exc:  # noqa: BLE001 (Lambda records whatever the function raised)
            run.outcome = "error"
            run.error = "".join(traceback.format_exception(exc))
        run.ended = time.monotonic()
        with self._lock:
            self.runs.append(run)
        self.on_end(due.event)
        if run.outcome == "succeeded":
            return
        if due.attempt <= self.max_retries:
            delay = self._retry_delays[due.attempt - 1]
            self._enqueue(due.event, due.request_id, due.attempt + 1, "retry", delay)
            return
        record = _on_failure_record(run, self._timeout_s)
        with self._lock:
            self.failure_records.append(record)
        self._on_failure(record)


def event_keys(event: dict[str, Any]) -> list[str]:
    """The object keys an S3 event names, URL-decoded."""
    return [unquote_plus(record["s3"]["object"]["key"]) for record in event.get("Records", [])]


def _on_failure_record(run: Run, timeout_s: float) -> dict[str, Any]:
    """The record Lambda's on-failure destination sends after the last retry."""
    request_id = run.invocation.request_id
    if run.outcome == "timed out":
        payload: dict[str, Any] = {
            "errorMessage": f"{_now()} {request_id} Task timed out after {timeout_s:.2f} seconds"
        }
    elif run.outcome == "killed":
        payload = {
            "errorType": "Runtime.ExitError",
            "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: "
            "signal: killed",
        }
    else:
        lines = run.error.rstrip("\n").splitlines()
        payload = {
            "errorMessage": lines[-1].partition(": ")[2] if lines else "",
            "errorType": lines[-1].partition(":")[0] if lines else "",
            "requestId": request_id,
            "stackTrace": lines[1:-1],
        }
    return {
        "version": "1.0",
        "timestamp": _now(),
        "requestContext": {
            "requestId": request_id,
            "functionArn": f"{FUNCTION_ARN}:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": run.invocation.attempt,
        },
        "requestPayload": run.event,
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "responsePayload": payload,
    }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
