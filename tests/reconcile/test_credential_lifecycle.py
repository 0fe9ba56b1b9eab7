"""A credential's lifecycle through the manifests, whole runs on both backends (the embedded
store, and the emulator over HTTP): ``rotate`` rotates an approved request's credentials once
per new value (REFERENCE.md §4 "credentials": ``PUT .../credentials/{cid}/rotate``), however
many times apply runs; ``revokeCredentials`` revokes one credential by ID (``DELETE
.../credentials/{cid}``) while the request stays approved; the values applied, the
justification and the expiry date come back through ``import``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from portal_gitops.importer import import_state
from portal_gitops.render import render_json, render_markdown, render_text
from tests.reconcile.helpers import (
    BACKENDS,
    Portal,
    _get,
    actions,
    desired_of,
    fresh_portal,
    plan_again,
    read_live,
    reconcile,
    small_estate,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def estate(**request: Any) -> list[dict[str, Any]]:
    docs = small_estate()
    docs[-1]["spec"].update(request)
    return docs


def credentials(portal: Portal) -> dict[str, str]:
    """The request's credentials as the portal holds them: ID -> value (the test reads the
    values only to see that they changed; the tool never does)."""
    [app] = _get(portal.store, "/portal-api/apps")
    [request] = _get(portal.store, f"/portal-api/apps/{app['ID']}/access-requests")
    path = f"/portal-api/apps/{app['ID']}/access-requests/{request['ID']}/credentials"
    return {str(c["ID"]): c["Credential"] for c in _get(portal.store, path)}


def request_status(portal: Portal) -> str:
    [request] = _get(portal.store, "/portal-api/access_requests")
    return str(request["Status"])


def shown(plan: Any) -> str:
    return render_text(plan, color=False) + render_markdown(plan) + str(render_json(plan))


@pytest.mark.parametrize("kind", BACKENDS)
async def test_a_rotation_happens_once_per_value_however_often_apply_runs(
    kind: str, tmp_path: Path
) -> None:
    with fresh_portal(kind, tmp_path) as portal:
        # create with a rotation already asked: the credential is new, nothing to rotate
        desired = desired_of(estate(rotate="2026-11"))
        _, result = await reconcile(portal, desired)
        assert result.ok, result
        issued = credentials(portal)
        assert len(issued) == 1
        assert actions(await plan_again(portal, desired)) == []

        desired = desired_of(estate(rotate="2026-12"))
        plan = await plan_again(portal, desired)
        assert actions(plan) == [("update", "AccessRequest/acme-storm")]
        [impact] = plan.credentials
        assert (impact.effect, impact.consumer, impact.app) == (
            "rotate",
            "ana@acme.example",
            "Storm tracker",
        )
        text = render_text(plan, color=False)
        assert "1 rotated" in text and "ROTATE credential of ana@acme.example" in text
        seen = []
        for _ in range(3):
            _, result = await reconcile(portal, desired)
            assert result.ok, result
            seen.append(credentials(portal))
        # the same credential (its ID), a new value, and the same one after runs 2 and 3
        assert seen[0].keys() == issued.keys()
        assert seen[0] != issued
        assert seen[0] == seen[1] == seen[2]
        assert actions(await plan_again(portal, desired)) == []

        # a new value rotates again, once
        desired = desired_of(estate(rotate="2027-01"))
        for _ in range(2):
            _, result = await reconcile(portal, desired)
            assert result.ok
        rotated = credentials(portal)
        assert rotated.keys() == issued.keys() and rotated != seen[-1]
        for value in (*issued.values(), *seen[0].values(), *rotated.values()):
            assert value not in shown(plan)


@pytest.mark.parametrize("kind", BACKENDS)
async def test_one_credential_is_revoked_by_id_and_the_request_stays(
    kind: str, tmp_path: Path
) -> None:
    with fresh_portal(kind, tmp_path) as portal:
        desired = desired_of(estate())
        _, result = await reconcile(portal, desired)
        assert result.ok, result
        [cid] = credentials(portal)

        desired = desired_of(estate(revokeCredentials=[cid]))
        plan = await plan_again(portal, desired)
        assert actions(plan) == [("update", "AccessRequest/acme-storm")]
        [impact] = plan.credentials
        assert (impact.effect, impact.credential, impact.consumer, impact.app) == (
            "revoke",
            cid,
            "ana@acme.example",
            "Storm tracker",
        )
        assert f"REVOKE credential {cid} of ana@acme.example" in render_text(plan, color=False)
        for _ in range(3):
            _, result = await reconcile(portal, desired)
            assert result.ok, result
            assert credentials(portal) == {}
            assert request_status(portal) == "approved"
        assert actions(await plan_again(portal, desired)) == []


@pytest.mark.parametrize("kind", BACKENDS)
async def test_import_brings_back_rotation_revocation_justification_and_expiry(
    kind: str, tmp_path: Path
) -> None:
    wanted = {
        "rotate": "ticket-42",
        "revokeCredentials": ["987654"],  # an ID the portal does not have: nothing to revoke
        "justification": "storm season dashboards",
        "expires": "2031-06-30",
    }
    with fresh_portal(kind, tmp_path) as portal:
        desired = desired_of(estate(**wanted))
        _, result = await reconcile(portal, desired)
        assert result.ok, result
        live = await read_live(portal, desired)
        imported = import_state(live)
        [request] = [
            d for docs in imported.files.values() for d in docs if d["kind"] == "AccessRequest"
        ]
        assert {k: request["spec"].get(k) for k in wanted} == wanted
        # the imported documents are the estate again: planning them changes nothing
        again = desired_of([d for docs in imported.files.values() for d in docs])
        assert actions(await plan_again(portal, again)) == []
