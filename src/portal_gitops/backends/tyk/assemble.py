"""Assembling one read: the raw replies of the portal and the Dashboards -> the canonical live
state, through each kind's mapping; the index of names and IDs is rebuilt on the way."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from portal_gitops.backends.tyk import mapping
from portal_gitops.backends.tyk.dashboards import DashboardConn, live_conn
from portal_gitops.backends.tyk.docs_mapping import product_docs
from portal_gitops.backends.tyk.ids import Ids, Index
from portal_gitops.backends.tyk.owners import admin_attrs, is_admin
from portal_gitops.backends.tyk.quirks import as_int, name_of, parse_user_ref, text
from portal_gitops.backends.tyk.records import decode_record, merge_records
from portal_gitops.kinds.access_request import applied_once, kept_facts
from portal_gitops.kinds.app import app_key
from portal_gitops.state import (
    ALL_PROVIDERS,
    DEFAULT_ORGANISATION,
    LOCK_POLICY,
    MANAGED_POLICY_TAG,
    STATE_POLICY,
    Key,
    LiveApi,
    LiveObject,
    LiveState,
    team_key,
)

if TYPE_CHECKING:
    from portal_gitops.backends.tyk.dashboards import Dashboards
    from portal_gitops.backends.tyk.read import Raw
    from portal_gitops.backends.tyk.records import Records

Json = dict[str, Any]
_NOTHING_RECORDED: Mapping[str, Any] = MappingProxyType({})  # shared by most objects


def held_names(
    raw: Raw, dashboards: Dashboards, providers: Iterable[str]
) -> dict[str, dict[str, str]]:
    """Policies on the providers' Dashboards that hold a name for nothing: no product or
    plan references them and portal-gitops does not manage them (REFERENCE §9: a policy
    left behind keeps its name; the tool removes its own at apply)."""
    referenced = {text(o.get("ReferenceID")) for o in (*raw.products, *raw.plans)} - {""}
    on: dict[DashboardConn, list[str]] = {}
    for provider in providers:
        conn = dashboards.conn(provider)
        if conn is not None and conn in raw.policies:
            on.setdefault(conn, []).append(provider)
    held: dict[str, dict[str, str]] = {}
    for conn, names in on.items():
        for policy in _each_policy(raw.policies[conn]):
            name, pid = text(policy.get("name")), text(policy.get("_id"))
            if (
                not name
                or name in (STATE_POLICY, LOCK_POLICY)
                or MANAGED_POLICY_TAG in (policy.get("tags") or [])
                or pid in referenced
                or text(policy.get("id")) in referenced
            ):
                continue
            for provider in names:
                held.setdefault(name, {})[provider] = pid
    return held


_HEAD = ("_id", "id", "name", "tags")  # what a read looks at in every policy


class PolicyTexts(Mapping[str, Json]):
    """Policies by ``_id`` and by ``id`` as ``policies_by_id`` has them, each kept as its
    JSON text and decoded anew when looked up (a product's or plan's own, once).

    A read looks at four fields of every policy (``heads``) and at all of only those a
    product or plan references: decoded and held whole, the policies of a large estate took
    more memory than the live state built from them.
    """

    def __init__(self, texts: Iterable[str]) -> None:
        self._texts: list[str] = []
        self._heads: list[Json] = []
        self._at: dict[str, int] = {}
        for raw in texts:
            policy = json.loads(raw)
            at = len(self._texts)
            self._texts.append(raw)
            self._heads.append({k: policy[k] for k in _HEAD if k in policy})
            for key in ("_id", "id"):
                if isinstance(policy.get(key), str) and policy[key]:
                    self._at.setdefault(policy[key], at)

    def __getitem__(self, key: str) -> Json:
        decoded: Json = json.loads(self._texts[self._at[key]])
        return decoded

    def __contains__(self, key: object) -> bool:
        return key in self._at

    def __iter__(self) -> Iterator[str]:
        return iter(self._at)

    def __len__(self) -> int:
        return len(self._at)

    def heads(self) -> Iterator[Json]:
        """Each policy that has an ID once, with only its ``_id``, ``id``, name and tags."""
        return (self._heads[at] for at in dict.fromkeys(self._at.values()))

    def named(self, name: str) -> Json | None:
        """The first policy (of all, with an ID or not) called ``name``, decoded."""
        at = next((i for i, head in enumerate(self._heads) if head.get("name") == name), None)
        return None if at is None else dict(json.loads(self._texts[at]))


def _each_policy(policies: Mapping[str, Json]) -> Iterable[Json]:
    """Each policy once (a mapping by ``_id`` and by ``id`` holds most twice); of policies
    kept as text, only the fields ``held_names`` looks at."""
    if isinstance(policies, PolicyTexts):
        return policies.heads()
    return {id(p): p for p in policies.values()}.values()


def assemble(raw: Raw, ids: Ids, dashboards: Dashboards, records: Records) -> LiveState:
    """Raw replies -> canonical live state; the index is rebuilt from them.

    ``raw`` is used up: each list of replies is emptied once translated, so that a large read
    never holds all the replies and all the live state at once (the replies took more
    memory than what is kept of them)."""
    ix = Index(tags=ids.ix.tags)
    record = merge_records([decode_record(p) for p in (raw.record_policy, *raw.more_records)])
    records.state_policy_id = text(raw.record_policy.get("_id")) if raw.record_policy else None
    ids.remember_requests(record.objects)
    objects: dict[Key, LiveObject] = {}

    def add(
        kind: str,
        key: str,
        live_id: Any,
        attrs: Json,
        builtin: bool = False,
        recorded: Json | None = None,
    ) -> None:
        managed = (kind, key) in record.objects
        objects[(kind, key)] = LiveObject(
            kind, key, str(live_id), attrs, managed, builtin, recorded or _NOTHING_RECORDED
        )

    provider_names: dict[int, str] = {}
    for p in raw.providers:
        name = name_of(p)
        provider_names[int(p["ID"])] = name
        ix.providers[name] = int(p["ID"])
        conn = live_conn(p)
        if conn is not None:
            ids.api.add_secret(conn.secret)
            ix.provider_conns[name] = conn
        add("Provider", name, p["ID"], mapping.provider_attrs(p))
    held = held_names(raw, dashboards, provider_names.values())

    org_names: dict[int, str] = {}
    team_names: dict[int, tuple[str, str]] = {}
    default_team_ids: set[int] = set()
    for org in raw.orgs:
        org_name, org_id = name_of(org), int(org["ID"])
        org_names[org_id] = org_name
        ix.orgs[org_name] = org_id
        add("Organisation", org_name, org_id, {}, builtin=org_name == DEFAULT_ORGANISATION)
        for team in raw.teams.get(org_id, []):
            team_id, team_name = int(team["ID"]), name_of(team)
            default = mapping.is_default_team(org_name, team)
            team_names[team_id] = (org_name, team_name)
            ix.teams[(org_name, team_name)] = team_id
            if default:
                default_team_ids.add(team_id)
                ix.default_teams.setdefault(org_name, team_id)
            add(
                "Team",
                team_key(org_name, team_name),
                f"{org_id}/{team_id}",
                mapping.team_attrs(org_name, team_name),
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
    for user in _used_up(raw.users):
        user_id = int(user["ID"])
        email = text(user.get("Email"))
        emails[user_id] = email
        org_name = org_names.get(as_int(user.get("OrganisationID")) or 0) or text(
            user.get("Organisation")
        )
        user_orgs[user_id] = org_name
        if is_admin(user):
            # an admin the tool did not make (the portal's first admin, whose token this may
            # be) is never touched, listed or imported: like a built-in
            builtin = ("AdminUser", email) not in record.objects
            add("AdminUser", email, user_id, admin_attrs(user), builtin=builtin)
            continue
        if not mapping.is_consumer(user):
            continue  # a role the tool does not know is never touched
        ix.users[email] = user_id
        teams = memberships.get(user_id, ())
        default_members = raw.team_users.get(ix.default_teams.get(org_name, 0))
        in_default = default_members is None or user_id in default_members
        attrs = mapping.user_attrs(user, org_name, teams, in_default_team=in_default)
        add("User", email, user_id, attrs)
    raw.users, raw.team_users, raw.teams = [], {}, {}

    product_names: dict[int, str] = {}
    policies_of: dict[str, Mapping[str, Json] | None] = {}  # provider -> its policies
    for product in _used_up(raw.products):
        name = name_of(product)
        product_names[int(product["ID"])] = name
        ix.products[name] = int(product["ID"])
        provider = provider_names.get(as_int(product.get("ProviderID")) or 0, "")
        policy = _policy(dashboards, raw, provider, text(product.get("ReferenceID")), policies_of)
        add("Product", name, product["ID"], mapping.product_attrs(product, provider, policy))
        for kind, key, live_id, attrs in product_docs(product, raw.posts, record):
            add(kind, key, live_id, attrs)
    raw.products, raw.posts = [], {}

    plan_names: dict[int, str] = {}
    for plan in raw.plans:
        name = name_of(plan)
        plan_names[int(plan["ID"])] = name
        ix.plans[name] = int(plan["ID"])
        provider = provider_names.get(as_int(plan.get("ProviderID")) or 0, "")
        policy = _policy(dashboards, raw, provider, text(plan.get("ReferenceID")), policies_of)
        add("Plan", name, plan["ID"], mapping.plan_attrs(plan, provider, policy))
    raw.plans, raw.policies = [], {}
    policies_of.clear()

    for cat in raw.catalogues:
        name = name_of(cat)
        cat_id = int(cat["ID"])
        ix.catalogues[name] = cat_id
        audience = [
            mapping.audience_entry(aud, org_names, team_names, default_team_ids)
            for aud in raw.audiences.get(cat_id, [])
        ]
        attrs = mapping.catalogue_attrs(cat, audience, product_names, plan_names)
        add("Catalogue", name, cat_id, attrs, builtin=name in mapping.BUILTIN_CATALOGUES)

    apps_by_owner: dict[tuple[int, str], list[Json]] = {}
    for item in raw.apps:
        owner = (as_int(item.get("UserID")) or 0, name_of(item))
        apps_by_owner.setdefault(owner, []).append(item)
    for (user_id, app_name), items in apps_by_owner.items():
        email = emails.get(user_id, f"User#{user_id}")
        # the portal keeps names per user loosely: a second app of one name is shown apart
        for i, item in enumerate(sorted(items, key=lambda a: int(a["ID"]))):
            key = app_key(email, app_name) + ("" if i == 0 else f" #{item['ID']}")
            add("App", key, item["ID"], mapping.app_attrs(item, email))
    known_products = set(product_names.values())
    for req in raw.requests:
        req_id = str(req.get("ID"))
        user_id = parse_user_ref(req.get("User")) or 0
        key = ids.request_key(req_id) or f"request-{req_id}"
        consumer = emails.get(user_id, text(req.get("User")))
        organisation = user_orgs.get(user_id, "")
        attrs = mapping.access_request_attrs(req, consumer, organisation, known_products)
        note = record.notes.get(("AccessRequest", key))
        attrs.update(applied_once(note))
        recorded = {"catalogue": mapping.request_catalogue(req), **kept_facts(note)}
        add("AccessRequest", key, req_id, attrs, recorded=recorded)
    ix.apps = {
        owner: min(items, key=lambda a: int(a["ID"])) for owner, items in apps_by_owner.items()
    }
    ids.ix = ix
    raw.requests, raw.apps = [], []
    return LiveState(objects, held, _apis(dashboards, raw, provider_names.values()))


def _used_up(items: list[Json]) -> Iterator[Json]:
    """The items in order, each let go of by the list as it is handed out (the list ends
    empty): a reply is freed as soon as it is translated, not with its whole list."""
    items.reverse()
    while items:
        yield items.pop()


def _apis(
    dashboards: Dashboards, raw: Raw, live_providers: Iterable[str]
) -> dict[str, dict[str, LiveApi]]:
    """The APIs on each provider's Dashboard, by provider name (ALL_PROVIDERS: the fixed
    Dashboard behind every provider)."""
    fixed = dashboards.fixed
    if fixed is not None:
        return {ALL_PROVIDERS: raw.apis[fixed]} if fixed in raw.apis else {}
    out: dict[str, dict[str, LiveApi]] = {}
    for name in (*live_providers, *dashboards.configured):
        conn = dashboards.conn(name)
        if conn is not None and conn in raw.apis:
            out[name] = raw.apis[conn]
    return out


def _policy(
    dashboards: Dashboards,
    raw: Raw,
    provider: str,
    reference: str,
    policies_of: dict[str, Mapping[str, Json] | None],
) -> Json | None:
    """The policy ``reference`` on the provider's Dashboard (``policies_of`` remembers
    which policies that is, per provider, for the rest of the read)."""
    if not reference:
        return None
    if provider not in policies_of:
        conn = dashboards.conn(provider) if provider else None
        policies_of[provider] = raw.policies.get(conn) if conn is not None else None
    policies = policies_of[provider]
    if policies is not None:
        return policies.get(reference)
    for every in raw.policies.values():  # provider unknown: any Dashboard we read
        if reference in every:
            return every[reference]
    return None
