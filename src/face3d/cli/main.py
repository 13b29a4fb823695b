"""The `face3d` command line: one parser, one subcommand per module in `face3d.cli`."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from importlib import metadata

from face3d.cli import backfill, demo, preview, reconstruct, redrive, serve, status
from face3d.errors import Face3DError
from face3d.errors import Kind as ErrorKind
from face3d.settings import Settings

EXIT_CODES = {ErrorKind.PERMANENT: 1, ErrorKind.CONFIGURATION: 3, ErrorKind.TRANSIENT: 4}


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = Settings.from_environ()
        return int(args.run(args, settings))
    except Face3DError as err:
        detail = f" (HTTP {err.http_status})" if err.http_status else ""
        request = f" request_id={err.request_id}" if err.request_id else ""
        message = "" if err.message == err.code else f": {err.message}"
        print(f"error: {err.label}{detail}{request}{message}", file=sys.stderr)
        return EXIT_CODES[err.kind]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="face3d", description="Face photos in, 3D face models out (Face++ 3dface contract)."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    for command in (reconstruct, serve, preview, demo, status, backfill, redrive):
        command.add(commands)
    return parser


def _version() -> str:
    try:
        return metadata.version("face3d-pipeline")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
