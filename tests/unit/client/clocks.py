"""A clock and a jitter that tests control, for the client's retries and pacing."""

from __future__ import annotations


class FakeTime:
    """A clock that only moves when slept on (or when a test moves it)."""

    def __init__(self, overrun: float = 0.0) -> None:
        self.now = 1000.0
        self.overrun = overrun
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds + self.overrun


class RecordingJitter:
    """Returns `fraction` of the upper bound, and records every (low, high) asked for."""

    def __init__(self, fraction: float = 0.5) -> None:
        self.fraction = fraction
        self.bounds: list[tuple[float, float]] = []

    def __call__(self, low: float, high: float) -> float:
        self.bounds.append((low, high))
        return high * self.fraction
