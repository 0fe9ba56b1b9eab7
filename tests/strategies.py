"""Hypothesis strategies for manifests: ``estates()`` draws a VALID estate of varying size.

An estate is a list of manifest dicts (plain YAML/JSON data, as a user would write them) that
passes every rule of validate.py with no errors: references resolve, names are unique, a
catalogue's products and plans share one provider, every request's consumer is in its
catalogue's audience, members belong to one organisation and agree wherever listed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from portal_gitops.state import Content

API_VERSION = "portal-gitops/v1"

# Names: no slashes, no outer spaces; YAML-ambiguous words ("yes", "null", "1.5") on purpose.
_NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_name_core = st.text(alphabet=_NAME_CHARS + " ._-", min_size=0, max_size=12)
names = st.one_of(
    st.builds(
        lambda a, mid, b: f"{a}{mid}{b}",
        st.sampled_from(_NAME_CHARS),
        _name_core,
        st.sampled_from(_NAME_CHARS),
    ),
    st.sampled_from(["yes", "no", "null", "true", "1.5", "0x10", "2024-01-01", "~", "on"]),
)
# Free text: letters, digits, punctuation, symbols, spaces and newlines (YAML must quote some).
texts = st.text(
    alphabet=st.characters(
        categories=("L", "N", "P", "S", "Zs"), exclude_characters="\x85\u2028\u2029\ufeff"
    )
    | st.just("\n"),
    max_size=40,
)
positive = st.integers(min_value=1, max_value=2**31 - 1)
owners = st.lists(
    st.sampled_from(["@weatherco/api-platform", "@weatherco/sre", "@alice", "ops@example.com"]),
    max_size=2,
    unique=True,
)
labels = st.dictionaries(st.sampled_from(["env", "team", "tier"]), st.sampled_from(["a", "b"]))
api_ids = st.text(alphabet=_NAME_CHARS + "_.:-", min_size=1, max_size=12)

# Strategies built once: hypothesis validates each new strategy object, which dominates the
# cost of drawing an estate when they are built inside it.
BOOL = st.booleans()
INDEX = st.integers(min_value=0, max_value=2**16)
MASK = st.integers(min_value=0, max_value=2**16 - 1)
USERS_PER_ORG = st.integers(1, 3)
_lists_of_names: dict[tuple[int, int], Any] = {}
GUIDE_TITLES = ["Getting started", "Limits & quotas", "Errors", "Über uns"]
markdown = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=40,
)


def openapi_document(api_id: str) -> bytes:
    """The OpenAPI document a generated ``openapi`` path names (``documents_of``)."""
    doc = {"openapi": "3.0.3", "info": {"title": api_id, "version": "1"}, "paths": {}}
    return json.dumps(doc).encode()


def documents_of(docs: Iterable[dict[str, Any]]) -> dict[tuple[str, str], Content]:
    """The OpenAPI documents generated products name, as documents.py reads them."""
    return {
        (d["metadata"]["name"], api["openapi"]): Content(openapi_document(api["apiId"]))
        for d in docs
        if d["kind"] == "Product"
        for api in d["spec"]["apis"]
        if "openapi" in api
    }


def write_documents(docs: Iterable[dict[str, Any]], manifests: Path) -> None:
    """Write the OpenAPI documents generated products name, beside their manifests."""
    for (_, path), content in documents_of(docs).items():
        target = manifests / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.data)


_fixed: dict[str, Any] = {
    "dashboardUrl": st.sampled_from(["http://dash:3000", "https://d.example.com"]),
    "secret": st.sampled_from([{"fromEnv": "TYK_SECRET"}, {"fromFile": "secrets/dashboard"}]),
    "orgId": st.sampled_from(["5e9d9544a1dcd60001d0ed20", "org-1"]),
    "gatewayUrl": st.just("http://gw:8080"),
    "policyTags": st.lists(st.sampled_from(["a", "b"]), unique=True),
    "orgSpec": st.sampled_from([None, {}]),
    "role": st.sampled_from(["admin", "member"]),
    "apiIds": st.lists(api_ids, min_size=1, max_size=3, unique=True),
    "oasUrl": st.sampled_from(["https://docs.example.com/a.yaml", "http://x.example/o.json"]),
    "versions": st.lists(st.sampled_from(["v1", "v2", "Default"]), unique=True),
    "allowedUrls": st.lists(
        st.fixed_dictionaries(
            {
                "url": st.sampled_from(["/a", "/b/{id}", "/.*"]),
                "methods": st.lists(
                    st.sampled_from(["GET", "POST", "DELETE"]), min_size=1, unique=True
                ),
            }
        ),
        max_size=2,
        unique_by=lambda u: u["url"],
    ),
    "tags": st.lists(st.sampled_from(["x", "y"]), unique=True),
    "rateLimit": st.fixed_dictionaries({"requests": positive, "per": positive}),
    "quota": st.fixed_dictionaries({"requests": positive, "renewal": positive}),
    "visibility": st.sampled_from(["public", "private"]),
    "redirectUrls": st.lists(st.just("https://cb.example/x"), max_size=1),
    "appVisibility": st.sampled_from(["personal", "team", "organisation"]),
    "expires": st.dates(dt.date(2020, 1, 1), dt.date(2040, 1, 1)).map(str),
    "decision": st.sampled_from(["approve", "reject"]),
    "rotate": st.sampled_from(["2026-11", "ticket 42"]),
    "revokeCredentials": st.lists(st.sampled_from(["7", "12", "300"]), min_size=1, unique=True),
}


def _pick(draw: st.DrawFn, items: list[Any]) -> Any:
    return items[draw(INDEX) % len(items)]


def _subset(draw: st.DrawFn, items: list[Any], min_size: int = 0) -> list[Any]:
    mask = draw(MASK)
    chosen = [item for i, item in enumerate(items) if mask >> (i % 16) & 1]
    if len(chosen) < min_size and items:
        chosen = [_pick(draw, items)]
    return chosen


def _doc(kind: str, name: str, spec: dict[str, Any] | None, meta: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": name}}
    doc["metadata"].update(meta)
    if spec is not None:
        doc["spec"] = spec
    return doc


def _optional(draw: st.DrawFn, out: dict[str, Any], key: str, strategy: Any) -> None:
    if draw(BOOL):
        out[key] = draw(strategy)


RESERVED_POLICY_NAMES = frozenset({"portal-gitops-state", "portal-gitops-lock"})


@st.composite
def estates(draw: st.DrawFn, max_objects: int = 4) -> list[dict[str, Any]]:
    """A valid estate with up to ``max_objects`` objects of each kind (teams per organisation)."""
    n = max_objects
    docs: list[dict[str, Any]] = []

    def unique_names(
        count_max: int, min_size: int = 0, avoid: frozenset[str] = frozenset()
    ) -> list[str]:
        key = (min_size, count_max)
        if key not in _lists_of_names:
            _lists_of_names[key] = st.lists(
                names, min_size=min_size, max_size=count_max, unique=True
            )
        drawn = [name for name in draw(_lists_of_names[key]) if name not in avoid]
        return drawn or ([f"x{len(avoid)}"] if min_size else [])

    def meta() -> dict[str, Any]:
        out: dict[str, Any] = {}
        _optional(draw, out, "labels", labels)
        return out

    # providers
    providers = unique_names(max(1, n // 2), min_size=1)
    for name in providers:
        spec: dict[str, Any] = {
            "type": "tyk-pro",
            "dashboardUrl": draw(_fixed["dashboardUrl"]),
            "secret": draw(_fixed["secret"]),
            "orgId": draw(_fixed["orgId"]),
        }
        for key in ("gatewayUrl", "policyTags"):
            _optional(draw, spec, key, _fixed[key])
        _optional(draw, spec, "insecureSkipVerify", BOOL)
        docs.append(_doc("Provider", name, spec, meta()))

    # organisations, their users (one organisation each) and teams
    organisations = unique_names(n, min_size=1, avoid=frozenset({"Default Organisation"}))
    members_of: dict[str, list[dict[str, Any]]] = {}  # org -> users
    teams_of: dict[str, list[str]] = {}
    user_no = 0
    for org in organisations:
        docs.append(_doc("Organisation", org, draw(_fixed["orgSpec"]), meta()))
        users = []
        for _ in range(draw(USERS_PER_ORG)):
            user_no += 1
            user: dict[str, Any] = {"email": f"user{user_no}@example.com"}
            _optional(draw, user, "role", _fixed["role"])
            _optional(draw, user, "first", texts)
            _optional(draw, user, "last", texts)
            _optional(draw, user, "sso", st.sampled_from(["okta", "github"]))
            users.append(user)
        members_of[org] = []
        teams = unique_names(max(1, n // 2), min_size=1, avoid=frozenset({f"{org} All users"}))
        teams_of[org] = teams
        for team in teams:
            chosen = _subset(draw, users, min_size=1) if users else []
            members_of[org].extend(u for u in chosen if u not in members_of[org])
            spec = {"organisation": org}
            if chosen or draw(BOOL):
                spec["members"] = [dict(u) for u in chosen]
            docs.append(_doc("Team", team, spec, meta()))

    # admin users (API owners), named after their email's local part as import names them
    admins = []
    for k in range(draw(st.integers(0, 2))):
        name = f"owner{k + 1}"
        admin: dict[str, Any] = {"email": f"{name}@example.com"}
        _optional(draw, admin, "role", st.sampled_from(["provider-admin", "super-admin"]))
        _optional(draw, admin, "first", texts)
        _optional(draw, admin, "last", texts)
        _optional(draw, admin, "sso", st.sampled_from(["okta", "github"]))
        _optional(draw, admin, "github", st.sampled_from(["octocat", "@acme/api-owners"]))
        admins.append(name)
        docs.append(_doc("AdminUser", name, admin, meta()))

    def owned_by() -> list[str]:
        return [*draw(owners), *_subset(draw, admins)]

    # products and plans, each from a provider
    products: dict[str, str] = {}
    for name in unique_names(n, min_size=1, avoid=RESERVED_POLICY_NAMES):
        provider = _pick(draw, providers)
        products[name] = provider
        apis = []
        for api_id in draw(_fixed["apiIds"]):
            api: dict[str, Any] = {"apiId": api_id}
            for key in ("versions", "allowedUrls"):
                _optional(draw, api, key, _fixed[key])
            # documentation: an OpenAPI document (tests supply its content as read from the
            # repository: DOCUMENTS) or a URL
            documentation = draw(st.sampled_from(["", "openapi", "oasUrl"]))
            if documentation == "openapi":
                api["openapi"] = f"openapi/{api_id}.json"  # JSON: not read as a manifest
            elif documentation == "oasUrl":
                api["oasUrl"] = draw(_fixed["oasUrl"])
            apis.append(api)
        spec = {"provider": provider, "apis": apis, "owners": owned_by()}
        for key in ("displayName", "description", "content"):
            _optional(draw, spec, key, texts)
        _optional(draw, spec, "tags", _fixed["tags"])
        titles = draw(st.lists(st.sampled_from(GUIDE_TITLES), max_size=3, unique=True))
        if titles:
            guides = []
            for k, title in enumerate(titles):
                guide: dict[str, Any] = {"title": title, "content": draw(markdown)}
                _optional(draw, guide, "path", st.just(f"page-{k}"))  # unique in the product
                _optional(draw, guide, "status", st.sampled_from(["published", "draft", "review"]))
                guides.append(guide)
            spec["guides"] = guides
        docs.append(_doc("Product", name, spec, meta()))
    plans: dict[str, str] = {}
    auto_approving: set[str] = set()
    # a plan may not share a product's name: their Dashboard policies would clash
    for name in unique_names(n, min_size=1, avoid=frozenset(products)):
        provider = _pick(draw, providers)
        plans[name] = provider
        spec = {"provider": provider}
        _optional(draw, spec, "displayName", texts)
        _optional(draw, spec, "description", texts)
        for key in ("rateLimit", "quota"):
            _optional(draw, spec, key, _fixed[key])
        _optional(draw, spec, "keyExpiresIn", positive)
        _optional(draw, spec, "autoApprove", BOOL)
        if spec.get("autoApprove"):
            auto_approving.add(name)
        if draw(BOOL):
            spec["owners"] = owned_by()
        docs.append(_doc("Plan", name, spec, meta()))

    # catalogues: one provider's products and plans each; audiences only on private ones
    catalogues: list[tuple[str, dict[str, Any]]] = []
    offering = sorted(set(products.values()) & set(plans.values())) or providers
    for name in unique_names(n, min_size=1):
        provider = _pick(draw, offering)
        mine = sorted(p for p, v in products.items() if v == provider)
        my_plans = sorted(p for p, v in plans.items() if v == provider)
        spec = {"visibility": draw(_fixed["visibility"])}
        _optional(draw, spec, "displayName", texts)
        if mine:
            spec["products"] = _subset(draw, mine, min_size=1)
        if my_plans:
            spec["plans"] = _subset(draw, my_plans, min_size=1)
        if spec["visibility"] == "private" and organisations:
            audience = []
            for org in _subset(draw, organisations, min_size=1):
                entry: dict[str, Any] = {"organisation": org}
                if teams_of[org] and draw(BOOL):
                    entry["team"] = _pick(draw, teams_of[org])
                audience.append(entry)
            if audience:
                spec["audience"] = audience
        catalogues.append((name, spec))
        docs.append(_doc("Catalogue", name, spec, meta()))

    # access requests: a consumer who can see the catalogue, products and plan it offers
    every_member = [(org, u["email"]) for org, us in members_of.items() for u in us]
    team_members = {
        (d["spec"]["organisation"], d["metadata"]["name"]): {
            m["email"] for m in d["spec"].get("members", [])
        }
        for d in docs
        if d["kind"] == "Team"
    }
    apps: dict[str, list[str]] = {}  # consumer -> names of the App documents they own
    asked: set[tuple[str, str, str]] = set()  # (app, product, plan) asked so far
    inline: dict[str, dict[str, Any]] = {}  # apps the next request describes itself
    for i, name in enumerate(unique_names(n, min_size=1)):
        usable = []
        for cat_name, spec in catalogues:
            if not spec.get("products") or not spec.get("plans"):
                continue
            if spec["visibility"] == "public":
                audience_members = [email for _, email in every_member]
            else:
                audience_members = sorted(
                    {
                        email
                        for org, email in every_member
                        for entry in spec.get("audience", [])
                        if entry["organisation"] == org
                        and ("team" not in entry or email in team_members[(org, entry["team"])])
                    }
                )
            if audience_members:
                usable.append((cat_name, spec, audience_members))
        if not usable:
            break
        cat_name, spec, audience_members = _pick(draw, usable)
        consumer = _pick(draw, audience_members)
        products = _subset(draw, spec["products"], min_size=1)
        plan = _pick(draw, spec["plans"])
        # an app of the consumer's own (several requests may share one), unless it already
        # has a request for one of these products on this plan (the portal keeps one)
        owned = [
            a for a in apps.get(consumer, []) if not any((a, p, plan) in asked for p in products)
        ]
        if owned and draw(st.booleans()):
            app_name = _pick(draw, owned)
        else:
            app_name = f"app {i}"
            app_spec: dict[str, Any] = {"owner": consumer}
            _optional(draw, app_spec, "description", texts)
            _optional(draw, app_spec, "redirectUrls", _fixed["redirectUrls"])
            _optional(draw, app_spec, "visibility", _fixed["appVisibility"])
            if draw(BOOL):  # the earlier form: the request describes the app it declares
                del app_spec["owner"]
                inline[app_name] = {"name": app_name, **app_spec}
            else:
                docs.append(_doc("App", app_name, app_spec, meta()))
            apps.setdefault(consumer, []).append(app_name)
        asked.update((app_name, p, plan) for p in products)
        request: dict[str, Any] = {
            "consumer": consumer,
            "app": inline.pop(app_name, app_name),
            "products": products,
            "plan": plan,
            "catalogue": cat_name,
        }
        _optional(draw, request, "justification", texts)
        for key in ("expires", "decision", "rotate", "revokeCredentials"):
            _optional(draw, request, key, _fixed[key])
        if request.get("decision") == "reject" and request["plan"] in auto_approving:
            del request["decision"]  # refused by validation: the plan approves as it files
        docs.append(_doc("AccessRequest", name, request, meta()))
    return docs
