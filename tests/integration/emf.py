"""The metrics the handler emits, read back from its stdout as CloudWatch reads them: lines in the
Embedded Metric Format (a JSON object with an `_aws.CloudWatchMetrics` directive)."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Datum:
    """One metric value as CloudWatch files it: by namespace, name and dimension set."""

    namespace: str
    name: str
    dimensions: frozenset[str]  # the dimension names; CloudWatch ignores their order
    values: dict[str, str]  # each dimension's value
    value: float


def emitted(text: str) -> list[Datum]:
    """Every metric value in the EMF lines of `text` (other lines are skipped)."""
    found = []
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        directive = record.get("_aws") if isinstance(record, dict) else None
        if not isinstance(directive, dict):
            continue
        for block in directive["CloudWatchMetrics"]:
            for dimension_set in block["Dimensions"]:
                for metric in block["Metrics"]:
                    name = metric["Name"]
                    values = record[name] if isinstance(record[name], list) else [record[name]]
                    found += [
                        Datum(
                            block["Namespace"],
                            name,
                            frozenset(dimension_set),
                            {d: str(record[d]) for d in dimension_set},
                            float(value),
                        )
                        for value in values
                    ]
    return found


def totals(text: str, namespace: str = "Face3D") -> dict[str, float]:
    """The sum of each metric's values in `namespace` with its usual dimensions, by name."""
    sums: dict[str, float] = {}
    for datum in emitted(text):
        if datum.namespace == namespace and datum.dimensions == {"service"}:
            sums[datum.name] = sums.get(datum.name, 0.0) + datum.value
    return sums
