"""Apps as declared objects, whole runs on both backends (the embedded store, and the emulator
over HTTP), REFERENCE.md §4 "Apps": an App document creates the consumer's app (``POST
/apps``), several requests share it, a change of its description, redirect URLs or visibility
is made in place (``PUT /apps/{id}``, no credential touched), and an app no manifest declares
is deleted only with ``--prune`` (``DELETE /apps/{id}``, which revokes its requests'
credentials: the plan names consumer and app and counts them). ``import`` writes App
documents that plan clean. Manifests that describe the app inside the request (the form from
before App documents) keep working, on a portal whose apps portal-gitops did not record too.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from portal_gitops.backends.base import ManagedRecord
from portal_gitops.importer import import_state
from portal_gitops.render import render_markdown, render_text
from tests.reconcile.helpers import (
    BACKENDS,
    Portal,
    _get,
    actions,
    desired_of,
    doc,
    fresh_portal,
    plan_again,
    read_live,
    reconcile,
    small_estate,
)

pytestmark = pytest.mark.anyio

APP = "ana@acme.example/Storm tracker"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def estate(**app: Any) -> list[dict[str, Any]]:
    """The small estate, its request naming a declared App, and a second request (another
    product, the same app) on it."""
    docs = small_estate()
    docs.insert(
        -2,
        doc(
            "Product",
            "Maps",
            {"provider": "tyk", "apis": [{"apiId": "maps-1", "versions": ["v1"]}]},
        ),
    )
    docs[-2]["spec"]["products"].append("Maps")  # the catalogue offers it
    spec = {"owner": "ana@acme.example", "description": "Alerts for crews", **app}
    docs.insert(-1, doc("App", "Storm tracker", spec))
    docs[-1]["spec"]["app"] = "Storm tracker"
    second = copy.deepcopy(docs[-1])
    second["metadata"]["name"] = "acme-maps"
    second["spec"]["products"] = ["Maps"]
    docs.append(second)
    return docs


def without(docs: list[dict[str, Any]], *kinds: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] not in kinds]


def apps(portal: Portal) -> list[dict[str, Any]]:
    return list(_get(portal.store, "/portal-api/apps"))


def requests_on(portal: Portal, app_id: int) -> list[dict[str, Any]]:
    return list(_get(portal.store, f"/portal-api/apps/{app_id}/access-requests"))


@pytest.mark.parametrize("kind", BACKENDS)
async def test_an_app_is_created_shared_updated_in_place_and_pruned(
    kind: str, tmp_path: Path
) -> None:
    with fresh_portal(kind, tmp_path) as portal:
        # create: one app, two requests on it
        desired = desired_of(estate())
        plan, result = await reconcile(portal, desired)
        assert result.ok, result
        assert ("create", f"App/{APP}") in actions(plan)
        [app] = apps(portal)
        assert (app["Name"], app["Description"], app["Visibility"]) == (
            "Storm tracker",
            "Alerts for crews",
            "personal",
        )
        assert len(requests_on(portal, app["ID"])) == 2
        assert actions(await plan_again(portal, desired)) == []

        # update in place: the same app, the same requests, no credential touched
        before = {r["ID"] for r in requests_on(portal, app["ID"])}
        desired = desired_of(
            estate(visibility="team", redirectUrls=["https://storm.acme.example/cb"])
        )
        plan = await plan_again(portal, desired)
        assert actions(plan) == [("update", f"App/{APP}")]
        assert plan.credentials == ()
        _, result = await reconcile(portal, desired)
        assert result.ok, result
        [after] = apps(portal)
        assert after["ID"] == app["ID"] and after["Visibility"] == "team"
        assert after["RedirectURLs"] == "https://storm.acme.example/cb"
        assert {r["ID"] for r in requests_on(portal, app["ID"])} == before
        assert actions(await plan_again(portal, desired)) == []

        # removed from the manifests: kept without --prune, deleted with it, credentials said
        gone = desired_of(without(estate(), "App", "AccessRequest"))
        kept = await plan_again(portal, gone)
        assert actions(kept) == []
        assert {u.address for u in kept.orphaned} >= {f"App/{APP}"}
        pruned = await plan_again(portal, gone, prune=True)
        assert ("delete", f"App/{APP}") in actions(pruned)
        assert len(pruned.credentials) == 2
        assert {(c.effect, c.consumer, c.app) for c in pruned.credentials} == {
            ("revoke", "ana@acme.example", "Storm tracker")
        }
        text = render_text(pruned, color=False)
        assert "2 credentials revoked" in text
        assert "REVOKE credential of ana@acme.example (Acme) app 'Storm tracker'" in text
        assert "`Storm tracker`" in render_markdown(pruned)
        _, result = await reconcile(portal, gone, prune=True)
        assert result.ok, result
        assert apps(portal) == []
        assert _get(portal.store, "/portal-api/access_requests") == []
        assert actions(await plan_again(portal, gone, prune=True)) == []


@pytest.mark.parametrize("kind", BACKENDS)
async def test_deleting_an_app_names_the_credentials_of_requests_made_in_the_portal(
    kind: str, tmp_path: Path
) -> None:
    """An app pruned while a request nobody declared sits on it: the portal revokes that
    request's credential with the app, so the plan lists it."""
    with fresh_portal(kind, tmp_path) as portal:
        docs = estate()
        _, result = await reconcile(portal, desired_of(docs))
        assert result.ok, result
        # the requests stay in the portal but leave portal-gitops' hands (unmanaged)
        backend = portal.open(desired_of(docs))
        try:
            record = await backend.read_managed()
            objects = {k: v for k, v in record.objects.items() if k[0] != "AccessRequest"}
            await backend.write_managed(ManagedRecord(objects))
        finally:
            await backend.aclose()
        pruned = await plan_again(
            portal, desired_of(without(docs, "App", "AccessRequest")), prune=True
        )
        assert actions(pruned) == [("delete", f"App/{APP}")]
        assert sorted((c.effect, c.reason, c.cause) for c in pruned.credentials) == [
            ("revoke", "its app is deleted", f"App/{APP}"),
            ("revoke", "its app is deleted", f"App/{APP}"),
        ]


@pytest.mark.parametrize("kind", BACKENDS)
async def test_import_writes_app_documents_that_plan_clean(kind: str, tmp_path: Path) -> None:
    with fresh_portal(kind, tmp_path) as portal:
        desired = desired_of(
            estate(visibility="organisation", redirectUrls=["https://storm.acme.example/cb"])
        )
        _, result = await reconcile(portal, desired)
        assert result.ok, result
        imported = import_state(await read_live(portal, desired))
        assert imported.skipped == []
        docs = [d for files in imported.files.values() for d in files]
        [app] = [d for d in docs if d["kind"] == "App"]
        assert app["metadata"]["name"] == "Storm tracker"
        assert app["spec"] == {
            "owner": "ana@acme.example",
            "description": "Alerts for crews",
            "redirectUrls": ["https://storm.acme.example/cb"],
            "visibility": "organisation",
        }
        assert {d["spec"]["app"] for d in docs if d["kind"] == "AccessRequest"} == {"Storm tracker"}
        assert actions(await plan_again(portal, desired_of(docs))) == []


def inline_estate() -> list[dict[str, Any]]:
    """The request describes its app itself, as manifests did before App documents."""
    docs = small_estate()
    docs[-1]["spec"]["app"] = {
        "name": "Storm tracker",
        "description": "Alerts for crews",
        "visibility": "team",
    }
    return docs


@pytest.mark.parametrize("kind", BACKENDS)
async def test_an_app_described_in_its_request_keeps_working(kind: str, tmp_path: Path) -> None:
    with fresh_portal(kind, tmp_path) as portal:
        desired = desired_of(inline_estate())
        plan, result = await reconcile(portal, desired)
        assert result.ok, result
        assert ("create", f"App/{APP}") in actions(plan)
        assert actions(await plan_again(portal, desired)) == []
        # the same app written as an App document is the same desired state
        declared = small_estate()
        declared.insert(
            -1,
            doc(
                "App",
                "Storm tracker",
                {
                    "owner": "ana@acme.example",
                    "description": "Alerts for crews",
                    "visibility": "team",
                },
            ),
        )
        declared[-1]["spec"]["app"] = "Storm tracker"
        assert actions(await plan_again(portal, desired_of(declared))) == []

        # an app made before portal-gitops recorded apps (not in its record) is adopted,
        # never created again nor deleted, and no credential moves
        backend = portal.open(desired)
        try:
            record = await backend.read_managed()
            objects = {k: v for k, v in record.objects.items() if k[0] != "App"}
            await backend.write_managed(ManagedRecord(objects, record.notes))
        finally:
            await backend.aclose()
        plan = await plan_again(portal, desired)
        assert actions(plan) == [("adopt", f"App/{APP}")] and plan.credentials == ()
        _, result = await reconcile(portal, desired)
        assert result.ok
        assert len(apps(portal)) == 1
        assert actions(await plan_again(portal, desired)) == []
