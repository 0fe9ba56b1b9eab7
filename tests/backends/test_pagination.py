"""Pagination as Tyk serves it (issue 12, finding 13), on both transports.

REFERENCE §2 and §9 "Pagination": the portal's ``per_page`` may be capped below what a client
asks, so a short page does not prove the end (no total is sent): a client keeps asking until
a page comes back empty. The Dashboard's ``p=-2`` returns every policy in one reply although
``Pages`` may still say more than 1: that reply is complete and is not fetched again.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from portal_gitops.backends.emulated.server import running_emulator
from portal_gitops.backends.emulated.store import PortalStore, StoreResponse
from portal_gitops.backends.tyk.backend import EMBEDDED_URL, PortalBackend, open_tyk
from portal_gitops.backends.tyk.client import TykApi
from portal_gitops.backends.tyk.dashboards import DashboardConn
from portal_gitops.backends.tyk.transport import InProcessTransport
from portal_gitops.retry import NO_RETRY
from portal_gitops.state import Sensitive
from tests.backends.conftest import DASHBOARD_SECRET, PORTAL_TOKEN, PROVIDER

pytestmark = pytest.mark.anyio

OPTIONS: dict[str, Any] = {"portal_max_per_page": 3, "dashboard_page_size": 2}


class Counting(PortalStore):
    """A store that counts the requests it answers, by method and path."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seen: Counter[tuple[str, str]] = Counter()

    def handle(
        self, method: str, path: str, query: Any, headers: Any, body: bytes
    ) -> StoreResponse:
        self.seen[(method.upper(), path.rstrip("/"))] += 1
        return super().handle(method, path, query, headers, body)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["embedded", "tyk"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Counting, str]]:
    store = Counting(str(tmp_path / "portal.db"), **OPTIONS)
    try:
        if request.param == "embedded":
            yield "embedded", store, ""
        else:
            with running_emulator(
                store, portal_token=PORTAL_TOKEN, dashboard_secret=DASHBOARD_SECRET
            ) as url:
                yield "tyk", store, url
    finally:
        store.close()


@pytest.fixture
async def capped(
    served: tuple[str, Counting, str], anyio_backend: str
) -> AsyncIterator[tuple[PortalBackend, Counting]]:
    kind, store, url = served
    if kind == "embedded":
        # what open_embedded builds, over the in-process transport to the counting store
        api = TykApi(EMBEDDED_URL, None, transport=InProcessTransport(store), retry=NO_RETRY)
        backend = PortalBackend(
            api, kind="embedded", target="", fixed_dashboard=DashboardConn(EMBEDDED_URL, None)
        )
    else:
        backend = open_tyk(url, PORTAL_TOKEN, {PROVIDER: DashboardConn(url, DASHBOARD_SECRET)})
    try:
        yield backend, store
    finally:
        await backend.aclose()


def provider_attrs(url: str) -> dict[str, Any]:
    return {
        "type": "tyk-pro",
        "dashboardUrl": url or "http://dashboard.example:3000",
        "orgId": "5e9d9544a1dcd60001d0ed20",
        "gatewayUrl": "",
        "policyTags": [],
        "insecureSkipVerify": False,
        "secret": Sensitive("env:TYK_DASHBOARD_SECRET", DASHBOARD_SECRET),
    }


async def test_a_capped_per_page_does_not_end_a_list_early(
    capped: tuple[PortalBackend, Counting],
) -> None:
    backend, store = capped
    names = [f"Org {i:02}" for i in range(8)]
    for name in names:
        await backend.create("Organisation", name, {})
    listed = await backend.api.portal.list_organisations()
    assert sorted(o["Name"] for o in listed) == sorted([*names, "Default Organisation"])
    # 9 organisations 3 to a page: 3 full pages, then the empty one that ends the list
    assert store.seen[("GET", "/portal-api/organisations")] == 4
    assert await backend.find("Organisation", "Org 07") is not None


async def test_listing_policies_at_once_is_one_request(
    capped: tuple[PortalBackend, Counting], served: tuple[str, Counting, str]
) -> None:
    backend, store = capped
    await backend.create("Provider", PROVIDER, provider_attrs(served[2]))
    dash = backend.dashboard_for(PROVIDER)
    for i in range(5):
        await dash.create_policy({"name": f"policy {i}", "active": True}, what="policy")
    store.seen.clear()
    policies = await dash.list_policies(at_once=True)
    assert sorted(p["name"] for p in policies) == [f"policy {i}" for i in range(5)]
    assert store.seen[("GET", "/api/portal/policies")] == 1  # Pages says 3: not re-fetched
    store.seen.clear()
    assert len(await dash.list_policies()) == 5  # page by page: 3 pages of 2
    assert store.seen[("GET", "/api/portal/policies")] == 3


async def test_the_emulated_portal_caps_per_page(
    served: tuple[str, Counting, str],
) -> None:
    _, store, _ = served
    headers = {"Authorization": store.portal_token} if store.portal_token else {}
    for i in range(4):
        store.handle("POST", "/portal-api/organisations", {}, headers, b'{"Name": "O%d"}' % i)
    sizes = []
    for page in (1, 2, 3):
        query = {"page": str(page), "per_page": "100"}
        reply = store.handle("GET", "/portal-api/organisations", query, headers, b"")
        sizes.append(len(json.loads(reply.body)))
    assert sizes == [3, 2, 0]
