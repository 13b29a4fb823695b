"""Options of the test run, and the corpus table printed at its end.

The real-photo corpus (`tests/e2e/test_corpus.py`) runs every photo in every variant; with
`--corpus=subset`, every photo as it ships and all variants of a few, for a quick run; with
`--corpus=turns`, also every face photo turned by every 15 degrees.
"""

from __future__ import annotations

import statistics
import sys
from typing import Any


def pytest_addoption(parser: Any) -> None:
    parser.addoption(
        "--corpus",
        choices=("subset", "full", "turns"),
        default="full",
        help="real-photo corpus: every photo as shipped and all variants of a few (subset), "
        "every photo in every variant (full), and also turned every 15 degrees (turns)",
    )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Photos x variants: the outcome of each (ok or the refusal's code) and its bleed."""
    module = sys.modules.get("tests.e2e.test_corpus")
    rows = getattr(module, "REPORT", None)
    if not rows:
        return
    variants = [v for v in module.corpus.VARIANTS if any(row.variant == v for row in rows)]
    photos = list(dict.fromkeys(row.photo for row in rows))
    cells = {(row.photo, row.variant): row for row in rows}
    terminalreporter.section("real-photo corpus: outcome and background bleed (% of texels)")
    width = max(len(photo) for photo in photos)
    terminalreporter.write_line(" ".join([f"{'photo':<{width}}", *(f"{v:>10}" for v in variants)]))
    for photo in photos:
        line = [f"{photo:<{width}}"]
        for variant in variants:
            row = cells.get((photo, variant))
            line.append(f"{_cell(row):>10}")
        terminalreporter.write_line(" ".join(line))
    turned = [row for row in rows if row.variant in module.corpus.TURNED]
    if turned:
        right = sum(1 for row in turned if row.outcome == "ok")
        terminalreporter.write_line(
            f"turned by 15..345 degrees: {right} of {len(turned)} right, "
            f"{sum(1 for row in turned if row.bleed is None)} refused"
        )
    successes = [row.bleed for row in rows if row.bleed is not None]
    wrong = [row for row in rows if row.outcome.startswith("WRONG")]
    terminalreporter.write_line(
        f"{len(successes)} reconstructed, {len(rows) - len(successes)} refused, "
        f"{len(wrong)} wrong; bleed max {max(successes, default=0.0):.2%}, "
        f"median {statistics.median(successes or [0.0]):.2%}"
    )


def _cell(row: Any) -> str:
    if row is None:
        return "-"
    if row.bleed is None:
        return {"NO_FACE_FOUND": "NO_FACE", "MULTIPLE_FACE_FOUND": "MULTIPLE"}.get(
            row.outcome, row.outcome[:10]
        )
    mark = "" if row.outcome == "ok" else "!"
    return f"{mark}{row.bleed:.2%}"
