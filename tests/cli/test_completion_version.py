"""Shell completion and --version."""

from __future__ import annotations

from click.testing import CliRunner

from portal_gitops import __version__
from portal_gitops.cli import main


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"portal-gitops, version {__version__}\n"


def test_completion_scripts_name_the_program() -> None:
    for shell in ("bash", "zsh", "fish"):
        result = CliRunner().invoke(main, ["completion", shell])
        assert result.exit_code == 0
        assert "_PORTAL_GITOPS_COMPLETE" in result.stdout


def test_completion_completes_subcommands() -> None:
    env = {
        "_PORTAL_GITOPS_COMPLETE": "bash_complete",
        "COMP_WORDS": "portal-gitops pl",
        "COMP_CWORD": "1",
    }
    result = CliRunner().invoke(main, [], env=env, prog_name="portal-gitops")
    assert result.exit_code == 0
    assert result.stdout.strip() == "plain,plan"
