"""README.md cannot drift from behaviour: every `face3d` command and `make` target it shows is
exercised by a named test, `make demo` or CI, each command takes `--help` with the options shown,
and the troubleshooting table lists exactly the error codes there are, with what `face3d status`
says to do about each. (The README's `aws` commands run in tests/e2e/test_readme_aws.py.)"""

from __future__ import annotations

import re

import pytest

from face3d import errors
from face3d.cli.main import main
from tests import readme

# Each `face3d` command the README shows, and the tests that run it as a user would.
COMMANDS = {
    "reconstruct": [
        "tests/unit/cli/test_reconstruct.py::test_reconstruct_writes_the_result_folder",
        "tests/e2e/test_server.py::test_cli_reconstruct_writes_a_result_folder",
    ],
    "serve": [
        "tests/e2e/test_server.py::test_serve_blocks_until_stopped",
        "tests/e2e/test_server.py::test_client_reconstructs_with_the_real_engine",
    ],
    "preview": ["tests/unit/viewer/test_preview.py::test_cli_writes_the_png_and_prints_one_line"],
    "demo": ["tests/e2e/test_demo.py::test_demo_runs_every_sample_subject_to_its_outcome"],
    "status": [
        "tests/integration/test_operations.py::test_status_counts_the_sets_in_every_state",
        "tests/integration/test_operations.py::test_status_of_a_failed_subject_says_what_to_do",
        "tests/e2e/test_readme_aws.py::test_the_readme_aws_commands_against_local_aws",
    ],
    "redrive": [
        "tests/integration/test_operations.py::test_redrive_replays_parked_sets_and_leaves_the_rest_visible",
        "tests/integration/test_operations.py::test_redrive_include_permanent_tries_a_failed_set_again",
        "tests/e2e/test_readme_aws.py::test_the_readme_aws_commands_against_local_aws",
    ],
    "backfill": [
        "tests/integration/test_operations.py::test_backfill_triggers_the_pending_set_once_however_often_it_runs",
        "tests/integration/test_operations.py::test_backfill_dry_run_and_manifest_change_nothing",
        "tests/e2e/test_readme_aws.py::test_the_readme_aws_commands_against_local_aws",
    ],
}

CI = ".ci/run"
# Each `make` target the README shows, and what exercises it: tests, or CI (`.ci/run` runs it).
TARGETS = {
    "demo": [
        "tests/e2e/test_demo.py::test_demo_runs_every_sample_subject_to_its_outcome",
        "tests/e2e/test_turned_face_picture.py::test_the_picture_shows_the_hidden_cheek_wall_blue_before_and_not_now",
        "tests/e2e/test_turned_face_picture.py::test_make_demo_skips_the_picture_in_one_line_where_the_old_engine_is_not_in_git",
    ],
    "test": [CI],
    "lint": [
        CI,
        "tests/unit/test_architecture.py::test_make_lint_fails_when_an_import_breaks_the_architecture",
    ],
    "test-lambda-runtime": [CI],
    "requirements-check": [CI],
    "template-check": [CI],
    "build": [CI],  # through build-check
    "build-check": [CI],
    "requirements": [
        "tests/unit/test_lambda_requirements.py::test_check_fails_when_pyproject_changes_and_regenerating_fixes_it"
    ],
    "bench": [
        "tests/e2e/test_bench.py::test_every_row_of_the_issue_is_measured_against_its_baseline"
    ],
    "soak": ["tests/e2e/test_soak.py::test_no_set_is_lost"],
}


def test_every_face3d_command_shown_is_exercised_by_a_test() -> None:
    shown = set(readme.face3d_commands())

    assert shown - set(COMMANDS) == set(), "README shows commands no test is named for: add them"
    for command in shown:
        missing = [node for node in COMMANDS[command] if not readme.node_exists(node)]
        assert missing == [], f"face3d {command}: these tests do not exist"


def test_every_make_target_shown_exists_and_is_exercised() -> None:
    shown = readme.make_targets()
    ci = (readme.ROOT / CI).read_text(encoding="utf-8")

    assert shown - readme.makefile_targets() == set(), "README shows targets the Makefile lacks"
    assert shown - set(TARGETS) == set(), "README shows targets nothing is named for: add them"
    for target in shown:
        for cover in TARGETS[target]:
            if cover == CI:
                assert re.search(rf"^make {re.escape(target)}$", ci, re.MULTILINE) or (
                    target == "build" and "make build-check" in ci
                ), f"{CI} does not run make {target}"
            else:
                assert readme.node_exists(cover), f"make {target}: {cover} does not exist"


def test_make_demo_runs_face3d_demo_then_the_turned_face_picture() -> None:
    makefile = (readme.ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\ndemo:", 1)[1].split("\n\n", 1)[0].replace("\\\n", " ")

    assert "face3d demo --output demo-output" in recipe  # what test_demo.py runs
    # What test_turned_face_picture.py runs: the picture never fails the demo.
    picture = recipe.split("tools.turned_face_picture", 1)[1]
    assert picture.split()[:2] == ["demo-output/turned-face.jpg", "--skip-if-unavailable"]
    told = " ".join(readme.text().replace("`", "").split())
    assert "make demo writes demo-output/turned-face.jpg" in told


@pytest.mark.parametrize("command", sorted(readme.face3d_commands()))
def test_each_command_shown_takes_help_and_the_options_shown(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    usage = capsys.readouterr().out

    assert exited.value.code == 0
    assert usage.startswith(f"usage: face3d {command}")
    options = set(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", usage))
    assert readme.face3d_commands()[command] - options == set()


def code_constants() -> set[str]:
    """Every error code errors.py defines: the API's and ours."""
    return {
        name
        for name, value in vars(errors).items()
        if name.isupper() and isinstance(value, str) and value == name
    }


def test_the_troubleshooting_table_lists_every_error_code_with_what_to_do() -> None:
    header, *rows = readme.table("Every error code, the API's and ours")
    assert header == ["code", "kind", "cause", "what to do"]
    listed = [row[0].strip("`") for row in rows]

    assert sorted(listed) == sorted(code_constants())
    assert len(listed) == len(set(listed))
    for code, kind, cause, what_to_do in rows:
        error = errors.error_for(code.strip("`"))
        if error.code in errors.KNOWN_CODES:
            assert kind.startswith(error.kind.value), code
        assert cause, code
        assert what_to_do == errors.remedy(error.code, error.retryable), code


def test_the_sections_come_in_the_order_a_new_team_needs_them() -> None:
    assert readme.headings(2) == [
        "Two commands",
        "Architecture",
        "Deploy it",
        "Use it",
        "Operate it",
        "Troubleshooting",
        "Limits and costs",
        "Face++ or our own engine",
        "Reference",
    ]
    assert "](docs/preview-astronaut.jpg)" in readme.text().split("## Two commands")[0]
    assert "](docs/turned-face.jpg)" in readme.text()
