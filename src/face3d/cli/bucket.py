"""Options and the inventory shared by the commands that read the bucket (`status`, `backfill`)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING

from face3d.errors import INVALID_CONFIGURATION, ConfigurationError
from face3d.settings import OperatorSettings, folder_prefix, prefixes_apart

if TYPE_CHECKING:
    from face3d.function.inventory import Inventory
    from face3d.function.storage import Storage

ENVIRONMENT_HELP = """\
Options default to the function's own variables: INPUT_BUCKET, RESULT_BUCKET, INPUT_PREFIX,
RESULT_PREFIX, FUNCTION_NAME and DLQ_URL (the stack's outputs BucketName, FunctionName and
DeadLetterQueueUrl). AWS credentials and region come from the usual chain (AWS_PROFILE,
AWS_DEFAULT_REGION, ...); without them the command exits 3.
"""


@dataclass(frozen=True)
class Where:
    """Where the sets are, resolved from the options and the environment."""

    bucket: str
    result_bucket: str
    input_prefix: str
    result_prefix: str
    region: str | None
    function_timeout_s: int


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bucket", metavar="B", help="the data bucket (INPUT_BUCKET)")
    parser.add_argument(
        "--prefix", metavar="P", help="the input prefix (INPUT_PREFIX, default incoming/)"
    )
    parser.add_argument(
        "--result-bucket", metavar="B", help="where results are (RESULT_BUCKET; the bucket)"
    )
    parser.add_argument(
        "--result-prefix", metavar="P", help="the result prefix (RESULT_PREFIX, default results/)"
    )
    parser.add_argument("--region", help="AWS region (default: the SDK's chain)")


def where(args: argparse.Namespace, settings: OperatorSettings) -> Where:
    bucket = args.bucket or settings.bucket
    if not bucket:
        raise ConfigurationError(
            INVALID_CONFIGURATION, "no bucket: pass --bucket or set INPUT_BUCKET"
        )
    result_bucket = args.result_bucket or settings.result_bucket or bucket
    try:
        input_prefix = folder_prefix(args.prefix or settings.input_prefix)
        result_prefix = folder_prefix(args.result_prefix or settings.result_prefix)
        if result_bucket == bucket:
            prefixes_apart(input_prefix, result_prefix)
    except ValueError as exc:
        raise ConfigurationError(INVALID_CONFIGURATION, f"prefixes: {exc}") from None
    return Where(
        bucket=bucket,
        result_bucket=result_bucket,
        input_prefix=input_prefix,
        result_prefix=result_prefix,
        region=args.region,
        function_timeout_s=settings.function_timeout_s,
    )


def connect(place: Where) -> tuple[Storage, Inventory]:
    """The bucket and its sets where `place` says: one reading of a set's state, so that
    `backfill` triggers exactly what `status` calls pending."""
    # Imported here: the AWS SDK would cost every `face3d` command its import time.
    from face3d.function.inventory import Inventory
    from face3d.function.storage import Storage

    storage = Storage.connect(place.region)
    inventory = Inventory(
        storage,
        place.bucket,
        input_prefix=place.input_prefix,
        result_prefix=place.result_prefix,
        result_bucket=place.result_bucket,
        stale_after=place.function_timeout_s,
    )
    return storage, inventory
