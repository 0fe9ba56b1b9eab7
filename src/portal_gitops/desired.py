"""Validated manifests -> DesiredState in the canonical form of state.py (pure).

This is the manifests' half of the contract with the backends: whatever a backend reads back
after applying these attrs must compare equal to them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from portal_gitops.models import (
    REQUEST_ID_ANNOTATION,
    AccessRequest,
    Catalogue,
    Manifest,
    Organisation,
    Plan,
    Product,
    Provider,
    Team,
)
from portal_gitops.models.common import secret_ref_label
from portal_gitops.state import (
    PLAN_PARTITIONS,
    PRODUCT_PARTITIONS,
    DesiredState,
    Key,
    Resource,
    Sensitive,
    team_key,
)

SecretResolver = Callable[[str], str | None]
"""Maps a secret reference label (``env:VAR`` / ``file:path``) to its value, or None if unset."""

ROLES = {"admin": "consumer-admin", "member": "consumer-team-member"}


@dataclass(frozen=True)
class Desired:
    """The desired state plus what the diff needs beyond canonical attrs."""

    state: DesiredState
    # access requests whose `expires` date has passed: the plan revokes them
    expired: frozenset[Key] = frozenset()
    # desired key -> live key, for manifests that name an existing live object (pulled requests)
    aliases: Mapping[Key, Key] = field(default_factory=dict)
    # small facts kept in the managed record (e.g. an access request's justification)
    notes: Mapping[Key, Mapping[str, Any]] = field(default_factory=dict)
    # what a reviewer needs beside an access request: the consumer's teams, the plan's limits
    details: Mapping[Key, Mapping[str, Any]] = field(default_factory=dict)


def _no_secret(_: str) -> str | None:
    return None


def product_attrs(spec: Any) -> dict[str, Any]:
    rights = [
        {
            "apiId": api.apiId,
            "versions": sorted(set(api.versions)),
            "allowedUrls": sorted(
                ({"url": u.url, "methods": sorted(set(u.methods))} for u in api.allowedUrls),
                key=lambda u: (u["url"], u["methods"]),
            ),
        }
        for api in spec.apis
    ]
    rights.sort(key=lambda r: r["apiId"])
    return {
        "provider": spec.provider,
        "displayName": spec.displayName,
        "description": spec.description,
        "content": spec.content,
        "tags": sorted(set(spec.tags)),
        "apis": [r["apiId"] for r in rights],
        "policy": {"partitions": dict(PRODUCT_PARTITIONS), "accessRights": rights},
    }


def plan_attrs(spec: Any) -> dict[str, Any]:
    rate = spec.rateLimit
    quota = spec.quota
    expires = spec.keyExpiresIn or 0
    return {
        "provider": spec.provider,
        "displayName": spec.displayName,
        "description": spec.description,
        "autoApprove": spec.autoApprove,
        "keyExpiresIn": expires,
        "rateLimit": {"requests": rate.requests, "per": rate.per} if rate else None,
        "quota": {"requests": quota.requests, "renewal": quota.renewal} if quota else None,
        "policy": {
            "partitions": dict(PLAN_PARTITIONS),
            "rate": rate.requests if rate else -1,
            "per": rate.per if rate else -1,
            "quotaMax": quota.requests if quota else -1,
            "quotaRenewalRate": quota.renewal if quota else -1,
            "keyExpiresIn": expires,
        },
    }


def build_desired(
    manifests: Iterable[Manifest],
    *,
    today: dt.date,
    resolve_secret: SecretResolver = _no_secret,
) -> Desired:
    """Turn validated manifests into canonical resources. Assumes validation passed."""
    resources: dict[Key, Resource] = {}
    expired: set[Key] = set()
    aliases: dict[Key, Key] = {}
    notes: dict[Key, Mapping[str, Any]] = {}
    details: dict[Key, Mapping[str, Any]] = {}
    users: dict[str, dict[str, Any]] = {}
    user_org: dict[str, str] = {}

    def add(kind: str, key: str, attrs: dict[str, Any]) -> None:
        resources[(kind, key)] = Resource(kind, key, attrs)

    manifests = list(manifests)
    for m in manifests:
        name = m.metadata.name
        if isinstance(m, Provider):
            ps = m.spec
            label = secret_ref_label(ps.secret)
            add(
                "Provider",
                name,
                {
                    "type": ps.type,
                    "dashboardUrl": ps.dashboardUrl,
                    "orgId": ps.orgId,
                    "gatewayUrl": ps.gatewayUrl or "",
                    "policyTags": sorted(set(ps.policyTags)),
                    "insecureSkipVerify": ps.insecureSkipVerify,
                    "secret": Sensitive(label, resolve_secret(label)),
                },
            )
        elif isinstance(m, Organisation):
            add("Organisation", name, {})
        elif isinstance(m, Team):
            org = m.spec.organisation
            add("Team", team_key(org, name), {"organisation": org, "name": name})
            for member in m.spec.members:
                user = users.setdefault(
                    member.email,
                    {
                        "organisation": org,
                        "first": member.first,
                        "last": member.last,
                        "role": ROLES[member.role],
                        "teams": [],
                    },
                )
                user_org[member.email] = org
                if member.role == "admin":
                    user["role"] = ROLES["admin"]
                user["first"] = user["first"] or member.first
                user["last"] = user["last"] or member.last
                user["teams"].append(name)
        elif isinstance(m, Product):
            add("Product", name, product_attrs(m.spec))
        elif isinstance(m, Plan):
            add("Plan", name, plan_attrs(m.spec))
        elif isinstance(m, Catalogue):
            cs = m.spec
            audience = sorted({(a.organisation, a.team or "") for a in cs.audience})
            add(
                "Catalogue",
                name,
                {
                    "visibility": cs.visibility,
                    "audience": [{"organisation": o, "team": t} for o, t in audience],
                    "products": sorted(set(cs.products)),
                    "plans": sorted(set(cs.plans)),
                },
            )
    for email, user in users.items():
        user["teams"] = sorted(set(user["teams"]))
        add("User", email, user)
    for m in manifests:
        if not isinstance(m, AccessRequest):
            continue
        name = m.metadata.name
        s = m.spec
        key: Key = ("AccessRequest", name)
        request_id = m.metadata.annotations.get(REQUEST_ID_ANNOTATION)
        if request_id:
            aliases[key] = ("AccessRequest", f"request-{request_id}")
        if s.justification:
            notes[key] = {"justification": s.justification}
        plan = resources.get(("Plan", s.plan))
        details[key] = {
            "teams": list(users.get(s.consumer, {}).get("teams", [])),
            "limits": {k: plan.attrs[k] for k in ("rateLimit", "quota", "keyExpiresIn")}
            if plan is not None
            else {},
        }
        if s.expires is not None and s.expires < today:
            expired.add(key)
            continue
        add(
            "AccessRequest",
            name,
            {
                "consumer": s.consumer,
                "organisation": user_org.get(s.consumer, ""),
                "app": {
                    "name": s.app.name,
                    "description": s.app.description,
                    "redirectUrls": sorted(set(s.app.redirectUrls)),
                },
                "products": sorted(set(s.products)),
                "plan": s.plan,
                "catalogue": s.catalogue,
                "status": "approved" if s.decision == "approve" else "rejected",
            },
        )
    return Desired(DesiredState(resources), frozenset(expired), aliases, notes, details)


__all__ = ["Desired", "build_desired", "plan_attrs", "product_attrs"]
