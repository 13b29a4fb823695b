"""Commands that run the pipeline as a whole: `face3d demo` and `face3d redrive`."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from face3d.settings import Settings

DEMO_DESCRIPTION = """\
Run the whole pipeline on this machine, offline: local S3, SQS and Secrets Manager (moto), the
offline engine behind `face3d serve` on a loopback port, and the real Lambda handler receiving
real-format S3 events for sample subjects (real photos from scikit-image and matplotlib):

  astronaut     one photo dropped as incoming/astronaut.jpg
  grace-hopper  a PNG folder set closed by its manifest.json
  coffee        a photo without a face: NO_FACE_FOUND, error.json and a DLQ message

Results, failure records, dead-letter messages and preview pictures land in DIR.
Needs the engine and demo extras (make demo installs them).
"""

REDRIVE_DESCRIPTION = """\
Replay the dead-letter queue's retryable messages: failure envelopes with "retryable": true
(configuration errors once fixed, sets whose retries ran out) and the records Lambda's
on-failure destination wrote for events the function could not handle. Each is replayed by
invoking the function asynchronously with the set's S3 event, marked as a redrive, and deleted
from the queue once the invocation was accepted. Messages that are not retryable (the input is
at fault: fix it and upload again) stay on the queue.
"""


def add(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser(
        "demo",
        help="run the whole pipeline offline on sample photos",
        description=DEMO_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument(
        "-o", "--output", type=Path, default=Path("demo-output"), metavar="DIR",
        help="folder for results and pictures (default: demo-output; replaced on each run)",
    )  # fmt: skip
    demo.set_defaults(run=_demo)

    redrive = commands.add_parser(
        "redrive",
        help="replay retryable dead-letter messages",
        description=REDRIVE_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    redrive.add_argument("--queue-url", required=True, help="the stack's DeadLetterQueueUrl")
    redrive.add_argument("--function-name", required=True, help="the stack's FunctionName")
    redrive.add_argument(
        "--max", type=int, default=100, metavar="N", help="messages to read at most (100)"
    )
    redrive.set_defaults(run=_redrive)


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from face3d.demo import format_table, run_demo

    started = time.monotonic()
    outcomes = run_demo(args.output)
    print(format_table(outcomes))
    failed = [o for o in outcomes if o.status != "succeeded"]
    print(
        f"demo: {len(outcomes) - len(failed)} succeeded, {len(failed)} failed"
        f"{' (' + ', '.join(o.code or o.status for o in failed) + ')' if failed else ''} "
        f"in {time.monotonic() - started:.1f} s; results in {args.output}/"
    )
    return 0


def _redrive(args: argparse.Namespace, settings: Settings) -> int:
    from face3d.redrive import lambda_replay, redrive, sqs_client

    summary = redrive(
        sqs_client(), args.queue_url, lambda_replay(args.function_name), limit=args.max
    )
    print(f"redrive: {summary.line()}")
    return 0
