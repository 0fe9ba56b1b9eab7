"""The required check of portal-plan: `reviewed plan` passes only when a plan was made.

GitHub reports a job skipped by its `if` as a success, which does not block a merge even when
the check is required ("Troubleshooting required status checks", handling skipped but
required checks). So the check to require is a job that always runs (`if: always()`) and reads
the results of the jobs it needs (`needs.<job>.result`: success, failure, cancelled or
skipped; "Contexts", needs context). Its step runs here in bash with each combination."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.unit.test_workflows import REPO, load_yaml

PLAN = load_yaml(REPO / ".github" / "workflows" / "portal-plan.yml")
GATE = PLAN["jobs"]["reviewed-plan"]


def test_the_gate_always_runs_after_both_jobs_with_no_token() -> None:
    assert GATE["if"] == "always()"
    assert set(GATE["needs"]) == {"validate-fork", "plan"}
    assert GATE["permissions"] == {}
    assert "secrets." not in str(GATE)
    # the jobs it reads are the only ones with a skipping `if`
    skipping = {n for n, j in PLAN["jobs"].items() if "if" in j and j["if"] != "always()"}
    assert skipping == {"validate-fork", "plan"}


@pytest.mark.parametrize(
    ("plan", "fork", "code", "says"),
    [
        ("success", "skipped", 0, "The plan comment is current."),
        ("skipped", "success", 1, "No plan for a fork pull request"),
        ("skipped", "failure", 1, "The plan failed or did not run"),
        ("failure", "skipped", 1, "The plan failed or did not run"),
        ("cancelled", "skipped", 1, "The plan failed or did not run"),
    ],
)
def test_the_gate_passes_only_when_the_plan_job_succeeded(
    plan: str, fork: str, code: int, says: str
) -> None:
    (step,) = GATE["steps"]
    env = {k: v for k, v in step["env"].items()}
    assert env == {"PLAN": "${{ needs.plan.result }}", "FORK": "${{ needs.validate-fork.result }}"}
    done = subprocess.run(
        ["bash", "-e", "-c", step["run"]],
        env={"PLAN": plan, "FORK": fork, "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == code and says in done.stdout
    if code:
        assert done.stdout.startswith("::error::")
