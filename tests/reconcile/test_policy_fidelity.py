"""Products, plans and their Dashboard policies as a strict Tyk treats them (issue 12,
findings 3, 7 and 9), whole plan/apply runs on both transports and both positions of each
switch where REFERENCE.md §9 calls Tyk's behaviour unsettled.

- §9 "Product APIs on update": a Product-update may ignore ``APIDetails[].APIID``
  (``Product-APIDetail-edit`` has only ``Description`` and ``OASUrl``); the portal learns a
  linked policy's ``access_rights`` on ``PUT /providers/{id}/synchronize``.
- §6 and §9 "Policy state": policies carry ``active`` and ``state`` (active|draft|deny); keys
  under an inactive or ``deny`` policy stop working, so both are drift.
- §9 "Deleting a product or plan": the policy may stay behind, and Dashboard names are unique
  (§6: 400 on a duplicate name), so a policy left behind blocks a create of that name.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from portal_gitops.backends.emulated.server import running_emulator
from portal_gitops.backends.emulated.store import PortalStore
from portal_gitops.desired import Desired
from portal_gitops.state import MANAGED_POLICY_TAG
from tests.apis import TEST_VERSIONS, api_definition
from tests.reconcile.helpers import (
    BACKENDS,
    DASHBOARD_SECRET,
    PORTAL_TOKEN,
    Portal,
    actions,
    desired_of,
    duplicates,
    plan_again,
    plan_on,
    raw_inventory,
    read_live,
    reconcile,
    small_estate,
)


@dataclass
class SwitchedPortal(Portal):
    """A fresh portal whose store runs with PortalStore switches (``store_kwargs``) on both
    transports: the embedded backend opens its own store on the file with them."""

    def call(self, method: str, path: str, body: Any = None, **query: str) -> Any:
        """A request to the live store, as someone in the portal or the Dashboard would."""
        secret = (
            self.store.dashboard_secret if path.startswith("/api/") else self.store.portal_token
        )
        headers = {"Authorization": secret} if secret else {}
        raw = json.dumps(body).encode() if body is not None else b""
        resp = self.store.handle(method, path, query, headers, raw)
        assert resp.status in (200, 201), (method, path, resp.status, resp.body[:300])
        return json.loads(resp.body)


@contextmanager
def switched_portal(kind: str, directory: Path, **options: Any) -> Iterator[SwitchedPortal]:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "portal.db"
    with ExitStack() as stack:
        store = PortalStore(str(path), **options)
        stack.callback(store.close)
        if kind == "embedded":
            yield SwitchedPortal(kind, path, store, store_kwargs=options)
            return
        url = stack.enter_context(
            running_emulator(store, portal_token=PORTAL_TOKEN, dashboard_secret=DASHBOARD_SECRET)
        )
        yield SwitchedPortal(kind, path, store, url, store_kwargs=options)


def by_name(portal: SwitchedPortal, path: str, name: str) -> dict[str, Any]:
    items = portal.call("GET", f"/portal-api{path}", per_page="100")
    if isinstance(items, dict):
        items = items["data"]
    found = [i for i in items if i["Name"] == name]
    assert len(found) == 1, (path, name, items)
    return dict(found[0])


def policy_named(portal: SwitchedPortal, name: str) -> dict[str, Any] | None:
    policies = portal.call("GET", "/api/portal/policies", p="-2")["Data"]
    named = [p for p in policies if p["name"] == name]
    assert len(named) <= 1, named
    return named[0] if named else None


def with_apis(*apis: str) -> Desired:
    estate = small_estate()
    weather = next(d for d in estate if d["kind"] == "Product")
    weather["spec"]["apis"] = [{"apiId": a, "versions": ["v1"]} for a in apis]
    return desired_of(estate)


# -- finding 3: a product's APIs change, whether or not Product-update honours APIID ----------


@pytest.mark.parametrize("api_ids", ["ignore", "honour"])
@pytest.mark.parametrize("kind", BACKENDS)
def test_changing_a_products_apis_converges(kind: str, api_ids: str, tmp_path: Path) -> None:
    with switched_portal(kind, tmp_path / "portal", product_update_api_ids=api_ids) as portal:

        async def go() -> None:
            _, result = await reconcile(portal, with_apis("weather-1"))
            assert result.ok, result.failed
            for apis in (("weather-1", "weather-2"), ("weather-2",), ("weather-1", "weather-3")):
                desired = with_apis(*apis)
                plan, result = await reconcile(portal, desired)
                assert actions(plan) == [("update", "Product/Weather")]
                assert result.ok, result.failed
                assert actions(await plan_again(portal, desired)) == [], apis
                live = await read_live(portal, desired)
                assert live.get("Product", "Weather").attrs["apis"] == list(apis)
                product = by_name(portal, "/products", "Weather")
                assert sorted(d["APIID"] for d in product["APIDetails"]) == list(apis)

        asyncio.run(go())


def test_a_product_update_ignoring_apiid_keeps_the_apis(tmp_path: Path) -> None:
    """The emulated portal, in its strict position, ignores APIDetails additions and removals
    on update (Product-APIDetail-edit: Description and OASUrl only), and its synchronise takes
    a linked product's APIs from its policy's access rights."""
    with switched_portal("embedded", tmp_path / "portal") as portal:
        asyncio.run(reconcile(portal, with_apis("weather-1")))
        product = by_name(portal, "/products", "Weather")
        body = {"Name": "Weather", "APIDetails": [{"APIID": "weather-9", "Description": "x"}]}
        portal.call("PUT", f"/portal-api/products/{product['ID']}", body)
        after = portal.call("GET", f"/portal-api/products/{product['ID']}")
        assert [d["APIID"] for d in after["APIDetails"]] == ["weather-1"]
        # someone gives the policy access to another API the Dashboard defines
        portal.store.seed_apis([api_definition("weather-9", TEST_VERSIONS)])
        policy = portal.call("GET", f"/api/portal/policies/{product['ReferenceID']}")
        policy["access_rights"]["weather-9"] = {"api_id": "weather-9", "versions": ["v1"]}
        portal.call("PUT", f"/api/portal/policies/{product['ReferenceID']}", policy)
        portal.call("PUT", f"/portal-api/providers/{product['ProviderID']}/synchronize")
        synced = portal.call("GET", f"/portal-api/products/{product['ID']}")
        assert sorted(d["APIID"] for d in synced["APIDetails"]) == ["weather-1", "weather-9"]


# -- finding 7: a policy made inactive, or set to deny, in the Dashboard is drift -------------


@pytest.mark.parametrize(
    ("kind", "edit"),
    [
        (k, e)
        for k in BACKENDS
        for e in (
            {"active": False, "is_inactive": True, "state": "deny"},
            {"active": False, "is_inactive": True, "state": "draft"},
            {"active": True, "state": "deny"},
        )
    ],
)
def test_an_inactive_policy_is_drift_and_apply_restores_it(
    kind: str, edit: dict[str, Any], tmp_path: Path
) -> None:
    desired = desired_of(small_estate())
    with switched_portal(kind, tmp_path / "portal") as portal:

        async def go() -> None:
            await reconcile(portal, desired)
            for name in ("Weather", "Gold"):
                policy = policy_named(portal, name)
                assert policy is not None
                policy.update(edit)
                portal.call("PUT", f"/api/portal/policies/{policy['_id']}", policy)
            live = await read_live(portal, desired)
            for ref in (("Product", "Weather"), ("Plan", "Gold")):
                policy_attrs = live.get(*ref).attrs["policy"]
                assert (policy_attrs["active"], policy_attrs["state"]) == (
                    edit["active"],
                    edit["state"],
                )
            plan, result = await reconcile(portal, desired)
            assert actions(plan) == [("update", "Plan/Gold"), ("update", "Product/Weather")]
            assert result.ok, result.failed
            assert actions(await plan_again(portal, desired)) == []
            for name in ("Weather", "Gold"):
                policy = policy_named(portal, name)
                assert policy is not None
                assert (policy["active"], policy["is_inactive"], policy["state"]) == (
                    True,
                    False,
                    "active",
                )

        asyncio.run(go())


# -- finding 9: a policy left behind holds its name --------------------------------------------


@pytest.mark.parametrize("on_delete", ["delete", "keep"])
@pytest.mark.parametrize("kind", BACKENDS)
def test_the_emulated_portal_deletes_or_keeps_a_products_policy(
    kind: str, on_delete: str, tmp_path: Path
) -> None:
    desired = desired_of(small_estate())
    with switched_portal(kind, tmp_path / "portal", policy_on_delete=on_delete) as portal:
        asyncio.run(reconcile(portal, desired))
        for path, name in (("/products", "Weather"), ("/plans", "Gold")):
            obj = by_name(portal, path, name)
            portal.call("DELETE", f"/portal-api{path}/{obj['ID']}")
            assert (policy_named(portal, name) is not None) == (on_delete == "keep")


@pytest.mark.parametrize("on_delete", ["delete", "keep"])
@pytest.mark.parametrize("kind", BACKENDS)
def test_an_apply_killed_between_deleting_a_product_and_its_policy_converges(
    kind: str, on_delete: str, tmp_path: Path
) -> None:
    """Killed after the portal deleted the product and plan, before the tool deleted their
    managed policies (simulated by a portal that keeps them): the next run creates them again
    instead of failing on the names their policies still hold."""
    desired = desired_of(small_estate())
    with switched_portal(kind, tmp_path / "portal", policy_on_delete=on_delete) as portal:

        async def go() -> None:
            await reconcile(portal, desired)
            keeper = PortalStore(str(portal.path), policy_on_delete="keep")
            try:
                for path, name in (("/products", "Weather"), ("/plans", "Gold")):
                    obj = by_name(portal, path, name)
                    headers = {"Authorization": PORTAL_TOKEN} if portal.url else {}
                    reply = keeper.handle(
                        "DELETE", f"/portal-api{path}/{obj['ID']}", {}, headers, b""
                    )
                    assert reply.status == 200
            finally:
                keeper.close()
            orphan = policy_named(portal, "Weather")
            assert orphan is not None and MANAGED_POLICY_TAG in orphan["tags"]
            plan, result = await reconcile(portal, desired)
            assert ("create", "Product/Weather") in actions(plan)
            assert ("create", "Plan/Gold") in actions(plan)
            assert result.ok, result.failed
            assert actions(await plan_again(portal, desired)) == []
            inventory = raw_inventory(portal.store)
            assert duplicates(inventory) == []
            assert inventory[("policy", "Weather")] == inventory[("policy", "Gold")] == 1
            live = await read_live(portal, desired)
            assert live.get("AccessRequest", "acme-storm").attrs["status"] == "approved"

        asyncio.run(go())


@pytest.mark.parametrize("on_delete", ["delete", "keep"])
@pytest.mark.parametrize("kind", BACKENDS)
def test_a_pruned_product_can_be_created_again(kind: str, on_delete: str, tmp_path: Path) -> None:
    full = desired_of(small_estate())
    without = desired_of(
        [
            d
            for d in small_estate()
            if d["kind"] not in ("Product", "Plan", "Catalogue", "AccessRequest")
        ]
    )
    with switched_portal(kind, tmp_path / "portal", policy_on_delete=on_delete) as portal:

        async def go() -> None:
            await reconcile(portal, full)
            _, result = await reconcile(portal, without, prune=True)
            assert result.ok, result.failed
            assert policy_named(portal, "Weather") is None  # ours: removed with the product
            _, result = await reconcile(portal, full)
            assert result.ok, result.failed
            assert actions(await plan_again(portal, full)) == []

        asyncio.run(go())


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_name_held_by_a_policy_we_do_not_manage_is_reported(kind: str, tmp_path: Path) -> None:
    desired = desired_of(small_estate())
    providers = desired_of([d for d in small_estate() if d["kind"] == "Provider"])
    with switched_portal(kind, tmp_path / "portal") as portal:
        # the providers exist (their Dashboards are read at plan time), then someone makes a
        # policy of the product's name in the Dashboard
        asyncio.run(reconcile(portal, providers))
        portal.call(
            "POST",
            "/api/portal/policies",
            {
                "name": "Weather",
                "active": True,
                "state": "active",
                "partitions": {"acl": True, "quota": False, "rate_limit": False},
                "access_rights": {},
                "tags": [],
            },
        )

        async def go() -> None:
            backend = portal.open(desired)
            try:
                plan = await plan_on(backend, desired)
            finally:
                await backend.aclose()
            held = [w for w in plan.warnings if "Product/Weather" in w]
            assert len(held) == 1, plan.warnings
            assert 'policy named "Weather"' in held[0]
            assert 'provider "tyk"' in held[0]
            assert "does not manage" in held[0]
            _, result = await reconcile(portal, desired)
            failed = {a.address: error for a, error in result.failed}
            message = failed["Product/Weather"]
            assert 'policy named "Weather"' in message and "does not manage" in message
            assert "422" not in message
            assert policy_named(portal, "Weather") is not None  # never touched

        asyncio.run(go())
