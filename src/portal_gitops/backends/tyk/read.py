"""Reading the live portal: every list and detail fetched concurrently (or one snapshot of an
in-process store), then translated to canonical state with the portal's IDs resolved to names.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from portal_gitops import kinds
from portal_gitops.backends.tyk import mapping
from portal_gitops.backends.tyk.apis import live_apis
from portal_gitops.backends.tyk.assemble import PolicyTexts, assemble
from portal_gitops.backends.tyk.dashboards import DashboardConn
from portal_gitops.backends.tyk.ids import Ids, q
from portal_gitops.backends.tyk.owners import admin_attrs, is_admin
from portal_gitops.backends.tyk.quirks import as_int, name_of, parse_user_ref, text
from portal_gitops.errors import NotFoundError
from portal_gitops.state import (
    STATE_POLICY,
    Content,
    LiveApi,
    LiveObject,
    LiveState,
    team_key,
)

if TYPE_CHECKING:
    from portal_gitops.backends.tyk.dashboards import Dashboards
    from portal_gitops.backends.tyk.records import Records

Json = dict[str, Any]


class Snapshot(Protocol):
    """The whole portal at once, as an in-process store renders it: portal objects in the
    shapes of their list entries merged with their detail replies, and every policy."""

    @property
    def providers(self) -> list[Json]: ...
    @property
    def orgs(self) -> list[Json]: ...
    @property
    def teams(self) -> dict[int, list[Json]]: ...  # organisation ID -> its teams
    @property
    def team_users(self) -> dict[int, list[int]]: ...  # team ID -> its members' user IDs
    @property
    def users(self) -> list[Json]: ...
    @property
    def products(self) -> list[Json]: ...
    @property
    def plans(self) -> list[Json]: ...
    @property
    def catalogues(self) -> list[Json]: ...
    @property
    def audiences(self) -> dict[int, list[Json]]: ...  # catalogue ID -> its audiences
    @property
    def requests(self) -> list[Json]: ...
    @property
    def apps(self) -> list[Json]: ...
    @property
    def policies(self) -> list[str]: ...  # every policy's JSON text, in order
    @property
    def apis(self) -> Iterable[Json]: ...  # the Dashboard's API definitions (taken once)
    @property
    def posts(self) -> dict[int, list[Json]]: ...  # product ID -> its tutorial pages, in order


@dataclass
class Raw:
    """Everything one read fetched, before translation."""

    providers: list[Json] = field(default_factory=list)
    orgs: list[Json] = field(default_factory=list)
    teams: dict[int, list[Json]] = field(default_factory=dict)
    team_users: dict[int, list[int]] = field(default_factory=dict)
    users: list[Json] = field(default_factory=list)
    products: list[Json] = field(default_factory=list)
    plans: list[Json] = field(default_factory=list)
    catalogues: list[Json] = field(default_factory=list)
    audiences: dict[int, list[Json]] = field(default_factory=dict)
    requests: list[Json] = field(default_factory=list)
    apps: list[Json] = field(default_factory=list)
    policies: dict[DashboardConn, Mapping[str, Json]] = field(default_factory=dict)
    record_policy: Json | None = None
    more_records: list[Json] = field(default_factory=list)  # found elsewhere: merged
    apis: dict[DashboardConn, dict[str, LiveApi]] = field(default_factory=dict)
    posts: dict[int, list[Json]] = field(default_factory=dict)  # product ID -> guides, in order


def policies_by_id(policies: Iterable[Json]) -> dict[str, Json]:
    """Policies by ``_id`` and by ``id`` (portals reference either); the first one wins."""
    by_id: dict[str, Json] = {}
    for policy in policies:
        for key in ("_id", "id"):
            if isinstance(policy.get(key), str) and policy[key]:
                by_id.setdefault(policy[key], policy)
    return by_id


def record_policy(policies: Iterable[Json]) -> Json | None:
    return next((p for p in policies if p.get("name") == STATE_POLICY), None)


class Reader:
    """Reads the whole live state, or one object after a create whose reply was lost."""

    def __init__(
        self,
        ids: Ids,
        dashboards: Dashboards,
        records: Records,
        snapshot: Callable[[], Snapshot] | None,
    ) -> None:
        if snapshot is not None and dashboards.fixed is None:
            raise ValueError("a snapshot read needs the fixed Dashboard it comes from")
        self.ids = ids
        self.api = ids.api
        self.dashboards = dashboards
        self.records = records
        self.snapshot = snapshot

    async def read(self) -> LiveState:
        return self.translate(await self.fetch())

    async def find(self, kind: str, key: str) -> LiveObject | None:
        """Look one object up by identity, after a create whose reply was lost.

        One listing of that kind, not a full read: under a flaky network every lost reply
        triggers a find, and a full read (hundreds of requests, each of which may fail too)
        per fault made recovery cost grow with the square of the estate. The object found
        carries what ``update`` needs (its id, and a product's or plan's provider).

        Access requests have no name in the portal: one this process created or the managed
        record knows is read by its id; otherwise None, and their create converges instead,
        reusing a matching request on the consumer's app.
        """
        portal = self.api.portal
        ix = self.ids.ix
        if kind == "AccessRequest":
            known = {**self.ids.request_keys, **self.ids.session_requests}
            request_id = next((i for i, k in known.items() if k == key), None)
            if request_id is None:
                return None
            what = f"access request {q(key)}"
            try:
                request = await portal.get(f"/access_requests/{request_id}", what=what)
            except NotFoundError:
                return None
            request_attrs = {
                "status": mapping.request_status(request),
                "app": {"name": text(request.get("Client"))},
            }
            return LiveObject(kind, key, request_id, request_attrs)
        if kind == "Team":
            org, _, name = key.partition("/")
            orgs = await portal.list_organisations()
            org_id = next((int(o["ID"]) for o in orgs if name_of(o) == org), None)
            if org_id is None:
                return None
            ix.orgs[org] = org_id
            teams = await portal.list_teams(org_id, org)
            team = next((t for t in teams if name_of(t) == name), None)
            if team is None:
                return None
            ix.teams[(org, name)] = int(team["ID"])
            return LiveObject(kind, key, f"{org_id}/{team['ID']}", mapping.team_attrs(org, name))
        lister, index, field_name = {
            "Provider": (portal.list_providers, ix.providers, "Name"),
            "Organisation": (portal.list_organisations, ix.orgs, "Name"),
            "User": (portal.list_users, ix.users, "Email"),
            "AdminUser": (portal.list_users, {}, "Email"),
            "Product": (portal.list_products, ix.products, "Name"),
            "Plan": (portal.list_plans, ix.plans, "Name"),
            "Catalogue": (portal.list_catalogues, ix.catalogues, "Name"),
        }.get(kind, (None, None, ""))
        if lister is None or index is None:
            return (await self.read()).get(kind, key)
        item = next((i for i in await lister() if text(i.get(field_name)) == key), None)
        if item is None:
            return None
        if kind == "User" and not mapping.is_consumer(item):
            return None  # not a consumer: not a User
        if kind == "AdminUser":
            if not is_admin(item):
                return None
            return LiveObject(kind, key, str(item["ID"]), admin_attrs(item))
        index[key] = int(item["ID"])
        attrs: Json = {}
        if kinds.lookup(kind).policy_backed:
            provider_id = as_int(item.get("ProviderID"))
            names = {v: k for k, v in ix.providers.items()}
            attrs["provider"] = names.get(provider_id or 0, "")
        if kind == "User":
            attrs["role"] = text(item.get("Role"))
        return LiveObject(kind, key, str(item["ID"]), attrs)

    async def fetch(self) -> Raw:
        return self._from_snapshot() if self.snapshot is not None else await self._fetch_all()

    def _from_snapshot(self) -> Raw:
        fixed = self.dashboards.fixed
        assert self.snapshot is not None and fixed is not None
        snap = self.snapshot()
        policies = PolicyTexts(snap.policies)
        return Raw(
            providers=snap.providers,
            orgs=snap.orgs,
            teams=snap.teams,
            team_users=snap.team_users,
            users=snap.users,
            products=snap.products,
            plans=snap.plans,
            catalogues=snap.catalogues,
            audiences=snap.audiences,
            requests=snap.requests,
            apps=snap.apps,
            policies={fixed: policies},
            record_policy=policies.named(STATE_POLICY),
            apis={fixed: live_apis(snap.apis)},
            posts=snap.posts,
        )

    async def _fetch_all(self) -> Raw:
        raw = Raw()
        portal = self.api.portal
        dashboards = self.dashboards

        async def providers_and_policies() -> None:
            raw.providers = await self.ids.load_providers()
            conns: dict[DashboardConn, None] = {}
            names = [name_of(p) for p in raw.providers] + sorted(dashboards.configured)
            for name in names:
                conn = dashboards.conn(name)
                if conn is not None:
                    conns[conn] = None
            api_conns = list(conns)  # the providers' Dashboards: their APIs are read too
            home = await self.records.home()  # where the managed record is (and others)
            holders = [c for c in (home.conn, *home.others) if c is not None]
            conns.update(dict.fromkeys(holders))
            listed, apis = await asyncio.gather(
                asyncio.gather(*(self.api.dashboard(c).list_policies(at_once=True) for c in conns)),
                asyncio.gather(*(self.api.dashboard(c).list_apis() for c in api_conns)),
            )
            found = dict(zip(conns, listed, strict=True))
            for conn, policies in found.items():
                raw.policies[conn] = policies_by_id(policies)
            raw.record_policy = record_policy(found[holders[0]]) if holders else None
            raw.more_records = [
                p for c in holders[1:] if (p := record_policy(found[c])) is not None
            ]
            for conn, items in zip(api_conns, apis, strict=True):
                raw.apis[conn] = live_apis(items)

        async def orgs_and_teams() -> None:
            raw.orgs = await portal.list_organisations()
            team_lists = await asyncio.gather(
                *(portal.list_teams(int(o["ID"]), name_of(o)) for o in raw.orgs)
            )
            jobs: list[tuple[int, str, Json]] = []
            for org, teams in zip(raw.orgs, team_lists, strict=True):
                raw.teams[int(org["ID"])] = teams
                # the default team too: whether a user is still in it is drift (finding 10)
                jobs.extend((int(org["ID"]), name_of(org), team) for team in teams)

            async def members(org_id: int, org_name: str, team: Json) -> None:
                detail = await portal.detail(
                    f"/organisations/{org_id}/teams/{team['ID']}",
                    what=f"team {q(team_key(org_name, name_of(team)))}",
                    listed=team,
                )
                users = detail.get("Users")
                if users is None and mapping.is_default_team(org_name, team):
                    return  # members unknown: nobody is reported outside the default team
                ids = [parse_user_ref(u) for u in users or []]
                raw.team_users[int(team["ID"])] = [i for i in ids if i is not None]

            await asyncio.gather(*(members(*job) for job in jobs))

        async def details(path: str, kind: str) -> list[Json]:
            items = await portal.list_all(path, what=f"{kind}s")
            return list(
                await asyncio.gather(
                    *(
                        portal.detail(f"{path}/{i['ID']}", what=f"{kind} {q(name_of(i))}", listed=i)
                        for i in items
                    )
                )
            )

        async def products() -> None:
            raw.products = await details("/products", "product")

            async def posts(product: Json) -> None:
                raw.posts[int(product["ID"])] = await portal.list_all(
                    f"/products/{product['ID']}/docs",
                    what=f"guides of product {q(name_of(product))}",
                )

            await asyncio.gather(*(posts(p) for p in raw.products))

        async def plans() -> None:
            raw.plans = await details("/plans", "plan")

        async def catalogues() -> None:
            items = await portal.list_catalogues()

            async def one(item: Json) -> Json:
                detail, audiences = await asyncio.gather(
                    portal.detail(
                        f"/catalogues/{item['ID']}",
                        what=f"catalogue {q(name_of(item))}",
                        listed=item,
                    ),
                    portal.list_audiences(int(item["ID"]), name_of(item)),
                )
                raw.audiences[int(item["ID"])] = audiences
                return dict(detail)

            raw.catalogues = list(await asyncio.gather(*(one(c) for c in items)))

        async def users() -> None:
            raw.users = await portal.list_users()

        async def requests_and_apps() -> None:
            raw.requests, raw.apps = await asyncio.gather(
                portal.list_access_requests(), portal.list_apps()
            )

        await asyncio.gather(
            providers_and_policies(),
            orgs_and_teams(),
            products(),
            plans(),
            catalogues(),
            users(),
            requests_and_apps(),
        )
        return raw

    async def with_documents(self, live: LiveState) -> LiveState:
        """The live state with each uploaded OpenAPI document downloaded (for import): its
        ``document`` then carries the portal's copy."""
        docs = [o for o in live if o.kind == "ApiDoc" and o.attrs.get("document")]

        async def download(o: LiveObject) -> LiveObject:
            product_id, _, api_id = o.id.partition("/")
            data = await self.api.portal.download(
                f"/products/{product_id}/api-details/{api_id}/oas",
                what=f"OpenAPI document of {q(o.key)}",
            )
            return replace(o, attrs={**o.attrs, "document": Content(data)})

        fetched = await asyncio.gather(*(download(o) for o in docs))
        if not fetched:
            return live
        objects = dict(live.objects)
        objects.update((o.ref, o) for o in fetched)
        return replace(live, objects=objects)

    def translate(self, raw: Raw) -> LiveState:
        """Raw replies -> canonical live state; the index is rebuilt from them."""
        return assemble(raw, self.ids, self.dashboards, self.records)
