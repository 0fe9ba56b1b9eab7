"""Plan: a portal plan and the rate-limit/quota-only Dashboard policy behind it.

Canonical form:

Plan          key = name
              {provider, displayName, description, autoApprove, keyExpiresIn (0 = never),
               rateLimit: {requests, per} | None, quota: {requests, renewal} | None,
               policy: {partitions: {acl: false, quota: true, rate_limit: true},
                        active: true, state: "active",
                        rate, per, quotaMax, quotaRenewalRate (-1 = unlimited),
                        keyExpiresIn (0 = never)}}
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any

from portal_gitops.kinds.base import (
    ACTIVE,
    Attrs,
    Building,
    Importing,
    Kind,
    backing_policy,
    by_name,
    on_provider,
)
from portal_gitops.models import Plan
from portal_gitops.state import LiveObject

PARTITIONS = {"acl": False, "quota": True, "rate_limit": True}
MIXED = "its Dashboard policy carries access rights as well as limits (partitions {})"
FILE = PurePosixPath("plans.yaml")


def plan_attrs(spec: Any) -> dict[str, Any]:
    """A plan spec (manifest) -> its canonical attrs."""
    rate = spec.rateLimit
    quota = spec.quota
    attrs: dict[str, Any] = {
        "provider": spec.provider,
        "displayName": spec.displayName,
        "description": spec.description,
        "autoApprove": spec.autoApprove,
        "keyExpiresIn": spec.keyExpiresIn or 0,
        "rateLimit": {"requests": rate.requests, "per": rate.per} if rate else None,
        "quota": {"requests": quota.requests, "renewal": quota.renewal} if quota else None,
    }
    return {**attrs, **implied(attrs)}


def implied(attrs: Attrs) -> dict[str, Any]:
    """The backing policy a plan's limits imply: the same limits, -1 for "unlimited"."""
    rate = attrs.get("rateLimit") or {}
    quota = attrs.get("quota") or {}
    return {
        "policy": {
            "partitions": dict(PARTITIONS),
            **ACTIVE,
            "rate": rate.get("requests", -1),
            "per": rate.get("per", -1),
            "quotaMax": quota.get("requests", -1),
            "quotaRenewalRate": quota.get("renewal", -1),
            "keyExpiresIn": attrs.get("keyExpiresIn") or 0,
        }
    }


def build(manifests: Sequence[Plan], building: Building) -> None:
    for m in manifests:
        building.add("Plan", m.metadata.name, plan_attrs(m.spec))


def export(objects: Sequence[LiveObject], importing: Importing) -> None:
    """Plans whose policy carries limits only; the limits are read from the policy. A limit
    the manifests cannot express is reported, never written as "unlimited": that manifest
    would loosen the limit on the next apply."""
    for o in objects:
        a = o.attrs
        policy = backing_policy(o, importing, PARTITIONS, MIXED)
        if policy is None:
            continue
        problem = inexpressible_limits(policy)
        if problem:
            importing.skip("Plan", o.key, problem)
            continue
        spec: dict[str, Any] = {"provider": a["provider"]}
        for f in ("displayName", "description"):
            if a.get(f):
                spec[f] = a[f]
        if policy.get("rate", -1) > 0:
            spec["rateLimit"] = {"requests": policy["rate"], "per": policy["per"]}
        if policy.get("quotaMax", -1) > 0:
            spec["quota"] = {"requests": policy["quotaMax"], "renewal": policy["quotaRenewalRate"]}
        if policy.get("keyExpiresIn", 0) > 0:
            spec["keyExpiresIn"] = policy["keyExpiresIn"]
        if a.get("autoApprove"):
            spec["autoApprove"] = True
        importing.write(FILE, "Plan", o.key, spec)


def inexpressible_limits(policy: Attrs) -> str:
    """Why a plan policy's limits have no manifest form, or "" when they have one.

    A manifest's rate limit is ``requests`` per ``per`` seconds, both above 0, and its quota
    ``requests`` per ``renewal`` seconds, both above 0; leaving either out means unlimited,
    which the policy holds as -1 (REFERENCE §5: tyk-demo's unlimited policies carry -1).
    Anything else (``rate: 10, per: -1``, a rate of 0, a quota that never renews) is a
    limit of its own the manifests cannot state."""
    rate, per = policy.get("rate", -1), policy.get("per", -1)
    quota, renewal = policy.get("quotaMax", -1), policy.get("quotaRenewalRate", -1)
    problems = []
    if not (rate == -1 or (rate > 0 and per > 0)):
        problems.append(f"rate limit (rate {rate}, per {per})")
    if not (quota == -1 or (quota > 0 and renewal > 0)):
        problems.append(f"quota (quota_max {quota}, quota_renewal_rate {renewal})")
    if not problems:
        return ""
    return (
        f"its Dashboard policy's {' and '.join(problems)} cannot be written in a manifest "
        "(a rate limit or quota needs both numbers above 0; -1 means unlimited), and importing "
        "it as unlimited would loosen it: write this Plan by hand, or change the policy"
    )


KIND = Kind(
    name="Plan",
    level=4,
    identity_doc="name",
    identity=by_name,
    source="Plan",
    build=build,
    export=export,
    references=on_provider,
    # the portal cannot move a plan to another provider: it is deleted and created again
    replace_on_field="provider",
    partitions=PARTITIONS,
    implied=implied,
)
