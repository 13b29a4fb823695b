"""The CloudWatch dashboard template.yaml defines, read as CloudWatch reads its body: the metrics
each widget graphs, by namespace, name and dimensions (a SEARCH expression's schema included)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

# SEARCH('{Namespace,Dim1,Dim2} MetricName="X" Dim1="v"', 'Stat', period)
_SEARCH = re.compile(r"SEARCH\('\{(?P<schema>[^}]*)\}(?P<terms>[^']*)'")
_TERM = re.compile(r'(?P<key>\w+)="(?P<value>[^"]*)"')


@dataclass(frozen=True)
class Series:
    """One metric a widget graphs: `values` holds the dimension values it fixes (a SEARCH
    leaves some free: those dimensions are in `dimensions` but not in `values`)."""

    namespace: str
    name: str
    dimensions: frozenset[str]
    values: tuple[tuple[str, str], ...]


def widgets(body: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(body)["widgets"]
    return found


def series(body: str) -> list[Series]:
    """Every metric graphed on the dashboard `body`, in widget order."""
    found = []
    for widget in widgets(body):
        for entry in widget.get("properties", {}).get("metrics", []):
            found.append(_series(entry))
    return found


def _series(entry: list[Any]) -> Series:
    plain = [part for part in entry if not isinstance(part, dict)]
    if plain:  # [namespace, name, dim, value, dim, value, ..., {options}]
        namespace, name, *pairs = plain
        values = tuple(sorted(zip(pairs[::2], pairs[1::2], strict=True)))
        return Series(namespace, name, frozenset(key for key, _ in values), values)
    (options,) = entry
    match = _SEARCH.search(options["expression"])
    assert match is not None, options
    namespace, *dimensions = [part.strip() for part in match["schema"].split(",")]
    terms = {term["key"]: term["value"] for term in _TERM.finditer(match["terms"])}
    name = terms.pop("MetricName")
    return Series(namespace, name, frozenset(dimensions), tuple(sorted(terms.items())))


def alarm_arns(body: str) -> list[str]:
    return [arn for w in widgets(body) if w["type"] == "alarm" for arn in w["properties"]["alarms"]]


def template_body(template: dict[str, Any], **values: str) -> str:
    """The Dashboard's body in `template` (CloudFormation, as `sam deploy` hands it over) with
    each `${...}` replaced by `values[name]`, or by a stand-in: the Face3D metrics name none."""
    text: str = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    return re.sub(r"\$\{([^}]+)\}", lambda m: values.get(m[1], "resolved"), text)
