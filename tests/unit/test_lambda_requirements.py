"""tools/lambda_requirements.py: src/requirements.txt pins pyproject's runtime dependencies."""

import importlib.util
import json
import re
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


REPORT = {
    "version": "1",
    "install": [
        {"metadata": {"name": "aws_lambda_powertools", "version": "3.37.0"}},
        {"metadata": {"name": "aws-xray-sdk", "version": "2.15.0"}},
        {"metadata": {"name": "pillow", "version": "13.0.0"}},
        {"metadata": {"name": "Tomli", "version": "2.4.0"}},
    ],
}


@pytest.fixture
def report(tmp_path: Path) -> Path:
    path = tmp_path / "report.json"
    path.write_text(json.dumps(REPORT), encoding="utf-8")
    return path


def test_the_committed_file_matches_pyproject() -> None:
    assert tool.main(["--check"]) == 0, "src/requirements.txt is stale: run `make requirements`"


def test_the_committed_file_pins_every_runtime_dependency_to_one_version() -> None:
    text = (ROOT / "src" / "requirements.txt").read_text(encoding="utf-8")
    sources, pins = tool.recorded(text)
    assert sources == tool.runtime_dependencies(ROOT / "pyproject.toml")
    for dependency in sources:
        assert tool.requirement_name(dependency) in pins
    assert "pytest" not in pins
    assert "moto" not in pins
    assert "mediapipe" not in pins
    assert "aws-sam-cli" not in pins
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert all(re.fullmatch(r"[a-z0-9-]+==[0-9][0-9a-z.]*", line) for line in lines), lines


def test_the_closure_is_written_pinned_with_its_sources(
    pyproject: Path, report: Path, tmp_path: Path
) -> None:
    output = tmp_path / "requirements.txt"
    args = ["--pyproject", str(pyproject), "--output", str(output), "--pip-report", str(report)]
    assert tool.main(args) == 0
    text = output.read_text(encoding="utf-8")
    assert text.startswith(tool.HEADER)
    assert text.removeprefix(tool.HEADER).splitlines() == [
        "# from pyproject.toml: aws-lambda-powertools[tracer]>=3.10,<4",
        "# from pyproject.toml: Pillow >= 11, <14",
        '# from pyproject.toml: tomli>=2; python_version < "3.11"',
        "aws-lambda-powertools==3.37.0",
        "aws-xray-sdk==2.15.0",
        "pillow==13.0.0",
        "tomli==2.4.0",
    ]
    assert tool.main([*args[:4], "--check"]) == 0


def test_check_fails_when_pyproject_changes_and_regenerating_fixes_it(
    pyproject: Path, report: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "requirements.txt"
    args = ["--pyproject", str(pyproject), "--output", str(output)]
    assert tool.main([*args, "--check"]) == 1
    assert "missing" in capsys.readouterr().err
    assert tool.main([*args, "--pip-report", str(report)]) == 0

    pyproject.write_text(PYPROJECT.replace("Pillow >= 11, <14", "Pillow >= 13.1"), "utf-8")
    assert tool.main([*args, "--check"]) == 1
    err = capsys.readouterr().err
    assert "+Pillow >= 13.1" in err
    assert "pillow==13.0.0 does not satisfy" in err
    assert "make requirements" in err

    newer = json.loads(report.read_text(encoding="utf-8"))
    newer["install"][2]["metadata"]["version"] = "13.1.0"
    report.write_text(json.dumps(newer), encoding="utf-8")
    assert tool.main([*args, "--pip-report", str(report)]) == 0
    assert tool.main([*args, "--check"]) == 0


def test_a_hand_edited_range_or_pin_fails_the_check(
    pyproject: Path, report: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "requirements.txt"
    args = ["--pyproject", str(pyproject), "--output", str(output)]
    assert tool.main([*args, "--pip-report", str(report)]) == 0
    text = output.read_text(encoding="utf-8")
    output.write_text(text.replace("pillow==13.0.0", "pillow>=13"), encoding="utf-8")
    assert tool.main([*args, "--check"]) == 1
    assert "not pinned to one version" in capsys.readouterr().err
    output.write_text(text.replace("pillow==13.0.0", "pillow==10.4.0"), encoding="utf-8")
    assert tool.main([*args, "--check"]) == 1
    assert "pillow==10.4.0 does not satisfy" in capsys.readouterr().err


def test_an_up_to_date_file_is_not_resolved_again(
    pyproject: Path, report: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "requirements.txt"
    args = ["--pyproject", str(pyproject), "--output", str(output)]
    assert tool.main([*args, "--pip-report", str(report)]) == 0
    before = output.read_text(encoding="utf-8")
    # Without --upgrade no resolver runs: this report would not even parse.
    assert tool.main([*args, "--pip-report", str(tmp_path / "absent.json")]) == 0
    assert "already up to date" in capsys.readouterr().out
    assert output.read_text(encoding="utf-8") == before


def test_dynamic_dependencies_are_refused(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "x"\nversion = "1"\ndynamic = ["dependencies"]\n', encoding="utf-8"
    )
    output = tmp_path / "requirements.txt"
    assert tool.main(["--pyproject", str(pyproject), "--output", str(output)]) == 2
    assert not output.exists()
