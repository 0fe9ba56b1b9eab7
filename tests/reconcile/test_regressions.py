"""Reconcile cases the properties found, on both backends, each with its exact plan."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from portal_gitops.backends.base import ManagedRecord
from tests.reconcile.helpers import (
    BACKENDS,
    Portal,
    actions,
    desired_of,
    doc,
    duplicates,
    fresh_portal,
    plan_again,
    raw_inventory,
    read_live,
    reconcile,
    small_estate,
)


@pytest.fixture(params=BACKENDS)
def portal(request: pytest.FixtureRequest, tmp_path: Path) -> Portal:
    with fresh_portal(request.param, tmp_path / "portal") as p:
        yield p


async def managed_record(portal: Portal) -> ManagedRecord:
    backend = portal.open(desired_of(small_estate()))
    try:
        return await backend.read_managed()
    finally:
        await backend.aclose()


def test_moving_a_product_and_plan_to_another_provider_replaces_them_and_relinks(
    portal: Portal,
) -> None:
    # the portal refuses to move a product or plan between providers ("delete it and create
    # it again"): the plan used to update them, and every apply failed
    before, after = (
        desired_of(small_estate()),
        desired_of(small_estate(provider_of_weather="tyk-eu")),
    )

    async def go() -> None:
        _, result = await reconcile(portal, before)
        assert result.ok
        plan, result = await reconcile(portal, after)
        assert [(a.op, a.address, a.reason) for a in plan.actions] == [
            ("replace", "Plan/Gold", "provider changed: the portal cannot move it"),
            ("replace", "Product/Weather", "provider changed: the portal cannot move it"),
            ("update", "Catalogue/Partners", "re-links the replaced Plan/Gold, Product/Weather"),
            (
                "replace",
                "AccessRequest/acme-storm",
                "re-links the replaced Plan/Gold, Product/Weather",
            ),
        ]
        assert (result.ok, len(result.done)) == (True, 4), result.failed
        assert actions(await plan_again(portal, after)) == []
        live = await read_live(portal, after)
        assert live.get("Product", "Weather").attrs["provider"] == "tyk-eu"
        assert live.get("Catalogue", "Partners").attrs["products"] == ["Weather"]
        assert live.get("AccessRequest", "acme-storm").attrs["status"] == "approved"
        inventory = raw_inventory(portal.store)
        assert duplicates(inventory) == []
        assert inventory[("policy", "Weather")] == inventory[("policy", "Gold")] == 1

    asyncio.run(go())


def test_renaming_a_request_manifest_keeps_the_granted_request(portal: Portal) -> None:
    # it used to plan "create acme-storm-tracker" (which reuses the live request) and, with
    # --prune, "delete acme-storm" (which then revoked it): access lost until the next apply
    before = desired_of(small_estate())
    renamed = desired_of(small_estate(request="acme-storm-tracker"))

    async def go() -> None:
        await reconcile(portal, before)
        granted = (await read_live(portal, before)).get("AccessRequest", "acme-storm")
        plan, result = await reconcile(portal, renamed, prune=True)
        assert [(a.op, a.address, a.reason) for a in plan.actions] == [
            ("adopt", "AccessRequest/acme-storm-tracker", "renamed from acme-storm")
        ]
        assert result.ok
        live = await read_live(portal, renamed)
        assert live.get("AccessRequest", "acme-storm") is None
        kept = live.get("AccessRequest", "acme-storm-tracker")
        assert (kept.id, kept.managed, kept.attrs) == (granted.id, True, granted.attrs)
        record = await managed_record(portal)
        assert ("AccessRequest", "acme-storm") not in record.objects
        assert record.objects[("AccessRequest", "acme-storm-tracker")] == granted.id
        assert actions(await plan_again(portal, renamed, prune=True)) == []

    asyncio.run(go())


def test_a_create_that_reuses_a_request_is_not_undone_by_a_prune_delete(portal: Portal) -> None:
    # renamed and changed (a rotation asked): not the same request to the diff, but the
    # portal keeps one request per app, products and plan, so the create reuses the live one;
    # the prune of the old name must not then delete it
    estate = small_estate(request="acme-storm-tracker")
    estate[-1]["spec"]["rotate"] = "2026-12"
    before, changed = desired_of(small_estate()), desired_of(estate)

    async def go() -> None:
        await reconcile(portal, before)
        granted = (await read_live(portal, before)).get("AccessRequest", "acme-storm")
        plan, result = await reconcile(portal, changed, prune=True)
        assert actions(plan) == [
            ("create", "AccessRequest/acme-storm-tracker"),
            ("delete", "AccessRequest/acme-storm"),
        ]
        assert result.ok, result.failed
        live = await read_live(portal, changed)
        kept = live.get("AccessRequest", "acme-storm-tracker")
        assert (kept.id, kept.attrs["status"]) == (granted.id, "approved")
        assert kept.attrs["rotate"] == "2026-12"
        assert actions(await plan_again(portal, changed, prune=True)) == []

    asyncio.run(go())


def test_a_product_removed_and_a_plan_of_its_name_added_in_one_change(portal: Portal) -> None:
    before = desired_of(small_estate())
    estate = [d for d in small_estate() if d["kind"] in ("Provider", "Organisation", "Team")]
    estate.append(doc("Plan", "Weather", {"provider": "tyk"}))
    after = desired_of(estate)

    async def go() -> None:
        await reconcile(portal, before)
        _, result = await reconcile(portal, after, prune=True)
        assert result.ok, result.failed

    asyncio.run(go())
