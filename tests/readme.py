"""README.md read as a new team reads it: its code blocks, the shell commands in them, the
`face3d` commands and `make` targets it shows, its tables. The docs tests
(`tests/unit/test_readme.py`, `tests/e2e/test_readme_aws.py`) hold these against behaviour."""

from __future__ import annotations

import ast
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.MULTILINE | re.DOTALL)
_INLINE = re.compile(r"`([^`]+)`")
_FACE3D = re.compile(r"(?:^|[\s/`(])face3d[ \t]+([a-z][a-z-]*)(.*)$", re.MULTILINE)
_MAKE = re.compile(r"(?:^|[\s`(;&|])make[ \t]+([a-z][\w-]*)", re.MULTILINE)
_OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z-]*|-[a-z])\b")
# `aws <service> <operation>`: where a command starts (also inside $(...) or a function body).
_AWS = re.compile(r"(?:^|[\s($;{|&])aws[ \t]+([a-z0-9-]+)[ \t]+([a-z0-9-]+)", re.MULTILINE)
_ASSIGNED = re.compile(r"(?:^|\s)(?:export\s+)?([A-Z_][A-Z0-9_]*)=")


@dataclass(frozen=True)
class Block:
    language: str
    code: str
    line: int  # of the opening fence, 1-based


@dataclass(frozen=True)
class ShellCommand:
    """One command of a sh block as bash reads it: continuation lines and multi-line quotes
    joined, comments kept (bash ignores them)."""

    text: str
    block: int  # index of its block among the README's blocks
    line: int

    def aws_operations(self) -> list[str]:
        """`aws <service> <operation>` for each AWS CLI call in the command, in order."""
        return [f"aws {service} {operation}" for service, operation in _AWS.findall(self.text)]

    def assigned(self) -> list[str]:
        """The shell variables the command sets (`X=...`, `export A=... B=...`)."""
        return [] if self.defines_function() else _ASSIGNED.findall(self.text)

    def defines_function(self) -> str | None:
        match = re.match(r"([a-z_]+)\(\)\s*\{", self.text)
        return match.group(1) if match else None


def text() -> str:
    return README.read_text(encoding="utf-8")


def blocks(readme: str | None = None) -> list[Block]:
    source = text() if readme is None else readme
    return [
        Block(match.group(1), match.group(2), source.count("\n", 0, match.start()) + 1)
        for match in _FENCE.finditer(source)
    ]


def headings(level: int, readme: str | None = None) -> list[str]:
    """The headings of `level` (2 for `##`), outside the fenced blocks, in order."""
    source = text() if readme is None else readme
    return re.findall(rf"^{'#' * level} (.+)$", _FENCE.sub("", source), re.MULTILINE)


def inline_code(readme: str | None = None) -> list[str]:
    """Every `inline code` span outside the fenced blocks (a span may wrap onto the next line)."""
    source = text() if readme is None else readme
    return [" ".join(span.split()) for span in _INLINE.findall(_FENCE.sub("", source))]


def shell_commands(readme: str | None = None) -> list[ShellCommand]:
    """Every command of every sh block, in the README's order."""
    found: list[ShellCommand] = []
    for index, block in enumerate(blocks(readme)):
        if block.language != "sh":
            continue
        pending: list[str] = []
        start = 0
        for number, line in enumerate(block.code.splitlines(), block.line + 1):
            if not pending:
                start = number
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
            pending.append(line)
            joined = "\n".join(pending)
            if joined.endswith("\\") or not _balanced(joined):
                continue
            found.append(ShellCommand(joined, index, start))
            pending = []
        assert not pending, f"README.md line {start}: a command is never closed"
    return found


def _balanced(code: str) -> bool:
    """Whether bash would read `code` as complete: its quotes closed."""
    try:
        shlex.split(code, comments=True)
    except ValueError:
        return False
    return True


def _code_texts(readme: str | None = None) -> list[str]:
    return [block.code for block in blocks(readme)] + inline_code(readme)


def example_output(command: str, readme: str | None = None) -> list[str]:
    """What the README shows `command` printing: the comment after it on its line, then the
    comment lines below it (`# ...`), in an sh block."""
    for block in blocks(readme):
        lines = block.code.splitlines()
        for number, line in enumerate(lines):
            code, _, comment = line.partition(" #")
            if block.language != "sh" or code.strip() != command:
                continue
            shown = [comment.strip()] if comment.strip() else []
            for below in lines[number + 1 :]:
                if not below.startswith("#"):
                    break
                shown.append(below[1:].removeprefix(" "))
            return shown
    raise LookupError(f"README shows no {command!r} in an sh block")


def matches(shown: str, printed: str) -> bool:
    """Whether a line the README shows stands for `printed`: `...` and `<placeholder>` in it
    stand for anything (` ...` at the end of a line, for anything or nothing)."""
    pattern = (
        re.escape(shown).replace(re.escape(" ..."), "(?: .*)?").replace(re.escape("..."), ".*")
    )
    pattern = re.sub(r"<[^>]*>", ".+", pattern)  # re.escape leaves < and > as they are
    return re.fullmatch(pattern, printed) is not None


def face3d_commands(readme: str | None = None) -> dict[str, set[str]]:
    """Each `face3d` command shown in code, with the options shown with it."""
    found: dict[str, set[str]] = {}
    for code in _code_texts(readme):
        for command, rest in _FACE3D.findall(code):
            words = rest.split(" #", 1)[0]  # a comment after the command is no option of it
            found.setdefault(command, set()).update(_OPTION.findall(words))
    return found


def make_targets(readme: str | None = None) -> set[str]:
    """Each `make` target shown in code."""
    return {target for code in _code_texts(readme) for target in _MAKE.findall(code)}


def makefile_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([a-z][\w-]*):", makefile, re.MULTILINE))


def table(heading: str, readme: str | None = None) -> list[list[str]]:
    """The rows of the first table after `heading` (its header row first), cells stripped."""
    source = text() if readme is None else readme
    start = source.index(heading)
    rows: list[list[str]] = []
    for line in source[start:].splitlines()[1:]:
        if line.startswith("|"):
            cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
            if not set(line) <= {"|", "-", " "}:
                rows.append(cells)
        elif rows:
            break
    return rows


def node_exists(node_id: str) -> bool:
    """Whether `path::function` (a pytest node id, parameters dropped) names a test function
    defined in that file."""
    path, _, name = node_id.partition("::")
    name = name.split("[", 1)[0]
    file = ROOT / path
    if not file.is_file():
        return False
    tree = ast.parse(file.read_text(encoding="utf-8"))
    return any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name
        for node in tree.body
    )
