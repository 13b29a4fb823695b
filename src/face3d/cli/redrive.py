"""`face3d redrive`: replay the dead-letter queue's retryable messages."""

from __future__ import annotations

import argparse

from face3d.cli.arguments import positive_int
from face3d.errors import INVALID_CONFIGURATION, ConfigurationError
from face3d.settings import OperatorSettings, Settings

REDRIVE_DESCRIPTION = """\
Replay the dead-letter queue's retryable messages: failure envelopes with "retryable": true
(configuration errors once fixed, sets whose retries ran out), and events the function could
not handle: Lambda's on-failure records, and the S3 notifications, SNS envelopes and EventBridge
events that the upload queue or the EventBridge rule gave up on. Each is replayed by invoking
the function asynchronously with the event that started it, marked as a redrive, and deleted
from the queue once the invocation was accepted. Messages that are not retryable (the input is
at fault: fix it and upload again) or name no upload stay on the queue; every message not
replayed is made visible again at once, so `aws sqs receive-message` right after shows it.

--include-permanent replays permanent failures too, and the function then tries those sets
again (once whatever judged them, the endpoint or a limit, was fixed). --dry-run prints what it
would replay and changes nothing.

Options default to DLQ_URL and FUNCTION_NAME (the stack's DeadLetterQueueUrl and FunctionName
outputs); AWS credentials and region come from the usual chain.

exit status: 0 done, 3 configuration (queue, function, region, credentials), 4 AWS failed us.
"""


def add(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    redrive = commands.add_parser(
        "redrive",
        help="replay retryable dead-letter messages",
        description=REDRIVE_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    redrive.add_argument("--queue-url", help="the stack's DeadLetterQueueUrl (DLQ_URL)")
    redrive.add_argument("--function-name", help="the stack's FunctionName (FUNCTION_NAME)")
    redrive.add_argument(
        "--max", type=positive_int, default=100, metavar="N", help="messages to read at most (100)"
    )
    redrive.add_argument(
        "--dry-run", action="store_true", help="print what would be replayed; change nothing"
    )
    redrive.add_argument(
        "--include-permanent",
        action="store_true",
        help="replay permanent failures too, and have their sets tried again",
    )
    redrive.add_argument("--region", help="AWS region (default: the SDK's chain)")
    redrive.set_defaults(run=_redrive)


def _redrive(args: argparse.Namespace, settings: Settings) -> int:
    from face3d.function.redrive import lambda_replay, redrive, sqs_client

    operator = OperatorSettings.from_environ()
    queue_url = args.queue_url or operator.dlq_url
    function_name = args.function_name or operator.function_name
    if not queue_url:
        raise ConfigurationError(INVALID_CONFIGURATION, "no queue: pass --queue-url or set DLQ_URL")
    if not function_name and not args.dry_run:
        raise ConfigurationError(
            INVALID_CONFIGURATION, "no function: pass --function-name or set FUNCTION_NAME"
        )
    sqs = sqs_client(args.region)
    replay = lambda_replay(function_name, args.region) if function_name else _nothing
    summary = redrive(
        sqs,
        queue_url,
        replay,
        limit=args.max,
        dry_run=args.dry_run,
        include_permanent=args.include_permanent,
    )
    if args.dry_run:
        for key in summary.keys:
            print(f"would replay {key}")
    print(f"redrive: {summary.line()}")
    return 0


def _nothing(event: dict[str, object]) -> None:
    raise AssertionError("a dry run replays nothing")
