#!/usr/bin/env python3
"""Write src/requirements.txt, the Lambda package's dependencies, from pyproject.toml.

`sam build` installs src/requirements.txt (the function's CodeUri is src/) into the package.
pyproject.toml is the single source: the file holds exactly its `[project] dependencies`, the
runtime ones, and none of the optional extras or dependency groups (tests, tools, engine).

    python3 tools/lambda_requirements.py           rewrite src/requirements.txt (make requirements)
    python3 tools/lambda_requirements.py --check   exit 1 if the committed file is out of date

Standard library only (tomllib: Python 3.11+).
"""

from __future__ import annotations

import argparse
import difflib
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
REQUIREMENTS = ROOT / "src" / "requirements.txt"

HEADER = """\
# Generated from pyproject.toml [project] dependencies by `make requirements`
# (python3 tools/lambda_requirements.py); do not edit by hand. `sam build` installs these into
# the Lambda package; CI fails when this file and pyproject.toml disagree.
"""


def runtime_dependencies(pyproject: Path) -> list[str]:
    """The `[project] dependencies` of a pyproject.toml, in their order, as written."""
    with pyproject.open("rb") as stream:
        data = tomllib.load(stream)
    project = data.get("project")
    if not isinstance(project, dict):
        raise ValueError(f"{pyproject}: no [project] table")
    if "dependencies" in project.get("dynamic", []):
        raise ValueError(f"{pyproject}: dynamic dependencies cannot be exported")
    dependencies = project.get("dependencies", [])
    if not isinstance(dependencies, list) or not all(isinstance(d, str) for d in dependencies):
        raise ValueError(f"{pyproject}: [project] dependencies must be a list of strings")
    return [" ".join(d.split()) for d in dependencies]


def shown(path: Path) -> str:
    """A path as the user would type it: relative to the repository when inside it."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def render(dependencies: list[str]) -> str:
    return HEADER + "".join(f"{dependency}\n" for dependency in dependencies)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check the file; exit 1 if stale")
    parser.add_argument("--pyproject", type=Path, default=PYPROJECT, help="default: %(default)s")
    parser.add_argument("--output", type=Path, default=REQUIREMENTS, help="default: %(default)s")
    args = parser.parse_args(argv)

    try:
        wanted = render(runtime_dependencies(args.pyproject))
    except (OSError, ValueError, tomllib.TOMLDecodeError) as error:
        print(f"lambda_requirements: {error}", file=sys.stderr)
        return 2

    try:
        current = args.output.read_text(encoding="utf-8")
    except FileNotFoundError:
        current = None

    output, source = shown(args.output), shown(args.pyproject)
    if args.check:
        if current == wanted:
            print(f"{output} is up to date with {source}")
            return 0
        if current is None:
            print(f"{output} is missing", file=sys.stderr)
        else:
            diff = difflib.unified_diff(
                current.splitlines(keepends=True),
                wanted.splitlines(keepends=True),
                fromfile=f"{output} (as it is)",
                tofile=f"{output} (from {source})",
            )
            sys.stderr.writelines(diff)
        print(
            f"{output} is out of date with {source}: run `make requirements`",
            file=sys.stderr,
        )
        return 1

    if current != wanted:
        args.output.write_text(wanted, encoding="utf-8")
        print(f"wrote {output} from {source}")
    else:
        print(f"{output} already up to date with {source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
