"""Writing to the live portal: create, update and delete per kind, names resolved to IDs, each
product's and plan's backing Dashboard policy kept in step, access requests filed and decided.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from portal_gitops.backends.tyk import mapping
from portal_gitops.backends.tyk.access import AccessRequests
from portal_gitops.backends.tyk.apps import Apps
from portal_gitops.backends.tyk.backing import Backing
from portal_gitops.backends.tyk.dashboards import Dashboards
from portal_gitops.backends.tyk.docs import Docs
from portal_gitops.backends.tyk.ids import Ids, new_id, q
from portal_gitops.backends.tyk.owners import Admins
from portal_gitops.backends.tyk.quirks import as_int, parse_names, provider_metadata, text
from portal_gitops.errors import (
    BackendError,
    ConflictError,
    NotFoundError,
    SecretError,
    ValidationFailed,
)
from portal_gitops.state import (
    MANAGED_POLICY_TAG,
    LiveObject,
    Sensitive,
    default_team_name,
    team_key,
)

log = logging.getLogger(__name__)

Json = dict[str, Any]
Attrs = Mapping[str, Any]
Find = Callable[[str, str], Awaitable[LiveObject | None]]


def _label(kind: str) -> str:
    return {"AccessRequest": "access request"}.get(kind, kind.lower())


class Writer:
    """Create, update and delete one object from canonical attrs (``find`` looks an object up
    when a create finds it exists already)."""

    def __init__(self, ids: Ids, dashboards: Dashboards, find: Find) -> None:
        self.ids = ids
        self.api = ids.api
        self.dashboards = dashboards
        self.find = find
        self.apps = Apps(ids)
        self.requests = AccessRequests(ids, self.apps)
        self.backing = Backing(ids, dashboards, find)
        self.admins = Admins(ids)
        self.docs = Docs(ids)
        # one row per registered kind (kinds.NAMES): tests/backends hold the two in step
        self.creates: Mapping[str, Callable[[str, Attrs], Awaitable[str]]] = {
            "Provider": self._create_provider,
            "Organisation": self._create_organisation,
            "Team": self._create_team,
            "User": self._create_user,
            "AdminUser": self.admins.create,
            "Product": self._create_product,
            "Plan": self._create_plan,
            "Catalogue": self._create_catalogue,
            "App": self.apps.create,
            "ApiDoc": self.docs.create_api_doc,
            "Guide": self.docs.create_guide,
            "AccessRequest": self.requests.create,
        }
        self.updates: Mapping[str, Callable[[LiveObject, Attrs], Awaitable[None]]] = {
            "Provider": self._update_provider,
            "Organisation": self._update_noop,
            "Team": self._update_noop,
            "User": self._update_user,
            "AdminUser": self.admins.update,
            "Product": self._update_product,
            "Plan": self._update_plan,
            "Catalogue": self._update_catalogue,
            "App": self.apps.update,
            "ApiDoc": self.docs.update_api_doc,
            "Guide": self.docs.update_guide,
            "AccessRequest": self.requests.update,
        }

    async def create(self, kind: str, key: str, attrs: Attrs) -> str:
        handler = self.creates.get(kind)
        if handler is None:
            raise ValidationFailed(f"unknown kind {kind}", operation=f"create {kind} {q(key)}")
        try:
            return await handler(key, attrs)
        except ConflictError:
            # it exists already: an earlier attempt whose later step failed (or whose reply
            # was lost) created it. Converge instead of failing: bring it to the attrs.
            found = await self.find(kind, key)
            if found is None:
                raise
            log.info("%s %s already exists; updating it instead", kind, key)
            await self.update(found, attrs)
            return found.id

    async def update(self, live: LiveObject, attrs: Attrs) -> None:
        handler = self.updates.get(live.kind)
        if handler is None:
            raise ValidationFailed(f"unknown kind {live.kind}", operation=f"update {live.key}")
        await handler(live, attrs)

    async def delete(self, live: LiveObject) -> None:
        if live.builtin:
            raise ValidationFailed(
                "built-in portal objects are never deleted",
                operation=f"delete {live.kind.lower()} {q(live.key)}",
            )
        what = f"{_label(live.kind)} {q(live.key)}"
        portal = self.api.portal
        ix = self.ids.ix
        try:
            if live.kind == "Provider":
                await portal.delete(f"/providers/{live.id}", what=what)
                ix.providers.pop(live.key, None)
            elif live.kind == "Organisation":
                await portal.delete(f"/organisations/{live.id}", what=what)
                ix.orgs.pop(live.key, None)
            elif live.kind == "Team":
                org_id, _, team_id = live.id.partition("/")
                await portal.delete(f"/organisations/{org_id}/teams/{team_id}", what=what)
            elif live.kind == "User":
                if live.attrs.get("role") not in mapping.CONSUMER_ROLES:
                    raise ValidationFailed(
                        "admin users are never touched", operation=f"delete {what}"
                    )
                await portal.delete(f"/users/{live.id}", what=what)
                ix.users.pop(live.key, None)
            elif live.kind == "AdminUser":
                await self.admins.delete(live)
            elif live.kind == "Product":
                await self._delete_with_policy(live, "/products", what)
                ix.products.pop(live.key, None)
            elif live.kind == "Plan":
                await self._delete_with_policy(live, "/plans", what)
                ix.plans.pop(live.key, None)
            elif live.kind == "Catalogue":
                await portal.delete(f"/catalogues/{live.id}", what=what)
                ix.catalogues.pop(live.key, None)
            elif live.kind == "App":
                await self.apps.delete(live, what)
            elif live.kind == "ApiDoc":
                await self.docs.delete_api_doc(live)
            elif live.kind == "Guide":
                await self.docs.delete_guide(live)
            elif live.kind == "AccessRequest":
                # deleting the request revokes its credentials
                await portal.delete(f"/access_requests/{live.id}", what=what)
            else:
                raise ValidationFailed(f"unknown kind {live.kind}", operation=f"delete {what}")
        except NotFoundError:
            return  # already gone: deletion is idempotent

    async def _delete_with_policy(self, live: LiveObject, base: str, what: str) -> None:
        """Delete a product/plan, then its backing policy if the portal left it and we own it."""
        current = await self.api.portal.get(f"{base}/{live.id}", what=what)
        reference = text(current.get("ReferenceID"))
        await self.api.portal.delete(f"{base}/{live.id}", what=what)
        provider = text(live.attrs.get("provider"))
        if not reference or self.dashboards.conn(provider) is None:
            return
        dash = self.dashboards.dashboard_for(provider)
        policy_what = f"policy of {what}"
        try:
            policy = await dash.get_policy(reference, what=policy_what)
            if MANAGED_POLICY_TAG in (policy.get("tags") or []):
                await dash.delete_policy(reference, what=policy_what)
        except NotFoundError:
            pass

    async def _update_noop(self, live: LiveObject, attrs: Attrs) -> None:
        """Organisations and teams have nothing but their name (their identity) to update."""

    # providers

    def _provider_meta(self, key: str, attrs: Attrs, fallback: str | None) -> str:
        secret = attrs.get("secret")
        value = secret.value if isinstance(secret, Sensitive) else None
        value = value or fallback
        if not value and self.dashboards.fixed is None:
            ref = secret.ref if isinstance(secret, Sensitive) else "secret"
            raise SecretError(f'provider "{key}": the Dashboard secret ({ref}) is not available')
        # the embedded store needs no Dashboard secret: an unresolved one is stored empty
        value = value or ""
        self.api.add_secret(value)
        return mapping.provider_metadata_json(attrs, value)

    def _remember_provider(self, key: str, provider_id: int, meta: str) -> None:
        self.ids.remember_provider(key, provider_id, {"Configuration": {"MetaData": meta}})

    async def _create_provider(self, key: str, attrs: Attrs) -> str:
        meta = self._provider_meta(key, attrs, None)
        body = mapping.provider_create_body(key, attrs, meta)
        reply = await self.api.portal.create("/providers", body, what=f"provider {q(key)}")
        provider_id = new_id(reply, f"provider {q(key)}")
        self._remember_provider(key, provider_id, meta)
        return str(provider_id)

    async def _update_provider(self, live: LiveObject, attrs: Attrs) -> None:
        what = f"provider {q(live.key)}"
        current = await self.api.portal.get(f"/providers/{live.id}", what=what)
        config = current.get("Configuration")
        config_id = as_int(config.get("ID")) if isinstance(config, Mapping) else None
        live_secret = text(provider_metadata(current).get("Secret")) or None
        meta = self._provider_meta(live.key, attrs, live_secret)
        body = mapping.provider_update_body(live.key, meta, config_id)
        await self.api.portal.update(f"/providers/{live.id}", body, what=what)
        self._remember_provider(live.key, int(live.id), meta)

    # organisations and teams

    async def _create_organisation(self, key: str, attrs: Attrs) -> str:
        what = f"organisation {q(key)}"
        reply = await self.api.portal.create(
            "/organisations", mapping.organisation_body(key), what=what
        )
        org_id = new_id(reply, what)
        self.ids.ix.orgs[key] = org_id
        return str(org_id)

    async def _create_team(self, key: str, attrs: Attrs) -> str:
        org, name = text(attrs.get("organisation")), text(attrs.get("name"))
        what = f"team {q(key)}"
        org_id = await self.ids.org_id(org)
        reply = await self.api.portal.create(
            f"/organisations/{org_id}/teams", mapping.team_body(attrs), what=what
        )
        team_id = new_id(reply, what)
        self.ids.ix.teams[(org, name)] = team_id
        return f"{org_id}/{team_id}"

    # users

    async def _user_body(self, key: str, attrs: Attrs) -> Json:
        org_id = await self.ids.org_id(text(attrs.get("organisation")))
        return mapping.user_body(key, attrs, org_id)

    async def _team_strings(self, attrs: Attrs) -> list[str]:
        """User-update ``Teams``: the declared teams' IDs and the organisation's default team."""
        org = text(attrs.get("organisation"))
        ids = [await self.ids.team_id(org, t) for t in attrs.get("teams") or []]
        return mapping.user_teams(ids, await self.ids.team_id(org, ""))

    async def _create_user(self, key: str, attrs: Attrs) -> str:
        what = f"user {q(key)}"
        body = await self._user_body(key, attrs)
        body.update(mapping.new_user(attrs))
        reply = await self.api.portal.create("/users", body, what=what)
        user_id = new_id(reply, what)
        self.ids.ix.users[key] = user_id
        if attrs.get("teams"):
            update = await self._user_body(key, attrs)
            update["Provider"] = body["Provider"]
            update["Teams"] = await self._team_strings(attrs)
            await self.api.portal.update(f"/users/{user_id}", update, what=what)
        return str(user_id)

    async def _update_user(self, live: LiveObject, attrs: Attrs) -> None:
        body = await self._user_body(live.key, attrs)
        body.update(mapping.user_sign_in_update(live.attrs, attrs))
        body["Teams"] = await self._team_strings(attrs)
        await self.api.portal.update(f"/users/{live.id}", body, what=f"user {q(live.key)}")

    # products and plans (each with its backing policy)

    async def _reference(self, reply: Mapping[str, Any], path: str, what: str) -> str:
        """The backing policy's ``_id`` from a create's reply, else from the object itself."""
        return text(reply.get("ReferenceID")) or text(
            (await self.api.portal.get(path, what=what)).get("ReferenceID")
        )

    async def _create_product(self, key: str, attrs: Attrs) -> str:
        what = f"product {q(key)}"
        provider = text(attrs.get("provider"))
        provider_id = await self.ids.provider_id(provider)
        tag_ids = await self.ids.tag_ids(attrs.get("tags") or [])
        body = mapping.product_create_body(key, attrs, provider_id, tag_ids)
        reply = await self.backing.create("Product", key, provider, "/products", body)
        product_id = new_id(reply, what)
        self.ids.ix.products[key] = product_id
        reference = await self._reference(reply, f"/products/{product_id}", what)
        await self._put_policy(provider, key, "product", reference, attrs.get("policy"))
        return str(product_id)

    async def _update_product(self, live: LiveObject, attrs: Attrs) -> None:
        what = f"product {q(live.key)}"
        provider = text(attrs.get("provider"))
        _refuse_provider_change(live, attrs, what)
        current = await self.api.portal.get(f"/products/{live.id}", what=what)
        tag_ids = await self.ids.tag_ids(attrs.get("tags") or [])
        # membership is driven from the catalogue side: keep what the portal has (as IDs)
        catalogue_ids = await self.ids.catalogue_ids(parse_names(current.get("Catalogues")))
        body = mapping.product_update_body(live.key, attrs, current, tag_ids, catalogue_ids)
        reply = await self.api.portal.update(f"/products/{live.id}", body, what=what)
        reference = text(current.get("ReferenceID"))
        await self._put_policy(provider, live.key, "product", reference, attrs.get("policy"))
        wanted = sorted(attrs.get("apis") or [])
        if "APIDetails" not in reply or mapping.product_apis(reply) != wanted:
            await self.backing.sync_product_apis(live, provider, wanted, what)

    async def _plan_body(self, key: str, attrs: Attrs) -> Json:
        provider_id = await self.ids.provider_id(text(attrs.get("provider")))
        return mapping.plan_body(key, attrs, provider_id)

    async def _create_plan(self, key: str, attrs: Attrs) -> str:
        what = f"plan {q(key)}"
        body = await self._plan_body(key, attrs)
        provider = text(attrs.get("provider"))
        reply = await self.backing.create("Plan", key, provider, "/plans", body)
        plan_id = new_id(reply, what)
        self.ids.ix.plans[key] = plan_id
        reference = await self._reference(reply, f"/plans/{plan_id}", what)
        await self._put_policy(provider, key, "plan", reference, attrs.get("policy"))
        return str(plan_id)

    async def _update_plan(self, live: LiveObject, attrs: Attrs) -> None:
        what = f"plan {q(live.key)}"
        _refuse_provider_change(live, attrs, what)
        current = await self.api.portal.get(f"/plans/{live.id}", what=what)
        body = await self._plan_body(live.key, attrs)
        kept = mapping.kept_catalogues(current)
        if kept is not None:
            body["Catalogues"] = kept[0] + await self.ids.catalogue_ids(kept[1])
        for keep in mapping.PLAN_KEEP:
            if current.get(keep):
                body[keep] = current[keep]
        await self.api.portal.update(f"/plans/{live.id}", body, what=what)
        reference = text(current.get("ReferenceID"))
        provider = text(attrs.get("provider"))
        await self._put_policy(provider, live.key, "plan", reference, attrs.get("policy"))

    async def _put_policy(
        self, provider: str, name: str, kind: str, reference: str, policy: Any
    ) -> None:
        """Bring the Dashboard policy behind a product/plan to the canonical ``policy``."""
        if not isinstance(policy, Mapping):
            return
        what = f"policy of {kind} {q(name)}"
        if not reference:
            raise BackendError(
                "the portal created no backing policy (empty ReferenceID); "
                "portal >= 1.13 creates one for every product and plan",
                operation=f"update {what}",
            )
        dash = self.dashboards.dashboard_for(provider)
        try:
            current: Json | None = await dash.get_policy(reference, what=what)
        except NotFoundError:
            current = None  # deleted in the Dashboard: recreate it under the same _id
        base = current or mapping.new_policy(reference, name)
        if kind == "product":
            body = mapping.product_policy_body(base, policy)
        else:
            body = mapping.plan_policy_body(base, policy)
        if current is None:
            await dash.create_policy(body, what=what)
        else:
            await dash.update_policy(reference, body, what=what)

    # catalogues

    async def _catalogue_body(self, key: str, attrs: Attrs) -> Json:
        products = await self.ids.product_ids(attrs.get("products") or [])
        plans = await self.ids.plan_ids(attrs.get("plans") or [])
        return mapping.catalogue_body(key, attrs, products, plans)

    async def _create_catalogue(self, key: str, attrs: Attrs) -> str:
        what = f"catalogue {q(key)}"
        body = await self._catalogue_body(key, attrs)
        body = {k: v for k, v in body.items() if v is not None}
        reply = await self.api.portal.create("/catalogues", body, what=what)
        cat_id = new_id(reply, what)
        self.ids.ix.catalogues[key] = cat_id
        await self._sync_audiences(cat_id, key, attrs.get("audience") or [], fresh=True)
        return str(cat_id)

    async def _update_catalogue(self, live: LiveObject, attrs: Attrs) -> None:
        what = f"catalogue {q(live.key)}"
        body = await self._catalogue_body(live.key, attrs)
        await self.api.portal.update(f"/catalogues/{live.id}", body, what=what)
        await self._sync_audiences(int(live.id), live.key, attrs.get("audience") or [])

    async def _sync_audiences(
        self,
        cat_id: int,
        name: str,
        audience: Iterable[Mapping[str, Any]],
        *,
        fresh: bool = False,
    ) -> None:
        """Add missing audiences, delete extra ones (each audience is one team).

        ``fresh``: the catalogue was just created without audiences, so none are listed."""
        portal = self.api.portal
        want: dict[tuple[int, int], str] = {}
        for entry in audience:
            org = text(entry.get("organisation"))
            team = text(entry.get("team"))
            pair = (await self.ids.org_id(org), await self.ids.team_id(org, team))
            want[pair] = team_key(org, team or default_team_name(org))
        have: dict[tuple[int, int], list[int]] = {}
        for aud in [] if fresh else await portal.list_audiences(cat_id, name):
            have.setdefault(mapping.audience_ids(aud), []).append(int(aud["ID"]))
        jobs: list[Awaitable[Any]] = []
        for pair, label in sorted(want.items()):
            if pair not in have:
                jobs.append(
                    portal.create(
                        f"/catalogues/{cat_id}/audiences",
                        mapping.audience_body(*pair),
                        what=f"audience {q(label)} of catalogue {q(name)}",
                    )
                )
        for pair, ids in sorted(have.items()):
            extra = ids if pair not in want else ids[1:]
            for aud_id in extra:
                jobs.append(
                    self._delete_quietly(
                        f"/catalogues/{cat_id}/audiences/{aud_id}",
                        f"audience {aud_id} of catalogue {q(name)}",
                    )
                )
        await asyncio.gather(*jobs)

    async def _delete_quietly(self, path: str, what: str) -> None:
        with contextlib.suppress(NotFoundError):
            await self.api.portal.delete(path, what=what)


def _refuse_provider_change(live: LiveObject, attrs: Attrs, what: str) -> None:
    old, new = live.attrs.get("provider"), attrs.get("provider")
    if old and new and old != new:
        raise ValidationFailed(
            f'cannot move to provider "{new}" (it belongs to "{old}"); '
            "delete it and create it again",
            operation=f"update {what}",
        )
