"""Client-side pacing: each caller keeps within its share of the API key's QPS.

The API refuses calls over the key's QPS with `CONCURRENCY_LIMIT_EXCEEDED`, counting them in any
one-second window. Hammering and backing off wastes the refused calls and the time spent backing
off (about half the calls refused, and much of the QPS unused). Instead the callers (Lambda
containers, workers) take turns without talking to each other:

* time is cut into slots on the wall clock, which all callers share: one slot every
  1 / (0.95 x qps) seconds, so that any second holds at most `qps` slots with room to spare for
  calls that leave a little late;
* each of the `callers` callers owns every `callers`-th slot, from an offset of its own, drawn at
  random, and starts a call only in a slot it owns (so at most qps / callers calls a second);
* two callers that drew the same offset collide, and one of them is refused: that one moves to
  the next offset, and retries in its first slot, a slot later. Soon every caller owns slots that
  nobody else uses, and nobody is refused any more (moving by one slot settles sooner, and loses
  less time, than drawing offsets again: simulated and measured).

Choosing the number of callers (the function's reserved concurrency, or the SQS trigger's maximum
concurrency) for a key of `qps` calls per second: a caller makes one call at a time, so with calls
of L seconds and S seconds of other work per set it makes at most 1 / (L + S) calls per second.
Callers >= qps x (L + S) keep the QPS busy; fewer leave part of it unused (with 2-second calls,
callers = qps uses only half of it); more only wait longer for their turns. Every caller must be
told the same `qps` and `callers`, and there must be no more callers than that.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable

# The share of the QPS the slots use: the rest lets a call start a little late without meeting
# the next one within the second.
SHARE_USED = 0.95
_GRACE = 1e-6


class Pacer:
    """One caller's turns: every `callers`-th slot of `qps x SHARE_USED` a second. Thread-safe."""

    def __init__(
        self,
        qps: float,
        callers: int = 1,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        draw: Callable[[int], int] = random.randrange,
    ) -> None:
        if not qps > 0 or math.isinf(qps):
            raise ValueError(f"the QPS must be a positive number of calls per second, got {qps}")
        if callers < 1:
            raise ValueError(f"need at least one caller, got {callers}")
        self.slot = 1.0 / (SHARE_USED * qps)
        self.callers = callers
        self.interval = callers * self.slot  # between this caller's turns
        self._clock = clock
        self._sleep = sleep
        self._offset = draw(callers)
        self._earliest = 0  # the first slot this caller may take next
        self._lock = threading.Lock()

    @classmethod
    def for_share(cls, qps: float | None, callers: int) -> Pacer | None:
        """A pacer for one of `callers` sharing `qps` calls per second; None without a QPS."""
        return cls(qps, callers) if qps else None

    def wait(self, within: float | None = None) -> bool:
        """Sleep until this caller's next turn and take it; False, at once and without taking
        it, if the turn is more than `within` seconds away."""
        with self._lock:
            now = self._clock()
            # A microsecond's grace: a caller woken for its slot may read the clock just before it.
            index = max(self._earliest, math.ceil((now - _GRACE) / self.slot))
            index += (self._offset - index) % self.callers
            delay = index * self.slot - now
            delay = delay if delay > _GRACE else 0.0
            if within is not None and delay > within:
                return False
            self._earliest = index + self.callers
        if delay:
            self._sleep(delay)
        return True

    def refused(self) -> None:
        """The last call was refused over the QPS: another caller owns this caller's slots too.
        Move to the next offset; the retry takes its first slot."""
        with self._lock:
            self._offset = (self._offset + 1) % self.callers
            self._earliest = 0
