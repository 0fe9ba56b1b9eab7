"""Hypothesis strategies for manifests: ``estates()`` draws a VALID estate of varying size.

An estate is a list of manifest dicts (plain YAML/JSON data, as a user would write them) that
passes every rule of validate.py with no errors: references resolve, names are unique, a
catalogue's products and plans share one provider, every request's consumer is in its
catalogue's audience, members belong to one organisation and agree wherever listed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import strategies as st

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


def _doc(kind: str, name: str, spec: dict[str, Any] | None, meta: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": name}}
    doc["metadata"].update(meta)
    if spec is not None:
        doc["spec"] = spec
    return doc


def _optional(draw: st.DrawFn, out: dict[str, Any], key: str, strategy: Any) -> None:
    if draw(st.booleans()):
        out[key] = draw(strategy)


@st.composite
def estates(draw: st.DrawFn, max_objects: int = 4) -> list[dict[str, Any]]:
    """A valid estate with up to ``max_objects`` objects of each kind (teams per organisation)."""
    n = max_objects
    docs: list[dict[str, Any]] = []

    def unique_names(count_max: int, min_size: int = 0, avoid: frozenset[str] = frozenset()):
        return draw(
            st.lists(
                names.filter(lambda s: s not in avoid),
                min_size=min_size,
                max_size=count_max,
                unique=True,
            )
        )

    def meta() -> dict[str, Any]:
        out: dict[str, Any] = {}
        _optional(draw, out, "labels", labels)
        return out

    # providers
    providers = unique_names(max(1, n // 2), min_size=1)
    for name in providers:
        spec: dict[str, Any] = {
            "type": "tyk-pro",
            "dashboardUrl": draw(st.sampled_from(["http://dash:3000", "https://d.example.com"])),
            "secret": draw(
                st.sampled_from([{"fromEnv": "TYK_SECRET"}, {"fromFile": "secrets/dashboard"}])
            ),
            "orgId": draw(st.sampled_from(["5e9d9544a1dcd60001d0ed20", "org-1"])),
        }
        _optional(draw, spec, "gatewayUrl", st.just("http://gw:8080"))
        _optional(draw, spec, "policyTags", st.lists(st.sampled_from(["a", "b"]), unique=True))
        _optional(draw, spec, "insecureSkipVerify", st.booleans())
        docs.append(_doc("Provider", name, spec, meta()))

    # organisations, their users (one organisation each) and teams
    organisations = unique_names(n, min_size=1, avoid=frozenset({"Default Organisation"}))
    members_of: dict[str, list[dict[str, Any]]] = {}  # org -> users
    teams_of: dict[str, list[str]] = {}
    user_no = 0
    for org in organisations:
        docs.append(_doc("Organisation", org, draw(st.sampled_from([None, {}])), meta()))
        users = []
        for _ in range(draw(st.integers(1, 3))):
            user_no += 1
            user: dict[str, Any] = {"email": f"user{user_no}@example.com"}
            _optional(draw, user, "role", st.sampled_from(["admin", "member"]))
            _optional(draw, user, "first", texts)
            _optional(draw, user, "last", texts)
            users.append(user)
        members_of[org] = []
        teams = unique_names(max(1, n // 2), avoid=frozenset({f"{org} All users"}))
        teams_of[org] = teams
        for team in teams:
            chosen = (
                draw(st.lists(st.sampled_from(users), min_size=1, unique_by=lambda u: u["email"]))
                if users
                else []
            )
            members_of[org].extend(u for u in chosen if u not in members_of[org])
            spec = {"organisation": org}
            if chosen or draw(st.booleans()):
                spec["members"] = [dict(u) for u in chosen]
            docs.append(_doc("Team", team, spec, meta()))

    # products and plans, each from a provider
    products: dict[str, str] = {}
    for name in unique_names(n, min_size=1):
        provider = draw(st.sampled_from(providers))
        products[name] = provider
        apis = []
        for api_id in draw(
            st.lists(
                st.from_regex(r"[A-Za-z0-9_.:-]{1,12}", fullmatch=True),
                min_size=1,
                max_size=3,
                unique=True,
            )
        ):
            api: dict[str, Any] = {"apiId": api_id}
            _optional(
                draw,
                api,
                "versions",
                st.lists(st.sampled_from(["v1", "v2", "Default"]), unique=True),
            )
            _optional(
                draw,
                api,
                "allowedUrls",
                st.lists(
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
            )
            apis.append(api)
        spec = {"provider": provider, "apis": apis, "owners": draw(owners)}
        for key in ("displayName", "description", "content"):
            _optional(draw, spec, key, texts)
        _optional(draw, spec, "tags", st.lists(st.sampled_from(["x", "y"]), unique=True))
        docs.append(_doc("Product", name, spec, meta()))
    plans: dict[str, str] = {}
    for name in unique_names(n, min_size=1):
        provider = draw(st.sampled_from(providers))
        plans[name] = provider
        spec = {"provider": provider}
        _optional(draw, spec, "displayName", texts)
        _optional(draw, spec, "description", texts)
        _optional(
            draw, spec, "rateLimit", st.fixed_dictionaries({"requests": positive, "per": positive})
        )
        _optional(
            draw, spec, "quota", st.fixed_dictionaries({"requests": positive, "renewal": positive})
        )
        _optional(draw, spec, "keyExpiresIn", positive)
        _optional(draw, spec, "autoApprove", st.booleans())
        _optional(draw, spec, "owners", owners)
        docs.append(_doc("Plan", name, spec, meta()))

    # catalogues: one provider's products and plans each; audiences only on private ones
    catalogues: list[tuple[str, dict[str, Any]]] = []
    offering = sorted(set(products.values()) & set(plans.values())) or providers
    for name in unique_names(n, min_size=1):
        provider = draw(st.sampled_from(offering))
        mine = sorted(p for p, v in products.items() if v == provider)
        my_plans = sorted(p for p, v in plans.items() if v == provider)
        spec = {"visibility": draw(st.sampled_from(["public", "private"]))}
        _optional(draw, spec, "displayName", texts)
        if mine:
            spec["products"] = draw(st.lists(st.sampled_from(mine), min_size=1, unique=True))
        if my_plans:
            spec["plans"] = draw(st.lists(st.sampled_from(my_plans), min_size=1, unique=True))
        if spec["visibility"] == "private" and organisations:
            audience = []
            for org in draw(st.lists(st.sampled_from(organisations), min_size=1, unique=True)):
                entry: dict[str, Any] = {"organisation": org}
                if teams_of[org] and draw(st.booleans()):
                    entry["team"] = draw(st.sampled_from(teams_of[org]))
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
    for i, name in enumerate(unique_names(n)):
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
        cat_name, spec, audience_members = draw(st.sampled_from(usable))
        request: dict[str, Any] = {
            "consumer": draw(st.sampled_from(audience_members)),
            "app": {"name": f"app {i}"},  # distinct apps: no two requests ask for the same
            "products": draw(st.lists(st.sampled_from(spec["products"]), min_size=1, unique=True)),
            "plan": draw(st.sampled_from(spec["plans"])),
            "catalogue": cat_name,
        }
        _optional(draw, request["app"], "description", texts)
        _optional(
            draw,
            request["app"],
            "redirectUrls",
            st.lists(st.just("https://cb.example/x"), max_size=1),
        )
        _optional(draw, request, "justification", texts)
        _optional(
            draw, request, "expires", st.dates(dt.date(2020, 1, 1), dt.date(2040, 1, 1)).map(str)
        )
        _optional(draw, request, "decision", st.sampled_from(["approve", "reject"]))
        docs.append(_doc("AccessRequest", name, request, meta()))
    return docs
