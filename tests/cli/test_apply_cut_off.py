"""An apply cut off half-way (the portal goes down) still ends with its summary, says whether
the apply lock was released and how to release it, and that running apply again finishes the
job, and why the next plan shows adoptions. The portal going down is the emulator answering
503 to everything after a given number of writes."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner, Result

from portal_gitops.backends.emulated.server import FaultConfig, running_emulator
from portal_gitops.backends.emulated.store import PortalStore
from portal_gitops.cli import main
from portal_gitops.cli.outcome import RUN_AGAIN
from tests.apis import example_apis
from tests.conftest import copy_examples

TOKEN, SECRET = "portal-t0ken-3a9d", "dash-s3cret-0b71"


def _apply(url: str, *argv: str) -> Result:
    env: dict[str, str | None] = {
        "NO_COLOR": "1",
        "TYK_PORTAL_TOKEN": TOKEN,
        "TYK_DASHBOARD_SECRET": SECRET,
        "TYK_DASHBOARD_URL": url,
        "TYK_PORTAL_URL": url,
    }
    return CliRunner().invoke(main, list(argv), env=env, catch_exceptions=False)


def test_a_portal_going_down_mid_apply_ends_with_the_summary_the_lock_and_the_way_on(
    tmp_path: Path,
) -> None:
    manifests = str(copy_examples(tmp_path))
    store = PortalStore(str(tmp_path / "live.db"), apis=example_apis())
    # writes: the lock, the provider; then the portal is down (the record is not written)
    down = FaultConfig(down_after_writes=2)
    with running_emulator(store, down, portal_token=TOKEN, dashboard_secret=SECRET) as url:
        cut = _apply(url, "apply", manifests, "--auto-approve")
    assert cut.exit_code == 1, cut.output
    assert cut.stdout.endswith("Apply: 1 done, 0 failed, 47 skipped.\n"), cut.stdout[-500:]
    err = cut.stderr
    assert "Traceback" not in err and SECRET not in err and TOKEN not in err
    assert re.search(
        r"^error: the record of managed objects could not be saved: .*503 Service Unavailable",
        err,
        re.M,
    ), err
    assert "skipped after the failure (47):\n" in err
    assert re.search(
        r"^error: the apply lock could not be released \(.*503 Service Unavailable.*\): it goes "
        r"by itself at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ, or remove it with `portal-gitops "
        r"force-unlock` once no apply runs$",
        err,
        re.M,
    ), err
    assert f"\n{RUN_AGAIN}\n" in err
    assert err.endswith(
        "Objects created that the record of managed objects does not list yet (1 done after "
        "the record was last saved) show in the next plan as adoptions: found in the portal "
        "under their names and taken over, not created again.\n"
    ), err

    # the portal is back: the provider made but not recorded is adopted, the rest created
    with running_emulator(store, portal_token=TOKEN, dashboard_secret=SECRET) as url:
        planned = _apply(url, "plan", manifests)
        assert planned.exit_code == 0, planned.output
        assert "Plan: 47 to create, 0 to update, 0 to delete, 1 to adopt." in planned.stdout, (
            planned.stdout[-800:]
        )
        again = _apply(url, "apply", manifests, "--auto-approve")
        assert again.exit_code == 0, again.output
        assert again.stdout.endswith("Apply: 48 done, 0 failed, 0 skipped.\n")
        assert "apply lock" not in again.stderr  # a run that ended well says nothing of it
        clean = _apply(url, "plan", manifests, "--detailed-exitcode")
        assert clean.exit_code == 0, clean.output
    store.close()
