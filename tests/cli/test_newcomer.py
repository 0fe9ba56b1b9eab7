"""What a newcomer trips over: runs that would surprise a Terraform or decK user are refused or
explained (an empty manifests folder, a past expiry, options before the command)."""

from __future__ import annotations

import datetime as dt
import json
import re
import shlex
import shutil
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from portal_gitops.cli import main
from tests.apis import EXAMPLE_APIS
from tests.cli.test_plan_apply import NO_CHANGES
from tests.conftest import REPO, CliTarget, copy_examples

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
    assert "Plan: 0 to create, 0 to update, 48 to delete." in planned.stdout


def test_a_request_past_its_expiry_is_a_warning_naming_file_line_object_and_field(
    tmp_path: Path,
) -> None:
    manifests = copy_examples(tmp_path)
    request = manifests / "requests" / "weather-api" / "acme-storm-tracker.yaml"
    past = dt.date.today() - dt.timedelta(days=1)
    text = request.read_text()
    line = next(n for n, s in enumerate(text.splitlines(), 1) if s.strip().startswith("expires:"))
    request.write_text(re.sub(r'expires: "[0-9-]+"', f'expires: "{past}"', text))

    code, out, err = _run("validate", str(manifests))
    assert code == 0, err  # a warning, not an error
    assert out == "36 documents valid.\n"
    assert err == (
        f"{request}:{line}: warning: AccessRequest/acme-storm-tracker: spec.expires: "
        f"{past} has passed: this request grants nothing, and the next apply revokes any "
        "access it granted; remove the file, or set a later date to renew the access\n"
    )
    code, out, _ = _run("validate", str(manifests), "--format", "json")
    (warning,) = json.loads(out)["warnings"]
    assert (warning["line"], warning["field"], warning["severity"]) == (
        line,
        "spec.expires",
        "warning",
    )

    # today is the last day: not past yet
    request.write_text(re.sub(r'expires: "[0-9-]+"', f'expires: "{dt.date.today()}"', text))
    assert _run("validate", str(manifests))[2] == ""


def test_the_emulator_on_a_port_in_use_is_one_clear_error_without_its_banner(
    tmp_path: Path,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            main,
            ["emulator", "--port", str(port), "--store", str(tmp_path / "portal.db")],
            env={"TYK_PORTAL_TOKEN": "t0ken-1", "TYK_DASHBOARD_SECRET": "s3cret-1"},
            catch_exceptions=False,
        )
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use; another program "
        "(perhaps another emulator) is using it: stop it, or pick a free port with --port\n"
    )
    assert not (tmp_path / "portal.db").exists()


def test_common_options_are_accepted_before_the_command_as_after_it(tmp_path: Path) -> None:
    manifests = str(copy_examples(tmp_path))
    store, other = str(tmp_path / "a" / "portal.db"), str(tmp_path / "b" / "portal.db")
    seeded = ("--store", store, "--apis", str(EXAMPLE_APIS))

    before = _run("-v", "--no-color", *seeded, "plan", manifests)
    after = _run("plan", manifests, "-v", "--no-color", *seeded)
    assert before[0] == after[0] == 0, before[2]
    assert before[1] == after[1] and "Plan: 48 to create" in before[1]

    code, out, _ = _run(*seeded, "apply", manifests, "--auto-approve")
    assert (code, out.splitlines()[-1]) == (0, "Apply: 48 done, 0 failed, 0 skipped.")
    assert _run("--store", store, "plan", manifests)[1] == NO_CHANGES + "\n"
    # given at both places, the one after the command wins: the other store is empty
    code, _, err = _run("--store", store, "plan", manifests, "--store", other)
    assert code == 1 and 'API "air-quality" is not defined on the Dashboard' in err
    # a target option before a command that reads no portal is refused, not ignored
    code, _, err = _run("--store", store, "validate", manifests)
    assert code == 1 and "Error: --store does not apply to `validate`: it reads no portal" in err
    assert _run("-v", "--no-color", "validate", manifests)[0] == 0
    # an unknown option before the command is still refused
    code, _, err = _run("--no-such-option", "plan", manifests)
    assert code == 1 and "No such option '--no-such-option'" in err


def test_the_quick_start_is_two_commands_and_what_it_says_after_them_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's Quick start: one command plans and applies the examples on the embedded
    store, one runs the test suite; the prose after them says where the embedded portal now
    lives and how to plan again to "No changes", without any Dashboard secret set."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Quick start\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert len(blocks) == 2 and all(b.count("\n") == 1 for b in blocks), blocks
    assert blocks[1].strip() == "bash .ci/run"
    steps = blocks[0].strip().split(" && ")
    assert steps[:2] == ["python3 -m venv .venv", ".venv/bin/pip install -q ."]
    prose = " ".join(section.split("```")[-1].split())
    store = re.search(r"lives in the SQLite file `([^`]+)`", prose)
    again = re.search(r"Plan again, with `\.venv/bin/portal-gitops ([^`]+)`", prose)
    assert store and again, prose
    assert "`No changes. The portal matches the manifests.`" in prose
    assert "`User/<email>`" in prose

    shutil.copytree(REPO / "examples" / "manifests", tmp_path / "examples" / "manifests")
    shutil.copytree(REPO / "examples" / "apis", tmp_path / "examples" / "apis")
    monkeypatch.chdir(tmp_path)
    env = {**ENV, "TYK_DASHBOARD_SECRET": None, "PORTAL_GITOPS_APIS": None}
    plan_out = ""
    for step in steps[2:]:
        program, *argv = shlex.split(step)
        assert program == ".venv/bin/portal-gitops"
        result = CliRunner().invoke(main, argv, env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        plan_out = plan_out or result.stdout
    # the counts the prose gives are the ones printed
    done = re.search(r"prints the plan \((\d+) objects to create\).*?`(Apply: [^`]+)`", prose)
    assert done, prose
    assert f"Plan: {done.group(1)} to create, 0 to update, 0 to delete." in plan_out
    assert result.stdout.endswith(done.group(2) + "\n")
    assert result.stdout.endswith("Apply: 48 done, 0 failed, 0 skipped.\n")
    assert (tmp_path / store.group(1)).is_file()
    result = CliRunner().invoke(main, shlex.split(again.group(1)), env=env)
    assert result.stdout == NO_CHANGES + "\n", result.output
    # the docs' first run asks for no Dashboard secret either
    assert "export TYK_DASHBOARD_SECRET" not in (REPO / "docs" / "README.md").read_text()


def test_a_saved_plan_applies_on_the_embedded_store_without_a_dashboard_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The embedded store needs no Dashboard secret (README, Quick start): applying the plan
    saved for review (what the workflows do on merge) needs none either, as apply does."""
    manifests = copy_examples(tmp_path)
    monkeypatch.chdir(tmp_path)
    env = {**ENV, "TYK_DASHBOARD_SECRET": None, "PORTAL_GITOPS_APIS": str(EXAMPLE_APIS)}
    saved = str(tmp_path / "reviewed.plan")
    made = CliRunner().invoke(main, ["plan", str(manifests), "--out", saved], env=env)
    assert made.exit_code == 0, made.output
    applied = CliRunner().invoke(main, ["apply", saved, "--auto-approve"], env=env)
    assert applied.exit_code == 0, applied.output
    assert applied.stdout.endswith("Apply: 48 done, 0 failed, 0 skipped.\n")
    again = CliRunner().invoke(main, ["plan", str(manifests)], env=env)
    assert again.stdout == NO_CHANGES + "\n", again.output
