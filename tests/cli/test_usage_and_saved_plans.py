"""Exit codes and saved plans as a CI step sees them (issue 14).

Exit 2 means "changes present" (plan --detailed-exitcode, drift), so a usage error (a typo in
an action input) must exit 1, never 2; and a saved plan is recognised by what it holds, not by
a ``.json`` suffix (an artifact may be named anything).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from portal_gitops import commands as cmd
from portal_gitops.cli import main
from tests.apis import example_apis, seed_store_file
from tests.conftest import DASHBOARD_SECRET, CliTarget, copy_examples


@pytest.mark.parametrize(
    "argv",
    [
        ["plna"],  # no such command
        ["plan", "--yolo"],  # no such option
        ["plan", "--format", "yaml"],  # bad choice
        ["apply", "--max-deletes", "-3"],  # out of range
        ["requests", "pull"],  # missing required option
    ],
)
def test_usage_errors_exit_1_not_the_changes_code(argv: list[str]) -> None:
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 1, result.output
    assert "Usage" in result.output or "Error" in result.output


def test_help_and_version_still_exit_0() -> None:
    assert CliRunner().invoke(main, ["--help"]).exit_code == 0
    assert CliRunner().invoke(main, ["plan", "--help"]).exit_code == 0
    assert CliRunner().invoke(main, ["--version"]).exit_code == 0


def test_a_saved_plan_is_recognised_by_its_content(tmp_path: Path) -> None:
    manifests = copy_examples(tmp_path)
    store = tmp_path / "live.db"
    seed_store_file(store, example_apis())  # the Dashboard has the examples' APIs
    saved = tmp_path / "reviewed.plan"  # no .json suffix
    env = {"TYK_DASHBOARD_SECRET": DASHBOARD_SECRET, "TYK_PORTAL_URL": None}
    made = CliRunner().invoke(
        main, ["plan", str(manifests), "--out", str(saved), "--store", str(store)], env=env
    )
    assert made.exit_code == 0, made.output
    assert cmd.is_saved_plan(str(saved))
    assert not cmd.is_saved_plan(str(manifests))
    assert not cmd.is_saved_plan(str(manifests / "catalogues.yaml"))
    applied = CliRunner().invoke(main, ["apply", str(saved), "--store", str(store)], env=env)
    assert applied.exit_code == 0, applied.output
    assert "Apply:" in applied.output
    # a manifest file named *.json is still read as manifests, not as a plan
    (tmp_path / "m").mkdir()
    shutil.copy(manifests / "catalogues.yaml", tmp_path / "m" / "x.json")
    assert not cmd.is_saved_plan(str(tmp_path / "m" / "x.json"))


def test_plan_warns_when_the_deletions_exceed_the_budget(
    cli_target: CliTarget, tmp_path: Path
) -> None:
    manifests = copy_examples(tmp_path)
    assert cli_target.invoke("apply", str(manifests), "--auto-approve").exit_code == 0
    shutil.rmtree(manifests / "requests")
    over = cli_target.invoke(
        "plan", str(manifests), "--prune", "--max-deletes", "2", "--format", "markdown"
    )
    assert over.exit_code == 0, over.output
    assert "more than the deletion budget (--max-deletes 2)" in over.output
    within = cli_target.invoke(
        "plan", str(manifests), "--prune", "--max-deletes", "50", "--format", "markdown"
    )
    assert "deletion budget" not in within.output


def test_a_saved_plan_whose_manifests_are_not_there_is_refused(tmp_path: Path) -> None:
    """A saved plan is applied only if its manifests have not changed since (SECURITY,
    "Deletion budget"): manifests that are gone have changed. Its digest is no signature, so
    a plan file naming paths that do not exist would otherwise be applied unchecked (the
    composite action applies a plan artifact handed over from another job)."""
    manifests = copy_examples(tmp_path)
    store = tmp_path / "live.db"
    seed_store_file(store, example_apis())
    saved = tmp_path / "reviewed.plan"
    env = {"TYK_DASHBOARD_SECRET": DASHBOARD_SECRET, "TYK_PORTAL_URL": None}
    made = CliRunner().invoke(
        main, ["plan", str(manifests), "--out", str(saved), "--store", str(store)], env=env
    )
    assert made.exit_code == 0, made.output
    manifests.rename(tmp_path / "elsewhere")
    refused = CliRunner().invoke(main, ["apply", str(saved), "--store", str(store)], env=env)
    assert refused.exit_code == 1, refused.output
    assert refused.stderr.startswith(
        f"error: the saved plan is stale: the manifests it was made from ({manifests}) "
        "are not here. Run plan again."
    ), refused.stderr
    assert "Apply:" not in refused.output


def test_plan_out_into_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    manifests = copy_examples(tmp_path)
    store = tmp_path / "live.db"
    seed_store_file(store, example_apis())
    out = tmp_path / "no-such-folder" / "plan.json"
    env = {"TYK_DASHBOARD_SECRET": DASHBOARD_SECRET, "TYK_PORTAL_URL": None}
    result = CliRunner().invoke(
        main, ["plan", str(manifests), "--out", str(out), "--store", str(store)], env=env
    )
    assert result.exit_code == 1
    assert result.stderr.endswith(
        f"error: cannot write {out}: the folder {out.parent} does not exist\n"
    ), result.stderr


@pytest.mark.parametrize("command", ["apply", "show"])
def test_a_plan_file_past_the_size_limit_is_refused_unread(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a plan file can come from a pull request's own run (the workflows' artifact): its size
    # is bounded before it is read, at the same limit as the artifact's
    from portal_gitops.github import api

    assert api.MAX_ARTIFACT_BYTES == cmd.MAX_PLAN_BYTES
    monkeypatch.setattr(cmd, "MAX_PLAN_BYTES", 1024)
    big = tmp_path / "plan.json"
    big.write_text('{"format_version": 2, "padding": "' + "x" * 2000 + '"}')
    result = CliRunner().invoke(main, [command, str(big)])
    assert result.exit_code == 1, result.output
    assert "larger than" in result.output and "Traceback" not in result.output
