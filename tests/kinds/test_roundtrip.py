"""Per-kind round trips, pure (no SQLite, no HTTP): manifest -> canonical -> manifest.

For every kind of the registry, the documents of a generated valid estate are turned into
canonical resources (the kinds' ``build``, in registry order) and back into documents (the
kinds' ``export``, as ``import`` does for live objects), and the two sides must be equal.

They are compared on a *normalised manifest form*, applied to both sides alike, because the
canonical form keeps only what the portal holds:
- a field left at its default and one omitted are the same (pydantic ``exclude_defaults``);
- lists that are sets in the canonical form are sorted and deduplicated (tags, policy tags,
  versions, methods, products, plans, redirect URLs, audience); a product's APIs are sorted
  by ID, their allowed URLs by URL; team members by email;
- what the canonical form does not carry is dropped: metadata other than the name (labels,
  annotations), owners (CODEOWNERS only), a catalogue's displayName (readers only), an access
  request's justification (a note) and expires (a request past it is revoked: not a
  resource, checked separately), an admin's GitHub handle (CODEOWNERS only); the values of
  an access request's ``rotate`` and ``revokeCredentials`` do round-trip (the live side reads
  them from the managed record);
- a provider's secret reference becomes the variable the importer names: secrets never
  round-trip, by design;
- a user is one portal user across the teams that list it: its role is the strongest and its
  names the first non-empty ones, wherever it is a member.
Anything else one side drops or alters fails the comparison.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from portal_gitops.kinds import BY_NAME, LEVEL, NAMES, REGISTRY, lookup
from portal_gitops.kinds.base import Building, Importing
from portal_gitops.kinds.docs import guide_path
from portal_gitops.kinds.provider import secret_env_name
from portal_gitops.models import KINDS as MODELS
from portal_gitops.models import Manifest
from portal_gitops.state import LiveObject, LiveState
from tests.strategies import documents_of, estates

TODAY = dt.date(2030, 1, 1)  # generated requests expire between 2020 and 2040
Doc = dict[str, Any]

ROUND_TRIP = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --- the two directions, through the registry -----------------------------------------------


def to_canonical(docs: Iterable[Doc]) -> Building:
    docs = list(docs)
    by_source: dict[str, list[Manifest]] = {}
    for d in docs:
        by_source.setdefault(d["kind"], []).append(MODELS[d["kind"]].model_validate(d))
    building = Building(TODAY, documents=documents_of(docs))
    for kind in REGISTRY:
        kind.build(by_source.get(kind.source, []), building)
    return building


def to_manifests(building: Building) -> Importing:
    """The canonical resources as live objects made by us, exported kind by kind."""
    live = LiveState(
        {
            ref: LiveObject(r.kind, r.key, str(i), r.attrs, managed=True)
            for i, (ref, r) in enumerate(building.resources.items())
        }
    )
    importing = Importing(live)
    for kind in REGISTRY:
        if kind.export is not None:
            kind.export(importing.objects(kind.name), importing)
    return importing


# --- the normalised manifest form -----------------------------------------------------------


def _set(items: Iterable[Any]) -> list[Any]:
    return sorted(set(items))


def _users(teams: list[Doc]) -> dict[str, Doc]:
    """email -> the one portal user the members with that email make (see the docstring)."""
    users: dict[str, Doc] = {}
    for d in teams:
        for m in d["spec"].get("members", []):
            u = users.setdefault(m["email"], {"role": "member", "first": "", "last": ""})
            if m.get("role") == "admin":
                u["role"] = "admin"
            u["first"] = u["first"] or m.get("first", "")
            u["last"] = u["last"] or m.get("last", "")
            if "sso" not in u and m.get("sso"):
                u["sso"] = m["sso"]  # the first sign-in given wins
            u.setdefault("in", []).append((d["spec"]["organisation"], d["metadata"]["name"]))
    return users


def normalise(doc: Doc, users: dict[str, Doc], provider_index: dict[str, int]) -> Doc:
    kind = doc["kind"]
    out = MODELS[kind].model_validate(doc).model_dump(mode="json", exclude_defaults=True)
    out["metadata"] = {"name": out["metadata"]["name"]}
    spec = out.get("spec", {})
    name = out["metadata"]["name"]
    spec.pop("owners", None)
    if kind == "Provider":
        spec["secret"] = {"fromEnv": secret_env_name(name, provider_index[name])}
        if "policyTags" in spec:
            spec["policyTags"] = _set(spec["policyTags"])
    elif kind == "Team":
        members = []
        for m in sorted(spec.get("members", []), key=lambda m: m["email"]):
            u = users[m["email"]]
            member = {"email": m["email"]}
            if u["role"] != "member":
                member["role"] = u["role"]
            for field in ("first", "last", "sso"):
                if u.get(field):
                    member[field] = u[field]
            members.append(member)
        if members:
            spec["members"] = members
    elif kind == "Product":
        for guide in spec.get("guides", []):
            if guide.get("path") == guide_path(guide["title"]):
                del guide["path"]  # the default, not written
        for api in spec["apis"]:
            if "openapi" in api:  # its content is compared (the file is written elsewhere)
                api["openapi"] = "<document>"
            if "versions" in api:
                api["versions"] = _set(api["versions"])
            for url in api.get("allowedUrls", []):
                url["methods"] = _set(url["methods"])
            if "allowedUrls" in api:
                api["allowedUrls"].sort(key=lambda u: (u["url"], u["methods"]))
        spec["apis"].sort(key=lambda a: a["apiId"])
        if "tags" in spec:
            spec["tags"] = _set(spec["tags"])
    elif kind == "AdminUser":
        spec.pop("github", None)
        spec.setdefault("role", "provider-admin")  # the default, written by import
    elif kind == "Catalogue":
        spec.pop("displayName", None)
        if "audience" in spec:
            pairs = _set((a["organisation"], a.get("team", "")) for a in spec["audience"])
            spec["audience"] = [{"organisation": o, **({"team": t} if t else {})} for o, t in pairs]
        for key in ("products", "plans"):
            if key in spec:
                spec[key] = _set(spec[key])
    elif kind == "AccessRequest":
        spec.pop("justification", None)
        spec.pop("expires", None)
        # a constraint, not an attribute: the export names one that validates (checked below)
        spec.pop("catalogue", None)
        spec["products"] = _set(spec["products"])
        if "revokeCredentials" in spec:
            spec["revokeCredentials"] = sorted(set(spec["revokeCredentials"]), key=int)
    elif kind == "App" and "redirectUrls" in spec:
        spec["redirectUrls"] = _set(spec["redirectUrls"])
    return out


def normalised(docs: list[Doc]) -> dict[str, dict[str, Any]]:
    """kind -> identity key -> normalised document (users: key -> the user they make)."""
    teams = [d for d in docs if d["kind"] == "Team"]
    users = _users(teams)
    providers = sorted(d["metadata"]["name"] for d in docs if d["kind"] == "Provider")
    index = {name: i for i, name in enumerate(providers)}
    out: dict[str, dict[str, Any]] = {name: {} for name in NAMES}
    for d in docs:
        n = normalise(d, users, index)
        key = lookup(d["kind"]).identity(n["metadata"]["name"], n.get("spec", {}))
        assert key not in out[d["kind"]], f"two documents for {d['kind']}/{key}"
        out[d["kind"]][key] = n
    for email, u in users.items():
        out["User"][email] = {**u, "in": _set(u["in"])}  # its (organisation, team) pairs
    for product, doc in out["Product"].items():  # documentation: inside its product
        for api in doc["spec"]["apis"]:
            if "openapi" in api or "oasUrl" in api:
                out["ApiDoc"][f"{product}/{api['apiId']}"] = api
        for guide in doc["spec"].get("guides", []):
            out["Guide"][f"{product}/{guide['title']}"] = guide
    return out


def _explicit_apps(docs: list[Doc]) -> list[Doc]:
    """Apps described inside requests (the earlier form) as the App documents they declare,
    the requests naming them (import writes that form)."""
    out: list[Doc] = []
    declared: set[tuple[str, str]] = set()
    for d in docs:
        app = d["spec"].get("app") if d["kind"] == "AccessRequest" else None
        if isinstance(app, dict):
            d = {**d, "spec": {**d["spec"], "app": app["name"]}}
            key = (d["spec"]["consumer"], app["name"])
            if key not in declared:
                declared.add(key)
                spec = {"owner": key[0], **{k: v for k, v in app.items() if k != "name"}}
                out.append(
                    {
                        "apiVersion": d["apiVersion"],
                        "kind": "App",
                        "metadata": {"name": app["name"]},
                        "spec": spec,
                    }
                )
        out.append(d)
    return out


def _not_expired(docs: list[Doc]) -> list[Doc]:
    return [
        d
        for d in docs
        if d["kind"] != "AccessRequest"
        or "expires" not in d["spec"]
        or dt.date.fromisoformat(d["spec"]["expires"]) >= TODAY
    ]


# --- the properties -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", NAMES)
@ROUND_TRIP
@given(estate=estates())
def test_manifest_to_canonical_to_manifest_is_the_identity(kind: str, estate: list[Doc]) -> None:
    building = to_canonical(estate)
    importing = to_manifests(building)
    assert importing.skipped == []  # a valid estate is expressible in full
    exported = [d for docs in importing.files.values() for d in docs]
    before = normalised(_not_expired(_explicit_apps(estate)))[kind]
    after = normalised(exported)[kind]
    assert after == before
    catalogues = {d["metadata"]["name"]: d["spec"] for d in exported if d["kind"] == "Catalogue"}
    for d in exported:
        if d["kind"] == "AccessRequest":  # its catalogue offers what it asks
            offer = catalogues[d["spec"]["catalogue"]]
            assert d["spec"]["plan"] in offer.get("plans", [])
            assert set(d["spec"]["products"]) <= set(offer.get("products", []))
    # every resource of the kind was built, under the identity its documents give
    assert {key for k, key in building.resources if k == kind} == set(before)
    # an OpenAPI document is written beside the manifests, as it was read
    if kind == "ApiDoc":
        written = list(importing.attachments.values())
        assert sorted(written) == sorted(c.data for c in documents_of(estate).values())


@ROUND_TRIP
@given(estate=estates())
def test_expired_requests_are_revoked_not_built(estate: list[Doc]) -> None:
    building = to_canonical(estate)
    kept = _not_expired(estate)
    expired = {
        ("AccessRequest", d["metadata"]["name"])
        for d in estate
        if d["kind"] == "AccessRequest" and d not in kept
    }
    assert building.expired == expired
    assert not expired & set(building.resources)


@ROUND_TRIP
@given(estate=estates())
def test_references_of_a_valid_estate_resolve_to_lower_levels(estate: list[Doc]) -> None:
    resources = to_canonical(estate).resources
    for (kind, _), res in resources.items():
        for ref in BY_NAME[kind].references(res.attrs):
            assert ref in resources, (kind, res.key, ref)
            assert LEVEL[ref[0]] < LEVEL[kind]


def test_the_registry_lists_every_kind_once_in_dependency_order() -> None:
    assert [k.level for k in REGISTRY] == sorted(k.level for k in REGISTRY)
    assert len(set(NAMES)) == len(NAMES)
    assert set(NAMES) == set(MODELS) | {"User", "ApiDoc", "Guide"}
    assert {k.source for k in REGISTRY} == set(MODELS)
    assert {k.name for k in REGISTRY if k.policy_backed} == {"Product", "Plan"}


@ROUND_TRIP
@given(estate=estates())
def test_every_backing_policy_is_wanted_active(estate: list[Doc]) -> None:
    # REFERENCE §9 "Policy state": keys under an inactive, draft or deny policy stop working,
    # so the manifests always want the policy active (a Dashboard edit of it is drift)
    for (kind, _), res in to_canonical(estate).resources.items():
        if BY_NAME[kind].policy_backed:
            policy = res.attrs["policy"]
            assert (policy["active"], policy["state"]) == (True, "active"), (kind, res.key)
