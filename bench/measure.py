"""Timing on a shared machine: interleaved repetitions, medians, peak memory, child processes.

Other work on the machine slows the work and its baseline alike only if they run at the same
time, so every benchmark alternates them (work, baseline, work, baseline, ...) and compares
medians: ratios stay meaningful where absolute times do not.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any


def interleaved(cases: Mapping[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Seconds of each case, `repeats` times each, the cases alternating; one warm-up each first."""
    for run in cases.values():
        run()
    seconds: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, run in cases.items():
            started = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - started)
    return seconds


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def peak_rss_mb() -> float:
    """This process's largest resident set so far, in MB.

    From /proc (VmHWM): getrusage's maximum survives exec, so a child started by a big parent
    would report the parent's size.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(
    module: str, *args: str, timeout: float = 1800, env: Mapping[str, str] | None = None
) -> Any:
    """Run `python -m module args` and return the JSON it prints last on standard output."""
    answer = subprocess.run(  # noqa: S603 (our own interpreter and modules)
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=None if env is None else dict(env),
        check=False,
    )
    if answer.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed:\n{answer.stderr[-3000:]}")
    return json.loads(answer.stdout.strip().splitlines()[-1])


def report(result: object) -> None:
    """What a child process answers: one JSON line, last on standard output."""
    print(json.dumps(result), flush=True)
