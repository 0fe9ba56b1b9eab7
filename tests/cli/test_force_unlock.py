"""`force-unlock` removes an apply lock left behind (like `terraform force-unlock`): it shows
who holds it and since when, refuses without confirmation, and an apply then runs."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest

from portal_gitops.backends.embedded import open_embedded
from tests.cli.test_plan_apply import _lock_policies, _Terminal, target_name
from tests.conftest import CliTarget, copy_examples

TAKEN = 1_900_000_000.0  # 2030-03-17T17:46:40Z


@pytest.fixture
def manifests(tmp_path: Path) -> Path:
    return copy_examples(tmp_path)


def _hold_lock(target: CliTarget, holder: str) -> None:
    async def take() -> None:
        backend = open_embedded(str(target.store_path), clock=lambda: TAKEN)
        try:
            await backend.acquire_lock(holder, 10 * 365 * 86400)  # held for years yet
        finally:
            await backend.aclose()

    asyncio.run(take())


def test_force_unlock_shows_the_holder_and_refuses_without_confirmation(
    cli_target: CliTarget, manifests: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    desc = target_name(cli_target)
    desc = f"embedded store {desc}" if cli_target.kind == "embedded" else desc
    where = re.escape(desc)
    _hold_lock(cli_target, "ci-runner-3 pid 77")
    blocked = cli_target.invoke("apply", str(manifests), "--auto-approve")
    assert blocked.exit_code == 1 and "held by ci-runner-3 pid 77" in blocked.stderr

    held_line = (
        f"The apply lock on {where} is held by ci-runner-3 pid 77 since "
        r"2030-03-17T17:46:40Z \(lease until 2040-03-\d\dT17:46:40Z\)\."
    )
    refused = cli_target.invoke("force-unlock", str(manifests))
    assert refused.exit_code == 1
    assert re.fullmatch(held_line + "\n", refused.stdout), refused.stdout
    assert refused.stderr == (
        "error: refusing to remove the apply lock without confirmation: standard input is "
        "not a terminal; pass --yes\n"
    )
    assert len(_lock_policies(cli_target)) == 1

    # the module, not the `lock` command that shadows its name as an attribute of the package
    monkeypatch.setattr(sys.modules["portal_gitops.cli.lock"], "sys", _Terminal())
    for answer in ("n\n", "y\n"):  # only "yes" approves
        declined = cli_target.invoke("force-unlock", str(manifests), input=answer)
        assert declined.exit_code == 1
        assert declined.stdout.endswith(
            "Remove it? Only do this if that apply no longer runs.\n"
            "  Only 'yes' will be accepted to approve.\n\n  Enter a value: "
            f"{answer}The apply lock was left in place.\n"
        )
        assert len(_lock_policies(cli_target)) == 1

    removed = cli_target.invoke("force-unlock", str(manifests), "--yes")
    assert removed.exit_code == 0, removed.output
    assert re.fullmatch(
        held_line + f"\nRemoved the apply lock of ci-runner-3 pid 77 on {where}\\.\n",
        removed.stdout,
    ), removed.stdout
    assert _lock_policies(cli_target) == []

    again = cli_target.invoke("force-unlock", str(manifests), "--yes")
    assert again.exit_code == 0
    assert again.stdout == f"No apply lock is held on {desc}; nothing to do.\n"
    applied = cli_target.invoke("apply", str(manifests), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert _lock_policies(cli_target) == []
