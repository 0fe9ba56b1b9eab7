"""Issue 12, finding 10: an audience entry without a team covers every member of the
organisation, including members of declared teams, on both backends.

REFERENCE.md §9 "Team membership": User-update ``Teams`` replaces the user's teams, the
organisation's default team ("<Org> All users") included only if sent; an audience on the
default team covers only the users still in it. docs/concepts.md and the Catalogue model
(``AudienceEntry.team``: "Omitted = the organisation's default team (all its users)") promise
that an entry without a team means the whole organisation.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from portal_gitops.backends.emulated.store import PortalStore
from tests.reconcile.helpers import (
    BACKENDS,
    Portal,
    actions,
    desired_of,
    fresh_portal,
    plan_again,
    read_live,
    reconcile,
    small_estate,
)


@pytest.fixture(params=BACKENDS)
def portal(request: pytest.FixtureRequest, tmp_path: Path) -> Portal:
    with fresh_portal(request.param, tmp_path / "portal") as p:
        yield p


def _auth(store: PortalStore) -> dict[str, str]:
    return {"Authorization": store.portal_token} if store.portal_token else {}


def _get(store: PortalStore, path: str, **query: str) -> Any:
    resp = store.handle("GET", f"/portal-api{path}", query, _auth(store), b"")
    assert resp.status == 200, (path, resp.status, resp.body[:200])
    return json.loads(resp.body)


def _covered(store: PortalStore, email: str, catalogue: str) -> bool:
    """Whether one of the catalogue's audiences names a team the user is in (the portal's
    own rule for a private catalogue: members of its audience teams see it)."""
    user = next(u for u in _get(store, "/users", per_page="100") if u["Email"] == email)
    teams = {t["ID"] for t in _get(store, f"/users/{user['ID']}")["Teams"] or []}
    cat = next(c for c in _get(store, "/catalogues", per_page="100") if c["Name"] == catalogue)
    audiences = _get(store, f"/catalogues/{cat['ID']}/audiences")
    return any(a["TeamID"] in teams for a in audiences)


def test_an_organisation_wide_audience_covers_members_of_declared_teams(portal: Portal) -> None:
    # small_estate: ana is in the declared team Developers; catalogue Partners is private with
    # the audience [{organisation: Acme}] (no team); ana requests access through it
    desired = desired_of(small_estate())  # validation accepts the request

    async def go() -> None:
        _, result = await reconcile(portal, desired)
        assert result.ok, result.failed
        assert _covered(portal.store, "ana@acme.example", "Partners")
        assert _covered(portal.store, "bo@acme.example", "Partners")
        live = await read_live(portal, desired)
        # the default team is the portal's: the canonical teams list the declared ones only
        assert live.get("User", "ana@acme.example").attrs["teams"] == ["Developers"]
        assert live.get("AccessRequest", "acme-storm").attrs["status"] == "approved"
        assert actions(await plan_again(portal, desired)) == []

    asyncio.run(go())


def test_a_member_dropped_from_the_default_team_is_drift_and_restored(portal: Portal) -> None:
    # a user whose Teams were replaced without the default team (by an older portal-gitops,
    # or in the portal) is no longer covered by an organisation-wide audience: the plan shows
    # it and apply puts the user back
    desired = desired_of(small_estate())

    async def go() -> None:
        _, result = await reconcile(portal, desired)
        assert result.ok, result.failed
        store = portal.store
        user = next(
            u for u in _get(store, "/users", per_page="100") if u["Email"] == "ana@acme.example"
        )
        declared = [
            str(t["ID"]) for t in _get(store, f"/users/{user['ID']}")["Teams"] if not t["Default"]
        ]
        body = json.dumps({"Teams": declared}).encode()
        resp = store.handle("PUT", f"/portal-api/users/{user['ID']}", {}, _auth(store), body)
        assert resp.status == 200, resp.body
        assert not _covered(store, "ana@acme.example", "Partners")  # Teams replaced them
        assert actions(await plan_again(portal, desired)) == [("update", "User/ana@acme.example")]
        _, result = await reconcile(portal, desired)
        assert result.ok, result.failed
        assert _covered(store, "ana@acme.example", "Partners")
        assert actions(await plan_again(portal, desired)) == []

    asyncio.run(go())
