"""Where the embedded store is: one rule, whatever the spelling of the manifests' path, and
printed. At the root of the Git repository holding the manifests, else in the working
directory; --store or PORTAL_GITOPS_STORE choose another file."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from portal_gitops.cli import main
from tests.apis import EXAMPLE_APIS
from tests.conftest import copy_examples

ENV: dict[str, str | None] = {
    "NO_COLOR": "1",
    "TYK_PORTAL_URL": None,
    "PORTAL_GITOPS_STORE": None,
    "TYK_DASHBOARD_SECRET": "local-secret",
}
NO_CHANGES = "No changes. The portal matches the manifests.\n"


def run(*argv: str, **env: str | None) -> Result:
    return CliRunner().invoke(
        main, [*argv, "--apis", str(EXAMPLE_APIS)], env={**ENV, **env}, catch_exceptions=False
    )


def test_apply_dot_and_plan_manifests_use_one_store_at_the_repository_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".git").mkdir()
    manifests = copy_examples(repo)
    store = repo / ".portal-gitops" / "portal.db"

    monkeypatch.chdir(manifests)
    applied = run("apply", ".", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    # the store is outside the working directory: shown whole
    assert applied.stderr.startswith(f"Embedded portal: {store}\n")
    assert store.is_file()

    monkeypatch.chdir(repo)
    for spelling in ("manifests", "manifests/", "./manifests", str(manifests)):
        plan = run("plan", spelling)
        assert plan.exit_code == 0, (spelling, plan.output)
        assert plan.stderr == "Embedded portal: .portal-gitops/portal.db\n", spelling
        assert plan.stdout == NO_CHANGES, spelling
    drift = run("drift", "manifests")
    assert drift.exit_code == 0, drift.output
    assert drift.stderr == "Embedded portal: .portal-gitops/portal.db\n"
    assert not (manifests / ".portal-gitops").exists()

    # a saved plan applied says where it applies too
    saved = repo / "plan.json"
    assert run("plan", "manifests", "--out", str(saved)).exit_code == 0
    again = CliRunner().invoke(main, ["apply", str(saved)], env=ENV, catch_exceptions=False)
    assert again.exit_code == 0, again.output
    assert again.stderr == "Embedded portal: .portal-gitops/portal.db\n"
    assert again.stdout == NO_CHANGES


def test_outside_a_repository_the_store_is_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifests = copy_examples(tmp_path)
    monkeypatch.chdir(tmp_path)
    applied = run("apply", "manifests", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert applied.stderr.startswith("Embedded portal: .portal-gitops/portal.db\n")
    assert (tmp_path / ".portal-gitops" / "portal.db").is_file()
    assert not (manifests / ".portal-gitops").exists()
    assert run("plan", "./manifests/").stdout == NO_CHANGES


def test_store_and_the_environment_variable_choose_another_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy_examples(tmp_path)
    monkeypatch.chdir(tmp_path)
    from_env = tmp_path / "env" / "portal.db"
    applied = run("apply", "manifests", "--auto-approve", PORTAL_GITOPS_STORE=str(from_env))
    assert applied.exit_code == 0, applied.output
    assert applied.stderr.startswith(f"Embedded portal: {from_env}\n")
    assert from_env.is_file()
    assert not (tmp_path / ".portal-gitops").exists()

    given = tmp_path / "given.db"
    plan = run("plan", "manifests", "--store", str(given), PORTAL_GITOPS_STORE=str(from_env))
    assert plan.stderr == f"Embedded portal: {given}\n"
    assert "Plan: " in plan.stdout  # a fresh store: everything to create
