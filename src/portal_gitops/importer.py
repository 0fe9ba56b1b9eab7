"""Live state -> manifests, for adopting a portal configured by hand (pure).

Everything the manifests can express is written; everything they cannot is reported by name
with the reason, never silently dropped. Secrets are never written: a provider's secret
becomes a ``fromEnv`` reference the user fills in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from portal_gitops.models import API_VERSION, REQUEST_ID_ANNOTATION
from portal_gitops.requests import slug
from portal_gitops.state import (
    PLAN_PARTITIONS,
    PRODUCT_PARTITIONS,
    LiveObject,
    LiveState,
)

ROLE_OF = {"consumer-admin": "admin", "consumer-team-member": "member"}


@dataclass(frozen=True)
class Skipped:
    kind: str
    key: str
    reason: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.key}: {self.reason}"


@dataclass(frozen=True)
class ImportResult:
    files: Mapping[PurePosixPath, list[dict[str, Any]]]
    skipped: list[Skipped] = field(default_factory=list)


def _doc(
    kind: str, name: str, spec: dict[str, Any], annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": meta, "spec": spec}


def secret_env_name(provider: str, index: int) -> str:
    return (
        "TYK_DASHBOARD_SECRET"
        if index == 0
        else f"TYK_DASHBOARD_SECRET_{slug(provider).upper().replace('-', '_')}"
    )


def import_state(live: LiveState) -> ImportResult:
    by_kind: dict[str, list[LiveObject]] = defaultdict(list)
    for o in live:
        by_kind[o.kind].append(o)
    for objs in by_kind.values():
        objs.sort(key=lambda o: o.key)
    files: dict[PurePosixPath, list[dict[str, Any]]] = defaultdict(list)
    skipped: list[Skipped] = []
    providers = {o.key for o in by_kind["Provider"]}
    organisations = {o.key for o in by_kind["Organisation"]}

    for i, o in enumerate(by_kind["Provider"]):
        a = o.attrs
        spec: dict[str, Any] = {
            "type": a.get("type", "tyk-pro"),
            "dashboardUrl": a.get("dashboardUrl", ""),
            "secret": {"fromEnv": secret_env_name(o.key, i)},
            "orgId": a.get("orgId", ""),
        }
        if a.get("gatewayUrl"):
            spec["gatewayUrl"] = a["gatewayUrl"]
        if a.get("policyTags"):
            spec["policyTags"] = list(a["policyTags"])
        if a.get("insecureSkipVerify"):
            spec["insecureSkipVerify"] = True
        files[PurePosixPath("providers.yaml")].append(_doc("Provider", o.key, spec))

    members: dict[str, list[dict[str, Any]]] = defaultdict(list)  # team key -> members
    for o in by_kind["User"]:
        a = o.attrs
        teams = list(a.get("teams", []))
        if not teams:
            skipped.append(
                Skipped(
                    "User", o.key, "belongs to no team other than the organisation's default team"
                )
            )
            continue
        for team in teams:
            m: dict[str, Any] = {"email": o.key, "role": ROLE_OF.get(a.get("role", ""), "member")}
            if a.get("first"):
                m["first"] = a["first"]
            if a.get("last"):
                m["last"] = a["last"]
            members[f"{a.get('organisation')}/{team}"].append(m)

    for o in by_kind["Organisation"]:
        if o.builtin:
            continue
        files[_org_file(o.key)].append(_doc("Organisation", o.key, {}))
    for o in by_kind["Team"]:
        if o.builtin:
            continue
        org = o.attrs.get("organisation", "")
        if org not in organisations or _is_builtin_org(live, org):
            skipped.append(Skipped("Team", o.key, f"its organisation {org!r} cannot be declared"))
            continue
        spec = {"organisation": org}
        if members.get(o.key):
            spec["members"] = members[o.key]
        files[_org_file(org)].append(_doc("Team", o.attrs.get("name", o.key), spec))

    for o in by_kind["Product"]:
        a = o.attrs
        policy = _backing_policy(o, providers, PRODUCT_PARTITIONS, skipped)
        if policy is None:
            continue
        apis = [_api(r) for r in policy.get("accessRights", [])]
        if not apis:
            skipped.append(Skipped("Product", o.key, "its policy grants access to no API"))
            continue
        spec = {"provider": a["provider"]}
        for f in ("displayName", "description", "content"):
            if a.get(f):
                spec[f] = a[f]
        spec["apis"] = apis
        if a.get("tags"):
            spec["tags"] = list(a["tags"])
        files[PurePosixPath("products") / f"{slug(o.key)}.yaml"].append(
            _doc("Product", o.key, spec)
        )

    for o in by_kind["Plan"]:
        a = o.attrs
        policy = _backing_policy(o, providers, PLAN_PARTITIONS, skipped)
        if policy is None:
            continue
        spec = {"provider": a["provider"]}
        for f in ("displayName", "description"):
            if a.get(f):
                spec[f] = a[f]
        if policy.get("rate", -1) > 0 and policy.get("per", -1) > 0:
            spec["rateLimit"] = {"requests": policy["rate"], "per": policy["per"]}
        if policy.get("quotaMax", -1) > 0 and policy.get("quotaRenewalRate", -1) > 0:
            spec["quota"] = {"requests": policy["quotaMax"], "renewal": policy["quotaRenewalRate"]}
        if policy.get("keyExpiresIn", 0) > 0:
            spec["keyExpiresIn"] = policy["keyExpiresIn"]
        if a.get("autoApprove"):
            spec["autoApprove"] = True
        files[PurePosixPath("plans.yaml")].append(_doc("Plan", o.key, spec))

    exported_products = {
        d["metadata"]["name"] for f, ds in files.items() for d in ds if d["kind"] == "Product"
    }
    exported_plans = {d["metadata"]["name"] for d in files.get(PurePosixPath("plans.yaml"), [])}
    for o in by_kind["Catalogue"]:
        a = o.attrs
        if o.builtin and not (a.get("products") or a.get("plans") or a.get("audience")):
            continue  # an empty built-in catalogue says nothing worth declaring
        missing = [p for p in a.get("products", []) if p not in exported_products] + [
            p for p in a.get("plans", []) if p not in exported_plans
        ]
        if missing:
            skipped.append(
                Skipped(
                    "Catalogue",
                    o.key,
                    f"it offers objects that could not be imported: {', '.join(missing)}",
                )
            )
            continue
        spec = {"visibility": a.get("visibility", "private")}
        audience = []
        for entry in a.get("audience", []):
            e = {"organisation": entry["organisation"]}
            if entry.get("team"):
                e["team"] = entry["team"]
            audience.append(e)
        if audience:
            spec["audience"] = audience
        if a.get("products"):
            spec["products"] = list(a["products"])
        if a.get("plans"):
            spec["plans"] = list(a["plans"])
        files[PurePosixPath("catalogues.yaml")].append(_doc("Catalogue", o.key, spec))

    for o in by_kind["AccessRequest"]:
        a = o.attrs
        if a.get("status") == "pending":
            continue  # `requests pull` turns these into pull requests
        app = a.get("app") or {}
        spec = {
            "consumer": a.get("consumer", ""),
            "app": {
                k: v
                for k, v in (
                    ("name", app.get("name", "")),
                    ("description", app.get("description", "")),
                    ("redirectUrls", list(app.get("redirectUrls", []))),
                )
                if v
            },
            "products": list(a.get("products", [])),
            "plan": a.get("plan", ""),
            "catalogue": a.get("catalogue", ""),
        }
        if a.get("status") == "rejected":
            spec["decision"] = "reject"
        annotations = None if o.managed else {REQUEST_ID_ANNOTATION: o.id}
        org = slug(str(a.get("organisation") or "no-organisation"))
        files[PurePosixPath("requests") / org / f"{slug(o.key)}.yaml"].append(
            _doc("AccessRequest", o.key, spec, annotations)
        )
    return ImportResult(dict(files), skipped)


MIXED_POLICY = {
    "Product": "its Dashboard policy carries limits as well as access rights (partitions {}); "
    "split it into a product and a plan",
    "Plan": "its Dashboard policy carries access rights as well as limits (partitions {})",
}


def _backing_policy(
    o: LiveObject,
    providers: set[str],
    partitions: Mapping[str, bool],
    skipped: list[Skipped],
) -> Mapping[str, Any] | None:
    """The policy behind a product or plan if the manifests can express it, else None
    with the reason recorded."""
    a = o.attrs
    policy: Mapping[str, Any] | None = a.get("policy")
    if a.get("provider") not in providers:
        reason = f"its provider {a.get('provider')!r} does not exist"
    elif policy is None:
        reason = "it has no backing Dashboard policy"
    elif dict(policy.get("partitions", {})) != partitions:
        reason = MIXED_POLICY[o.kind].format(_partitions(policy))
    else:
        return policy
    skipped.append(Skipped(o.kind, o.key, reason))
    return None


def _org_file(org: str) -> PurePosixPath:
    return PurePosixPath("organisations") / f"{slug(org)}.yaml"


def _is_builtin_org(live: LiveState, org: str) -> bool:
    obj = live.get("Organisation", org)
    return obj is not None and obj.builtin


def _partitions(policy: Mapping[str, Any]) -> str:
    on = [k for k, v in sorted(dict(policy.get("partitions", {})).items()) if v]
    return ", ".join(on) or "none"


def _api(right: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"apiId": right["apiId"]}
    if right.get("versions"):
        out["versions"] = list(right["versions"])
    if right.get("allowedUrls"):
        out["allowedUrls"] = [
            {"url": u["url"], "methods": list(u["methods"])} for u in right["allowedUrls"]
        ]
    return out
