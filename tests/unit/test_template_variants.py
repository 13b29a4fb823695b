"""tools/template_variants.py: checkov sees every resource some stack of template.yaml can have."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from samtranslator.yaml_helper import yaml_parse

from tools import template_variants

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


def _parameters(node: Any, conditions: dict[str, Any]) -> set[str]:
    """The parameters a condition reads, through the conditions it names."""
    if isinstance(node, list):
        return set().union(*(_parameters(item, conditions) for item in node))
    if not isinstance(node, dict):
        return set()
    if "Ref" in node:
        return {node["Ref"]}
    if "Condition" in node and isinstance(node["Condition"], str):
        return _parameters(conditions[node["Condition"]], conditions)
    return set().union(*(_parameters(value, conditions) for value in node.values()))


def test_every_parameter_that_decides_a_resource_has_variants() -> None:
    template = yaml_parse(TEMPLATE.read_text(encoding="utf-8"))
    conditions = template["Conditions"]
    deciding = set().union(
        *(
            _parameters(conditions[resource["Condition"]], conditions)
            for resource in template["Resources"].values()
            if "Condition" in resource
        )
    )

    assert deciding - {"AWS::NoValue"} <= set(template_variants.VARIANTS)
    for parameter, values in template_variants.VARIANTS.items():
        default = str(template["Parameters"][parameter].get("Default"))
        assert default not in values, parameter


def test_each_variant_changes_one_default_only(tmp_path: Path) -> None:
    assert template_variants.main([str(tmp_path)]) == 0

    original = TEMPLATE.read_text(encoding="utf-8").splitlines()
    assert (tmp_path / "template.yaml").read_text(encoding="utf-8").splitlines() == original
    variants = sorted(tmp_path.glob("template-*.yaml"))
    assert len(variants) == sum(len(v) for v in template_variants.VARIANTS.values())
    for variant in variants:
        changed = [
            line
            for line in difflib.unified_diff(
                original, variant.read_text(encoding="utf-8").splitlines(), n=0, lineterm=""
            )
            if line[:1] in "+-" and not line.startswith(("+++", "---"))
        ]
        assert len(changed) == 2, (variant.name, changed)
        assert all(line[1:].startswith("    Default: ") for line in changed), changed
        parameters = yaml_parse(variant.read_text(encoding="utf-8"))["Parameters"]
        parameter, value = variant.stem.removeprefix("template-").split("-", 1)
        assert str(parameters[parameter]["Default"]) in template_variants.VARIANTS[parameter]
        assert value
