"""SIGTERM (a cancelled CI job) stops an apply in order: the actions under way finish, no other
starts, the summary is printed, the lock is released, the exit code is 143; a re-run converges.
Ctrl-C (SIGINT) once the apply runs does the same and exits 130.

The apply runs in a child process against the emulator, whose latency keeps it on the wire for
seconds, and on the embedded store (a larger estate, so that it is still running). SIGTERM is
sent once a few actions are done. Without the orderly stop, SIGTERM kills the process: no
summary, and its lock stays behind for 30 minutes (another machine cannot tell it is dead).
"""

from __future__ import annotations

import re
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from portal_gitops.backends.emulated.server import FaultConfig, running_emulator
from portal_gitops.backends.emulated.store import PortalStore
from portal_gitops.cli.outcome import RUN_AGAIN
from portal_gitops.state import LOCK_POLICY

from .conftest import census, child_env, cli, estate_api_definitions, estate_env, write_estate

TOKEN = "sigterm-portal-token-5e1d"
SECRET = "sigterm-dashboard-secret-0a7c"
PROGRESS = re.compile(r"^\[(\d+)/(\d+)\] ")
SUMMARY = re.compile(r"^Apply: (\d+) done, (\d+) failed, (\d+) skipped\.$", re.M)


def _apply_and_terminate(
    argv: list[str], env: dict[str, str], sig: int = signal.SIGTERM
) -> tuple[int, str, str, int]:
    """Run apply -v, send ``sig`` after its third finished action: (exit code, stdout,
    stderr, how many actions the plan had)."""
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.PIPE, text=True)
        assert proc.stderr is not None
        lines: list[str] = []
        total = 0
        try:
            for line in proc.stderr:
                lines.append(line)
                seen = PROGRESS.match(line)
                if seen and int(seen.group(1)) >= 3:
                    total = int(seen.group(2))
                    proc.send_signal(sig)
                    break
            lines.extend(proc.stderr)
            code = proc.wait(timeout=60)
        finally:
            proc.kill()
            proc.wait()
        out.seek(0)
        return code, out.read().decode(), "".join(lines), total


def _check_stopped(
    code: int, stdout: str, stderr: str, total: int, *, exit_code: int = 143, by: str = "SIGTERM"
) -> None:
    assert total > 3, stderr
    assert code == exit_code, (code, stdout[-2000:], stderr[-2000:])
    summary = SUMMARY.findall(stdout)
    assert len(summary) == 1, stdout[-2000:]
    done, failed, skipped = map(int, summary[0])
    assert failed == 0 and skipped > 0 and done >= 3, summary
    assert done + skipped == total
    assert f"error: stopped by {by}: the actions under way finished and no other was started\n" in (
        stderr
    )
    assert f"skipped after the stop ({skipped}):" in stderr
    assert f"The apply lock was released.\n{RUN_AGAIN}\n" in stderr
    assert "Traceback" not in stderr


def test_sigterm_over_http_stops_in_order_and_releases_the_lock(tmp_path: Path) -> None:
    estate = tmp_path / "estate"
    write_estate(estate, 60)
    db = tmp_path / "emulated.db"
    store = PortalStore(str(db), apis=estate_api_definitions())
    try:
        with running_emulator(
            store, FaultConfig(latency_ms=30), portal_token=TOKEN, dashboard_secret=SECRET
        ) as url:
            env = child_env(
                {
                    **estate_env(SECRET),
                    "PORTAL_GITOPS_APIS": "",
                    "TYK_PORTAL_URL": url,
                    "TYK_PORTAL_TOKEN": TOKEN,
                    "TYK_DASHBOARD_URL": url,
                }
            )
            argv = cli("apply", str(estate), "--auto-approve", "-v", "--parallelism", "2")
            _check_stopped(*_apply_and_terminate(argv, env))
            assert census(db)[("policy", LOCK_POLICY)] == 0  # released
            rerun = subprocess.run(
                cli("apply", str(estate), "--auto-approve"), env=env, capture_output=True, text=True
            )
            assert rerun.returncode == 0, rerun.stderr
            plan = subprocess.run(cli("plan", str(estate), "--detailed-exitcode"), env=env)
            assert plan.returncode == 0
    finally:
        store.close()
    assert census(db)[("policy", LOCK_POLICY)] == 0


def test_sigterm_on_the_embedded_store_stops_in_order_and_releases_the_lock(
    tmp_path: Path,
) -> None:
    estate = tmp_path / "estate"
    write_estate(estate, 400)
    db = tmp_path / "portal.db"
    env = child_env(estate_env())
    store = ("--store", str(db))
    argv = cli("apply", str(estate), "--auto-approve", "-v", "--parallelism", "1", *store)
    _check_stopped(*_apply_and_terminate(argv, env))
    assert census(db)[("policy", LOCK_POLICY)] == 0
    rerun = subprocess.run(
        cli("apply", str(estate), "--auto-approve", *store), env=env, capture_output=True
    )
    assert rerun.returncode == 0, rerun.stderr
    plan = subprocess.run(cli("plan", str(estate), "--detailed-exitcode", *store), env=env)
    assert plan.returncode == 0


def test_ctrl_c_once_the_apply_runs_stops_in_order_and_releases_the_lock(
    tmp_path: Path,
) -> None:
    """As Terraform: a first Ctrl-C lets the actions under way finish and stops; the summary
    and the lock's release follow (it used to print only "interrupted")."""
    estate = tmp_path / "estate"
    write_estate(estate, 400)
    db = tmp_path / "portal.db"
    env = child_env(estate_env())
    store = ("--store", str(db))
    argv = cli("apply", str(estate), "--auto-approve", "-v", "--parallelism", "1", *store)
    code, stdout, stderr, total = _apply_and_terminate(argv, env, signal.SIGINT)
    _check_stopped(code, stdout, stderr, total, exit_code=130, by="Ctrl-C")
    assert "Interrupt received: finishing the actions under way, then stopping" in stderr
    assert census(db)[("policy", LOCK_POLICY)] == 0
    rerun = subprocess.run(
        cli("apply", str(estate), "--auto-approve", *store), env=env, capture_output=True
    )
    assert rerun.returncode == 0, rerun.stderr


@pytest.fixture(autouse=True)
def _no_tyk_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TYK_PORTAL_URL", raising=False)
