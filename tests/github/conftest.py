"""A GitHub repository in miniature for the workflows' commands: a local bare git remote and a
work tree (what actions/checkout leaves), the fake GitHub REST API, the emulated portal over
HTTP, and the event payloads GitHub writes to GITHUB_EVENT_PATH ("Webhook events and
payloads": pull_request, push, schedule, workflow_dispatch)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from portal_gitops.backends.emulated.server import running_emulator
from portal_gitops.backends.emulated.store import PortalStore
from portal_gitops.cli import main
from tests.apis import example_apis
from tests.conftest import DASHBOARD_SECRET, EXAMPLES, PORTAL_TOKEN
from tests.github.fake_github import FakeGitHub, running

REPO = "acme/portal-config"
FORK = "mallory/portal-config"


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=dev", "-c", "user.email=dev@acme.example", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@dataclass
class World:
    tmp: Path
    work: Path
    remote: Path
    gh: FakeGitHub
    store: PortalStore
    portal_url: str
    direct: PortalStore  # a second handle on the live store, to act as the portal or a consumer
    summary: Path
    output: Path
    events: int = 0
    last: dict[str, Any] = field(default_factory=dict)

    @property
    def manifests(self) -> Path:
        return self.work / "manifests"

    def event(self, name: str, payload: dict[str, Any]) -> dict[str, str]:
        self.events += 1
        path = self.tmp / f"event-{self.events}.json"
        path.write_text(json.dumps(payload))
        return {"GITHUB_EVENT_NAME": name, "GITHUB_EVENT_PATH": str(path)}

    def env(
        self, *, secrets: bool = True, token: str | None = None, opener: str | None = None
    ) -> dict[str, str | None]:
        env: dict[str, str | None] = {
            "GITHUB_API_URL": self.gh.url,
            "GITHUB_SERVER_URL": "https://github.example",
            "GITHUB_REPOSITORY": REPO,
            "GITHUB_RUN_ID": "4242",
            "GITHUB_TOKEN": token or self.gh.token,
            "GITHUB_STEP_SUMMARY": str(self.summary),
            "GITHUB_OUTPUT": str(self.output),
            "NO_COLOR": "1",
            "TYK_PORTAL_URL": None,
            "TYK_PORTAL_TOKEN": None,
            "TYK_DASHBOARD_SECRET": None,
            "TYK_DASHBOARD_URL": None,
            # the repository variable naming who opens request pull requests
            "PORTAL_GITOPS_REQUEST_OPENER": opener,
        }
        if secrets:
            env.update(
                TYK_PORTAL_URL=self.portal_url,
                TYK_PORTAL_TOKEN=PORTAL_TOKEN,
                TYK_DASHBOARD_SECRET=DASHBOARD_SECRET,
                TYK_DASHBOARD_URL=self.portal_url,
            )
        return env

    def run(self, event: dict[str, str], *argv: str, **env_kw: Any) -> Result:
        """One workflow step: ``portal-gitops ARGV`` in the work tree with the run's env."""
        env = {**self.env(**env_kw), **event}
        return CliRunner().invoke(main, list(argv), env=env, catch_exceptions=False)

    def commit(self, message: str) -> str:
        git(self.work, "add", "-A")
        git(self.work, "commit", "--quiet", "--allow-empty", "-m", message)
        return git(self.work, "rev-parse", "HEAD")

    def pr_payload(
        self, number: int, head_sha: str, *, fork: bool = False, **pr: Any
    ) -> dict[str, Any]:
        head_repo = None if fork == "deleted" else {"full_name": FORK if fork else REPO}
        return {
            "action": pr.pop("action", "synchronize"),
            "number": number,
            "pull_request": {
                "number": number,
                "state": "open",
                "merged": False,
                "body": "",
                "head": {"ref": pr.pop("ref", "feature"), "sha": head_sha, "repo": head_repo},
                "base": {"ref": "trunk", "sha": "0" * 40, "repo": {"full_name": REPO}},
                **pr,
            },
            "repository": {"full_name": REPO, "default_branch": "trunk"},
        }


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    remote, work = tmp_path / "remote.git", tmp_path / "work"
    subprocess.run(["git", "init", "--quiet", "--bare", "-b", "trunk", str(remote)], check=True)
    subprocess.run(["git", "init", "--quiet", "-b", "trunk", str(work)], check=True)
    shutil.copytree(EXAMPLES, work / "manifests", ignore=shutil.ignore_patterns(".portal-gitops"))
    (work / ".github").mkdir()
    (work / ".gitignore").write_text(".portal-gitops/\nplan.json\n")
    monkeypatch.chdir(work)
    codeowners = CliRunner().invoke(main, ["codeowners", "manifests"])
    assert codeowners.exit_code == 0, codeowners.output
    (work / ".github" / "CODEOWNERS").write_text(codeowners.stdout)
    git(work, "remote", "add", "origin", str(remote))
    git(work, "add", "-A")
    git(work, "commit", "--quiet", "-m", "init")
    git(work, "push", "--quiet", "-u", "origin", "trunk")
    summary, output = tmp_path / "summary.md", tmp_path / "output.txt"
    # the Dashboard already holds the APIs the example products name
    store = PortalStore(str(tmp_path / "portal.db"), apis=example_apis())
    with (
        running_emulator(
            store, portal_token=PORTAL_TOKEN, dashboard_secret=DASHBOARD_SECRET
        ) as url,
        running(FakeGitHub(repo=REPO)) as gh,
    ):
        direct = PortalStore(str(tmp_path / "portal.db"))
        yield World(tmp_path, work, remote, gh, store, url, direct, summary, output)
        direct.close()
    store.close()
