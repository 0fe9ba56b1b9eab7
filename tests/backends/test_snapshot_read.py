"""The embedded backend reads the store in one transaction (``PortalStore.snapshot``); the tyk
backend reads through the portal and Dashboard APIs, one request per page and per object.
Both must see exactly the same live state: for generated estates, after edits made in the
portal and the Dashboard behind the tool's back, and under the store's quirk switches.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal_gitops.backends.embedded import open_embedded
from portal_gitops.backends.emulated.store import PortalStore
from portal_gitops.backends.tyk.backend import EMBEDDED_URL, PortalBackend
from portal_gitops.backends.tyk.client import TykApi
from portal_gitops.backends.tyk.dashboards import DashboardConn
from portal_gitops.backends.tyk.transport import InProcessTransport
from portal_gitops.retry import NO_RETRY
from portal_gitops.state import LiveState
from tests.apis import TEST_APIS
from tests.reconcile.helpers import desired_of, distinct_policy_names, fresh_portal, reconcile
from tests.strategies import estates

QUIRKS: tuple[dict[str, Any], ...] = (
    {},
    {"legacy_limit_strings": True, "plans_list_shape": "bare"},
    {"portal_page_size": 2, "dashboard_page_size": 3},
)


def call(store: PortalStore, method: str, path: str, body: Any = None) -> Any:
    raw = b"" if body is None else json.dumps(body).encode()
    resp = store.handle(method, path, {"per_page": "1000"}, {}, raw)
    assert resp.status < 300, (method, path, resp.status, resp.body)
    return json.loads(resp.body) if resp.body else None


def by_requests(path: Path, **quirks: Any) -> PortalBackend:
    """The embedded store read the tyk backend's way: every list page and detail requested."""
    store = PortalStore(str(path), apis=TEST_APIS, **quirks)
    api = TykApi(EMBEDDED_URL, None, transport=InProcessTransport(store), retry=NO_RETRY)

    def close() -> None:
        store.close()

    return PortalBackend(
        api,
        kind="embedded",
        target=str(path),
        fixed_dashboard=DashboardConn(EMBEDDED_URL, None),
        on_close=close,
    )


async def read(backend: PortalBackend) -> LiveState:
    try:
        return await backend.read()
    finally:
        await backend.aclose()


def edit_behind_the_tools_back(store: PortalStore, choices: list[int]) -> None:
    """Portal and Dashboard edits that a read must report the same way, however it reads."""
    org = call(store, "POST", "/portal-api/organisations", {"Name": "made-in-the-portal"})
    team = call(store, "POST", f"/portal-api/organisations/{org['ID']}/teams", {"Name": "t"})
    user = call(
        store,
        "POST",
        "/portal-api/users",
        {"Email": "walk-in@example.com", "First": "W", "Last": "I", "OrganisationID": org["ID"]},
    )
    call(store, "PUT", f"/portal-api/users/{user['ID']}", {"Teams": [str(team["ID"])]})
    # a managed consumer taken out of its teams in the portal
    consumers = [
        u
        for u in call(store, "GET", "/portal-api/users")
        if u["Role"] != "super-admin" and u["ID"] != user["ID"]
    ]
    if consumers and choices[0] % 2:
        other = consumers[choices[0] % len(consumers)]
        call(store, "PUT", f"/portal-api/users/{other['ID']}", {"Teams": []})
    policies = call(store, "GET", "/api/portal/policies", None)["Data"]
    products = call(store, "GET", "/portal-api/products")
    if products:
        product = call(store, "GET", f"/portal-api/products/{products[0]['ID']}")
        ref = product["ReferenceID"]
        policy = next(p for p in policies if ref in (p.get("_id"), p.get("id")))
        if choices[1] % 3 == 0:
            call(store, "DELETE", f"/api/portal/policies/{policy['_id']}")
        else:
            policy["partitions"]["quota"] = True
            policy["access_rights"]["sneaky"] = {
                "api_id": "sneaky",
                "versions": ["v2", "Default"],
                "allowed_urls": [{"url": "/x", "methods": ["POST", "GET"]}],
            }
            call(store, "PUT", f"/api/portal/policies/{policy['_id']}", policy)
    catalogues = call(store, "GET", "/portal-api/catalogues")
    target = catalogues[choices[2] % len(catalogues)]
    call(
        store,
        "POST",
        f"/portal-api/catalogues/{target['ID']}/audiences",
        {"OrganisationID": org["ID"], "TeamID": team["ID"]},
    )
    if products and choices[2] % 2:
        call(store, "PUT", f"/portal-api/catalogues/{target['ID']}", {"Products": []})


@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(estates(max_objects=4), st.lists(st.integers(0, 1000), min_size=3, max_size=3))
def test_the_snapshot_read_sees_what_the_api_read_sees(
    estate: list[dict[str, Any]], choices: list[int]
) -> None:
    desired = desired_of(distinct_policy_names(estate))
    with tempfile.TemporaryDirectory() as tmp, fresh_portal("embedded", Path(tmp)) as portal:
        _, result = asyncio.run(reconcile(portal, desired))
        assert result.ok, result.failed
        for edited in (False, True):
            if edited:
                edit_behind_the_tools_back(portal.store, choices)
            for quirks in QUIRKS:
                snapshot = asyncio.run(
                    read(open_embedded(str(portal.path), apis=TEST_APIS, **quirks))
                )
                requested = asyncio.run(read(by_requests(portal.path, **quirks)))
                assert snapshot.objects == requested.objects
                assert snapshot.objects.keys() == requested.objects.keys()


def test_the_embedded_read_makes_no_request(tmp_path: Path, monkeypatch: Any) -> None:
    """One transaction, no request: the embedded read does not go through the store's
    HTTP-shaped entry point at all."""
    calls: list[str] = []
    handle = PortalStore.handle

    def counted(self: PortalStore, method: str, path: str, *args: Any) -> Any:
        calls.append(f"{method} {path}")
        return handle(self, method, path, *args)

    monkeypatch.setattr(PortalStore, "handle", counted)
    live = asyncio.run(read(open_embedded(str(tmp_path / "portal.db"), apis=TEST_APIS)))
    assert calls == []
    assert {o.ref for o in live if o.builtin} == {
        ("Organisation", "Default Organisation"),
        ("Team", "Default Organisation/Default Organisation All users"),
        ("Catalogue", "Public Catalogue"),
        ("Catalogue", "Private Catalogue"),
        ("AdminUser", "admin@portal.local"),  # the portal's first admin: not the tool's
    }
    assert len(live) == 5
