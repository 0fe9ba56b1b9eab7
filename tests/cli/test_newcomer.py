"""What a newcomer trips over: runs that would surprise a Terraform or decK user are refused or
explained (an empty manifests folder, a past expiry, options before the command)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from portal_gitops.cli import main
from tests.conftest import CliTarget, copy_examples

ENV: dict[str, str | None] = {"NO_COLOR": "1", "TYK_PORTAL_URL": None, "TYK_PORTAL_TOKEN": None}


def _run(*argv: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(argv), env=ENV, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_a_folder_with_no_document_is_refused_unless_allowed(
    cli_target: CliTarget, tmp_path: Path
) -> None:
    manifests = copy_examples(tmp_path)
    applied = cli_target.invoke("apply", str(manifests), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a manifest\n")
    (empty / "blank.yaml").write_text("# nothing yet\n")

    refusal = f"{empty}: no manifests found (no YAML document in the .yaml or .yml files there)"
    code, _, err = _run("validate", str(empty))
    assert code == 1 and err.startswith(refusal), err
    assert "pass --allow-empty if an empty estate is meant" in err
    for argv in (("plan", "--prune"), ("drift",), ("apply", "--prune", "--auto-approve")):
        refused = cli_target.invoke(argv[0], str(empty), *argv[1:])
        assert refused.exit_code == 1, (argv, refused.output)
        assert refused.stderr.startswith(refusal), refused.stderr
    code, out, _ = _run("validate", str(empty), "--format", "json")
    assert code == 1 and json.loads(out)["valid"] is False
    # nothing was deleted by the refused apply
    again = cli_target.invoke("plan", str(manifests), "--detailed-exitcode")
    assert again.exit_code == 0, again.output

    assert _run("validate", str(empty), "--allow-empty")[:2] == (0, "0 documents valid.\n")
    planned = cli_target.invoke("plan", str(empty), "--prune", "--allow-empty")
    assert planned.exit_code == 0, planned.output
    assert "Plan: 0 to create, 0 to update, 37 to delete." in planned.stdout
