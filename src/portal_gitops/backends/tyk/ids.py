"""Names <-> portal IDs: the maps kept from the last read and from creates, refreshed with one
listing on a miss; and which access request (live ID) is which manifest's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from portal_gitops.backends.tyk.dashboards import DashboardConn, live_conn
from portal_gitops.backends.tyk.mapping import is_default_team
from portal_gitops.backends.tyk.quirks import as_int, name_of, text
from portal_gitops.errors import ConflictError, NotFoundError, ServerError
from portal_gitops.state import team_key

if TYPE_CHECKING:
    from portal_gitops.backends.tyk.client import TykApi

Json = dict[str, Any]


def q(name: str) -> str:
    """A name quoted for messages."""
    return f'"{name}"'


@dataclass
class Index:
    """Names to portal IDs (and back), from the last read and from creates."""

    providers: dict[str, int] = field(default_factory=dict)
    provider_conns: dict[str, DashboardConn] = field(default_factory=dict)
    orgs: dict[str, int] = field(default_factory=dict)
    teams: dict[tuple[str, str], int] = field(default_factory=dict)
    default_teams: dict[str, int] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    products: dict[str, int] = field(default_factory=dict)
    plans: dict[str, int] = field(default_factory=dict)
    catalogues: dict[str, int] = field(default_factory=dict)
    tags: dict[str, int] | None = None
    apps: dict[tuple[int, str], Json] | None = None  # (user ID, app name) -> app, from a read


def new_id(reply: Mapping[str, Any], what: str) -> int:
    """The ID in a create's reply (a reply without one is the server's fault)."""
    value = as_int(reply.get("ID"))
    if value is None:
        raise ServerError("the reply carries no ID", operation=f"create {what}")
    return value


class Ids:
    """The index (replaced whole by each read) and the look-ups that refresh it on a miss.

    ``request_keys`` maps live access-request IDs to manifest keys, from the managed record;
    ``session_requests`` those this process created and has not recorded yet.
    """

    def __init__(self, api: TykApi) -> None:
        self.api = api
        self.ix = Index()
        self.request_keys: dict[str, str] = {}
        self.session_requests: dict[str, str] = {}
        self._tag_lock = asyncio.Lock()
        # organisation -> the listing of its teams under way: users resolved concurrently
        # share one listing instead of each listing the teams again
        self._team_listings: dict[str, asyncio.Future[int]] = {}

    def request_key(self, request_id: str) -> str | None:
        return self.request_keys.get(request_id) or self.session_requests.get(request_id)

    def remember_requests(self, objects: Mapping[tuple[str, str], str]) -> None:
        """The access requests of a managed record (live ID -> manifest key)."""
        self.request_keys = {
            live_id: key for (kind, key), live_id in objects.items() if kind == "AccessRequest"
        }

    def remember_provider(self, name: str, provider_id: int, provider: Mapping[str, Any]) -> None:
        """A provider's ID and the Dashboard its configuration names (its secret registered)."""
        self.ix.providers[name] = provider_id
        conn = live_conn(provider)
        if conn is not None:
            self.api.add_secret(conn.secret)
            self.ix.provider_conns[name] = conn

    async def load_providers(self) -> list[Json]:
        """Every provider in detail (their Dashboards are in the configuration only)."""
        portal = self.api.portal
        items = await portal.list_providers()
        details = await asyncio.gather(
            *(
                portal.detail(f"/providers/{p['ID']}", what=f"provider {q(name_of(p))}", listed=p)
                for p in items
            )
        )
        for item in details:
            self.remember_provider(name_of(item), int(item["ID"]), item)
        return details

    async def provider_id(self, name: str) -> int:
        if name not in self.ix.providers:
            await self.load_providers()
        if name not in self.ix.providers:
            raise NotFoundError(f'provider "{name}" does not exist', operation="resolve provider")
        return self.ix.providers[name]

    async def org_id(self, name: str) -> int:
        if name not in self.ix.orgs:
            for org in await self.api.portal.list_organisations():
                self.ix.orgs[name_of(org)] = int(org["ID"])
        if name not in self.ix.orgs:
            raise NotFoundError(
                f'organisation "{name}" does not exist', operation="resolve organisation"
            )
        return self.ix.orgs[name]

    async def refresh_teams(self, org: str) -> int:
        """List an organisation's teams into the index (one listing at a time per
        organisation: concurrent callers wait for the one under way)."""
        under_way = self._team_listings.get(org)
        if under_way is not None:
            return await asyncio.shield(under_way)
        listing = asyncio.ensure_future(self._list_teams(org))
        self._team_listings[org] = listing
        try:
            return await asyncio.shield(listing)
        finally:
            if self._team_listings.get(org) is listing and listing.done():
                del self._team_listings[org]

    async def _list_teams(self, org: str) -> int:
        org_id = await self.org_id(org)
        for team in await self.api.portal.list_teams(org_id, org):
            self.ix.teams[(org, name_of(team))] = int(team["ID"])
            if is_default_team(org, team):
                self.ix.default_teams[org] = int(team["ID"])
        return org_id

    async def team_id(self, org: str, team: str) -> int:
        """A team's id; ``team == ""`` is the organisation's default team."""
        if team == "":
            if org not in self.ix.default_teams:
                await self.refresh_teams(org)
            if org in self.ix.default_teams:
                return self.ix.default_teams[org]
            raise NotFoundError(
                f'organisation "{org}" has no default team', operation="resolve team"
            )
        if (org, team) not in self.ix.teams:
            await self.refresh_teams(org)
        if (org, team) not in self.ix.teams:
            raise NotFoundError(
                f'team "{team_key(org, team)}" does not exist', operation="resolve team"
            )
        return self.ix.teams[(org, team)]

    async def user_id(self, email: str) -> int:
        if email not in self.ix.users:
            for user in await self.api.portal.list_users():
                self.ix.users[text(user.get("Email"))] = int(user["ID"])
        if email not in self.ix.users:
            raise NotFoundError(f'user "{email}" does not exist', operation="resolve user")
        return self.ix.users[email]

    async def _ids(
        self, kind: str, names: Iterable[str], cache: dict[str, int], lister: str
    ) -> list[int]:
        names = list(names)
        if any(n not in cache for n in names):
            for item in await self.api.portal.list_all(lister, what=f"{kind}s"):
                cache[name_of(item)] = int(item["ID"])
        missing = [n for n in names if n not in cache]
        if missing:
            raise NotFoundError(
                f"{kind} {', '.join(q(n) for n in missing)} does not exist",
                operation=f"resolve {kind}",
            )
        return sorted(cache[n] for n in names)

    async def product_ids(self, names: Iterable[str]) -> list[int]:
        return await self._ids("product", names, self.ix.products, "/products")

    async def plan_ids(self, names: Iterable[str]) -> list[int]:
        return await self._ids("plan", names, self.ix.plans, "/plans")

    async def catalogue_ids(self, names: Iterable[str]) -> list[int]:
        return await self._ids("catalogue", names, self.ix.catalogues, "/catalogues")

    async def tag_ids(self, names: Iterable[str]) -> list[int]:
        """Portal tag IDs for names, creating the tags that do not exist yet."""
        names = sorted(set(names))
        if not names:
            return []
        portal = self.api.portal
        async with self._tag_lock:
            if self.ix.tags is None or any(n not in self.ix.tags for n in names):
                self.ix.tags = {name_of(t): int(t["ID"]) for t in await portal.list_tags()}
            for name in names:
                if name in self.ix.tags:
                    continue
                try:
                    reply = await portal.create("/tags", {"Name": name}, what=f"tag {q(name)}")
                    self.ix.tags[name] = new_id(reply, f"tag {q(name)}")
                except ConflictError:
                    self.ix.tags = {name_of(t): int(t["ID"]) for t in await portal.list_tags()}
            return sorted(self.ix.tags[n] for n in names if n in self.ix.tags)
