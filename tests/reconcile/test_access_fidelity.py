"""Access requests on a portal as strict as Tyk, whole runs on both backends (embedded store
and the emulator over HTTP), REFERENCE.md §9:

- "Provision body": no ``CatalogueID`` is sent; the portal records a catalogue of its own
  choosing (``provision_catalogue``: first or last by ID, both positions), and a recorded
  catalogue other than the manifest's never replaces a granted request (no credential churn).
- "Decisions": an approve whose reply is lost is not repeated blindly (the portal refuses a
  decision on a decided request): the request's status is read again first.
- "Apps": ``Visibility`` is set on the consumer's app, read back, and a change is made in
  place (no credential revoked).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from portal_gitops.backends.emulated.server import FaultConfig
from portal_gitops.commands import load_and_validate
from portal_gitops.desired import Desired, build_desired
from portal_gitops.render import render_json, render_markdown, render_text
from tests.reconcile.helpers import (
    BACKENDS,
    DASHBOARD_SECRET,
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
CHOICES = ("first", "last")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "manifests"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def two_catalogues_estate(**request: Any) -> list[dict[str, Any]]:
    """The small estate with a public catalogue offering what the private Partners offers
    (as the examples' public and partner do), the request made through Partners."""
    docs = small_estate()
    # the consumer's own team (a user given teams leaves the default team: REFERENCE.md §9)
    docs[-2]["spec"]["audience"] = [{"organisation": "Acme", "team": "Developers"}]
    docs.insert(
        -1,
        doc(
            "Catalogue",
            "Everyone",
            {"visibility": "public", "products": ["Weather"], "plans": ["Gold"]},
        ),
    )
    docs[-1]["spec"].update(request)
    return docs


def _request_ids(live: Any) -> dict[str, str]:
    return {o.key: o.id for o in live if o.kind == "AccessRequest"}


@pytest.mark.parametrize("choice", CHOICES)
@pytest.mark.parametrize("kind", BACKENDS)
async def test_the_catalogue_the_portal_records_never_replaces_a_request(
    kind: str, choice: str, tmp_path: Path
) -> None:
    desired = desired_of(two_catalogues_estate())
    with fresh_portal(kind, tmp_path, provision_catalogue=choice) as portal:
        _, result = await reconcile(portal, desired)
        assert result.ok, result
        first = _request_ids(await read_live(portal, desired))
        for _ in range(3):
            again, result = await reconcile(portal, desired)
            assert actions(again) == [] and result.ok
        assert _request_ids(await read_live(portal, desired)) == first
        # nothing named a catalogue on the wire: the portal chose one the consumer sees
        [request] = _get(portal.store, "/portal-api/access_requests")
        offering = [
            c["Name"]
            for c in sorted(_get(portal.store, "/portal-api/catalogues"), key=lambda c: c["ID"])
            if c["Name"] in ("Everyone", "Partners")
        ]
        assert request["Catalogue"] == offering[-1 if choice == "last" else 0]


def example_estate(today: dt.date) -> Desired:
    result = load_and_validate([str(EXAMPLES)])
    assert not result.errors, result.errors
    return build_desired(
        [m for m, _ in result.manifests],
        today=today,
        resolve_secret=lambda _: DASHBOARD_SECRET,
        documents=result.documents,
    )


@pytest.mark.parametrize("choice", CHOICES)
@pytest.mark.parametrize("kind", BACKENDS)
async def test_the_example_estate_converges_five_times_without_replacing_a_request(
    kind: str, choice: str, tmp_path: Path
) -> None:
    desired = example_estate(dt.date(2026, 6, 1))  # every request live, none expired
    with fresh_portal(kind, tmp_path, provision_catalogue=choice) as portal:
        plan, result = await reconcile(portal, desired)
        assert result.ok, result
        assert all(op == "create" for op, _ in actions(plan))
        ids = _request_ids(await read_live(portal, desired))
        assert len(ids) == 7
        for _ in range(5):
            again = await plan_again(portal, desired)
            assert actions(again) == [], actions(again)
        assert _request_ids(await read_live(portal, desired)) == ids


async def test_a_lost_approve_reply_is_not_repeated_blindly(tmp_path: Path) -> None:
    """The emulator commits the first approve, then drops its reply; the client reads the
    request's status and stops, instead of approving again (422 on a decided request)."""
    desired = desired_of(small_estate())
    faults = FaultConfig(lose_first_reply_of=r"/portal-api/access_requests/\d+/approve")
    with fresh_portal("emulator", tmp_path, faults) as portal:
        _, result = await reconcile(portal, desired)
        assert result.ok, result
        [request] = _get(portal.store, "/portal-api/access_requests")
        shown = _get(portal.store, f"/portal-api/access_requests/{request['ID']}")
        assert shown["Status"] == "approved" and len(shown["Credentials"]) == 1
        assert actions(await plan_again(portal, desired)) == []


@pytest.mark.parametrize("kind", BACKENDS)
async def test_app_visibility_is_set_read_back_and_changed_in_place(
    kind: str, tmp_path: Path
) -> None:
    default = desired_of(small_estate())
    app = default.state.resources[("App", "ana@acme.example/Storm tracker")].attrs
    assert app["visibility"] == "personal"  # the safest: only the consumer sees the credentials
    with fresh_portal(kind, tmp_path) as portal:
        _, result = await reconcile(portal, default)
        assert result.ok, result
        [app] = _get(portal.store, "/portal-api/apps")
        assert app["Visibility"] == "personal"
        ids = _request_ids(await read_live(portal, default))
        team = small_estate()
        team[-1]["spec"]["app"]["visibility"] = "team"
        desired = desired_of(team)
        plan, result = await reconcile(portal, desired)
        assert actions(plan) == [("update", "App/ana@acme.example/Storm tracker")] and result.ok
        assert _get(portal.store, f"/portal-api/apps/{app['ID']}")["Visibility"] == "team"
        assert _request_ids(await read_live(portal, desired)) == ids
        assert actions(await plan_again(portal, desired)) == []


@pytest.mark.parametrize("kind", BACKENDS)
async def test_a_plan_names_every_credential_it_revokes_or_reissues(
    kind: str, tmp_path: Path
) -> None:
    """Against a live portal: moving a granted request to another app replaces it (a new
    credential for the new app: reissue); pruning it revokes its credential."""
    desired = desired_of(small_estate())
    with fresh_portal(kind, tmp_path) as portal:
        _, result = await reconcile(portal, desired)
        assert result.ok, result
        moved = small_estate()
        moved[-1]["spec"]["app"]["name"] = "Storm tracker 2"
        plan = await plan_again(portal, desired_of(moved))
        assert actions(plan) == [
            ("create", "App/ana@acme.example/Storm tracker 2"),
            ("replace", "AccessRequest/acme-storm"),
        ]
        data = json.loads(render_json(plan))
        assert data["summary"]["credentials_reissued"] == 1
        [cred] = data["credentials"]
        assert (cred["effect"], cred["consumer"], cred["app"], cred["products"]) == (
            "reissue",
            "ana@acme.example",
            "Storm tracker",
            ["Weather"],
        )
        assert "GRANT" not in render_text(plan) and "REISSUE" in render_text(plan)
        assert render_markdown(plan).splitlines()[2].startswith("#### :warning: Credentials: 0")
        gone = desired_of(small_estate()[:-1])
        pruned = await plan_again(portal, gone, prune=True)
        assert [c.effect for c in pruned.credentials] == ["revoke"]
        assert render_text(pruned).startswith("1 credential revoked, 0 reissued")
