"""Faults: a 1,000-object apply over HTTP under ~20% injected faults converges in <= 3 runs.

The emulator serves a fresh store with seeded faults on every request: 500/503, 429 with
``Retry-After: 0``, connection resets before the store is touched, and lost responses of
committed writes. ``portal-gitops apply`` (the CLI, in-process) runs against it until a
fault-free plan of the same store is empty. Retry sleeps are zero (a test seam wraps the
tyk backend's and the apply engine's retry policies); the first run's engine gives up after
2 attempts, so it certainly fails somewhere, and later runs use 6.

Each run's report is checked against fault-free plans taken before and after it: its done,
failed and skipped counts add up to the plan it faced; everything still to do afterwards is
among what it reported failed or skipped; each failure names the operation and the reason.
At the end the store's census (objects by name, requests per app, credentials per request,
policies by name) equals that of a fault-free apply of the same estate: nothing duplicated,
nothing missing.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from portal_gitops import commands
from portal_gitops.backends.emulated.server import FaultConfig, FaultStats, running_emulator
from portal_gitops.backends.emulated.store import PortalStore
from portal_gitops.backends.tyk import backend as portal_mod
from portal_gitops.cli import main
from portal_gitops.retry import RetryPolicy

from .conftest import (
    census,
    estate_api_definitions,
    estate_env,
    integrity,
    normalised,
    write_estate,
)

TOKEN = "faults-portal-token-51c0e9"
SECRET = "faults-dashboard-secret-d7a2"
DOCUMENTS = 620  # about 1,000 portal objects (992 actions)
FAULTS = FaultConfig(
    error_rate=0.06,
    rate_limit_rate=0.06,
    retry_after_seconds=0,
    reset_rate=0.06,
    lost_response_rate=0.06,
    seed=20_251_125,
)
FAILED = re.compile(r"^failed: (\w+) (\S+): (.+)$")
SKIPPED = re.compile(r"^  (\w+) (\S+)$")
SUMMARY = re.compile(r"^Apply: (\d+) done, (\d+) failed, (\d+) skipped\.$", re.M)


async def _no_sleep(_seconds: float) -> None:
    return None


class RetrySeam:
    """Wraps how commands open the tyk backend and build the engine, to set their retries."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.engine_attempts = 6
        opener = portal_mod.open_tyk
        applier = commands.Applier

        def open_tyk(*args: Any, **kwargs: Any) -> Any:
            kwargs["retry"] = RetryPolicy(
                attempts=6, base_delay=0, max_delay=0, sleep=_no_sleep, jitter=lambda: 0.5
            )
            return opener(*args, **kwargs)

        def make_applier(*args: Any, **kwargs: Any) -> Any:
            policy = RetryPolicy(attempts=self.engine_attempts, base_delay=0, max_delay=0)
            return applier(*args, retry=policy, sleep=_no_sleep, **kwargs)

        monkeypatch.setattr(portal_mod, "open_tyk", open_tyk)
        monkeypatch.setattr(commands, "Applier", make_applier)


def _plan_addresses(store: Path, estate: Path) -> list[tuple[str, str]]:
    """The plan of the live store, read directly (fault-free) as the embedded backend."""
    target = commands.Target(store=str(store), environ=estate_env(SECRET))
    return [(a.op, a.address) for a in commands.plan([str(estate)], target).actions]


@pytest.fixture
def estate(tmp_path: Path) -> Iterator[Path]:
    out = tmp_path / "estate"
    write_estate(out, DOCUMENTS)
    yield out


def test_apply_under_20_percent_faults_converges_in_three_runs(
    tmp_path: Path, estate: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = tmp_path / "reference.db"
    commands.apply([str(estate)], commands.Target(store=str(reference), environ=estate_env(SECRET)))
    expected = normalised(census(reference))

    seam = RetrySeam(monkeypatch)
    db = tmp_path / "emulated.db"
    store = PortalStore(str(db), apis=estate_api_definitions())
    stats = FaultStats()
    runs: list[str] = []
    try:
        with running_emulator(
            store, FAULTS, portal_token=TOKEN, dashboard_secret=SECRET, stats=stats
        ) as url:
            env = {
                **estate_env(SECRET),
                "PORTAL_GITOPS_APIS": "",  # a "real" portal: its Dashboard has them already
                "TYK_PORTAL_URL": url,
                "TYK_PORTAL_TOKEN": TOKEN,
                "TYK_DASHBOARD_URL": url,
                "NO_COLOR": "1",
            }
            before = _plan_addresses(db, estate)
            assert len(before) >= 990
            for run in range(1, 4):
                seam.engine_attempts = 2 if run == 1 else 6
                started = time.monotonic()
                result = CliRunner().invoke(
                    main, ["apply", str(estate), "--auto-approve"], env=env, catch_exceptions=False
                )
                seconds = time.monotonic() - started
                after = _plan_addresses(db, estate)
                summary = _check_report(run, result.stdout, result.stderr, before, after)
                runs.append(f"run {run}: exit {result.exit_code}, {seconds:.1f} s, {summary}")
                assert result.exit_code == (0 if not after else 1), result.stderr[-3000:]
                before = after
                if not after:
                    break
    finally:
        store.close()
    report = "\n  ".join(runs)
    print(
        f"\nfaults: {stats.faults} of {stats.requests} requests faulted "
        f"({100 * stats.faults / stats.requests:.1f}%: {stats.errors} 5xx, "
        f"{stats.rate_limited} 429, {stats.resets} resets, {stats.lost_responses} lost "
        f"responses of committed writes)\n  {report}"
    )
    assert not before, f"not converged after 3 runs:\n  {report}"
    assert 0.15 <= stats.faults / stats.requests <= 0.25
    assert integrity(db) == "ok"
    got = normalised(census(db))
    assert not expected - got, f"missing: {expected - got}"
    assert not got - expected, f"duplicated: {got - expected}"
    assert "run 1: exit 1" in report  # the first run did fail, and was reported


def _check_report(
    run: int,
    stdout: str,
    stderr: str,
    before: list[tuple[str, str]],
    after: list[tuple[str, str]],
) -> str:
    """The run's report accounts for exactly the plan it faced; returns its summary line."""
    match = SUMMARY.search(stdout)
    if match is None:  # refused before applying anything (e.g. its read failed): say so
        assert re.search(r"^error: .+", stderr, re.M), stderr[-2000:]
        assert after == before, "a run that reported nothing changed something"
        return "stopped before applying: " + stderr.strip().splitlines()[-1]
    done, failed, skipped = (int(g) for g in match.groups())
    assert done + failed + skipped == len(before), (match.group(0), len(before))
    failures = [FAILED.match(line) for line in stderr.splitlines()]
    reported_failed = {(m.group(1), m.group(2)): m.group(3) for m in failures if m}
    assert len(reported_failed) == failed
    for (op, address), reason in reported_failed.items():
        assert (op, address) in before
        # the message names the operation and why: a status, or what happened to the socket
        assert re.search(
            r"\d{3} [A-Z]|connection to \S+ broken|cannot connect|timed out", reason
        ), reason
    shown = [m for m in (SKIPPED.match(line) for line in stderr.splitlines()) if m]
    reported_skipped = {(m.group(1), m.group(2)) for m in shown}
    if skipped:
        assert f"skipped after the failure ({skipped}):" in stderr
        assert len(reported_skipped) == min(skipped, 50)
        if skipped > 50:
            assert f"... and {skipped - 50} more" in stderr
    assert reported_skipped <= set(before)
    # nothing left to do that the report did not name as failed or skipped (by address: a
    # create that failed after its object was made is an adoption in the next plan)
    not_done = {address for _, address in after}
    reported = {address for _, address in reported_failed}
    reported |= {address for _, address in before[len(before) - skipped :]}
    unreported = not_done - reported
    assert not unreported, f"run {run} left undone what it did not report: {sorted(unreported)}"
    # the failures themselves, so a run that does not converge says why
    return "; ".join([match.group(0), *(f"{o} {a}: {r}" for (o, a), r in reported_failed.items())])
