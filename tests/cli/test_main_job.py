"""The main job on both backends: plan shows changes, apply converges, plan is then clean."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import CliTarget, copy_examples


def test_detailed_exitcode_is_2_before_the_first_apply_and_0_after(
    cli_target: CliTarget, tmp_path: Path
) -> None:
    manifests = str(copy_examples(tmp_path))
    before = cli_target.invoke("plan", manifests, "--detailed-exitcode")
    assert before.exit_code == 2, before.output
    assert "Plan: 48 to create, 0 to update, 0 to delete." in before.stdout
    applied = cli_target.invoke("apply", manifests, "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert "Apply: 48 done, 0 failed, 0 skipped." in applied.stdout
    after = cli_target.invoke("plan", manifests, "--detailed-exitcode")
    assert after.exit_code == 0, after.output
    assert after.stdout == "No changes. The portal matches the manifests.\n"
    drift = cli_target.invoke("drift", manifests)
    assert drift.exit_code == 0
