"""Crash safety: SIGKILL an apply at 20 seeded random moments; a re-run always converges.

Each round applies a fresh copy of a small synthetic estate to a new embedded store file with
``python -m portal_gitops apply ... --auto-approve`` in a child process, kills it with SIGKILL
after a seeded random delay (anywhere from start-up through the last write), then re-runs apply
(the killed run's lock is left behind: the re-run must recognise its holder is dead). After the
re-run the plan is empty, the store passes SQLite's integrity check, no lock is left, and the
census of the store (how many of each object by name, how many requests per app, credentials
per request, policies by name) is exactly that of an apply that was never interrupted:
nothing duplicated, nothing lost.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from portal_gitops.cli import main
from portal_gitops.state import LOCK_POLICY

from .conftest import census, child_env, cli, estate_env, integrity, normalised, write_estate

ROUNDS = 20
SEED = 20_251_125
DOCUMENTS = 60
PROGRESS = re.compile(r"^\[(\d+)/(\d+)\] ")


@dataclass
class Round:
    index: int
    after: int  # killed after this many actions were done (0: during start-up)
    killed: bool  # False when the run had already finished
    partial: bool  # the kill left some, but not all, of the estate applied
    rerun_exit: int
    rerun_output: str


def _apply_cli(store: Path, estate: Path) -> tuple[int, str]:
    result = CliRunner().invoke(
        main,
        ["apply", str(estate), "--auto-approve", "--store", str(store)],
        env={**estate_env(), "NO_COLOR": "1", "TYK_PORTAL_URL": None},
        catch_exceptions=False,
    )
    return result.exit_code, result.output + (result.stderr or "")


def _plan_exit(store: Path, estate: Path) -> tuple[int, str]:
    result = CliRunner().invoke(
        main,
        ["plan", str(estate), "--detailed-exitcode", "--store", str(store)],
        env={**estate_env(), "NO_COLOR": "1", "TYK_PORTAL_URL": None},
        catch_exceptions=False,
    )
    return result.exit_code, result.output


def test_sigkill_at_random_moments_then_rerun_converges(tmp_path: Path) -> None:
    estate = tmp_path / "estate"
    write_estate(estate, DOCUMENTS)
    env = child_env(estate_env())

    # the reference: one uninterrupted apply in a child process like the killed ones, timed,
    # and so is the pace of its actions (the time between two finished actions)
    reference_db = tmp_path / "reference.db"
    started = time.monotonic()
    ref = subprocess.Popen(
        cli("apply", str(estate), "--auto-approve", "--store", str(reference_db), "-v"),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert ref.stderr is not None
    finished: list[float] = []
    total = 0
    lines = []
    for raw in ref.stderr:
        lines.append(raw.decode())
        match = PROGRESS.match(lines[-1])
        if match:
            finished.append(time.monotonic())
            total = int(match.group(2))
    assert ref.wait(timeout=60) == 0, "".join(lines)
    ref.stderr.close()
    full_run = time.monotonic() - started
    reference = normalised(census(reference_db))
    assert reference[("policy", LOCK_POLICY)] == 0
    assert total and len(finished) == total
    pace = (finished[-1] - finished[0]) / (total - 1)

    rng = random.Random(SEED)
    # a kill moment is "after the k-th finished action, plus a fraction of the pace" (k = 0:
    # at a random time during start-up, loading or locking), so that it lands where it should
    # however fast or busy the machine is; the extra delay lands some kills inside an action.
    # k stays clear of the last few actions: what is still running then finishes within the
    # delay on a fast machine, and the end is covered by its own moment.
    last = total - 8
    moments = [(rng.randrange(0, last), rng.uniform(0, pace)) for _ in range(ROUNDS)]
    moments[0] = (0, 0.3)  # start-up
    moments[1] = (total - 1, 0.0)  # just before the end

    def one_round(i: int) -> Round:
        db = tmp_path / f"round-{i:02d}.db"
        after, extra = moments[i]
        proc = subprocess.Popen(
            cli("apply", str(estate), "--auto-approve", "--store", str(db), "--parallelism", "4"),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert proc.stderr is not None
        if after:
            for line in proc.stderr:
                match = PROGRESS.match(line.decode())
                if match and int(match.group(1)) >= after:
                    break
        time.sleep(extra)
        killed = proc.poll() is None
        if killed:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
        after_kill = normalised(census(db)) if db.exists() else None
        partial = bool(after_kill) and after_kill != reference and killed
        # the re-run, a fresh process too (CliRunner swaps sys.stdout: not for threads)
        rerun = subprocess.run(
            cli("apply", str(estate), "--auto-approve", "--store", str(db)),
            env=env,
            capture_output=True,
            timeout=60,
        )
        output = rerun.stdout.decode() + rerun.stderr.decode()
        return Round(i, after, killed, partial, rerun.returncode, output)

    with ThreadPoolExecutor(max_workers=2) as pool:
        rounds = list(pool.map(one_round, range(ROUNDS)))

    for r in rounds:
        db = tmp_path / f"round-{r.index:02d}.db"
        where = f"round {r.index} (killed after {r.after} actions)"
        assert r.rerun_exit == 0, f"{where}: the re-run failed:\n{r.rerun_output}"
        assert integrity(db) == "ok", where
        code, output = _plan_exit(db, estate)
        assert code == 0, f"{where}: the plan after the re-run is not empty:\n{output}"
        got = normalised(census(db))
        missing = reference - got
        extra = got - reference
        assert not missing and not extra, f"{where}: missing {missing}, duplicated {extra}"
    killed = sum(r.killed for r in rounds)
    partial = sum(r.partial for r in rounds)
    print(
        f"\ncrash: uninterrupted apply of {total} actions {full_run:.2f} s "
        f"({pace * 1000:.1f} ms between finished actions); {killed}/{ROUNDS} "
        "runs killed, "
        f"{partial} of them mid-apply (some but not all objects written); every re-run converged"
    )
    assert killed == ROUNDS
    assert partial >= ROUNDS - 2, "the kills did not land while objects were being written"


def test_a_live_holder_keeps_the_lock_and_once_killed_the_rerun_takes_it(tmp_path: Path) -> None:
    """A live apply's lock is respected (exit 1 naming it); once it is killed (SIGKILL), the
    lock it leaves is recognised as stale: the re-run does not wait for the 30-minute lease."""
    estate = tmp_path / "estate"
    write_estate(estate, 40)
    db = tmp_path / "p.db"
    env = child_env(estate_env())
    # a child that takes the lock and then hangs (as an apply killed mid-way would have)
    script = (
        "import asyncio, os, sys\n"
        "from portal_gitops.backends.embedded import open_embedded\n"
        "async def main():\n"
        f"    b = open_embedded({str(db)!r})\n"
        "    await b.acquire_lock(f'ci@host pid {os.getpid()}', 1800)\n"
        "    print('locked', flush=True)\n"
        "    await asyncio.sleep(60)\n"
        "asyncio.run(main())\n"
    )
    proc = subprocess.Popen(
        [*cli()[:1], "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"locked"
        code, output = _apply_cli(db, estate)
        assert code == 1
        assert f"is held by ci@host pid {proc.pid} until" in output
    finally:
        proc.kill()
        proc.wait()
    code, output = _apply_cli(db, estate)
    assert code == 0, output
    assert _plan_exit(db, estate)[0] == 0
    assert census(db)[("policy", LOCK_POLICY)] == 0


def test_an_interrupted_rejection_is_completed_without_a_duplicate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the kill test (then on a plan that auto-approves, which validation now
    refuses for a rejection): a run interrupted between filing a request and rejecting it
    leaves it pending; the re-run rejects that request instead of filing a second one."""
    from portal_gitops import commands
    from portal_gitops.backends.tyk.write import AccessRequests
    from portal_gitops.errors import TransportError

    estate = tmp_path / "estate"
    write_estate(estate, 60)  # request-00009 is a rejection
    db = tmp_path / "p.db"
    target = commands.Target(store=str(db), environ=estate_env())
    decide = AccessRequests._decide

    async def interrupted(self: AccessRequests, rid: str, cur: str, want: str, what: str) -> None:
        if want == "rejected":
            raise TransportError("interrupted", operation=what)  # as if killed right here
        await decide(self, rid, cur, want, what)

    monkeypatch.setattr(AccessRequests, "_decide", interrupted)
    first = commands.apply([str(estate)], target)
    assert first.result is not None and first.result.failed
    monkeypatch.setattr(AccessRequests, "_decide", decide)
    second = commands.apply([str(estate)], target)
    assert second.result is not None and second.result.ok
    assert not commands.plan([str(estate)], target).has_changes
    reference = tmp_path / "reference.db"
    commands.apply([str(estate)], commands.Target(store=str(reference), environ=estate_env()))
    assert normalised(census(db)) == normalised(census(reference))
