"""A progress bar on standard error, drawn only when it is a terminal.

A few lines rather than tqdm: the command line ships in the same package as the Lambda
function, whose dependencies are exactly what the function needs.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

_WIDTH = 30


class ProgressBar:
    """Call it with (stage, done, total); total None while unknown (a listing under way)."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        enabled: bool | None = None,
        interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream or sys.stderr
        self.enabled = self._stream.isatty() if enabled is None else enabled
        self._interval = interval
        self._clock = clock
        self._last = -interval
        self._drawn = False

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        now = self._clock()
        finished = total is not None and done >= total
        if now - self._last < self._interval and not finished:
            return  # a redraw per object would cost more than the work on large buckets
        self._last = now
        self._stream.write("\r\033[K" + render(stage, done, total))
        self._stream.flush()
        self._drawn = True

    def close(self) -> None:
        """Clear the bar, so that the summary line stands alone."""
        if self._drawn:
            self._stream.write("\r\033[K")
            self._stream.flush()
            self._drawn = False


def render(stage: str, done: int, total: int | None) -> str:
    if not total:
        return f"{stage}: {done}"
    filled = _WIDTH * min(done, total) // total
    return f"{stage}: [{'#' * filled}{'.' * (_WIDTH - filled)}] {done}/{total}"
