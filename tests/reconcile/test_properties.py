"""Reconcile properties over generated estates, on both backends.

For random valid estates A and B: the diff of a state with itself is empty; the plan orders
every change after what it depends on; applying A and planning again gives no changes; applying
B over A (with --prune) converges, and ends in the same live state as applying B to an empty
portal (up to IDs), with nothing duplicated in the store.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings

from portal_gitops.diff import diff
from portal_gitops.plan import Plan, build_plan
from portal_gitops.state import LiveState
from tests.reconcile.helpers import (
    actions,
    as_desired,
    desired_of,
    distinct_policy_names,
    duplicates,
    fresh_portal,
    live_of,
    plan_again,
    raw_inventory,
    read_live,
    reconcile,
    references,
    up_to_ids,
    without_apps,
)
from tests.strategies import estates

Estate = list[dict[str, Any]]
PURE = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
BACKEND = settings(PURE, max_examples=15)
SMALL = estates(max_objects=3)


@PURE
@given(estates())
def test_the_diff_of_a_state_with_itself_is_empty(estate: Estate) -> None:
    desired = desired_of(distinct_policy_names(estate))
    for prune in (False, True):
        result = diff(desired, live_of(desired), prune=prune)
        assert (result.changes, result.unmanaged, result.orphaned) == ([], [], [])


def assert_dependency_order(plan: Plan, live: LiveState) -> None:
    """Creates/updates run in groups after everything they point at; deletes run in groups
    before anything they are pointed at by; every delete runs after every create/update."""
    group_of: dict[tuple[str, str], int] = {}
    for gi, group in enumerate(plan.groups()):
        assert len({a.group for a in group}) == 1
        for a in group:
            group_of[(a.op, a.address)] = gi
    ops = [a.op for a in plan.actions]
    if "delete" in ops:
        assert all(op == "delete" for op in ops[ops.index("delete") :]), ops
    made = {(a.kind, a.key): group_of[(a.op, a.address)] for a in plan.actions if a.op != "delete"}
    gone = {(a.kind, a.key): group_of[(a.op, a.address)] for a in plan.actions if a.op == "delete"}
    for a in plan.actions:
        here = group_of[(a.op, a.address)]
        if a.op == "delete":
            for obj in live:  # whatever still points at it goes first
                if obj.ref in gone and (a.kind, a.key) in references(obj.kind, obj.attrs):
                    assert gone[obj.ref] < here, (obj.ref, a.address)
            continue
        assert a.attrs is not None
        for ref in references(a.kind, a.attrs):
            if ref in made:
                assert made[ref] < here, (a.address, ref)
            assert ref not in gone, (a.address, "depends on", ref, "which is deleted")


@PURE
@given(estates(), estates())
def test_plan_order_respects_dependencies(a: Estate, b: Estate) -> None:
    desired_a = desired_of(distinct_policy_names(a))
    desired_b = desired_of(distinct_policy_names(b))
    for live in (LiveState({}), live_of(desired_a)):
        plan = build_plan(diff(desired_b, live, prune=True), live)
        assert_dependency_order(plan, live)


def _converges_and_forgets_history(kind: str, a: Estate, b: Estate) -> None:
    desired_a = desired_of(distinct_policy_names(a))
    desired_b = desired_of(distinct_policy_names(b))

    async def run(root: Path) -> None:
        with (
            fresh_portal(kind, root / "a-then-b") as portal,
            fresh_portal(kind, root / "b-only") as clean,
        ):
            plan, result = await reconcile(portal, desired_a)
            assert result.ok, result.failed
            assert (
                len(result.done)
                == len(plan.actions)
                == len(desired_a.state)
                - len([k for k in desired_a.expired if k in desired_a.state.resources])
            )
            again = await plan_again(portal, desired_a)
            assert actions(again) == []
            live = await read_live(portal, desired_a)
            assert diff(as_desired(live), live, prune=True).changes == []

            _, result = await reconcile(portal, desired_b, prune=True)
            assert result.ok, result.failed
            assert actions(await plan_again(portal, desired_b, prune=True)) == []

            _, result = await reconcile(clean, desired_b)
            assert result.ok, result.failed
            assert up_to_ids(await read_live(portal, desired_b)) == up_to_ids(
                await read_live(clean, desired_b)
            )
            inventory, expected = raw_inventory(portal.store), raw_inventory(clean.store)
            assert duplicates(inventory) == []
            assert without_apps(inventory) == without_apps(expected)
            assert set(expected) <= set(inventory)

    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(Path(tmp)))


@BACKEND
@given(SMALL, SMALL)
def test_apply_converges_and_b_over_a_equals_b_alone_embedded(a: Estate, b: Estate) -> None:
    _converges_and_forgets_history("embedded", a, b)


@settings(BACKEND, max_examples=3, phases=[Phase.explicit, Phase.generate])  # no slow shrinking
@given(SMALL, SMALL)
def test_apply_converges_and_b_over_a_equals_b_alone_over_http(a: Estate, b: Estate) -> None:
    _converges_and_forgets_history("emulator", a, b)
