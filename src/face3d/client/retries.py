"""How hard the client tries: attempts, timeouts and exponential backoff with full jitter."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Timeouts and backoff are in seconds.

    `min_attempt_time` is the least time worth starting an attempt with (the API itself takes
    about 2 s): no attempt, first or retry, starts with less time left before the deadline.
    """

    max_attempts: int = 6
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    min_attempt_time: float = 2.0
    # Whether to retry when nothing accepts the connection (refused, or an unknown host). The
    # function does: a load balancer or DNS can be briefly away. The command line does not:
    # there it is nearly always a wrong --endpoint or a server not started.
    retry_unreachable: bool = True

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if min(self.connect_timeout, self.read_timeout, self.min_attempt_time) <= 0:
            raise ValueError("timeouts and min_attempt_time must be positive")
        if self.backoff_base < 0 or self.backoff_cap < 0:
            raise ValueError("backoff_base and backoff_cap must not be negative")

    def backoff_ceiling(self, attempt: int) -> float:
        """The longest wait after failed attempt number `attempt` (1-based).

        The wait itself is drawn between 0 and this (full jitter), which spreads the retries of
        concurrent invocations that failed together.
        """
        return min(self.backoff_cap, self.backoff_base * 2.0 ** (attempt - 1))


DEFAULT_RETRY = RetryPolicy()
