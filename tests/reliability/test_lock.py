"""The apply lock: a killed apply's lock is recognised as stale on the same machine.

A lock records its holder's host, PID namespace, PID and process start time. A re-run on the
same host takes over a lock whose process is gone (or is a zombie, or whose PID was reused);
a live holder, or a holder on another host, keeps it until its lease expires.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from portal_gitops.backends.embedded import open_embedded
from portal_gitops.backends.tyk import records as portal_mod
from portal_gitops.errors import LockError
from portal_gitops.state import LOCK_POLICY

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


async def _lock_meta(store: str) -> dict[str, object]:
    backend = open_embedded(store)
    try:
        dash = await backend.records.dashboard()
        policy = await backend.records.find_policy(dash, LOCK_POLICY)
        assert policy is not None
        return dict(policy["meta_data"])
    finally:
        await backend.aclose()


async def _plant_lock(store: str, meta: dict[str, object]) -> None:
    """Write a lock policy as another process would have left it."""
    backend = open_embedded(store)
    try:
        dash = await backend.records.dashboard()
        body = portal_mod._bookkeeping_policy(LOCK_POLICY, meta)
        await dash.create_policy(body, what="planted lock")
    finally:
        await backend.aclose()


async def test_lock_records_host_pid_and_start_time(tmp_path: Path) -> None:
    store = str(tmp_path / "p.db")
    backend = open_embedded(store)
    try:
        await backend.acquire_lock("me@here pid 1", 600)
        meta = await _lock_meta(store)
        assert meta["holder"] == "me@here pid 1"
        assert meta["host"] == socket.gethostname()
        assert meta["pid"] == os.getpid()
        assert meta["started"]
        await backend.release_lock("me@here pid 1")
    finally:
        await backend.aclose()


@pytest.mark.parametrize("reap", [True, False], ids=["dead", "zombie"])
async def test_lock_of_a_killed_process_on_this_host_is_taken_over(
    tmp_path: Path, reap: bool
) -> None:
    store = str(tmp_path / "p.db")
    child = _sleeper()
    stat = portal_mod._proc_stat(child.pid)
    meta = {
        **portal_mod._process(),
        "holder": f"ci@{socket.gethostname()} pid {child.pid}",
        "expires_at": "2999-01-01T00:00:00Z",
        "pid": child.pid,
        "started": stat[1] if stat else "",
    }
    await _plant_lock(store, meta)
    backend = open_embedded(store)
    try:
        with pytest.raises(LockError, match=rf"held by ci@\S+ pid {child.pid} until 2999"):
            await backend.acquire_lock("rerun", 600)  # alive: it keeps the lock
        child.kill()
        if reap:
            child.wait()
        else:  # killed but not yet reaped by its parent: a zombie holds nothing
            os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
        info = await backend.acquire_lock("rerun", 600)
        assert info.holder == "rerun"
        assert (await _lock_meta(store))["holder"] == "rerun"
    finally:
        child.kill()
        child.wait()
        await backend.aclose()


async def test_lock_whose_pid_was_reused_is_taken_over(tmp_path: Path) -> None:
    store = str(tmp_path / "p.db")
    child = _sleeper()  # alive, but started at another time than the lock says
    try:
        meta = {
            **portal_mod._process(),
            "holder": "old",
            "expires_at": "2999-01-01T00:00:00Z",
            "pid": child.pid,
            "started": "1",
        }
        await _plant_lock(store, meta)
        backend = open_embedded(store)
        try:
            assert (await backend.acquire_lock("rerun", 600)).holder == "rerun"
        finally:
            await backend.aclose()
    finally:
        child.kill()
        child.wait()


@pytest.mark.parametrize(
    "override",
    [
        {"host": "another-host.example"},
        {"pid_namespace": "pid:[1]"},
        {"pid": None},
    ],
    ids=["other-host", "other-pid-namespace", "no-pid"],
)
async def test_a_lock_taken_elsewhere_waits_for_its_lease(
    tmp_path: Path, override: dict[str, object]
) -> None:
    store = str(tmp_path / "p.db")
    child = _sleeper()
    child.kill()
    child.wait()  # certainly dead here; but we cannot know about another machine
    meta = {
        **portal_mod._process(),
        "holder": "ci@elsewhere pid 7",
        "expires_at": "2999-01-01T00:00:00Z",
        "pid": child.pid,
        **override,
    }
    await _plant_lock(store, meta)
    backend = open_embedded(store)
    try:
        with pytest.raises(LockError, match="held by ci@elsewhere pid 7 until 2999-01-01"):
            await backend.acquire_lock("rerun", 600)
    finally:
        await backend.aclose()
