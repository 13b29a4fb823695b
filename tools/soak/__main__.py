"""`python -m tools.soak` (`make soak`): run one soak and print its figures; exit 1 if an
invariant failed, 3 if the offline engine does not load here."""

from __future__ import annotations

import argparse
import sys

from tests.e2e.servers import ServeFailed

from .report import format_outcome
from .run import Options, run_soak

DEFAULTS = Options()


def parse(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="make soak ARGS=...",
        description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--subjects", type=int, default=DEFAULTS.subjects, help="subjects dropped")
    add("--workers", type=int, default=DEFAULTS.workers, help="concurrent invocations")
    add("--kill-share", type=float, default=DEFAULTS.kill_share, help="invocations killed")
    add("--seed", type=int, default=DEFAULTS.seed, help="for the workload, kills and faults")
    add("--rate", type=float, default=DEFAULTS.rate, help="subjects dropped per second")
    add("--qps", type=int, default=DEFAULTS.qps, help="face3d serve --qps")
    add("--fail-rate", type=float, default=DEFAULTS.fail_rate, help="face3d serve --fail-rate")
    add("--latency-ms", type=int, default=DEFAULTS.latency_ms, help="face3d serve --latency-ms")
    add("--cut-rate", type=float, default=DEFAULTS.cut_rate, help="answers cut off halfway")
    add("--delay-rate", type=float, default=DEFAULTS.delay_rate, help="answers held back")
    add("--duplicates", type=float, default=DEFAULTS.duplicate_share, help="events sent twice")
    add("--late", type=float, default=DEFAULTS.late_share, help="events delivered 5-15 s late")
    add("--reuploads", type=float, default=DEFAULTS.reupload_share, help="subjects re-dropped")
    add("--timeout", type=float, default=DEFAULTS.timeout_s, help="the function's timeout (s)")
    add("--log", default=None, help="keep the function's DEBUG log in this file")
    args = parser.parse_args(argv)
    for name in ("subjects", "workers", "qps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    for name in ("kill_share", "fail_rate", "cut_rate", "delay_rate", "duplicates", "late",
                 "reuploads"):  # fmt: skip
        if not 0 <= getattr(args, name) <= 1:
            parser.error(f"--{name.replace('_', '-')} must be between 0 and 1")
    if args.rate <= 0 or args.timeout < 3:
        parser.error("--rate must be positive and --timeout at least 3 s")
    from pathlib import Path

    return Options(
        subjects=args.subjects,
        workers=args.workers,
        kill_share=args.kill_share,
        seed=args.seed,
        rate=args.rate,
        qps=args.qps,
        fail_rate=args.fail_rate,
        latency_ms=args.latency_ms,
        cut_rate=args.cut_rate,
        delay_rate=args.delay_rate,
        duplicate_share=args.duplicates,
        late_share=args.late,
        reupload_share=args.reuploads,
        timeout_s=args.timeout,
        log=Path(args.log) if args.log else None,
    )


def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    try:
        outcome = run_soak(options)
    except ServeFailed as exc:
        if exc.code != 3:  # not a configuration error: face3d serve itself failed
            raise
        print(f"soak: the offline engine does not load here: {exc}", file=sys.stderr)
        return 3
    print(format_outcome(outcome), flush=True)
    return 0 if outcome.passed else 1


if __name__ == "__main__":
    sys.exit(main())
