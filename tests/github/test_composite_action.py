"""The composite action's run step, executed by bash with the inputs a workflow passes.

GitHub runs a composite step's ``run`` with ``shell: bash``, expands ``${{ inputs.* }}`` into
the step's ``env`` (an input not given takes its ``default``), and reads the step's outputs
from the file named by ``GITHUB_OUTPUT`` and the job summary from ``GITHUB_STEP_SUMMARY``
("Metadata syntax for GitHub Actions", runs for composite actions; "Workflow commands"). Here
``portal-gitops`` on PATH is this checkout."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DASHBOARD_SECRET, REPO, copy_examples
from tests.unit.test_workflows import load_yaml

ACTION = load_yaml(REPO / "action.yml")
(RUN_STEP,) = [s for s in ACTION["runs"]["steps"] if s.get("id") == "run"]
INPUT = re.compile(r"^\$\{\{ inputs\.([\w-]+) \}\}$")


class Step:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        bin_dir = tmp / "bin"
        bin_dir.mkdir()
        tool = bin_dir / "portal-gitops"
        tool.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m portal_gitops "$@"\n')
        tool.chmod(0o755)
        self.path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
        self.store = tmp / "live" / "portal.db"
        self.apis = str(REPO / "examples" / "apis")

    def __call__(self, **inputs: str) -> tuple[int, dict[str, str], str, str]:
        """Run the step; (exit code, outputs, the report's text, the job summary)."""
        given = {k.replace("_", "-"): v for k, v in inputs.items()}
        unknown = set(given) - set(ACTION["inputs"])
        assert not unknown, f"the action has no input {unknown}"
        env = {
            "PATH": self.path,
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
            "RUNNER_TEMP": str(self.tmp),
            "GITHUB_OUTPUT": str(self.tmp / "output"),
            "GITHUB_STEP_SUMMARY": str(self.tmp / "summary"),
            "TYK_DASHBOARD_SECRET": DASHBOARD_SECRET,
            "HOME": str(self.tmp),
        }
        for name, value in RUN_STEP["env"].items():
            m = INPUT.match(str(value))
            env[name] = (
                given.get(m.group(1), str(ACTION["inputs"][m.group(1)].get("default", "")))
                if m
                else str(value)
            )
        for f in ("output", "summary"):
            (self.tmp / f).write_text("")
        done = subprocess.run(
            ["bash", "-e", "-c", RUN_STEP["run"]],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            cwd=self.tmp,
        )
        outputs = dict(
            line.split("=", 1) for line in (self.tmp / "output").read_text().splitlines()
        )
        report = Path(outputs["report"]).read_text() if "report" in outputs else ""
        return done.returncode, outputs, report, (self.tmp / "summary").read_text()


@pytest.fixture
def step(tmp_path: Path) -> Step:
    return Step(tmp_path)


def test_plan_with_prune_shows_the_deletions_apply_will_do(step: Step, tmp_path: Path) -> None:
    manifests = copy_examples(tmp_path)
    common = {"paths": str(manifests), "store": str(step.store), "apis": step.apis}
    code, outputs, report, _ = step(command="apply", prune="true", **common)
    assert code == 0 and outputs["exitcode"] == "0", report
    assert step.store.is_file()  # the store input was used
    (manifests / "requests" / "air-quality-api" / "acme-logistics-air.yaml").unlink()
    code, outputs, report, summary = step(command="plan", prune="true", **common)
    assert code == 0 and outputs["exitcode"] == "2"
    assert "1 to delete" in report and "REVOKE credential of `chen.ops@acme.example`" in report
    assert report in summary
    code, outputs, report, _ = step(command="plan", **common)  # without prune: only listed
    assert "No changes" in report and "deleted only with --prune" in report
    assert "REVOKE" not in report


def test_a_failure_keeps_its_message_in_the_report_and_summary(step: Step, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "p.yaml").write_text("apiVersion: portal-gitops/v1\nkind: Product\nmetadata: {}\n")
    code, outputs, report, summary = step(command="plan", paths=str(bad), store=str(step.store))
    assert code == 1 and outputs["exitcode"] == "1"
    assert "p.yaml" in report and "metadata" in report
    assert report.strip() and report in summary


def test_reviewed_plan_is_applied_and_refused_when_stale(step: Step, tmp_path: Path) -> None:
    manifests = copy_examples(tmp_path)
    common = {"paths": str(manifests), "store": str(step.store), "apis": step.apis}
    saved = str(tmp_path / "plan.json")
    code, outputs, report, _ = step(command="plan", plan_file=saved, **common)
    assert outputs["exitcode"] == "2" and Path(saved).is_file()
    code, outputs, report, _ = step(command="apply", plan_file=saved, **common)
    assert code == 0 and "Apply: 48 done, 0 failed, 0 skipped." in report, report
    # a new reviewed plan, then the manifests change before it is applied: refused, nothing
    # applied, and the report shows what a plan says now
    product = manifests / "products" / "weather-api.yaml"
    product.write_text(product.read_text().replace("description: ", "description: New. ", 1))
    code, outputs, report, _ = step(command="plan", plan_file=saved, **common)
    assert outputs["exitcode"] == "2"
    product.write_text(product.read_text().replace("description: New. ", "description: Newer. "))
    code, outputs, report, _ = step(command="apply", plan_file=saved, **common)
    assert code == 1 and outputs["exitcode"] == "1"
    assert "the saved plan is stale" in report and "nothing was applied" in report
    assert "Newer." in report and "Apply:" not in report
    code, outputs, report, _ = step(command="plan", **common)
    assert "Newer." in report  # still to do: the stale plan changed nothing


def test_portal_url_input_reaches_the_command(step: Step, tmp_path: Path) -> None:
    manifests = copy_examples(tmp_path)
    code, _, report, _ = step(command="plan", paths=str(manifests), portal_url="http://127.0.0.1:9")
    assert code == 1 and "127.0.0.1:9" in report  # it tried the portal, not the store
    assert not step.store.exists()


def test_unknown_command_and_show_without_a_file_fail(step: Step) -> None:
    code, outputs, _, _ = step(command="destroy")
    assert code == 1 and "exitcode" not in outputs
    code, outputs, _, _ = step(command="show")
    assert code == 1


@pytest.mark.parametrize("command", ["apply", "plan", "drift"])
@pytest.mark.parametrize("status", [143, 137])
def test_every_exit_code_but_success_and_changes_fails_the_step(
    step: Step, tmp_path: Path, command: str, status: int
) -> None:
    """An apply stopped by SIGTERM exits 143 (README, "Exit codes"), one killed by the kernel
    137: the step must fail, not pass as if the command had succeeded. The command here is a
    stand-in that prints an apply's summary and exits so: a run cannot be killed on cue."""
    tool = tmp_path / "bin" / "portal-gitops"
    tool.write_text(f"#!/bin/sh\necho 'Apply: 3 done, 0 failed, 41 skipped.'\nexit {status}\n")
    code, outputs, report, _ = step(command=command, paths=str(tmp_path))
    assert outputs["exitcode"] == str(status)
    assert "41 skipped" in report
    assert code != 0, (command, status)


def test_text_output_is_fenced_in_the_job_summary(step: Step, tmp_path: Path) -> None:
    # the job summary is markdown ("Adding a job summary"); a report that is not markdown goes
    # in a fenced block longer than any run of backticks in it, so nothing in it renders
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x`````@octocat.yaml").write_text("kind: [\n")
    code, _, report, summary = step(command="validate", paths=str(bad))
    assert code == 1 and "`````@octocat" in report
    lines = summary.splitlines()
    assert lines[0] == lines[-1] == "``````"
    assert "\n".join(lines[1:-1]) == report.rstrip("\n")
