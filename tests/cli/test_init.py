"""`init` on a folder that already holds some of its files: refused unless --force, or
--skip-existing writes only the missing ones and names those it kept."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from portal_gitops.cli import main


def init(*argv: str) -> Result:
    return CliRunner().invoke(main, ["init", *argv, "--no-lock"], catch_exceptions=False)


def test_init_refuses_existing_files_or_skips_them_when_asked(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "manifests").mkdir(parents=True)
    mine = "# ours\n"
    (repo / "README.md").write_text(mine)
    (repo / "manifests" / "plans.yaml").write_text(mine)

    refused = init(str(repo))
    assert refused.exit_code == 1
    assert refused.stderr == (
        f"error: {repo} already has README.md, manifests/plans.yaml; pass --force to overwrite "
        "them, or --skip-existing to write only the missing files\n"
    )
    assert sorted(p.name for p in repo.rglob("*") if p.is_file()) == ["README.md", "plans.yaml"]

    both = init(str(repo), "--force", "--skip-existing")
    assert both.exit_code == 1
    assert "--force and --skip-existing contradict each other" in both.stderr

    added = init(str(repo), "--skip-existing")
    assert added.exit_code == 0, added.output
    assert (repo / "README.md").read_text() == mine
    assert (repo / "manifests" / "plans.yaml").read_text() == mine
    assert f"{repo / 'README.md'}\n" not in added.stdout
    assert f"{repo / '.github' / 'CODEOWNERS'}\n" in added.stdout
    assert (repo / "manifests" / "providers.yaml").is_file()
    assert added.stderr.startswith(
        f"skipped (already exists): {repo / 'README.md'}\n"
        f"skipped (already exists): {repo / 'manifests' / 'plans.yaml'}\n"
    )
    # run again: everything exists, nothing is written, each file is named as kept
    again = init(str(repo), "--skip-existing")
    assert again.exit_code == 0, again.output
    written = [line for line in again.stdout.splitlines() if line.strip()]
    assert written == []
    assert again.stderr.count("skipped (already exists): ") == len(
        [p for p in repo.rglob("*") if p.is_file()]
    )

    forced = init(str(repo), "--force")
    assert forced.exit_code == 0, forced.output
    assert (repo / "README.md").read_text() != mine


def test_the_next_step_init_prints_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """init ends with the commands to run next: run as printed, they validate and plan the
    starter (the starter's products name an API only its apis/ folder defines)."""
    monkeypatch.chdir(tmp_path)
    env = {"NO_COLOR": "1", "TYK_PORTAL_URL": None, "PORTAL_GITOPS_APIS": None}
    made = CliRunner().invoke(main, ["init", "repo", "--no-lock"], env=env)
    assert made.exit_code == 0, made.output
    (line,) = [x for x in made.stderr.splitlines() if x.startswith("Next: ")]
    for step in line.removeprefix("Next: ").split(" && "):
        program, *argv = shlex.split(step)
        assert program == "portal-gitops"
        result = CliRunner().invoke(main, argv, env=env)
        assert result.exit_code == 0, (step, result.output)


def test_codeowners_at_the_repository_root_routes_the_real_requests_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`codeowners` with no path reads the repository from its root: the folder line for new
    request files must name where they are (manifests/requests/<product>/), as
    `codeowners manifests` and the CODEOWNERS init wrote do, not a requests/ that is not there."""
    made = CliRunner().invoke(main, ["init", str(tmp_path / "repo"), "--no-lock"])
    assert made.exit_code == 0, made.output
    monkeypatch.chdir(tmp_path / "repo")
    bare = CliRunner().invoke(main, ["codeowners"])
    named = CliRunner().invoke(main, ["codeowners", "manifests"])
    assert bare.exit_code == named.exit_code == 0, bare.output
    assert bare.stdout == named.stdout
    assert bare.stdout == (tmp_path / "repo" / ".github" / "CODEOWNERS").read_text()
