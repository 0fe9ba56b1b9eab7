"""One retry layer: a request the portal keeps refusing is tried by the HTTP client, not again
by the apply engine around it (an update once made 6 x 6 requests, one per engine attempt per
client attempt).

The portal is an emulator answering every request with a 5xx (its fault injection at rate 1);
the managed record lives on a second, healthy emulator (the provider's Dashboard), so the
apply itself runs and only the update meets the faults.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from portal_gitops.apply import Applier
from portal_gitops.backends.embedded import open_embedded
from portal_gitops.backends.emulated.server import FaultConfig, FaultStats, running_emulator
from portal_gitops.backends.emulated.store import PortalStore
from portal_gitops.backends.tyk.backend import open_tyk
from portal_gitops.backends.tyk.dashboards import DashboardConn
from portal_gitops.plan import Action, Plan
from portal_gitops.retry import RetryPolicy
from portal_gitops.state import LiveObject, LiveState

TOKEN = "retry-layers-portal-token-7d1e"
SECRET = "retry-layers-dashboard-secret-93fa"
ATTEMPTS = 6


async def _no_sleep(_seconds: float) -> None:
    return None


def _policy() -> RetryPolicy:
    return RetryPolicy(
        attempts=ATTEMPTS, base_delay=0, max_delay=0, sleep=_no_sleep, jitter=lambda: 0.5
    )


async def _seed_catalogue(db: Path) -> str:
    backend = open_embedded(str(db))
    try:
        attrs = {"visibility": "private", "audience": [], "products": [], "plans": []}
        return await backend.create("Catalogue", "Partners", attrs)
    finally:
        await backend.aclose()


def test_a_permanent_500_on_an_update_is_tried_by_the_client_only(tmp_path: Path) -> None:
    portal_db, dashboard_db = tmp_path / "portal.db", tmp_path / "dashboard.db"
    catalogue_id = asyncio.run(_seed_catalogue(portal_db))
    before = {"visibility": "private", "audience": [], "products": [], "plans": []}
    after = {**before, "visibility": "public"}
    live = LiveObject("Catalogue", "Partners", catalogue_id, before, managed=True)
    plan = Plan((Action("update", "Catalogue", "Partners", after, live_id=catalogue_id),))
    stats = FaultStats()
    portal, dashboard = PortalStore(str(portal_db)), PortalStore(str(dashboard_db))
    try:
        with (
            running_emulator(
                portal,
                FaultConfig(error_rate=1.0, seed=11),
                portal_token=TOKEN,
                dashboard_secret=SECRET,
                stats=stats,
            ) as portal_url,
            running_emulator(dashboard, portal_token=TOKEN, dashboard_secret=SECRET) as dash_url,
        ):

            async def go() -> None:
                backend = open_tyk(
                    portal_url,
                    TOKEN,
                    {"provider": DashboardConn(dash_url, SECRET)},
                    retry=_policy(),
                )
                try:
                    applier = Applier(
                        backend, LiveState({live.ref: live}), retry=_policy(), sleep=_no_sleep
                    )
                    result = await applier.run(plan)
                finally:
                    await backend.aclose()
                assert [a.address for a, _ in result.failed] == ["Catalogue/Partners"]
                assert "injected" in result.failed[0][1]

            asyncio.run(go())
    finally:
        portal.close()
        dashboard.close()
    # the client's attempts, and nothing on top (the engine used to multiply them: 36); the
    # managed record's read (start of the run) and write (after the group) each first list
    # the portal's providers, whose Dashboards are searched for the record, and while that
    # listing fails it is tried again next time (by the client only, as well)
    assert stats.requests == stats.errors == 3 * ATTEMPTS
