"""tools/soak/lambda_runtime.py: Lambda's asynchronous invocation around a handler."""

from __future__ import annotations

import threading
import time
from typing import Any

from tools.soak.lambda_runtime import AsyncLambda, KillDealer
from tools.soak.traffic import Traffic

EVENT = {"Records": [{"s3": {"object": {"key": "incoming/ada.jpg"}}}]}


class Handler:
    """Raises for its first `failures` calls; records what it was given."""

    def __init__(self, failures: int = 0, sleep: float = 0.0) -> None:
        self.failures = failures
        self.sleep = sleep
        self.calls: list[tuple[str, int, int]] = []  # (request id, remaining ms before, after)
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, int]:
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            number = len(self.calls)
        before = context.get_remaining_time_in_millis()
        time.sleep(self.sleep)
        with self._lock:
            self.calls.append(
                (context.aws_request_id, before, context.get_remaining_time_in_millis())
            )
            self.running -= 1
        if number < self.failures:
            raise RuntimeError(f"failure {number + 1}")
        return {"succeeded": 1}


def run(
    handler: Handler, events: int = 1, *, workers: int = 1, timeout_s: float = 5.0
) -> AsyncLambda:
    records: list[dict[str, Any]] = []
    function = AsyncLambda(
        handler,
        Traffic(api_port=0),
        KillDealer(0.0, seed=1),
        records.append,
        workers=workers,
        timeout_s=timeout_s,
        retry_delays=(0.01, 0.02),
        seed=1,
    )
    function.start()
    for _ in range(events):
        function.invoke_async(EVENT, delay=0.0, label="delivery")
    assert function.wait_idle(30)
    function.stop()
    assert records == function.failure_records
    return function


def test_a_failed_invocation_is_retried_with_the_same_request_id_until_it_succeeds() -> None:
    handler = Handler(failures=2)

    function = run(handler)

    assert [r.outcome for r in function.runs] == ["error", "error", "succeeded"]
    assert [r.invocation.attempt for r in function.runs] == [1, 2, 3]
    assert len({request_id for request_id, _, _ in handler.calls}) == 1
    assert [r.label for r in function.runs] == ["delivery", "retry", "retry"]
    assert "RuntimeError: failure 1" in function.runs[0].error
    assert function.failure_records == []


def test_after_the_last_retry_lambdas_own_record_goes_to_the_failure_destination() -> None:
    function = run(Handler(failures=5))

    assert len(function.runs) == 3
    (record,) = function.failure_records
    assert record["requestContext"]["requestId"] == function.runs[0].invocation.request_id
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestPayload"] == EVENT
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorType"] == "RuntimeError"
    assert record["responsePayload"]["errorMessage"] == "failure 3"


def test_the_remaining_time_counts_down_and_an_overrun_is_a_timeout() -> None:
    handler = Handler(sleep=0.3)

    function = run(handler, timeout_s=0.2)

    assert all(before > after for _, before, after in handler.calls)
    assert all(before <= 200 for _, before, _ in handler.calls)
    assert [r.outcome for r in function.runs] == ["timed out"] * 3
    assert (
        "Task timed out after 0.20 seconds"
        in function.failure_records[0]["responsePayload"]["errorMessage"]
    )


def test_workers_bound_how_many_invocations_run_at_once() -> None:
    handler = Handler(sleep=0.05)

    function = run(handler, events=8, workers=3)

    assert len(function.runs) == 8
    assert 1 < handler.most_at_once <= 3
    assert len({r.invocation.request_id for r in function.runs}) == 8


def test_kills_are_drawn_per_request_and_attempt_from_the_seed() -> None:
    dealer = KillDealer(0.5, seed=7)

    plans = [dealer.plan(f"r{n}", 1) for n in range(200)]

    assert plans == [KillDealer(0.5, seed=7).plan(f"r{n}", 1) for n in range(200)]
    killed = [plan for plan in plans if plan is not None]
    assert 60 < len(killed) < 140
    assert any(plan.at_answer for plan in killed)
    assert all(plan.at_answer or 1 <= plan.at_call <= dealer.max_call for plan in killed)
    assert KillDealer(0.0, seed=7).plan("r1", 1) is None
