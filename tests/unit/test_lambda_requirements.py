"""tools/lambda_requirements.py: src/requirements.txt is pyproject's runtime dependencies."""

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "lambda_requirements", ROOT / "tools" / "lambda_requirements.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = load_tool()

PYPROJECT = """\
[project]
name = "example"
version = "1"
dependencies = [
    "aws-lambda-powertools[tracer]>=3.10,<4",
    "Pillow >= 11, <14",
    'tomli>=2; python_version < "3.11"',
]

[project.optional-dependencies]
dev = ["pytest>=8"]
engine = ["mediapipe"]

[dependency-groups]
tools = ["aws-sam-cli>=1.170,<2"]
"""


@pytest.fixture
def pyproject(tmp_path: Path) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text(PYPROJECT, encoding="utf-8")
    return path


def test_the_committed_file_matches_pyproject() -> None:
    assert tool.main(["--check"]) == 0, "src/requirements.txt is stale: run `make requirements`"


def test_the_committed_file_lists_exactly_the_runtime_dependencies() -> None:
    lines = (ROOT / "src" / "requirements.txt").read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# Generated from pyproject.toml")
    assert [line for line in lines if not line.startswith("#")] == tool.runtime_dependencies(
        ROOT / "pyproject.toml"
    )


def test_only_the_project_dependencies_are_written(pyproject: Path, tmp_path: Path) -> None:
    output = tmp_path / "requirements.txt"
    assert tool.main(["--pyproject", str(pyproject), "--output", str(output)]) == 0
    text = output.read_text(encoding="utf-8")
    assert text.startswith(tool.HEADER)
    assert text.removeprefix(tool.HEADER).splitlines() == [
        "aws-lambda-powertools[tracer]>=3.10,<4",
        "Pillow >= 11, <14",
        'tomli>=2; python_version < "3.11"',
    ]
    assert "pytest" not in text
    assert "mediapipe" not in text
    assert "aws-sam-cli" not in text


def test_check_fails_on_a_stale_or_missing_file_and_regenerating_fixes_it(
    pyproject: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "requirements.txt"
    args = ["--pyproject", str(pyproject), "--output", str(output)]
    assert tool.main([*args, "--check"]) == 1
    assert "is missing" in capsys.readouterr().err

    output.write_text(tool.HEADER + "Pillow>=11,<14\n", encoding="utf-8")
    assert tool.main([*args, "--check"]) == 1
    err = capsys.readouterr().err
    assert "+aws-lambda-powertools[tracer]>=3.10,<4" in err
    assert "make requirements" in err

    assert tool.main(args) == 0
    assert tool.main([*args, "--check"]) == 0


def test_dynamic_dependencies_are_refused(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "x"\nversion = "1"\ndynamic = ["dependencies"]\n', encoding="utf-8"
    )
    output = tmp_path / "requirements.txt"
    assert tool.main(["--pyproject", str(pyproject), "--output", str(output)]) == 2
    assert not output.exists()
