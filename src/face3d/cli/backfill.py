"""`face3d backfill`: trigger every complete set that has no outcome yet, at a bounded rate."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from face3d.cli.arguments import positive_number
from face3d.cli.bucket import ENVIRONMENT_HELP, add_options, connect, where
from face3d.cli.progress import ProgressBar
from face3d.errors import INVALID_CONFIGURATION, ConfigurationError
from face3d.settings import OperatorSettings, Settings

BACKFILL_DESCRIPTION = f"""\
Find every complete set under the input prefix whose current fingerprint has no outcome
(no result.json, no error.json) and no claim, and trigger it as S3 would: an asynchronous
invocation of the function with the S3 notification of the set's closing upload, at most RATE
a second. Each triggered set then gets a claim in the state `released` (queued), so that
running backfill again triggers nothing for it, even before its invocation has run; the
function takes such a claim over at once. Sets in progress, finished or parked are left alone
(`face3d status` counts them; `face3d redrive` replays parked ones).

For buckets with millions of objects, --manifest-out FILE.csv writes the pending sets as an
S3 Batch Operations manifest instead of triggering them; a Batch Operations job then invokes
the stack's BackfillBatchFunction per row (README, "Backfilling a large bucket").

{ENVIRONMENT_HELP}
exit status: 0 done, 3 configuration (bucket, function, region, credentials), 4 AWS failed us
(run it again: what was triggered is not triggered twice).
"""


def add(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backfill = commands.add_parser(
        "backfill",
        help="trigger the complete sets that were never processed",
        description=BACKFILL_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_options(backfill)
    backfill.add_argument(
        "--function-name", metavar="F", help="the function to trigger (FUNCTION_NAME)"
    )
    backfill.add_argument(
        "--rate",
        type=positive_number,
        default=5.0,
        metavar="N",
        help="invocations a second at most (5)",
    )
    backfill.add_argument(
        "--dry-run", action="store_true", help="list the sets it would trigger; change nothing"
    )
    backfill.add_argument(
        "--manifest-out",
        type=Path,
        metavar="FILE",
        help="write the pending sets as an S3 Batch Operations CSV manifest; trigger nothing",
    )
    backfill.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from face3d.function.backfill import Backfill, manifest_rows, write_manifest
    from face3d.function.redrive import lambda_replay

    operator = OperatorSettings.from_environ()
    place = where(args, operator)
    function_name = args.function_name or operator.function_name
    triggering = not (args.dry_run or args.manifest_out)
    if triggering and not function_name:
        raise ConfigurationError(
            INVALID_CONFIGURATION, "no function: pass --function-name or set FUNCTION_NAME"
        )
    storage, inventory = connect(place)
    bar = ProgressBar()
    try:
        statuses = inventory.sets(progress=bar)
        if args.manifest_out is not None:
            with args.manifest_out.open("w", encoding="utf-8", newline="") as stream:
                rows = write_manifest(manifest_rows(statuses), stream)
            bar.close()
            print(
                f"backfill: wrote {rows} pending set(s) to {args.manifest_out} "
                "(S3 Batch Operations CSV manifest: bucket,key)"
            )
            return 0
        replay = lambda_replay(function_name, place.region) if function_name else _nothing
        backfill = Backfill(
            storage,
            replay,
            result_bucket=place.result_bucket,
            result_prefix=place.result_prefix,
            region=storage.region,
        )
        summary = backfill.run(
            statuses,
            rate=args.rate,
            dry_run=args.dry_run,
            progress=lambda done, total: bar("triggering", done, total),
        )
    finally:
        bar.close()
    if args.dry_run:
        from face3d.function.inventory import SetState  # loaded already by `connect`

        for status in statuses:
            if status.state is SetState.PENDING and status.closed_by is not None:
                print(f"would trigger {status.subject}: {status.closed_by.key}")
    print(f"backfill: {summary.line()}")
    sys.stdout.flush()
    return 0


def _nothing(event: dict[str, object]) -> None:
    raise AssertionError("a dry run triggers nothing")
