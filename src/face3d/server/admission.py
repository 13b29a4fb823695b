"""Which authenticated calls go on to the work: the QPS limit and the injected failures.

`--qps N` admits at most N calls in any one-second window (`CONCURRENCY_LIMIT_EXCEEDED` beyond),
as upstream counts per key; `--fail-rate P` (with `--seed`) answers a share P of calls 500
`INTERNAL_ERROR`, so that the server can play a busy or flaky API in resilience tests. Both are
thread-safe: one of each serves all of waitress's threads.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable


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


class FailureInjector:
    """Fails a share `rate` of calls, drawn from `random.Random(seed)`. Thread-safe."""

    def __init__(self, rate: float, seed: int | None = None) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError("fail_rate must be between 0 and 1")
        self.rate = rate
        self._rng = random.Random(seed)  # noqa: S311 (failure injection, not cryptography)
        self._lock = threading.Lock()

    def fails(self) -> bool:
        if self.rate <= 0.0:
            return False
        with self._lock:
            return self._rng.random() < self.rate
