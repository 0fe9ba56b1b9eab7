"""Issue 12, finding 8: the managed record and the apply lock have a fixed home.

DESIGN.md §6 keeps both in Tyk (Dashboard policies ``portal-gitops-state`` and
``portal-gitops-lock``). They used to live on the Dashboard of the provider whose name sorts
first, so adding a provider named "aaa" moved them: every managed object turned into "adopt",
pending deletions vanished, and two applies could lock different Dashboards. Now the record is
found where it is (every provider's Dashboard is searched), and it moves only when the user
confirms. Over HTTP the providers' Dashboards are two emulators; the embedded store has one
Dashboard, where nothing can move.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from portal_gitops.apply import Applier
from portal_gitops.backends.emulated.server import running_emulator
from portal_gitops.backends.emulated.store import PortalStore
from portal_gitops.backends.tyk.backend import PortalBackend, open_tyk
from portal_gitops.backends.tyk.dashboards import DashboardConn
from portal_gitops.desired import Desired
from portal_gitops.diff import diff
from portal_gitops.errors import BackendError, LockError
from portal_gitops.plan import Plan, build_plan
from portal_gitops.retry import RetryPolicy
from portal_gitops.state import LOCK_POLICY, STATE_POLICY
from tests.apis import definitions_of_state
from tests.reconcile.helpers import (
    BACKENDS,
    DASHBOARD_SECRET,
    PORTAL_TOKEN,
    Portal,
    desired_of,
    fresh_portal,
    no_sleep,
    notes_of,
    provider,
    small_estate,
)


class World:
    """Portal A (with its Dashboard A) and, over HTTP, a second Dashboard B."""

    def __init__(self, portal: Portal, b: tuple[PortalStore, str] | None) -> None:
        self.portal = portal
        self.b = b
        self.url_a = portal.url or "http://dashboard-a.example:3000"
        self.url_b = b[1] if b else "http://dashboard-b.example:3000"

    def open(self, desired: Desired) -> PortalBackend:
        if self.portal.url is None:
            return self.portal.open(desired)
        # the products are on Dashboard A's providers: A holds the APIs they name
        self.portal.store.seed_apis(definitions_of_state(desired.state))
        conns = {
            r.key: DashboardConn(r.attrs["dashboardUrl"], DASHBOARD_SECRET)
            for r in desired.state
            if r.kind == "Provider"
        }
        return open_tyk(self.portal.url, PORTAL_TOKEN, conns)

    def policies(self, which: str) -> list[str]:
        """Names of the bookkeeping policies on Dashboard A or B."""
        store = self.portal.store if which == "a" else self.b[0] if self.b else None
        if store is None:
            return []
        auth = {"Authorization": store.dashboard_secret} if store.dashboard_secret else {}
        resp = store.handle("GET", "/api/portal/policies", {"p": "-1"}, auth, b"")
        names = [p["name"] for p in json.loads(resp.body)["Data"]]
        return sorted(n for n in names if n in (STATE_POLICY, LOCK_POLICY))


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with fresh_portal(request.param, tmp_path / "a") as portal:
        if portal.url is None:
            yield World(portal, None)
            return
        store_b = PortalStore(str(tmp_path / "b.db"))
        try:
            with running_emulator(
                store_b, portal_token=PORTAL_TOKEN, dashboard_secret=DASHBOARD_SECRET
            ) as url_b:
                yield World(portal, (store_b, url_b))
        finally:
            store_b.close()


def estate(world: World, *, aaa: bool, request: bool = True) -> list[dict[str, Any]]:
    """small_estate with its providers on Dashboard A, and maybe a provider "aaa" on B."""
    docs = copy.deepcopy(small_estate())
    for d in docs:
        if d["kind"] == "Provider":
            d["spec"]["dashboardUrl"] = world.url_a
    if aaa:
        extra = provider("aaa")
        extra["spec"]["dashboardUrl"] = world.url_b
        docs.insert(0, extra)
    return [d for d in docs if request or d["kind"] != "AccessRequest"]


async def plan_of(world: World, desired: Desired) -> Plan:
    backend = world.open(desired)
    try:
        live = await backend.read()
        return build_plan(diff(desired, live), live)
    finally:
        await backend.aclose()


async def apply_(world: World, desired: Desired) -> Plan:
    backend = world.open(desired)
    try:
        live = await backend.read()
        plan = build_plan(diff(desired, live), live, notes=notes_of(desired))
        applier = Applier(backend, live, retry=RetryPolicy(attempts=2), sleep=no_sleep)
        result = await applier.run(plan)
        assert result.ok, result.failed
        return plan
    finally:
        await backend.aclose()


def ops(plan: Plan) -> list[tuple[str, str]]:
    return [(a.op, a.address) for a in plan.actions]


def test_adding_a_provider_that_sorts_first_moves_nothing(world: World) -> None:
    first = desired_of(estate(world, aaa=False))
    then = desired_of(estate(world, aaa=True, request=False))

    async def go() -> None:
        await apply_(world, first)
        plan = await plan_of(world, then)
        # no "adopt" for managed objects, and the pending deletion is still there
        assert ops(plan) == [("create", "Provider/aaa")]
        orphaned = ["App/ana@acme.example/Storm tracker", "AccessRequest/acme-storm"]
        assert [u.address for u in plan.orphaned] == orphaned
        await apply_(world, then)
        plan = await plan_of(world, then)
        assert ops(plan) == []
        assert [u.address for u in plan.orphaned] == orphaned
        assert world.policies("a") == [STATE_POLICY]
        assert world.policies("b") == []
        # two applies, one with each set of manifests, lock the same Dashboard
        one, two = world.open(then), world.open(first)
        try:
            assert await one.record_move() == await two.record_move() == ""
            await one.acquire_lock("run one", 600)
            assert world.policies("a") == [LOCK_POLICY, STATE_POLICY]
            assert world.policies("b") == []
            with pytest.raises(LockError, match="held by run one"):
                await two.acquire_lock("run two", 600)
            await one.release_lock("run one")
            assert world.policies("a") == [STATE_POLICY]
        finally:
            await one.aclose()
            await two.aclose()

    asyncio.run(go())


def test_the_record_moves_only_when_confirmed(world: World) -> None:
    # a new estate with "aaa" keeps its record on aaa's Dashboard (B); then "aaa" leaves the
    # manifests (still live, not pruned): the record would move to A, and only does so when
    # the user confirms
    first = desired_of(estate(world, aaa=True))
    then = desired_of(estate(world, aaa=False))

    async def go() -> None:
        await apply_(world, first)
        if world.b is None:  # one Dashboard: nothing can move
            backend = world.open(then)
            try:
                assert await backend.record_move() == ""
            finally:
                await backend.aclose()
            assert ops(await plan_of(world, then)) == []
            return
        assert (world.policies("a"), world.policies("b")) == ([], [STATE_POLICY])
        plan = await plan_of(world, then)
        assert ops(plan) == []  # still read from B: nothing turns into "adopt"
        assert [u.address for u in plan.orphaned] == ["Provider/aaa"]
        backend = world.open(then)
        try:
            move = await backend.record_move()
            assert move == (
                f"the managed record ({STATE_POLICY} policy) is on the Dashboard {world.url_b} "
                '(provider "aaa"), which no Provider manifest names any more; it would move '
                f'to the Dashboard {world.url_a} (provider "tyk", "tyk-eu")'
            )
            record = await backend.read_managed()
            with pytest.raises(BackendError, match="refusing to move it without confirmation"):
                await backend.write_managed(record)
            assert (world.policies("a"), world.policies("b")) == ([], [STATE_POLICY])
            backend.confirm_record_move()
            await backend.write_managed(record)
        finally:
            await backend.aclose()
        assert (world.policies("a"), world.policies("b")) == ([STATE_POLICY], [])
        backend = world.open(then)
        try:
            assert await backend.record_move() == ""
            assert await backend.read_managed() == record
        finally:
            await backend.aclose()
        plan = await plan_of(world, then)
        assert ops(plan) == []
        assert [u.address for u in plan.orphaned] == ["Provider/aaa"]

    asyncio.run(go())
