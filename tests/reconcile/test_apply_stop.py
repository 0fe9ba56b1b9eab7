"""An apply asked to stop (SIGTERM, or its lock lost) starts no further action: what ran is
recorded, the rest is reported skipped with the reason, and a re-run converges."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal_gitops.apply import Applier, Stop
from portal_gitops.plan import Action

from .helpers import BACKENDS, desired_of, fresh_portal, notes_of, plan_again, small_estate

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.parametrize("kind", BACKENDS)
async def test_a_stopped_apply_skips_what_did_not_start_and_a_rerun_converges(
    kind: str, tmp_path: Path
) -> None:
    desired = desired_of(small_estate())
    with fresh_portal(kind, tmp_path) as portal:
        backend = portal.open(desired)
        stop = Stop()

        def progress(event: str, action: Action, detail: str) -> None:
            if event == "done":
                stop.request("stopped by SIGTERM")

        try:
            plan = await plan_again(portal, desired)
            live = await backend.read()
            applier = Applier(
                backend,
                live,
                parallelism=1,
                progress=progress,
                notes=notes_of(desired),
                stop=stop,
            )
            result = await applier.run(plan)
        finally:
            await backend.aclose()
        assert result.stopped == "stopped by SIGTERM"
        assert len(result.done) == 1 and not result.failed
        assert len(result.done) + len(result.skipped) == len(plan.actions)
        assert not result.ok
        # what ran was recorded: the re-run plans exactly the skipped actions
        again = await plan_again(portal, desired)
        assert sorted(a.address for a in again.actions) == sorted(a.address for a in result.skipped)
