"""Issue 12, finding 11: users who can log in, on both backends.

REFERENCE.md §9 "Users": ``Provider: "password"`` with no ``Password`` and ``ResetPassword:
false`` makes a user who cannot log in. A member is invited by a reset email by default
(``ResetPassword: true``), signs in through an SSO provider (``Provider`` = its name), or gets an
initial password from a secret (``Password``, sent on create as tyk-demo does, REFERENCE.md §4
"Users"). The password is write-only: never printed, never in a plan, never compared.
"""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import pytest

from portal_gitops import plan as planmod
from portal_gitops.backends.emulated.store import PortalStore
from portal_gitops.render import render
from tests.reconcile.helpers import (
    BACKENDS,
    DASHBOARD_SECRET,
    Portal,
    actions,
    desired_of,
    fresh_portal,
    plan_again,
    read_live,
    reconcile,
    small_estate,
)

PASSWORD = DASHBOARD_SECRET  # desired_of resolves every secret reference to this value


@pytest.fixture(params=BACKENDS)
def portal(request: pytest.FixtureRequest, tmp_path: Path) -> Portal:
    with fresh_portal(request.param, tmp_path / "portal") as p:
        yield p


def estate(*, sso: str = "okta") -> list[dict[str, Any]]:
    docs = small_estate()
    team = next(d for d in docs if d["kind"] == "Team")
    team["spec"]["members"] = [
        {"email": "ana@acme.example", "role": "admin", "first": "Ana"},  # invited (default)
        {"email": "bo@acme.example", "sso": sso},
        {"email": "cy@acme.example", "password": {"fromEnv": "CY_PASSWORD"}},
    ]
    return copy.deepcopy(docs)


def stored_user(store: PortalStore, email: str) -> dict[str, Any]:
    """The emulated portal's own row (what Tyk keeps), and its reply to ``GET /users/{id}``."""
    with store._transaction(write=False) as tx:
        row = tx.by_name("user", email)
    assert row is not None
    auth = {"Authorization": store.portal_token} if store.portal_token else {}
    reply = store.handle("GET", f"/portal-api/users/{row['ID']}", {}, auth, b"")
    assert reply.status == 200
    assert PASSWORD.encode() not in reply.body  # a password is never returned
    return dict(row)


def test_members_are_invited_by_default_or_sign_in_by_sso_or_a_password(portal: Portal) -> None:
    desired = desired_of(estate())

    async def go() -> None:
        plan, result = await reconcile(portal, desired)
        assert result.ok, result.failed
        for fmt in ("text", "markdown", "json"):
            assert PASSWORD not in render(plan, fmt)
        assert PASSWORD not in planmod.dumps(plan)
        ana = stored_user(portal.store, "ana@acme.example")
        assert (ana["Provider"], ana["ResetPassword"], ana["HasPassword"]) == (
            "password",
            True,
            False,
        )
        bo = stored_user(portal.store, "bo@acme.example")
        assert (bo["Provider"], bo["ResetPassword"], bo["HasPassword"]) == ("okta", False, False)
        cy = stored_user(portal.store, "cy@acme.example")
        assert (cy["Provider"], cy["ResetPassword"], cy["HasPassword"]) == ("password", False, True)
        assert PASSWORD not in json.dumps(cy)
        live = await read_live(portal, desired)
        assert live.get("User", "bo@acme.example").attrs["sso"] == "okta"
        assert "password" not in live.get("User", "cy@acme.example").attrs
        # the password cannot be read back: it is not compared, so nothing changes
        assert actions(await plan_again(portal, desired)) == []

    asyncio.run(go())


def test_a_changed_sso_provider_is_planned_and_applied(portal: Portal) -> None:
    before, after = desired_of(estate()), desired_of(estate(sso="github"))

    async def go() -> None:
        _, result = await reconcile(portal, before)
        assert result.ok, result.failed
        plan = await plan_again(portal, after)
        assert [(a.op, a.address, [f.path for f in a.fields]) for a in plan.actions] == [
            ("update", "User/bo@acme.example", ["sso"])
        ]
        _, result = await reconcile(portal, after)
        assert result.ok, result.failed
        assert stored_user(portal.store, "bo@acme.example")["Provider"] == "github"
        assert actions(await plan_again(portal, after)) == []

    asyncio.run(go())
