#!/usr/bin/env python3
"""Write template.yaml once per value of the parameters that decide which resources exist.

checkov (`make template-check`) judges the resources a template creates with its parameters'
defaults; an S3 trigger's stack has no upload queue, and a stack without Batch Operations no
backfill function. Each copy here sets one such parameter's default to another value, so that
checkov judges every resource some stack can have.

    python3 tools/template_variants.py DIR

Standard library only: the defaults are rewritten in the text, which keeps checkov's line
numbers and skip comments where they were.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"
# Each parameter a Condition reads to create or drop resources, and its values other than the
# default.
VARIANTS = {
    "Trigger": ["EventBridge", "SQS"],
    "BackfillBatchOperations": ["true"],
    "AlarmEmail": ["ops@example.com"],
    "ResultBucket": ["face3d-results"],
    "ResultEventBus": [""],
}


def with_default(text: str, parameter: str, value: str) -> str:
    """`text` with `parameter`'s Default set to `value`."""
    pattern = re.compile(rf"(\n  {re.escape(parameter)}:\n(?:    .*\n)*?    Default: ).*")
    changed, count = pattern.subn(lambda m: m[1] + f'"{value}"', text, count=1)
    if count != 1:
        raise SystemExit(f"template.yaml has no Default for parameter {parameter}")
    return changed


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python3 tools/template_variants.py DIR", file=sys.stderr)
        return 2
    folder = Path(argv[0])
    folder.mkdir(parents=True, exist_ok=True)
    text = TEMPLATE.read_text(encoding="utf-8")
    (folder / "template.yaml").write_text(text, encoding="utf-8")
    for parameter, values in VARIANTS.items():
        for value in values:
            name = f"template-{parameter}-{value or 'empty'}.yaml".replace("@", "-at-")
            (folder / name).write_text(with_default(text, parameter, value), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
