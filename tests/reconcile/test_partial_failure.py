"""Partial failure: a fault injected at every mutating step of a multi-level apply.

``Faulty`` wraps the real backend and counts its mutating calls (create, update, delete).
``down_from=N``: from the N-th call on, every mutating call fails with a 5xx (the portal went
down mid-apply). ``lost_reply_at=N``: the N-th call is carried out, then its reply is lost.
After a failure the report must account for every action (done, failed or skipped, in plan
order), and a re-run against the healthy portal must converge: only what was missing is
created, nothing is duplicated or lost.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from portal_gitops.backends.base import Backend
from portal_gitops.desired import Desired
from portal_gitops.diff import diff
from portal_gitops.errors import ServerError
from portal_gitops.plan import Action, Plan, build_plan
from portal_gitops.state import LiveObject
from tests.reconcile.helpers import (
    actions,
    desired_of,
    doc,
    duplicates,
    fresh_portal,
    live_of,
    plan_again,
    raw_inventory,
    reconcile,
    small_estate,
    without_apps,
)

INJECTED = "503 Service Unavailable (injected)"


class Faulty:
    """The real backend, with a fault injected at a given mutating call (1-based)."""

    def __init__(self, inner: Backend, *, down_from: int = 0, lost_reply_at: int = 0) -> None:
        self.inner = inner
        self.down_from = down_from
        self.lost_reply_at = lost_reply_at
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _down(self, label: str) -> bool:
        self.calls.append(label)
        return bool(self.down_from) and len(self.calls) >= self.down_from

    def _lost(self) -> bool:
        return len(self.calls) == self.lost_reply_at

    async def create(self, kind: str, key: str, attrs: Mapping[str, Any]) -> str:
        label = f"create {kind}/{key}"
        if self._down(label):
            raise ServerError(INJECTED, operation=label, status=503)
        lost = self._lost()
        live_id = await self.inner.create(kind, key, attrs)
        if lost:
            raise ServerError(INJECTED, operation=label, status=503)
        return live_id

    async def update(self, live: LiveObject, attrs: Mapping[str, Any]) -> None:
        label = f"update {live.kind}/{live.key}"
        if self._down(label):
            raise ServerError(INJECTED, operation=label, status=503)
        lost = self._lost()
        await self.inner.update(live, attrs)
        if lost:
            raise ServerError(INJECTED, operation=label, status=503)

    async def delete(self, live: LiveObject) -> None:
        label = f"delete {live.kind}/{live.key}"
        if self._down(label):
            raise ServerError(INJECTED, operation=label, status=503)
        lost = self._lost()
        await self.inner.delete(live)
        if lost:
            raise ServerError(INJECTED, operation=label, status=503)


BEFORE = small_estate()


def changed_estate() -> list[dict[str, Any]]:
    """BEFORE with an update at three levels and deletions at four (with --prune)."""
    out = []
    for d in small_estate():
        if d["kind"] == "Provider" and d["metadata"]["name"] == "tyk-eu":
            continue  # deleted
        if d["kind"] == "AccessRequest":
            continue  # revoked
        if d["kind"] == "Team":
            d["spec"]["members"] = d["spec"]["members"][:1]  # bo@acme.example deleted
            d["spec"]["members"][0]["first"] = "Ana María"  # updated
        if d["kind"] == "Product":
            d["spec"]["description"] = "Forecasts, now hourly"  # updated
        if d["kind"] == "Plan":
            d["spec"]["rateLimit"] = {"requests": 500, "per": 60}  # updated
        out.append(d)
    out.append(doc("Organisation", "Globex"))  # created
    return out


AFTER = changed_estate()


def expected_report(plan: Plan, failing: int) -> tuple[list[Action], list[Action], list[Action]]:
    """Actions before the failing one are done; the rest of its group failed; later groups
    are skipped. (Every action here makes exactly one mutating call when it succeeds.)"""
    done, failed, skipped = [], [], []
    n = 0
    failed_group = None
    for gi, group in enumerate(plan.groups()):
        for a in group:
            if failed_group is not None and gi > failed_group:
                skipped.append(a)
                continue
            n += 1
            if n < failing:
                done.append(a)
            else:
                failed.append(a)
                failed_group = gi
    return done, failed, skipped


async def converge_after_failure(
    kind: str, root: Path, before: Desired | None, after: Desired, failing: int, prune: bool
) -> None:
    with fresh_portal(kind, root / f"down-from-{failing}") as portal:
        if before is not None:
            _, result = await reconcile(portal, before)
            assert result.ok
        faulty: list[Faulty] = []

        def wrap(real: Backend) -> Faulty:
            faulty.append(Faulty(real, down_from=failing))
            return faulty[0]

        plan, result = await reconcile(portal, after, prune=prune, wrap=wrap)
        assert failing <= len(plan.actions)
        done, failed, skipped = expected_report(plan, failing)
        assert (result.done, [a for a, _ in result.failed], result.skipped) == (
            done,
            failed,
            skipped,
        )
        for action, message in result.failed:
            label = f"{'create' if action.op == 'create' else action.op} {action.address}"
            assert message == f"{label}: {INJECTED}"
        assert result.summary() == f"{len(done)} done, {len(failed)} failed, {len(skipped)} skipped"

        # the portal is back: the re-run does exactly what was left, then nothing
        rerun, result = await reconcile(portal, after, prune=prune)
        assert actions(rerun) == [(a.op, a.address) for a in [*failed, *skipped]]
        assert result.ok, result.failed
        assert actions(await plan_again(portal, after, prune=prune)) == []
        inventory = raw_inventory(portal.store)
        assert duplicates(inventory) == []
        assert without_apps(inventory) == await clean_inventory(kind, root, after)


_CLEAN: dict[tuple[str, int], Counter[tuple[str, str]]] = {}


async def clean_inventory(kind: str, root: Path, desired: Desired) -> Counter[tuple[str, str]]:
    """What applying ``desired`` to an empty portal leaves in the store (apps aside)."""
    key = (kind, len(desired.state))
    if key not in _CLEAN:
        with fresh_portal(kind, root / "clean") as clean:
            _, result = await reconcile(clean, desired)
            assert result.ok
            _CLEAN[key] = without_apps(raw_inventory(clean.store))
    return _CLEAN[key]


@pytest.mark.parametrize("failing", range(1, 12))
def test_creates_failing_from_every_step_then_a_rerun_converges(
    failing: int, tmp_path: Path
) -> None:
    desired = desired_of(BEFORE)
    asyncio.run(converge_after_failure("embedded", tmp_path, None, desired, failing, False))


@pytest.mark.parametrize("failing", range(1, 9))
def test_updates_and_deletes_failing_from_every_step_then_a_rerun_converges(
    failing: int, tmp_path: Path
) -> None:
    before, after = desired_of(BEFORE), desired_of(AFTER)
    asyncio.run(converge_after_failure("embedded", tmp_path, before, after, failing, True))


@pytest.mark.parametrize(("failing", "prune"), [(1, False), (6, False), (10, False), (4, True)])
def test_partial_failure_over_http_then_a_rerun_converges(
    failing: int, prune: bool, tmp_path: Path
) -> None:
    before = desired_of(BEFORE) if prune else None
    after = desired_of(AFTER) if prune else desired_of(BEFORE)
    asyncio.run(converge_after_failure("emulator", tmp_path, before, after, failing, prune))


def test_the_changed_estate_updates_and_deletes_at_several_levels() -> None:
    live = live_of(desired_of(BEFORE))
    plan = build_plan(diff(desired_of(AFTER), live, prune=True), live)
    assert [[(a.op, a.address) for a in group] for group in plan.groups()] == [
        [("create", "Organisation/Globex")],
        [("update", "User/ana@acme.example")],
        [("update", "Plan/Gold"), ("update", "Product/Weather")],
        [("delete", "AccessRequest/acme-storm")],
        [("delete", "App/ana@acme.example/Storm tracker")],
        [("delete", "User/bo@acme.example")],
        [("delete", "Provider/tyk-eu")],
    ]


@pytest.mark.parametrize("lost", range(1, 12))
def test_a_lost_reply_at_every_step_is_looked_up_not_duplicated(lost: int, tmp_path: Path) -> None:
    desired = desired_of(BEFORE)

    async def go() -> None:
        with fresh_portal("embedded", tmp_path) as portal:
            plan, result = await reconcile(
                portal, desired, wrap=lambda real: Faulty(real, lost_reply_at=lost)
            )
            assert (result.ok, len(plan.actions), len(result.done)) == (True, 11, 11), result.failed
            assert actions(await plan_again(portal, desired)) == []
            assert duplicates(raw_inventory(portal.store)) == []

    asyncio.run(go())
