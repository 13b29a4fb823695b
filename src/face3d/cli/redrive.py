"""`face3d redrive`: replay the dead-letter queue's retryable messages."""

from __future__ import annotations

import argparse

from face3d.settings import Settings

REDRIVE_DESCRIPTION = """\
Replay the dead-letter queue's retryable messages: failure envelopes with "retryable": true
(configuration errors once fixed, sets whose retries ran out), and events the function could
not handle: Lambda's on-failure records, and the S3 notifications, SNS envelopes and EventBridge
events that the upload queue or the EventBridge rule gave up on. Each is replayed by invoking
the function asynchronously with the event that started it, marked as a redrive, and deleted
from the queue once the invocation was accepted. Messages that are not retryable (the input is
at fault: fix it and upload again) or name no upload stay on the queue.
"""


def add(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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


def _redrive(args: argparse.Namespace, settings: Settings) -> int:
    from face3d.function.redrive import lambda_replay, redrive, sqs_client

    summary = redrive(
        sqs_client(), args.queue_url, lambda_replay(args.function_name), limit=args.max
    )
    print(f"redrive: {summary.line()}")
    return 0
