"""The apply lock's lease is renewed while an apply runs, on the embedded store and over HTTP.

The lock is a Dashboard policy holding a lease (``expires_at``); a lease that runs out is
taken over by the next apply. An apply that outlives its first lease must therefore renew it
(every third of the lease, and only while the lock is still its own), and must stop when it
finds the lock taken by someone else. The clock is a fake one, moved by the test: a 30 s
lease stands for the 30 min one.
"""

from __future__ import annotations

import asyncio

import pytest

from portal_gitops.apply import Stop, holding_lock
from portal_gitops.backends.tyk.backend import PortalBackend
from portal_gitops.errors import LockError
from portal_gitops.state import LOCK_POLICY

from .conftest import Target

pytestmark = pytest.mark.anyio

TTL = 30.0


async def _settle() -> None:
    """Give the lease keeper time to wake up and finish a renewal (a request or two)."""
    for _ in range(20):
        await asyncio.sleep(0.01)


async def test_an_apply_that_outlives_its_lease_keeps_the_lock(
    target: Target, backend: PortalBackend
) -> None:
    clock = target.clock
    stop = Stop()
    other = target.open()  # a second apply, from another machine
    try:
        async with holding_lock(backend, "long-apply", TTL, stop, clock=clock, sleep=clock.sleep):
            await _settle()  # the lease keeper is waiting for its first renewal
            for step in range(24):  # 120 s of apply under a 30 s lease, in steps of 5 s
                clock.advance(5)
                await _settle()
                with pytest.raises(LockError, match="held by long-apply until"):
                    await other.acquire_lock("second-apply", TTL)
                assert stop.reason is None, f"step {step}: {stop.reason}"
        # released at the end: the second apply gets it at once
        assert (await other.acquire_lock("second-apply", TTL)).holder == "second-apply"
        await other.release_lock("second-apply")
    finally:
        await other.aclose()


async def test_an_apply_whose_lock_was_taken_stops(target: Target, backend: PortalBackend) -> None:
    clock = target.clock
    stop = Stop()
    other = target.open()
    try:
        async with holding_lock(backend, "slow-apply", TTL, stop, clock=clock, sleep=clock.sleep):
            await _settle()  # the lease keeper is waiting for its first renewal
            # someone force-unlocked it and another apply took it
            dash = await other.records.dashboard()
            mine = await other.records.find_policy(dash, LOCK_POLICY)
            assert mine is not None
            await dash.delete_policy(mine["_id"], what="the lock")
            await other.acquire_lock("intruder", TTL)
            clock.advance(TTL / 3)
            await _settle()
            assert stop.reason is not None
            assert "taken by intruder" in stop.reason
            assert "slow-apply" in stop.reason
        # the intruder's lock is left alone by the release
        with pytest.raises(LockError, match="held by intruder"):
            await backend.acquire_lock("third", TTL)
    finally:
        await other.aclose()


async def test_renewal_extends_the_lease_and_keeps_since_when(
    target: Target, backend: PortalBackend
) -> None:
    """Renewal refreshes the lease and keeps the holder's facts (since when it is held)."""
    clock = target.clock
    taken_at = clock()
    await backend.acquire_lock("me", TTL)
    clock.advance(20)
    info = await backend.renew_lock("me", TTL)
    assert info.expires_at == clock() + TTL
    held = await backend.lock_info()
    assert held is not None
    assert (held.holder, held.acquired_at, held.expires_at) == ("me", taken_at, clock() + TTL)
    await backend.release_lock("me")
    with pytest.raises(LockError, match="was removed"):
        await backend.renew_lock("me", TTL)
    assert await backend.lock_info() is None


async def test_force_unlock_removes_any_holders_lock(
    target: Target, backend: PortalBackend
) -> None:
    await backend.acquire_lock("stuck-apply", TTL)
    other = target.open()
    try:
        removed = await other.force_unlock()
        assert removed is not None and removed.holder == "stuck-apply"
        assert await other.lock_info() is None
        assert await other.force_unlock() is None  # nothing left to remove
    finally:
        await other.aclose()
