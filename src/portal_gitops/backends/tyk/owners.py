"""Admin users (API owners) <-> the portal's ``/users`` (pure mapping) and their writer.

An admin is a portal user with an admin role and ``OrganisationID`` 0 (the spec's
``User-basis``: "For admin users it is always equal to 0"). Sign-in is sent as for consumers
(``mapping.new_user``, ``mapping.user_sign_in_update``): an invitation by default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from portal_gitops.backends.tyk import mapping
from portal_gitops.backends.tyk.ids import Ids, new_id, q
from portal_gitops.backends.tyk.quirks import text
from portal_gitops.state import LiveObject

Json = dict[str, Any]

ADMIN_ROLES = frozenset({"provider-admin", "super-admin"})


def is_admin(user: Mapping[str, Any]) -> bool:
    return text(user.get("Role")) in ADMIN_ROLES


def admin_attrs(user: Mapping[str, Any]) -> Json:
    """Read: an admin user (list entry or detail) to canonical attrs."""
    attrs: Json = {
        "role": text(user.get("Role")),
        "first": text(user.get("First")),
        "last": text(user.get("Last")),
    }
    provider = text(user.get("Provider"))
    if provider and provider != mapping.PASSWORD_PROVIDER:
        attrs["sso"] = provider
    return attrs


def admin_body(key: str, attrs: Mapping[str, Any]) -> Json:
    """Write: User-create / User-update for an admin (no organisation, no teams)."""
    return {
        "Email": key,
        "First": text(attrs.get("first")),
        "Last": text(attrs.get("last")),
        "Role": text(attrs.get("role")) or "provider-admin",
        "OrganisationID": 0,
    }


class Admins:
    """Create, update and delete admin users (``/users``, as consumers are)."""

    def __init__(self, ids: Ids) -> None:
        self.api = ids.api

    async def create(self, key: str, attrs: Mapping[str, Any]) -> str:
        what = f"admin user {q(key)}"
        body = admin_body(key, attrs)
        body.update(mapping.new_user(attrs))
        reply = await self.api.portal.create("/users", body, what=what)
        return str(new_id(reply, what))

    async def update(self, live: LiveObject, attrs: Mapping[str, Any]) -> None:
        body = admin_body(live.key, attrs)
        body.update(mapping.user_sign_in_update(live.attrs, attrs))
        await self.api.portal.update(f"/users/{live.id}", body, what=f"admin user {q(live.key)}")

    async def delete(self, live: LiveObject) -> None:
        await self.api.portal.delete(f"/users/{live.id}", what=f"admin user {q(live.key)}")
