"""The architecture holds: import contracts (pyproject.toml) and a handler that imports lightly."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
# What the Lambda never needs: the engine's, the server's and the viewer's libraries.
HEAVY = ("numpy", "cv2", "mediapipe", "werkzeug", "waitress", "moderngl", "trimesh", "scipy")


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(tree / "src")}
    return subprocess.run(  # noqa: S603 (our own venv's tool)
        [str(LINT_IMPORTS), "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is not installed")
@pytest.mark.parametrize(
    ("bad_module", "bad_import", "broken"),
    [
        (None, None, None),
        ("client/leak.py", "import numpy", "the client and the function never import numpy"),
        ("client/leak.py", "import face3d.engine", "client, engine and viewer are independent"),
        ("engine/leak.py", "import face3d.cli.main", "nothing imports the command line"),
        ("server/leak.py", "import boto3", "only the function imports boto3"),
        # A module added later, outside every product, is held to the rules as well.
        ("logs.py", "import aws_lambda_powertools", "only the function imports boto3"),
        ("logs.py", "from face3d.cli import main", "nothing imports the command line"),
    ],
    ids=[
        "clean",
        "numpy-in-client",
        "client-imports-engine",
        "engine-imports-cli",
        "boto3-in-server",
        "powertools-in-a-new-module",
        "new-module-imports-cli",
    ],
)
def test_make_lint_fails_when_an_import_breaks_the_architecture(
    tmp_path: Path, bad_module: str | None, bad_import: str | None, broken: str | None
) -> None:
    shutil.copytree(ROOT / "src" / "face3d", tmp_path / "src" / "face3d")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    if bad_module is not None:
        (tmp_path / "src" / "face3d" / bad_module).write_text(f"{bad_import}\n")

    answer = _lint_imports(tmp_path)

    if broken is None:
        assert answer.returncode == 0, answer.stdout + answer.stderr
        assert "0 broken" in answer.stdout
    else:
        assert answer.returncode == 1, answer.stdout + answer.stderr
        # "<contract> BROKEN", or "<contract> BROKEN (n ignored imports)"
        lines = [line for line in answer.stdout.splitlines() if " BROKEN" in line]
        assert any(line.startswith(broken) for line in lines), answer.stdout


def test_importing_the_handler_loads_none_of_the_engine_server_or_viewer_libraries() -> None:
    code = (
        "import sys, face3d.function.handler; "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    answer = subprocess.run(  # noqa: S603 (this interpreter)
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"},
    )
    assert answer.stdout.strip() == ""
