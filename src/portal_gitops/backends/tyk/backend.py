"""The one backend: canonical attrs (state.py) <-> the Tyk portal and Dashboard APIs.

``PortalBackend`` implements the Backend protocol over a ``TykApi``. The embedded backend is
this class over an in-process transport to a ``PortalStore``; the tyk backend is this class
over real HTTP. Same translation, same requests, same behaviour, with one exception: a full
read of the embedded store takes the store's one-transaction snapshot (the same list and detail
shapes, rendered by the same code) instead of one in-process request per page and object.

Reading lists everything concurrently and resolves the portal's integer IDs to names, so the
live state compares with the manifests' desired state as plain data. Writing translates names
back to IDs with the maps kept from the last read and from creates (refreshed on a miss).

The managed record and the apply lock live on the target, in two inactive, unpartitioned
Dashboard policies the tool owns (``portal-gitops-state`` and ``portal-gitops-lock``) on the
Dashboard of the first configured provider, so every CI run on every machine sees them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from portal_gitops.backends.base import LockInfo, ManagedRecord
from portal_gitops.backends.tyk.client import (
    DashboardApi,
    DashboardConn,
    Timeouts,
    TykApi,
    as_int,
    number,
    parse_limit,
    parse_names,
    parse_user_ref,
    provider_metadata,
)
from portal_gitops.errors import (
    BackendError,
    ConflictError,
    LockError,
    NotFoundError,
    RateLimitedError,
    SecretError,
    ServerError,
    TransportError,
    ValidationFailed,
)
from portal_gitops.retry import RetryPolicy
from portal_gitops.state import (
    DEFAULT_ORGANISATION,
    LOCK_POLICY,
    MANAGED_POLICY_TAG,
    STATE_POLICY,
    Key,
    LiveObject,
    LiveState,
    Sensitive,
    default_team_name,
    team_key,
)

if TYPE_CHECKING:
    from portal_gitops.backends.emulated.store import StoreSnapshot

__all__ = [
    "BUILTIN_CATALOGUES",
    "LOCK_POLICY",
    "STATE_POLICY",
    "DashboardConn",
    "PortalBackend",
    "Timeouts",
    "open_tyk",
]

log = logging.getLogger(__name__)

RECORD_FORMAT = "portal-gitops/managed-record-v1"
BUILTIN_CATALOGUES = frozenset({"Public Catalogue", "Private Catalogue"})
CONSUMER_ROLES = frozenset({"consumer-admin", "consumer-team-member"})
EMBEDDED_URL = "http://embedded.portal-gitops"

Json = dict[str, Any]


# --------------------------------------------------------------------------------------------
# pure translation helpers


def _name(item: Mapping[str, Any]) -> str:
    value = item.get("Name")
    return value if isinstance(value, str) else ""


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _q(name: str) -> str:
    return f'"{name}"'


def _url_order(url: Json) -> tuple[str, list[str]]:
    return (url["url"], url["methods"])


def _api_order(right: Json) -> str:
    return str(right["apiId"])


def canonical_access_rights(access_rights: Any) -> list[Json]:
    """A policy's ``access_rights`` map in canonical form (sorted everywhere).

    Every product of a read goes through here: the common case (no URL rules) stays short.
    """
    rights: list[Json] = []
    if not isinstance(access_rights, dict):  # decoded JSON: objects are dicts
        return rights
    for api_key, entry in access_rights.items():
        if not isinstance(entry, dict):
            continue
        urls = []
        allowed = entry.get("allowed_urls")
        if allowed:
            for url in allowed:
                if isinstance(url, dict) and isinstance(url.get("url"), str):
                    methods = sorted({m for m in url.get("methods") or () if isinstance(m, str)})
                    urls.append({"url": url["url"], "methods": methods})
            urls.sort(key=_url_order)
        versions = entry.get("versions")
        api_id = entry.get("api_id")
        rights.append(
            {
                "apiId": api_id if isinstance(api_id, str) and api_id else str(api_key),
                "versions": sorted({v for v in versions if isinstance(v, str)}) if versions else [],
                "allowedUrls": urls,
            }
        )
    if len(rights) > 1:
        rights.sort(key=_api_order)
    return rights


def _partitions(policy: Mapping[str, Any]) -> dict[str, bool]:
    parts = policy.get("partitions")
    parts = parts if isinstance(parts, dict) else {}  # decoded JSON: objects are dicts
    return {k: bool(parts.get(k)) for k in ("acl", "quota", "rate_limit")}


def _expires(value: Any) -> int:
    seconds = as_int(number(value, 0))
    return seconds if seconds and seconds > 0 else 0


def product_policy_attrs(policy: Mapping[str, Any] | None) -> Json | None:
    if policy is None:
        return None
    return {
        "partitions": _partitions(policy),
        "accessRights": canonical_access_rights(policy.get("access_rights")),
    }


def plan_policy_attrs(policy: Mapping[str, Any] | None) -> Json | None:
    if policy is None:
        return None
    return {
        "partitions": _partitions(policy),
        "rate": number(policy.get("rate"), 0),
        "per": number(policy.get("per"), 0),
        "quotaMax": number(policy.get("quota_max"), 0),
        "quotaRenewalRate": number(policy.get("quota_renewal_rate"), 0),
        "keyExpiresIn": _expires(policy.get("key_expires_in")),
    }


def plan_limits(plan: Mapping[str, Any]) -> tuple[Json | None, Json | None]:
    """A portal plan's rate limit and quota in canonical form (None = unlimited).

    Integers (portal >= 1.13) and legacy strings ("1000 calls / 60 second(s)", "unlimited")
    are both understood; ``Unlimited*`` flags win.
    """
    rate_count, rate_period = parse_limit(plan.get("RateLimit"))
    per = as_int(number(plan.get("Per"), 0)) or rate_period
    rate: Json | None = None
    if plan.get("UnlimitedRateLimit") is not True and rate_count is not None:
        rate = {"requests": rate_count, "per": per or 0}
    quota_count, quota_period = parse_limit(plan.get("Quota"))
    renewal = as_int(number(plan.get("QuotaRenewalRate"), 0)) or quota_period
    quota: Json | None = None
    if plan.get("UnlimitedQuota") is not True and quota_count is not None:
        quota = {"requests": quota_count, "renewal": renewal if renewal and renewal > 0 else 0}
    return rate, quota


def _redirect_urls(value: Any) -> list[str]:
    if isinstance(value, list):
        urls = [u.strip() for u in value if isinstance(u, str) and u.strip()]
    elif isinstance(value, str):
        urls = [u.strip() for u in value.split(",") if u.strip()]
    else:
        urls = []
    return sorted(set(urls))


def encode_record(record: ManagedRecord) -> str:
    """The managed record as compact JSON grouped by kind (small enough for ``meta_data``)."""
    objects: dict[str, dict[str, str]] = {}
    for (kind, key), live_id in sorted(record.objects.items()):
        objects.setdefault(kind, {})[key] = str(live_id)
    notes: dict[str, dict[str, Any]] = {}
    for (kind, key), note in sorted(record.notes.items()):
        notes.setdefault(kind, {})[key] = dict(note)
    payload: Json = {"objects": objects}
    if notes:
        payload["notes"] = notes
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def decode_record(policy: Mapping[str, Any] | None) -> ManagedRecord:
    if not policy:
        return ManagedRecord()
    meta = policy.get("meta_data")
    raw = meta.get("record") if isinstance(meta, Mapping) else None
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        log.warning("the managed record in policy %s is not valid JSON; ignoring it", STATE_POLICY)
        return ManagedRecord()
    if not isinstance(data, Mapping):
        return ManagedRecord()
    objects: dict[Key, str] = {}
    for kind, entries in (data.get("objects") or {}).items():
        for key, live_id in (entries or {}).items():
            objects[(str(kind), str(key))] = str(live_id)
    notes: dict[Key, Mapping[str, Any]] = {}
    for kind, entries in (data.get("notes") or {}).items():
        for key, note in (entries or {}).items():
            if isinstance(note, Mapping):
                notes[(str(kind), str(key))] = dict(note)
    return ManagedRecord(objects, notes)


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_epoch(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and value:
        try:
            return float(value)
        except ValueError:
            pass
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return 0.0
    return 0.0


def _bookkeeping_policy(name: str, meta: Mapping[str, Any]) -> Json:
    """An inactive, unpartitioned policy the tool owns: it grants nothing and is never synced."""
    return {
        "name": name,
        "active": False,
        "is_inactive": True,
        "state": "deny",
        "tags": [name],
        "meta_data": dict(meta),
        "partitions": {
            "acl": False,
            "quota": False,
            "rate_limit": False,
            "complexity": False,
            "per_api": False,
        },
        "access_rights": {},
    }


# --------------------------------------------------------------------------------------------
# name <-> id maps


@dataclass
class _Index:
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


def _policies_by_id(policies: Iterable[Json]) -> dict[str, Json]:
    """Policies by ``_id`` and by ``id`` (portals reference either); the first one wins."""
    by_id: dict[str, Json] = {}
    for policy in policies:
        for key in ("_id", "id"):
            if isinstance(policy.get(key), str) and policy[key]:
                by_id.setdefault(policy[key], policy)
    return by_id


def _record_policy(policies: Iterable[Json]) -> Json | None:
    return next((p for p in policies if p.get("name") == STATE_POLICY), None)


@dataclass
class _Raw:
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
    policies: dict[DashboardConn, dict[str, Json]] = field(default_factory=dict)
    record_policy: Json | None = None


# --------------------------------------------------------------------------------------------
# the backend


class PortalBackend:
    """Backend over a ``TykApi`` (see module docstring).

    ``dashboards`` maps provider names (from the Provider manifests) to their Dashboard
    connection; providers not listed fall back to their live configuration. ``dashboard_url``
    replaces every Dashboard URL (env ``TYK_DASHBOARD_URL``: tunnels, the emulator).
    ``fixed_dashboard`` sends every Dashboard request to one place (the embedded store).
    ``snapshot`` reads everything at once (the embedded store, whose Dashboard is fixed).
    """

    def __init__(
        self,
        api: TykApi,
        *,
        kind: str,
        target: str,
        dashboards: Mapping[str, DashboardConn] | None = None,
        dashboard_url_override: str | None = None,
        fixed_dashboard: DashboardConn | None = None,
        clock: Callable[[], float] = time.time,
        on_close: Callable[[], Awaitable[None] | None] | None = None,
        snapshot: Callable[[], StoreSnapshot] | None = None,
    ) -> None:
        if snapshot is not None and fixed_dashboard is None:
            raise ValueError("a snapshot read needs the fixed Dashboard it comes from")
        self.kind = kind
        self._snapshot = snapshot
        self.target = target
        self.api = api
        self._dashboards = dict(dashboards or {})
        self._url_override = dashboard_url_override.rstrip("/") if dashboard_url_override else None
        self._fixed = fixed_dashboard
        self._clock = clock
        self._on_close = on_close
        self._ix = _Index()
        self._record_ids: dict[str, str] = {}  # live AccessRequest id -> manifest key
        self._session_requests: dict[str, str] = {}  # created by this process, not yet recorded
        self._app_attempts: set[tuple[int, str]] = set()  # app creates whose outcome is unknown
        self._new_apps: set[int] = set()  # apps created by this process, nothing provisioned yet
        self._state_policy_id: str | None = None
        self._tag_lock = asyncio.Lock()
        for conn in self._dashboards.values():
            api.add_secret(conn.secret)
        if fixed_dashboard is not None:
            api.add_secret(fixed_dashboard.secret)

    def __repr__(self) -> str:
        return f"PortalBackend(kind={self.kind!r}, target={self.target!r})"

    async def aclose(self) -> None:
        await self.api.aclose()
        if self._on_close is not None:
            result = self._on_close()
            if result is not None:
                await result

    # ---------------------------------------------------------------- dashboards

    def _conn(self, provider: str) -> DashboardConn | None:
        """The Dashboard behind a provider: manifests first, then its live configuration."""
        if self._fixed is not None:
            return self._fixed
        conn = self._dashboards.get(provider) or self._ix.provider_conns.get(provider)
        if conn is None:
            return None
        if self._url_override:
            conn = replace(conn, url=self._url_override)
        return conn

    def dashboard_for(self, provider: str) -> DashboardApi:
        """The Dashboard API client for a provider's Dashboard (raises if none is known)."""
        conn = self._conn(provider)
        if conn is None:
            raise BackendError(
                f'no Dashboard connection for provider "{provider}": declare it in a Provider '
                "manifest (or set TYK_DASHBOARD_URL)",
                operation=f'reach the Dashboard of provider "{provider}"',
            )
        return self.api.dashboard(conn)

    async def _record_conn(self) -> DashboardConn | None:
        """Where the managed record and lock live: the first configured provider's Dashboard."""
        if self._fixed is not None:
            return self._fixed
        if self._dashboards:
            return self._conn(sorted(self._dashboards)[0])
        if not self._ix.provider_conns:
            await self._load_providers()
        if self._ix.provider_conns:
            return self._conn(sorted(self._ix.provider_conns)[0])
        if self._url_override:
            return DashboardConn(self._url_override)
        return None

    async def _record_dashboard(self) -> DashboardApi:
        conn = await self._record_conn()
        if conn is None:
            raise BackendError(
                "no Dashboard to keep the managed record and apply lock on: declare a Provider",
                operation=f"reach the Dashboard of {self.target}",
            )
        return self.api.dashboard(conn)

    def _live_conn(self, provider: Mapping[str, Any]) -> DashboardConn | None:
        meta = provider_metadata(provider)
        url = _str(meta.get("URL"))
        if not url:
            return None
        secret = _str(meta.get("Secret")) or None
        self.api.add_secret(secret)
        return DashboardConn(url, secret, bool(meta.get("InsecureSkipVerify")))

    async def _load_providers(self) -> list[Json]:
        portal = self.api.portal
        items = await portal.list_providers()
        details = await asyncio.gather(
            *(self._detail(f"/providers/{p['ID']}", f"provider {_q(_name(p))}", p) for p in items)
        )
        for item in details:
            self._ix.providers[_name(item)] = int(item["ID"])
            conn = self._live_conn(item)
            if conn is not None:
                self._ix.provider_conns[_name(item)] = conn
        return details

    async def _detail(self, path: str, what: str, fallback: Json) -> Json:
        """GET one object; if it vanished since the list, keep what the list said."""
        try:
            detail = await self.api.portal.get(path, what=what)
        except NotFoundError:
            return fallback
        return {**fallback, **detail} if detail else fallback

    # ---------------------------------------------------------------- read

    async def read(self) -> LiveState:
        raw = await self._fetch()
        return self._translate(raw)

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
        if kind == "AccessRequest":
            known = {**self._record_ids, **self._session_requests}
            request_id = next((i for i, k in known.items() if k == key), None)
            if request_id is None:
                return None
            what = f"access request {_q(key)}"
            try:
                request = await portal.get(f"/access_requests/{request_id}", what=what)
            except NotFoundError:
                return None
            request_attrs = {
                "status": _str(request.get("Status")) or "pending",
                "app": {"name": _str(request.get("Client"))},
            }
            return LiveObject(kind, key, request_id, request_attrs)
        if kind == "Team":
            org, _, name = key.partition("/")
            orgs = await portal.list_organisations()
            org_id = next((int(o["ID"]) for o in orgs if _name(o) == org), None)
            if org_id is None:
                return None
            self._ix.orgs[org] = org_id
            teams = await portal.list_teams(org_id, org)
            team = next((t for t in teams if _name(t) == name), None)
            if team is None:
                return None
            self._ix.teams[(org, name)] = int(team["ID"])
            team_attrs = {"organisation": org, "name": name}
            return LiveObject(kind, key, f"{org_id}/{team['ID']}", team_attrs)
        lister, index, field_name = {
            "Provider": (portal.list_providers, self._ix.providers, "Name"),
            "Organisation": (portal.list_organisations, self._ix.orgs, "Name"),
            "User": (portal.list_users, self._ix.users, "Email"),
            "Product": (portal.list_products, self._ix.products, "Name"),
            "Plan": (portal.list_plans, self._ix.plans, "Name"),
            "Catalogue": (portal.list_catalogues, self._ix.catalogues, "Name"),
        }.get(kind, (None, None, ""))
        if lister is None or index is None:
            return (await self.read()).get(kind, key)
        item = next((i for i in await lister() if _str(i.get(field_name)) == key), None)
        if item is None:
            return None
        if kind == "User" and _str(item.get("Role")) not in CONSUMER_ROLES:
            return None  # admins are never touched
        index[key] = int(item["ID"])
        attrs: Json = {}
        if kind in ("Product", "Plan"):
            provider_id = as_int(item.get("ProviderID"))
            names = {v: k for k, v in self._ix.providers.items()}
            attrs["provider"] = names.get(provider_id or 0, "")
        if kind == "User":
            attrs["role"] = _str(item.get("Role"))
        return LiveObject(kind, key, str(item["ID"]), attrs)

    async def _fetch(self) -> _Raw:
        raw = self._from_snapshot() if self._snapshot is not None else await self._fetch_all()
        # requests whose app is ambiguous (same user, same app name twice) need their app's list
        await self._disambiguate_apps(raw)
        return raw

    def _from_snapshot(self) -> _Raw:
        assert self._snapshot is not None and self._fixed is not None
        snap = self._snapshot()
        return _Raw(
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
            policies={self._fixed: _policies_by_id(snap.policies)},
            record_policy=_record_policy(snap.policies),
        )

    async def _fetch_all(self) -> _Raw:
        raw = _Raw()
        portal = self.api.portal

        async def providers_and_policies() -> None:
            raw.providers = await self._load_providers()
            conns: dict[DashboardConn, None] = {}
            for provider in raw.providers:
                conn = self._conn(_name(provider))
                if conn is not None:
                    conns[conn] = None
            record_conn = await self._record_conn()
            if record_conn is not None:
                conns[record_conn] = None
            listed = await asyncio.gather(
                *(self.api.dashboard(c).list_policies(at_once=True) for c in conns)
            )
            for conn, policies in zip(conns, listed, strict=True):
                raw.policies[conn] = _policies_by_id(policies)
                if conn == record_conn:
                    raw.record_policy = _record_policy(policies)

        async def orgs_and_teams() -> None:
            raw.orgs = await portal.list_organisations()
            team_lists = await asyncio.gather(
                *(portal.list_teams(int(o["ID"]), _name(o)) for o in raw.orgs)
            )
            jobs = []
            for org, teams in zip(raw.orgs, team_lists, strict=True):
                raw.teams[int(org["ID"])] = teams
                for team in teams:
                    if not self._is_default_team(_name(org), team):
                        jobs.append((int(org["ID"]), _name(org), team))

            async def members(org_id: int, org_name: str, team: Json) -> None:
                detail = await self._detail(
                    f"/organisations/{org_id}/teams/{team['ID']}",
                    f"team {_q(team_key(org_name, _name(team)))}",
                    team,
                )
                ids = [parse_user_ref(u) for u in detail.get("Users") or []]
                raw.team_users[int(team["ID"])] = [i for i in ids if i is not None]

            await asyncio.gather(*(members(*job) for job in jobs))

        async def products() -> None:
            items = await portal.list_products()
            raw.products = list(
                await asyncio.gather(
                    *(
                        self._detail(f"/products/{p['ID']}", f"product {_q(_name(p))}", p)
                        for p in items
                    )
                )
            )

        async def plans() -> None:
            items = await portal.list_plans()
            raw.plans = list(
                await asyncio.gather(
                    *(self._detail(f"/plans/{p['ID']}", f"plan {_q(_name(p))}", p) for p in items)
                )
            )

        async def catalogues() -> None:
            items = await portal.list_catalogues()

            async def one(item: Json) -> Json:
                detail, audiences = await asyncio.gather(
                    self._detail(f"/catalogues/{item['ID']}", f"catalogue {_q(_name(item))}", item),
                    portal.list_audiences(int(item["ID"]), _name(item)),
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

    @staticmethod
    def _is_default_team(org_name: str, team: Mapping[str, Any]) -> bool:
        return team.get("Default") is True or _name(team) == default_team_name(org_name)

    async def _disambiguate_apps(self, raw: _Raw) -> None:
        if all(as_int(r.get("AppID")) for r in raw.requests):
            return  # every request names its app
        groups: dict[tuple[int, str], list[Json]] = {}
        for app in raw.apps:
            groups.setdefault((as_int(app.get("UserID")) or 0, _name(app)), []).append(app)
        ambiguous = [app for apps in groups.values() if len(apps) > 1 for app in apps]
        if not ambiguous:
            return
        lists = await asyncio.gather(
            *(self.api.portal.list_app_access_requests(int(a["ID"]), _name(a)) for a in ambiguous)
        )
        for app, reqs in zip(ambiguous, lists, strict=True):
            app["_request_ids"] = {as_int(r.get("ID")) for r in reqs}

    def _translate(self, raw: _Raw) -> LiveState:
        ix = _Index(tags=self._ix.tags)
        record = decode_record(raw.record_policy)
        self._state_policy_id = _str(raw.record_policy.get("_id")) if raw.record_policy else None
        self._record_ids = {
            live_id: key
            for (kind, key), live_id in record.objects.items()
            if kind == "AccessRequest"
        }
        objects: dict[Key, LiveObject] = {}

        def add(kind: str, key: str, live_id: Any, attrs: Json, builtin: bool = False) -> None:
            managed = (kind, key) in record.objects
            objects[(kind, key)] = LiveObject(kind, key, str(live_id), attrs, managed, builtin)

        provider_names: dict[int, str] = {}
        for p in raw.providers:
            name = _name(p)
            provider_names[int(p["ID"])] = name
            ix.providers[name] = int(p["ID"])
            meta = provider_metadata(p)
            conn = self._live_conn(p)
            if conn is not None:
                ix.provider_conns[name] = conn
            add(
                "Provider",
                name,
                p["ID"],
                {
                    "type": _str(p.get("Type")) or "tyk-pro",
                    "dashboardUrl": _str(meta.get("URL")),
                    "orgId": _str(meta.get("OrgID")),
                    "gatewayUrl": _str(meta.get("Gateway")),
                    "policyTags": sorted(
                        {t for t in meta.get("PoliciesTags") or [] if isinstance(t, str)}
                    ),
                    "insecureSkipVerify": bool(meta.get("InsecureSkipVerify")),
                    "secret": Sensitive("live", _str(meta.get("Secret")) or None),
                },
            )

        org_names: dict[int, str] = {}
        team_names: dict[int, tuple[str, str]] = {}
        default_team_ids: set[int] = set()
        for org in raw.orgs:
            org_name, org_id = _name(org), int(org["ID"])
            org_names[org_id] = org_name
            ix.orgs[org_name] = org_id
            add("Organisation", org_name, org_id, {}, builtin=org_name == DEFAULT_ORGANISATION)
            for team in raw.teams.get(org_id, []):
                team_id = int(team["ID"])
                default = self._is_default_team(org_name, team)
                team_names[team_id] = (org_name, _name(team))
                ix.teams[(org_name, _name(team))] = team_id
                if default:
                    default_team_ids.add(team_id)
                    ix.default_teams.setdefault(org_name, team_id)
                add(
                    "Team",
                    team_key(org_name, _name(team)),
                    f"{org_id}/{team_id}",
                    {"organisation": org_name, "name": _name(team)},
                    builtin=default,
                )

        memberships: dict[int, set[str]] = {}
        for team_id, user_ids in raw.team_users.items():
            if team_id in default_team_ids or team_id not in team_names:
                continue
            for user_id in user_ids:
                memberships.setdefault(user_id, set()).add(team_names[team_id][1])
        emails: dict[int, str] = {}
        user_orgs: dict[int, str] = {}
        for user in raw.users:
            user_id = int(user["ID"])
            email = _str(user.get("Email"))
            emails[user_id] = email
            org_name = org_names.get(as_int(user.get("OrganisationID")) or 0) or _str(
                user.get("Organisation")
            )
            user_orgs[user_id] = org_name
            if _str(user.get("Role")) not in CONSUMER_ROLES:
                continue  # admins are never touched
            ix.users[email] = user_id
            add(
                "User",
                email,
                user_id,
                {
                    "organisation": org_name,
                    "first": _str(user.get("First")),
                    "last": _str(user.get("Last")),
                    "role": _str(user.get("Role")),
                    "teams": sorted(memberships.get(user_id, set())),
                },
            )

        product_names: dict[int, str] = {}
        dashboards: dict[str, Mapping[str, Json] | None] = {}  # provider -> its policies
        for product in raw.products:
            name = _name(product)
            product_names[int(product["ID"])] = name
            ix.products[name] = int(product["ID"])
            provider = provider_names.get(as_int(product.get("ProviderID")) or 0, "")
            policy = self._policy(raw, provider, _str(product.get("ReferenceID")), dashboards)
            apis = sorted(
                {
                    d["APIID"]
                    for d in product.get("APIDetails") or ()
                    if isinstance(d, dict) and isinstance(d.get("APIID"), str) and d["APIID"]
                }
            )
            add(
                "Product",
                name,
                product["ID"],
                {
                    "provider": provider,
                    "displayName": _str(product.get("DisplayName")),
                    "description": _str(product.get("Description")),
                    "content": _str(product.get("Content")),
                    "tags": sorted(set(parse_names(product.get("Tags")))),
                    "apis": apis,
                    "policy": product_policy_attrs(policy),
                },
            )

        plan_names: dict[int, str] = {}
        for plan in raw.plans:
            name = _name(plan)
            plan_names[int(plan["ID"])] = name
            ix.plans[name] = int(plan["ID"])
            provider = provider_names.get(as_int(plan.get("ProviderID")) or 0, "")
            policy = self._policy(raw, provider, _str(plan.get("ReferenceID")), dashboards)
            rate, quota = plan_limits(plan)
            add(
                "Plan",
                name,
                plan["ID"],
                {
                    "provider": provider,
                    "displayName": _str(plan.get("DisplayName")),
                    "description": _str(plan.get("Description")),
                    "autoApprove": plan.get("AutoApproveAccessRequests") is True,
                    "keyExpiresIn": _expires(plan.get("KeyExpiresIn")),
                    "rateLimit": rate,
                    "quota": quota,
                    "policy": plan_policy_attrs(policy),
                },
            )

        for cat in raw.catalogues:
            name = _name(cat)
            cat_id = int(cat["ID"])
            ix.catalogues[name] = cat_id
            audience = set()
            for aud in raw.audiences.get(cat_id, []):
                org_id = as_int(aud.get("OrganisationID")) or 0
                team_id = as_int(aud.get("TeamID")) or 0
                org_name = org_names.get(org_id, f"#{org_id}")
                if team_id in default_team_ids:
                    team_name = ""
                else:
                    team_name = team_names.get(team_id, (org_name, f"#{team_id}"))[1]
                audience.add((org_name, team_name))
            add(
                "Catalogue",
                name,
                cat_id,
                {
                    "visibility": _str(cat.get("VisibilityStatus")).lower() or "private",
                    "audience": [{"organisation": o, "team": t} for o, t in sorted(audience)],
                    "products": sorted(set(self._names(cat.get("Products"), product_names))),
                    "plans": sorted(set(self._names(cat.get("Plans"), plan_names))),
                },
                builtin=name in BUILTIN_CATALOGUES,
            )

        apps_by_owner: dict[tuple[int, str], list[Json]] = {}
        apps_by_id = {int(item["ID"]): item for item in raw.apps}
        for item in raw.apps:
            owner = (as_int(item.get("UserID")) or 0, _name(item))
            apps_by_owner.setdefault(owner, []).append(item)
        known_products = set(product_names.values())
        for req in raw.requests:
            req_id = str(req.get("ID"))
            user_id = parse_user_ref(req.get("User")) or 0
            app_name = _str(req.get("Client"))
            app: Json | None = apps_by_id.get(as_int(req.get("AppID")) or 0)
            if app is None:  # no AppID in the reply: match by owner and app name
                candidates = apps_by_owner.get((user_id, app_name), [])
                app = next(
                    (a for a in candidates if as_int(req.get("ID")) in a.get("_request_ids", ())),
                    candidates[0] if candidates else {},
                )
            key = (
                self._record_ids.get(req_id)
                or self._session_requests.get(req_id)
                or f"request-{req_id}"
            )
            add(
                "AccessRequest",
                key,
                req_id,
                {
                    "consumer": emails.get(user_id, _str(req.get("User"))),
                    "organisation": user_orgs.get(user_id, ""),
                    "app": {
                        "name": app_name,
                        "description": _str(app.get("Description")),
                        "redirectUrls": _redirect_urls(app.get("RedirectURLs")),
                    },
                    "products": sorted(set(parse_names(req.get("Products"), known_products))),
                    "plan": _str(req.get("Plan")),
                    "catalogue": _str(req.get("Catalogue")),
                    "status": _str(req.get("Status")) or "pending",
                },
            )
        ix.apps = {
            owner: min(items, key=lambda a: int(a["ID"])) for owner, items in apps_by_owner.items()
        }
        self._ix = ix
        return LiveState(objects)

    @staticmethod
    def _names(value: Any, by_id: Mapping[int, str]) -> list[str]:
        """Catalogue Products/Plans: names on read (as documented), IDs tolerated."""
        if isinstance(value, list):
            out = []
            for item in value:
                number_id = as_int(item) if not isinstance(item, str) else None
                if number_id is not None:
                    out.append(by_id.get(number_id, f"#{number_id}"))
                else:
                    out.extend(parse_names([item]))
            return out
        return parse_names(value)

    def _policy(
        self,
        raw: _Raw,
        provider: str,
        reference: str,
        dashboards: dict[str, Mapping[str, Json] | None],
    ) -> Json | None:
        """The policy ``reference`` on the provider's Dashboard (``dashboards`` remembers
        which policies that is, per provider, for the rest of the read)."""
        if not reference:
            return None
        if provider not in dashboards:
            conn = self._conn(provider) if provider else None
            dashboards[provider] = raw.policies.get(conn) if conn is not None else None
        policies = dashboards[provider]
        if policies is not None:
            return policies.get(reference)
        for every in raw.policies.values():  # provider unknown: any Dashboard we read
            if reference in every:
                return every[reference]
        return None

    # ---------------------------------------------------------------- id resolution

    async def _provider_id(self, name: str) -> int:
        if name not in self._ix.providers:
            await self._load_providers()
        if name not in self._ix.providers:
            raise NotFoundError(f'provider "{name}" does not exist', operation="resolve provider")
        return self._ix.providers[name]

    async def _org_id(self, name: str) -> int:
        if name not in self._ix.orgs:
            for org in await self.api.portal.list_organisations():
                self._ix.orgs[_name(org)] = int(org["ID"])
        if name not in self._ix.orgs:
            raise NotFoundError(
                f'organisation "{name}" does not exist', operation="resolve organisation"
            )
        return self._ix.orgs[name]

    async def _refresh_teams(self, org: str) -> int:
        org_id = await self._org_id(org)
        for team in await self.api.portal.list_teams(org_id, org):
            self._ix.teams[(org, _name(team))] = int(team["ID"])
            if self._is_default_team(org, team):
                self._ix.default_teams[org] = int(team["ID"])
        return org_id

    async def _team_id(self, org: str, team: str) -> int:
        """A team's id; ``team == ""`` is the organisation's default team."""
        if team == "":
            if org not in self._ix.default_teams:
                await self._refresh_teams(org)
            if org in self._ix.default_teams:
                return self._ix.default_teams[org]
            raise NotFoundError(
                f'organisation "{org}" has no default team', operation="resolve team"
            )
        if (org, team) not in self._ix.teams:
            await self._refresh_teams(org)
        if (org, team) not in self._ix.teams:
            raise NotFoundError(
                f'team "{team_key(org, team)}" does not exist', operation="resolve team"
            )
        return self._ix.teams[(org, team)]

    async def _user_id(self, email: str) -> int:
        if email not in self._ix.users:
            for user in await self.api.portal.list_users():
                self._ix.users[_str(user.get("Email"))] = int(user["ID"])
        if email not in self._ix.users:
            raise NotFoundError(f'user "{email}" does not exist', operation="resolve user")
        return self._ix.users[email]

    async def _ids(
        self, kind: str, names: Iterable[str], cache: dict[str, int], lister: str
    ) -> list[int]:
        names = list(names)
        if any(n not in cache for n in names):
            for item in await self.api.portal.list_all(lister, what=f"{kind}s"):
                cache[_name(item)] = int(item["ID"])
        missing = [n for n in names if n not in cache]
        if missing:
            raise NotFoundError(
                f"{kind} {', '.join(_q(n) for n in missing)} does not exist",
                operation=f"resolve {kind}",
            )
        return sorted(cache[n] for n in names)

    async def _product_ids(self, names: Iterable[str]) -> list[int]:
        return await self._ids("product", names, self._ix.products, "/products")

    async def _plan_ids(self, names: Iterable[str]) -> list[int]:
        return await self._ids("plan", names, self._ix.plans, "/plans")

    async def _catalogue_ids(self, names: Iterable[str]) -> list[int]:
        return await self._ids("catalogue", names, self._ix.catalogues, "/catalogues")

    async def _tag_ids(self, names: Iterable[str]) -> list[int]:
        """Portal tag IDs for names, creating the tags that do not exist yet."""
        names = sorted(set(names))
        if not names:
            return []
        async with self._tag_lock:
            if self._ix.tags is None or any(n not in self._ix.tags for n in names):
                self._ix.tags = {_name(t): int(t["ID"]) for t in await self.api.portal.list_tags()}
            for name in names:
                if name in self._ix.tags:
                    continue
                try:
                    reply = await self.api.portal.create(
                        "/tags", {"Name": name}, what=f"tag {_q(name)}"
                    )
                    self._ix.tags[name] = self._new_id(reply, f"tag {_q(name)}")
                except ConflictError:
                    self._ix.tags = {
                        _name(t): int(t["ID"]) for t in await self.api.portal.list_tags()
                    }
            return sorted(self._ix.tags[n] for n in names if n in self._ix.tags)

    @staticmethod
    def _new_id(reply: Mapping[str, Any], what: str) -> int:
        value = as_int(reply.get("ID"))
        if value is None:
            raise ServerError("the reply carries no ID", operation=f"create {what}")
        return value

    # ---------------------------------------------------------------- writes

    async def create(self, kind: str, key: str, attrs: Mapping[str, Any]) -> str:
        handler = {
            "Provider": self._create_provider,
            "Organisation": self._create_organisation,
            "Team": self._create_team,
            "User": self._create_user,
            "Product": self._create_product,
            "Plan": self._create_plan,
            "Catalogue": self._create_catalogue,
            "AccessRequest": self._create_access_request,
        }.get(kind)
        if handler is None:
            raise ValidationFailed(f"unknown kind {kind}", operation=f"create {kind} {_q(key)}")
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

    async def update(self, live: LiveObject, attrs: Mapping[str, Any]) -> None:
        handler = {
            "Provider": self._update_provider,
            "Organisation": self._update_noop,
            "Team": self._update_noop,
            "User": self._update_user,
            "Product": self._update_product,
            "Plan": self._update_plan,
            "Catalogue": self._update_catalogue,
            "AccessRequest": self._update_access_request,
        }.get(live.kind)
        if handler is None:
            raise ValidationFailed(f"unknown kind {live.kind}", operation=f"update {live.key}")
        await handler(live, attrs)

    async def delete(self, live: LiveObject) -> None:
        if live.builtin:
            raise ValidationFailed(
                "built-in portal objects are never deleted",
                operation=f"delete {live.kind.lower()} {_q(live.key)}",
            )
        what = f"{_label(live.kind)} {_q(live.key)}"
        portal = self.api.portal
        try:
            if live.kind == "Provider":
                await portal.delete(f"/providers/{live.id}", what=what)
                self._ix.providers.pop(live.key, None)
            elif live.kind == "Organisation":
                await portal.delete(f"/organisations/{live.id}", what=what)
                self._ix.orgs.pop(live.key, None)
            elif live.kind == "Team":
                org_id, _, team_id = live.id.partition("/")
                await portal.delete(f"/organisations/{org_id}/teams/{team_id}", what=what)
            elif live.kind == "User":
                if live.attrs.get("role") not in CONSUMER_ROLES:
                    raise ValidationFailed(
                        "admin users are never touched", operation=f"delete {what}"
                    )
                await portal.delete(f"/users/{live.id}", what=what)
                self._ix.users.pop(live.key, None)
            elif live.kind == "Product":
                await self._delete_with_policy(live, "/products", what)
                self._ix.products.pop(live.key, None)
            elif live.kind == "Plan":
                await self._delete_with_policy(live, "/plans", what)
                self._ix.plans.pop(live.key, None)
            elif live.kind == "Catalogue":
                await portal.delete(f"/catalogues/{live.id}", what=what)
                self._ix.catalogues.pop(live.key, None)
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
        reference = _str(current.get("ReferenceID"))
        await self.api.portal.delete(f"{base}/{live.id}", what=what)
        provider = _str(live.attrs.get("provider"))
        if not reference or self._conn(provider) is None:
            return
        dash = self.dashboard_for(provider)
        policy_what = f"policy of {what}"
        try:
            policy = await dash.get_policy(reference, what=policy_what)
            if MANAGED_POLICY_TAG in (policy.get("tags") or []):
                await dash.delete_policy(reference, what=policy_what)
        except NotFoundError:
            pass

    async def _update_noop(self, live: LiveObject, attrs: Mapping[str, Any]) -> None:
        """Organisations and teams have nothing but their name (their identity) to update."""

    # providers

    def _provider_meta(self, key: str, attrs: Mapping[str, Any], fallback: str | None) -> str:
        secret = attrs.get("secret")
        value = secret.value if isinstance(secret, Sensitive) else None
        value = value or fallback
        if not value and self._fixed is None:
            ref = secret.ref if isinstance(secret, Sensitive) else "secret"
            raise SecretError(f'provider "{key}": the Dashboard secret ({ref}) is not available')
        # the embedded store needs no Dashboard secret: an unresolved one is stored empty
        value = value or ""
        self.api.add_secret(value)
        meta = {
            "URL": _str(attrs.get("dashboardUrl")),
            "Secret": value,
            "OrgID": _str(attrs.get("orgId")),
            "Gateway": _str(attrs.get("gatewayUrl")),
            "PoliciesTags": sorted(attrs.get("policyTags") or []),
            "InsecureSkipVerify": bool(attrs.get("insecureSkipVerify")),
        }
        return json.dumps(meta, separators=(",", ":"))

    def _remember_provider(self, key: str, provider_id: int, meta: str) -> None:
        self._ix.providers[key] = provider_id
        conn = self._live_conn({"Configuration": {"MetaData": meta}})
        if conn is not None:
            self._ix.provider_conns[key] = conn

    async def _create_provider(self, key: str, attrs: Mapping[str, Any]) -> str:
        meta = self._provider_meta(key, attrs, None)
        body = {
            "Name": key,
            "Type": _str(attrs.get("type")) or "tyk-pro",
            "Configuration": {"MetaData": meta},
        }
        reply = await self.api.portal.create("/providers", body, what=f"provider {_q(key)}")
        provider_id = self._new_id(reply, f"provider {_q(key)}")
        self._remember_provider(key, provider_id, meta)
        return str(provider_id)

    async def _update_provider(self, live: LiveObject, attrs: Mapping[str, Any]) -> None:
        what = f"provider {_q(live.key)}"
        current = await self.api.portal.get(f"/providers/{live.id}", what=what)
        config = current.get("Configuration")
        config_id = as_int(config.get("ID")) if isinstance(config, Mapping) else None
        live_secret = _str(provider_metadata(current).get("Secret")) or None
        meta = self._provider_meta(live.key, attrs, live_secret)
        configuration: Json = {"MetaData": meta}
        if config_id is not None:
            configuration["ID"] = config_id
        body = {"Name": live.key, "Configuration": configuration}
        await self.api.portal.update(f"/providers/{live.id}", body, what=what)
        self._remember_provider(live.key, int(live.id), meta)

    # organisations and teams

    async def _create_organisation(self, key: str, attrs: Mapping[str, Any]) -> str:
        what = f"organisation {_q(key)}"
        reply = await self.api.portal.create("/organisations", {"Name": key}, what=what)
        org_id = self._new_id(reply, what)
        self._ix.orgs[key] = org_id
        return str(org_id)

    async def _create_team(self, key: str, attrs: Mapping[str, Any]) -> str:
        org, name = _str(attrs.get("organisation")), _str(attrs.get("name"))
        what = f"team {_q(key)}"
        org_id = await self._org_id(org)
        reply = await self.api.portal.create(
            f"/organisations/{org_id}/teams", {"Name": name}, what=what
        )
        team_id = self._new_id(reply, what)
        self._ix.teams[(org, name)] = team_id
        return f"{org_id}/{team_id}"

    # users

    async def _user_body(self, key: str, attrs: Mapping[str, Any]) -> Json:
        return {
            "Email": key,
            "First": _str(attrs.get("first")),
            "Last": _str(attrs.get("last")),
            "Role": _str(attrs.get("role")) or "consumer-team-member",
            "OrganisationID": await self._org_id(_str(attrs.get("organisation"))),
        }

    async def _team_strings(self, attrs: Mapping[str, Any]) -> list[str]:
        """User-update ``Teams``: team IDs (typed as strings in the spec); none = default team."""
        org = _str(attrs.get("organisation"))
        ids = [await self._team_id(org, t) for t in attrs.get("teams") or []]
        if not ids:
            ids = [await self._team_id(org, "")]
        return [str(i) for i in sorted(ids)]

    async def _create_user(self, key: str, attrs: Mapping[str, Any]) -> str:
        what = f"user {_q(key)}"
        body = await self._user_body(key, attrs)
        body.update({"Provider": "password", "Active": True, "ResetPassword": False})
        reply = await self.api.portal.create("/users", body, what=what)
        user_id = self._new_id(reply, what)
        self._ix.users[key] = user_id
        if attrs.get("teams"):
            update = await self._user_body(key, attrs)
            update["Teams"] = await self._team_strings(attrs)
            await self.api.portal.update(f"/users/{user_id}", update, what=what)
        return str(user_id)

    async def _update_user(self, live: LiveObject, attrs: Mapping[str, Any]) -> None:
        body = await self._user_body(live.key, attrs)
        body["Teams"] = await self._team_strings(attrs)
        await self.api.portal.update(f"/users/{live.id}", body, what=f"user {_q(live.key)}")

    # products

    async def _create_product(self, key: str, attrs: Mapping[str, Any]) -> str:
        what = f"product {_q(key)}"
        provider = _str(attrs.get("provider"))
        body: Json = {
            "Name": key,
            "ProviderID": await self._provider_id(provider),
            "IsDocumentationOnly": False,
            "DisplayName": _str(attrs.get("displayName")),
            "Description": _str(attrs.get("description")),
            "Content": _str(attrs.get("content")),
            "APIDetails": [{"APIID": api} for api in attrs.get("apis") or []],
        }
        tag_ids = await self._tag_ids(attrs.get("tags") or [])
        if tag_ids:
            body["Tags"] = tag_ids
        reply = await self.api.portal.create("/products", body, what=what)
        product_id = self._new_id(reply, what)
        self._ix.products[key] = product_id
        reference = _str(reply.get("ReferenceID")) or _str(
            (await self.api.portal.get(f"/products/{product_id}", what=what)).get("ReferenceID")
        )
        await self._put_policy(provider, key, "product", reference, attrs.get("policy"))
        return str(product_id)

    async def _update_product(self, live: LiveObject, attrs: Mapping[str, Any]) -> None:
        what = f"product {_q(live.key)}"
        provider = _str(attrs.get("provider"))
        self._refuse_provider_change(live, attrs, what)
        current = await self.api.portal.get(f"/products/{live.id}", what=what)
        existing = {
            _str(d.get("APIID")): d
            for d in current.get("APIDetails") or []
            if isinstance(d, Mapping)
        }
        details = []
        for api in attrs.get("apis") or []:
            detail: Json = {"APIID": api}
            for field_name in ("Description", "OASUrl"):
                value = existing.get(api, {}).get(field_name)
                if isinstance(value, str) and value:
                    detail[field_name] = value
            details.append(detail)
        body: Json = {
            "Name": live.key,
            "DisplayName": _str(attrs.get("displayName")),
            "Description": _str(attrs.get("description")),
            "Content": _str(attrs.get("content")),
            "APIDetails": details,
            "Tags": await self._tag_ids(attrs.get("tags") or []),
            # membership is driven from the catalogue side: keep what the portal has (as IDs)
            "Catalogues": await self._catalogue_ids(parse_names(current.get("Catalogues"))),
        }
        for keep in ("Scopes", "Path", "Feature", "DCREnabled", "AuthType"):
            if keep in current and current[keep] is not None:
                body[keep] = current[keep]
        await self.api.portal.update(f"/products/{live.id}", body, what=what)
        reference = _str(current.get("ReferenceID"))
        await self._put_policy(provider, live.key, "product", reference, attrs.get("policy"))

    @staticmethod
    def _refuse_provider_change(live: LiveObject, attrs: Mapping[str, Any], what: str) -> None:
        old, new = live.attrs.get("provider"), attrs.get("provider")
        if old and new and old != new:
            raise ValidationFailed(
                f'cannot move to provider "{new}" (it belongs to "{old}"); '
                "delete it and create it again",
                operation=f"update {what}",
            )

    # plans

    async def _plan_body(self, key: str, attrs: Mapping[str, Any]) -> Json:
        body: Json = {
            "Name": key,
            "ProviderID": await self._provider_id(_str(attrs.get("provider"))),
            "DisplayName": _str(attrs.get("displayName")),
            "Description": _str(attrs.get("description")),
            "AutoApproveAccessRequests": bool(attrs.get("autoApprove")),
            "KeyExpiresIn": int(attrs.get("keyExpiresIn") or 0),
        }
        rate = attrs.get("rateLimit")
        if rate:
            body.update(RateLimit=rate["requests"], Per=rate["per"], UnlimitedRateLimit=False)
        else:
            body["UnlimitedRateLimit"] = True
        quota = attrs.get("quota")
        if quota:
            body.update(Quota=quota["requests"], QuotaRenewalRate=quota["renewal"])
            body["UnlimitedQuota"] = False
        else:
            body["UnlimitedQuota"] = True
        return body

    async def _create_plan(self, key: str, attrs: Mapping[str, Any]) -> str:
        what = f"plan {_q(key)}"
        body = await self._plan_body(key, attrs)
        reply = await self.api.portal.create("/plans", body, what=what)
        plan_id = self._new_id(reply, what)
        self._ix.plans[key] = plan_id
        reference = _str(reply.get("ReferenceID")) or _str(
            (await self.api.portal.get(f"/plans/{plan_id}", what=what)).get("ReferenceID")
        )
        await self._put_policy(
            _str(attrs.get("provider")), key, "plan", reference, attrs.get("policy")
        )
        return str(plan_id)

    async def _update_plan(self, live: LiveObject, attrs: Mapping[str, Any]) -> None:
        what = f"plan {_q(live.key)}"
        self._refuse_provider_change(live, attrs, what)
        current = await self.api.portal.get(f"/plans/{live.id}", what=what)
        body = await self._plan_body(live.key, attrs)
        catalogues = current.get("Catalogues")
        if isinstance(catalogues, list) and catalogues:
            ids = [as_int(c) for c in catalogues if not isinstance(c, str)]
            names = [c for c in catalogues if isinstance(c, str)]
            body["Catalogues"] = sorted(
                {i for i in ids if i is not None}
            ) + await self._catalogue_ids(names)
        for keep in ("JWTScope", "MetaData", "CID"):
            if current.get(keep):
                body[keep] = current[keep]
        await self.api.portal.update(f"/plans/{live.id}", body, what=what)
        reference = _str(current.get("ReferenceID"))
        await self._put_policy(
            _str(attrs.get("provider")), live.key, "plan", reference, attrs.get("policy")
        )

    # backing policies

    async def _put_policy(
        self, provider: str, name: str, kind: str, reference: str, policy: Any
    ) -> None:
        """Bring the Dashboard policy behind a product/plan to the canonical ``policy``."""
        if not isinstance(policy, Mapping):
            return
        what = f"policy of {kind} {_q(name)}"
        if not reference:
            raise BackendError(
                "the portal created no backing policy (empty ReferenceID); "
                "portal >= 1.13 creates one for every product and plan",
                operation=f"update {what}",
            )
        dash = self.dashboard_for(provider)
        try:
            current: Json | None = await dash.get_policy(reference, what=what)
        except NotFoundError:
            current = None  # deleted in the Dashboard: recreate it under the same _id
        body: Json = (
            dict(current)
            if current
            else {
                "_id": reference,
                "id": reference,
                "name": name,
                "active": True,
                "is_inactive": False,
                "state": "active",
            }
        )
        partitions = dict(body.get("partitions") or {})
        partitions.update({k: bool(v) for k, v in (policy.get("partitions") or {}).items()})
        partitions["per_api"] = False  # cannot be combined with the other partitions
        body["partitions"] = partitions
        tags = [t for t in body.get("tags") or [] if isinstance(t, str)]
        body["tags"] = sorted(set(tags) | {MANAGED_POLICY_TAG})
        if kind == "product":
            body["access_rights"] = self._access_rights(
                policy.get("accessRights") or [], body.get("access_rights")
            )
        else:
            body["rate"] = policy.get("rate", -1)
            body["per"] = policy.get("per", -1)
            body["quota_max"] = policy.get("quotaMax", -1)
            body["quota_renewal_rate"] = policy.get("quotaRenewalRate", -1)
            body["key_expires_in"] = policy.get("keyExpiresIn", 0)
        if current is None:
            await dash.create_policy(body, what=what)
        else:
            await dash.update_policy(reference, body, what=what)

    @staticmethod
    def _access_rights(rights: Iterable[Mapping[str, Any]], current: Any) -> Json:
        existing = current if isinstance(current, Mapping) else {}
        out: Json = {}
        for right in rights:
            api_id = str(right["apiId"])
            entry = dict(existing.get(api_id) or {})
            entry.setdefault("api_name", "")
            entry["api_id"] = api_id
            entry["versions"] = list(right.get("versions") or [])
            entry["allowed_urls"] = [
                {"url": u["url"], "methods": list(u["methods"])}
                for u in right.get("allowedUrls") or []
            ]
            out[api_id] = entry
        return out

    # catalogues

    async def _catalogue_body(self, key: str, attrs: Mapping[str, Any]) -> Json:
        products = await self._product_ids(attrs.get("products") or [])
        plans = await self._plan_ids(attrs.get("plans") or [])
        return {
            "Name": key,
            "VisibilityStatus": "Public" if attrs.get("visibility") == "public" else "Private",
            # null clears the list (Catalogue-update in the spec)
            "Products": products or None,
            "Plans": plans or None,
        }

    async def _create_catalogue(self, key: str, attrs: Mapping[str, Any]) -> str:
        what = f"catalogue {_q(key)}"
        body = await self._catalogue_body(key, attrs)
        body = {k: v for k, v in body.items() if v is not None}
        reply = await self.api.portal.create("/catalogues", body, what=what)
        cat_id = self._new_id(reply, what)
        self._ix.catalogues[key] = cat_id
        await self._sync_audiences(cat_id, key, attrs.get("audience") or [], fresh=True)
        return str(cat_id)

    async def _update_catalogue(self, live: LiveObject, attrs: Mapping[str, Any]) -> None:
        what = f"catalogue {_q(live.key)}"
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
            org = _str(entry.get("organisation"))
            team = _str(entry.get("team"))
            pair = (await self._org_id(org), await self._team_id(org, team))
            want[pair] = team_key(org, team or default_team_name(org))
        have: dict[tuple[int, int], list[int]] = {}
        for aud in [] if fresh else await portal.list_audiences(cat_id, name):
            pair = (as_int(aud.get("OrganisationID")) or 0, as_int(aud.get("TeamID")) or 0)
            have.setdefault(pair, []).append(int(aud["ID"]))
        jobs: list[Awaitable[Any]] = []
        for pair, label in sorted(want.items()):
            if pair not in have:
                jobs.append(
                    portal.create(
                        f"/catalogues/{cat_id}/audiences",
                        {"OrganisationID": pair[0], "TeamID": pair[1]},
                        what=f"audience {_q(label)} of catalogue {_q(name)}",
                    )
                )
        for pair, ids in sorted(have.items()):
            extra = ids if pair not in want else ids[1:]
            for aud_id in extra:
                jobs.append(
                    self._delete_quietly(
                        f"/catalogues/{cat_id}/audiences/{aud_id}",
                        f"audience {aud_id} of catalogue {_q(name)}",
                    )
                )
        await asyncio.gather(*jobs)

    async def _delete_quietly(self, path: str, what: str) -> None:
        with contextlib.suppress(NotFoundError):
            await self.api.portal.delete(path, what=what)

    # access requests

    async def _find_app(self, user_id: int, app_name: str) -> Json | None:
        """The consumer's app by (user, name): from the index of the last read (kept current
        by creates), listed instead when there was no read or a create of it had no answer."""
        key = (user_id, app_name)
        if self._ix.apps is not None and key not in self._app_attempts:
            return self._ix.apps.get(key)
        apps = [
            a
            for a in await self.api.portal.list_apps()
            if as_int(a.get("UserID")) == user_id and _name(a) == app_name
        ]
        found = min(apps, key=lambda a: int(a["ID"])) if apps else None
        if found is not None and self._ix.apps is not None:
            self._ix.apps[key] = found
            self._app_attempts.discard(key)
        return found

    async def _ensure_app(self, user_id: int, app: Mapping[str, Any], consumer: str) -> int:
        """The consumer's app by (user, name): created if missing, description/URLs updated."""
        name = _str(app.get("name"))
        what = f"app {_q(name)} of {consumer}"
        body: Json = {
            "Name": name,
            "Description": _str(app.get("description")),
            "RedirectURLs": ",".join(sorted(app.get("redirectUrls") or [])),
            "UserID": user_id,
        }
        current = await self._find_app(user_id, name)
        if current is None:
            self._app_attempts.add((user_id, name))
            reply = await self.api.portal.create("/apps", body, what=what)
            app_id = self._new_id(reply, what)
            self._new_apps.add(app_id)
            if self._ix.apps is not None:
                self._ix.apps[(user_id, name)] = {**body, "ID": app_id}
                self._app_attempts.discard((user_id, name))
            return app_id
        app_id = int(current["ID"])
        if _str(current.get("Description")) != body["Description"] or _redirect_urls(
            current.get("RedirectURLs")
        ) != sorted(app.get("redirectUrls") or []):
            await self.api.portal.update(f"/apps/{app_id}", body, what=what)
            current.update(Description=body["Description"], RedirectURLs=body["RedirectURLs"])
        return app_id

    @staticmethod
    def _matches(request: Mapping[str, Any], attrs: Mapping[str, Any], products: set[str]) -> bool:
        catalogue = _str(request.get("Catalogue"))
        return (
            _str(request.get("Plan")) == attrs.get("plan")
            and set(parse_names(request.get("Products"), products))
            == set(attrs.get("products") or [])
            and (not catalogue or catalogue == attrs.get("catalogue"))
        )

    async def _create_access_request(self, key: str, attrs: Mapping[str, Any]) -> str:
        """App (found or created) -> provision -> find the new request -> approve/reject.

        Re-running converges: a matching request already on the app (pending, or already
        decided as wanted) is reused instead of provisioning a duplicate.
        """
        what = f"access request {_q(key)}"
        portal = self.api.portal
        consumer = _str(attrs.get("consumer"))
        user_id = await self._user_id(consumer)
        app = attrs.get("app") or {}
        app_id = await self._ensure_app(user_id, app, consumer)
        app_label = _str(app.get("name"))
        wanted = set(attrs.get("products") or [])
        status = _str(attrs.get("status")) or "approved"
        # an app this process just created has no requests yet (a retry lists them again)
        fresh = app_id in self._new_apps
        self._new_apps.discard(app_id)
        before = [] if fresh else await portal.list_app_access_requests(app_id, app_label)
        # a request for a plan that auto-approves is approved as it is filed: one meant to be
        # rejected and interrupted before the rejection is found approved, and is rejected
        # now (filing another would leave that approval, and its credential, behind)
        usable = {"pending", status} | ({"approved"} if status == "rejected" else set())
        reusable = [
            r for r in before if self._matches(r, attrs, wanted) and _str(r.get("Status")) in usable
        ]
        if reusable:
            request = max(reusable, key=lambda r: (_str(r.get("Status")) == status, int(r["ID"])))
        else:
            body = {
                "PlanID": (await self._plan_ids([_str(attrs.get("plan"))]))[0],
                "ProductIDs": await self._product_ids(wanted),
                "CatalogueID": (await self._catalogue_ids([_str(attrs.get("catalogue"))]))[0],
            }
            # never retried blindly: a provision whose reply is lost has filed a request, and
            # a second would file another; the engine's retry lists the app's requests first
            await portal.action(
                f"/apps/{app_id}/provision",
                verb="provision",
                what=what,
                body=body,
                idempotent=False,
            )
            # the provision reply carries no id: the new request is the one that was not there
            seen = {as_int(r.get("ID")) for r in before}
            after = await portal.list_app_access_requests(app_id, app_label)
            new = [r for r in after if as_int(r.get("ID")) not in seen]
            matching = [r for r in new if self._matches(r, attrs, wanted)] or new
            if not matching:
                raise ServerError(
                    "the portal accepted the request but it is not on the app",
                    operation=f"provision {what}",
                )
            request = max(matching, key=lambda r: int(r["ID"]))
        request_id = str(request["ID"])
        self._session_requests[request_id] = key
        await self._decide(request_id, _str(request.get("Status")), status, what)
        return request_id

    async def _decide(self, request_id: str, current: str, wanted: str, what: str) -> None:
        if wanted == current or wanted not in ("approved", "rejected"):
            return
        verb = "approve" if wanted == "approved" else "reject"
        await self.api.portal.action(f"/access_requests/{request_id}/{verb}", verb=verb, what=what)

    async def _update_access_request(self, live: LiveObject, attrs: Mapping[str, Any]) -> None:
        """A decision on a live request (other changes are replaced by the plan)."""
        what = f"access request {_q(live.key)}"
        app = attrs.get("app") or {}
        live_app = live.attrs.get("app") or {}
        if app.get("name") == live_app.get("name") and (
            app.get("description"),
            list(app.get("redirectUrls") or []),
        ) != (live_app.get("description"), list(live_app.get("redirectUrls") or [])):
            consumer = _str(attrs.get("consumer"))
            await self._ensure_app(await self._user_id(consumer), app, consumer)
        current = _str(live.attrs.get("status"))
        wanted = _str(attrs.get("status"))
        if current != "pending" and wanted != current and wanted == "pending":
            raise ValidationFailed(
                f"a {current} request cannot become pending again", operation=f"update {what}"
            )
        await self._decide(live.id, current, wanted, what)

    # ---------------------------------------------------------------- managed record

    async def _find_policy(self, dash: DashboardApi, name: str) -> Json | None:
        """A policy by exact name: one search, not a listing of every policy (a Dashboard
        without the search endpoint gets the full listing)."""
        try:
            found = await dash.find_policies(name)
        except (NotFoundError, ValidationFailed):
            found = [p for p in await dash.list_policies(at_once=True) if p.get("name") == name]
        return found[0] if found else None

    async def read_managed(self) -> ManagedRecord:
        conn = await self._record_conn()
        if conn is None:
            return ManagedRecord()
        policy = await self._find_policy(self.api.dashboard(conn), STATE_POLICY)
        self._state_policy_id = _str(policy.get("_id")) if policy else None
        return decode_record(policy)

    async def write_managed(self, record: ManagedRecord) -> None:
        dash = await self._record_dashboard()
        what = f"managed record ({STATE_POLICY} policy)"
        body = _bookkeeping_policy(
            STATE_POLICY, {"format": RECORD_FORMAT, "record": encode_record(record)}
        )
        if self._state_policy_id is None:
            existing = await self._find_policy(dash, STATE_POLICY)
            self._state_policy_id = _str(existing.get("_id")) if existing else None
        if self._state_policy_id:
            try:
                await dash.update_policy(self._state_policy_id, body, what=what)
                return
            except NotFoundError:
                self._state_policy_id = None
        retry = self.api.retry
        for attempt in range(max(1, retry.attempts)):
            try:
                self._state_policy_id = await dash.create_policy(body, what=what)
                break
            except (ConflictError, TransportError, ServerError, RateLimitedError) as exc:
                # created concurrently, or by this very POST whose reply was lost
                existing = await self._find_policy(dash, STATE_POLICY)
                if existing is not None:
                    self._state_policy_id = _str(existing.get("_id"))
                    await dash.update_policy(self._state_policy_id, body, what=what)
                    break
                if isinstance(exc, ConflictError) or attempt + 1 >= retry.attempts:
                    raise
                await retry.sleep(retry.delay(attempt, exc))
        self._record_ids = {
            live_id: key
            for (kind, key), live_id in record.objects.items()
            if kind == "AccessRequest"
        }

    # ---------------------------------------------------------------- apply lock

    async def acquire_lock(self, holder: str, ttl_seconds: float) -> LockInfo:
        """Create the lock policy; Dashboard policy names are unique, so creation is the mutex.

        An expired lease is taken over: the stale policy is deleted by ``_id`` and the create
        is tried again (a race between two takers is settled by uniqueness once more).
        """
        dash = await self._record_dashboard()
        what = f"apply lock ({LOCK_POLICY} policy)"
        retry = self.api.retry
        attempts = max(3, retry.attempts)
        for attempt in range(attempts):
            expires_at = self._clock() + ttl_seconds
            body = _bookkeeping_policy(
                LOCK_POLICY, {"holder": holder, "expires_at": _utc(expires_at), **_process()}
            )
            try:
                await dash.create_policy(body, what=what)
                return LockInfo(holder, expires_at)
            except ConflictError:
                pass
            except (TransportError, ServerError, RateLimitedError) as exc:
                # no (clear) answer: the lock may be ours now; look before trying again
                if attempt + 1 >= attempts:
                    raise
                await retry.sleep(retry.delay(attempt, exc))
            current = await self._find_policy(dash, LOCK_POLICY)
            if current is None:
                continue  # released meanwhile: try again
            meta = current.get("meta_data") or {}
            owner = _str(meta.get("holder")) or "an unknown holder"
            until = _parse_epoch(meta.get("expires_at"))
            if owner == holder and until > self._clock():
                # ours already (a re-run in the same process): extend the lease
                await dash.update_policy(_str(current.get("_id")), body, what=what)
                return LockInfo(holder, expires_at)
            if until > self._clock() and not _holder_is_dead(meta):
                raise LockError(
                    f"the apply lock on {self.target} is held by {owner} until {_utc(until)}; "
                    "wait for that apply to finish, or retry after the lease expires"
                )
            log.info("taking over the stale apply lock of %s on %s", owner, self.target)
            with contextlib.suppress(NotFoundError):
                await dash.delete_policy(_str(current.get("_id")), what=what)
        raise LockError(
            f"the apply lock on {self.target} is contended; another apply keeps taking it"
        )

    async def release_lock(self, holder: str) -> None:
        dash = await self._record_dashboard()
        current = await self._find_policy(dash, LOCK_POLICY)
        if current is None:
            return
        meta = current.get("meta_data") or {}
        if _str(meta.get("holder")) != holder:
            return  # not ours (taken over after our lease expired): leave it alone
        with contextlib.suppress(NotFoundError):
            await dash.delete_policy(
                _str(current.get("_id")), what=f"apply lock ({LOCK_POLICY} policy)"
            )


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks since boot) of process ``pid`` from Linux ``/proc``;
    None where that cannot be read (not Linux, or hidden)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            fields = fh.read().rpartition(")")[2].split()
    except OSError:
        return None
    return (fields[0], fields[19]) if len(fields) >= 20 else None


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def _process() -> dict[str, Any]:
    """Who takes the lock, so that a re-run on the same machine can tell a dead holder."""
    pid = os.getpid()
    stat = _proc_stat(pid)
    return {
        "host": socket.gethostname(),
        "pid": pid,
        "pid_namespace": _pid_namespace(),
        "started": stat[1] if stat else "",
    }


def _holder_is_dead(meta: Mapping[str, Any]) -> bool:
    """True only when the lock was taken on this host, in this PID namespace, by a process
    that no longer runs (gone, a zombie, or its PID reused by a process started later).

    A killed apply leaves its lock behind; a re-run on the same machine (a developer's
    laptop, a CI runner re-trying a job) takes it over at once instead of waiting for the
    lease to expire. Locks taken elsewhere are only ever taken over when the lease expires.
    """
    pid = as_int(meta.get("pid"))
    if not pid or pid <= 0 or pid == os.getpid() or meta.get("host") != socket.gethostname():
        return False
    if _str(meta.get("pid_namespace")) != _pid_namespace():
        return False  # another container with the same host name: its PIDs are not ours
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists, owned by another user
        pass
    stat = _proc_stat(pid)
    if stat is None:
        return False  # cannot tell: assume it still runs
    state, started = stat
    recorded = _str(meta.get("started"))
    return state in ("Z", "X") or bool(recorded and started != recorded)


def _label(kind: str) -> str:
    return {"AccessRequest": "access request"}.get(kind, kind.lower())


# --------------------------------------------------------------------------------------------
# factories


def open_tyk(
    portal_url: str,
    portal_token: str,
    dashboards: Mapping[str, DashboardConn],
    *,
    dashboard_url_override: str | None = None,
    timeout: Timeouts | float | None = None,
    parallelism: int = 8,
    transport: httpx.AsyncBaseTransport | None = None,
    insecure: bool = False,
    retry: RetryPolicy | None = None,
    clock: Callable[[], float] = time.time,
) -> PortalBackend:
    """The tyk backend: the portal admin API at ``portal_url`` and the providers' Dashboards."""
    if timeout is None:
        timeouts = Timeouts()
    elif isinstance(timeout, Timeouts):
        timeouts = timeout
    else:
        timeouts = Timeouts(read=float(timeout))
    api = TykApi(
        portal_url,
        portal_token,
        transport=transport,
        timeouts=timeouts,
        parallelism=parallelism,
        retry=retry,
        insecure=insecure,
    )
    return PortalBackend(
        api,
        kind="tyk",
        target=portal_url.rstrip("/"),
        dashboards=dashboards,
        dashboard_url_override=dashboard_url_override,
        clock=clock,
    )
