"""Two applies started together on one target never interleave.

The two runs apply *different* manifests (the second names its products differently), so an
interleaving would leave products of both in the portal. Exactly one run wins the lock and
applies everything; the other exits 1 before writing anything, with a message naming the
holder (user@host and the winner's PID). The store is never corrupted.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from portal_gitops.backends.emulated.server import FaultConfig, running_emulator
from portal_gitops.backends.emulated.store import PortalStore
from portal_gitops.state import LOCK_POLICY

from .conftest import (
    census,
    child_env,
    cli,
    estate_api_definitions,
    estate_env,
    integrity,
    write_estate,
)

TOKEN = "concurrency-portal-token-77ab"
SECRET = "concurrency-dashboard-secret-19fe"


def _two_estates(tmp_path: Path, documents: int) -> tuple[Path, Path]:
    first = tmp_path / "first"
    write_estate(first, documents)
    second = tmp_path / "second"
    for path in first.rglob("*.yaml"):
        dest = second / path.relative_to(first)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(path.read_text().replace("product-", "item-"))
    return first, second


def _race(argvs: list[list[str]], env: dict[str, str]) -> list[tuple[int, int, str, str]]:
    procs = [
        subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for argv in argvs
    ]
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        out.append((proc.pid, proc.returncode, stdout.decode(), stderr.decode()))
    return out


def _check_one_winner(results: list[tuple[int, int, str, str]], target: str) -> int:
    codes = sorted(code for _, code, _, _ in results)
    assert codes == [0, 1], results
    (winner_pid, _, winner_out, _) = next(r for r in results if r[1] == 0)
    (_, _, loser_out, loser_err) = next(r for r in results if r[1] == 1)
    assert "Apply: " in winner_out and " 0 failed, 0 skipped" in winner_out
    lock_line = loser_err.strip().splitlines()[-1]
    assert re.fullmatch(
        rf"error: the apply lock on {re.escape(target)} is held by \S+@\S+ pid {winner_pid} "
        r"until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ; wait for that apply to finish, or retry "
        r"after the lease expires",
        lock_line,
    ), loser_err
    assert "Apply:" not in loser_out and "Traceback" not in loser_err
    return winner_pid


def _products(db: Path) -> tuple[int, int]:
    c = census(db)
    return (
        sum(n for (k, name), n in c.items() if k == "product" and name.startswith("product-")),
        sum(n for (k, name), n in c.items() if k == "product" and name.startswith("item-")),
    )


@pytest.mark.parametrize("rounds", [2])
def test_two_applies_on_one_embedded_store_never_interleave(tmp_path: Path, rounds: int) -> None:
    first, second = _two_estates(tmp_path, 400)
    env = child_env(estate_env())
    for i in range(rounds):
        db = tmp_path / f"race-{i}.db"
        started = time.monotonic()
        results = _race(
            [
                cli("apply", str(first), "--auto-approve", "--store", str(db)),
                cli("apply", str(second), "--auto-approve", "--store", str(db)),
            ],
            env,
        )
        _check_one_winner(results, str(db))
        assert integrity(db) == "ok"
        products, items = _products(db)
        assert sorted([products, items]) == [0, products + items], "both runs wrote products"
        assert census(db)[("policy", LOCK_POLICY)] == 0  # the winner released it
        print(f"\nrace {i}: one winner, loser refused, {time.monotonic() - started:.1f} s")


def test_two_applies_over_http_never_interleave(tmp_path: Path) -> None:
    first, second = _two_estates(tmp_path, 60)
    db = tmp_path / "emulated.db"
    store = PortalStore(str(db), apis=estate_api_definitions())
    try:
        # latency keeps each apply on the wire for seconds, so the two overlap even when the
        # machine is loaded and one interpreter starts a second later than the other
        with running_emulator(
            store, FaultConfig(latency_ms=30), portal_token=TOKEN, dashboard_secret=SECRET
        ) as url:
            env = child_env(
                {
                    **estate_env(SECRET),
                    "PORTAL_GITOPS_APIS": "",  # a "real" portal: its Dashboard has them already
                    "TYK_PORTAL_URL": url,
                    "TYK_PORTAL_TOKEN": TOKEN,
                    "TYK_DASHBOARD_URL": url,
                }
            )
            results = _race(
                [
                    cli("apply", str(first), "--auto-approve"),
                    cli("apply", str(second), "--auto-approve"),
                ],
                env,
            )
            _check_one_winner(results, url)
    finally:
        store.close()
    assert integrity(db) == "ok"
    products, items = _products(db)
    assert sorted([products, items]) == [0, products + items], "both runs wrote products"
