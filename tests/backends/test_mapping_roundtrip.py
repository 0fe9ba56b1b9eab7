"""No phantom diff, per kind, at unit level: canonical attrs -> the Tyk JSON the backend sends
-> what the portal (or Dashboard) returns for it -> canonical attrs is the identity.

Pure: backends/tyk/mapping.py only, no SQLite and no HTTP. Where the portal answers in
another shape than it was written in (names where writes take IDs: product ``Tags``, a
catalogue's ``Products``/``Plans``, an access request's plan, products and catalogue), the
test plays the portal's part as documented; every reply goes through JSON.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from portal_gitops.backends.tyk import docs_mapping, mapping, owners
from portal_gitops.backends.tyk.dashboards import DashboardConn, live_conn
from portal_gitops.backends.tyk.quirks import name_of, parse_user_ref
from portal_gitops.state import Content, Sensitive
from tests.strategies import api_ids, names, positive, texts

Json = dict[str, Any]

urls = st.from_regex(
    r"https?://[a-z]{1,8}\.example(:[0-9]{2,4})?(/[a-z0-9._-]{0,8})?", fullmatch=True
)
emails = st.from_regex(r"[a-z0-9.]{1,8}@[a-z]{1,6}\.example", fullmatch=True)
flags = st.booleans()
partitions = st.fixed_dictionaries({"acl": flags, "quota": flags, "rate_limit": flags})
# a policy's active flag and state (REFERENCE §6), each written and read back as it is
policy_states = st.fixed_dictionaries(
    {"active": flags, "state": st.sampled_from(["active", "draft", "deny"])}
)


def sorted_unique(elements: st.SearchStrategy[Any], **kwargs: Any) -> st.SearchStrategy[Any]:
    return st.lists(elements, unique=True, **kwargs).map(sorted)


def wire(value: Any) -> Any:
    """What comes back over the wire: JSON, decoded."""
    return json.loads(json.dumps(value))


def ids_for(names_: list[str], first: int) -> dict[str, int]:
    return {name: first + i for i, name in enumerate(names_)}


# --------------------------------------------------------------------------------------------
# Provider


providers = st.fixed_dictionaries(
    {
        "type": st.just("tyk-pro"),
        "dashboardUrl": urls,
        "orgId": names,
        "gatewayUrl": st.one_of(st.just(""), urls),
        "policyTags": sorted_unique(names, max_size=3),
        "insecureSkipVerify": flags,
        "secret": st.builds(Sensitive, st.just("env:TYK_SECRET"), texts.filter(bool)),
    }
)


@given(key=names, attrs=providers, config_id=positive)
def test_provider_round_trips(key: str, attrs: Json, config_id: int) -> None:
    meta = mapping.provider_metadata_json(attrs, attrs["secret"].value)
    created = wire({**mapping.provider_create_body(key, attrs, meta), "ID": 3})
    assert (name_of(created), mapping.provider_attrs(created)) == (key, attrs)
    # an update sends the configuration's ID and no Type: the portal keeps the created one
    updated = wire({**created, **mapping.provider_update_body(key, meta, config_id)})
    assert mapping.provider_attrs(updated) == attrs
    secret = attrs["secret"].value
    # the connection found in the portal always verifies TLS: only a reviewed Provider
    # manifest may turn verification off (SECURITY.md, TLS)
    assert live_conn(updated) == DashboardConn(attrs["dashboardUrl"], secret, insecure=False)


# --------------------------------------------------------------------------------------------
# Organisation, Team


@given(key=names)
def test_organisation_round_trips(key: str) -> None:
    assert name_of(wire({**mapping.organisation_body(key), "ID": 2})) == key


@given(attrs=st.fixed_dictionaries({"organisation": names, "name": names}))
def test_team_round_trips(attrs: Json) -> None:
    team = wire({**mapping.team_body(attrs), "ID": 4, "Default": False})
    assert mapping.team_attrs(attrs["organisation"], name_of(team)) == attrs


# --------------------------------------------------------------------------------------------
# User

users = st.fixed_dictionaries(
    {
        "organisation": names,
        "first": texts,
        "last": texts,
        "role": st.sampled_from(sorted(mapping.CONSUMER_ROLES)),
        "teams": sorted_unique(names, max_size=3),
    },
    # sso only when set; a password is write-only (never read back), so not round-tripped
    optional={"sso": st.sampled_from(["okta", "github", "azure-ad"])},
)


@given(key=emails, attrs=users)
def test_user_round_trips(key: str, attrs: Json) -> None:
    org_id, default_team = 7, 1
    team_ids = ids_for(attrs["teams"], 10)
    body = mapping.user_body(key, attrs, org_id)
    body.update(mapping.new_user(attrs))
    body["Teams"] = mapping.user_teams(team_ids.values(), default_team)
    user = wire({**body, "ID": 9})
    # the portal lists members on each team ("User#9"); default teams are not memberships,
    # but Teams replaces them, so the default team is always sent (REFERENCE.md §9)
    by_id = {team_id: name for name, team_id in team_ids.items()}
    teams = [by_id[int(t)] for t in body["Teams"] if int(t) != default_team]
    in_default = str(default_team) in body["Teams"]
    assert in_default
    assert mapping.is_consumer(user)
    organisation = {org_id: attrs["organisation"]}[user["OrganisationID"]]
    assert mapping.user_attrs(user, organisation, teams, in_default_team=in_default) == attrs


# --------------------------------------------------------------------------------------------
# AdminUser (an API owner)

admins = st.fixed_dictionaries(
    {
        "first": texts,
        "last": texts,
        "role": st.sampled_from(sorted(owners.ADMIN_ROLES)),
    },
    optional={"sso": st.sampled_from(["okta", "github", "azure-ad"])},
)


@given(key=emails, attrs=admins)
def test_admin_user_round_trips(key: str, attrs: Json) -> None:
    body = owners.admin_body(key, attrs)
    body.update(mapping.new_user(attrs))
    assert body["OrganisationID"] == 0  # User-basis: always 0 for admin users
    user = wire({**body, "ID": 9})
    assert owners.is_admin(user) and not mapping.is_consumer(user)
    assert owners.admin_attrs(user) == attrs
    # an update sends the same fields (and the sign-in), read back the same way
    update = owners.admin_body(key, attrs)
    update.update(mapping.user_sign_in_update(attrs, attrs))
    assert owners.admin_attrs(wire({**user, **update})) == attrs


# --------------------------------------------------------------------------------------------
# Product (+ backing policy)

methods = sorted_unique(st.sampled_from(["DELETE", "GET", "PATCH", "POST", "PUT"]), min_size=1)


@st.composite
def access_rights(draw: st.DrawFn) -> list[Json]:
    rights = []
    for api_id in draw(sorted_unique(api_ids, max_size=3)):
        urls_ = [
            {"url": draw(st.from_regex(r"/[a-z0-9/.*-]{0,12}", fullmatch=True)), "methods": m}
            for m in draw(st.lists(methods, max_size=3))
        ]
        rights.append(
            {
                "apiId": api_id,
                "versions": draw(sorted_unique(names, max_size=2)),
                "allowedUrls": sorted(urls_, key=lambda u: (u["url"], u["methods"])),
            }
        )
    return rights


@st.composite
def products(draw: st.DrawFn) -> Json:
    rights = draw(access_rights())
    return {
        "provider": draw(names),
        "displayName": draw(texts),
        "description": draw(texts),
        "content": draw(texts),
        "tags": draw(sorted_unique(names, max_size=3)),
        "apis": [r["apiId"] for r in rights],
        "policy": {"partitions": draw(partitions), **draw(policy_states), "accessRights": rights},
    }


def _portal_product(body: Json, tags: list[str]) -> Json:
    """The product as the portal shows it: tags by name (IDs on write), its policy's id."""
    return wire({**body, "ID": 5, "ProviderID": 3, "ReferenceID": "ref-5", "Tags": tags})


@given(key=names, attrs=products())
def test_product_round_trips(key: str, attrs: Json) -> None:
    tag_ids = sorted(ids_for(attrs["tags"], 100).values())
    body = mapping.product_create_body(key, attrs, 3, tag_ids)
    created = _portal_product(body, attrs["tags"])
    policy = wire(mapping.product_policy_body(mapping.new_policy("ref-5", key), attrs["policy"]))
    assert mapping.product_attrs(created, attrs["provider"], policy) == attrs
    # an update over what the portal holds (and over the policy as it is) changes nothing
    update = mapping.product_update_body(key, attrs, created, tag_ids, [])
    updated = _portal_product({**created, **update}, attrs["tags"])
    policy = wire(mapping.product_policy_body(policy, attrs["policy"]))
    assert mapping.product_attrs(updated, attrs["provider"], policy) == attrs


# --------------------------------------------------------------------------------------------
# Plan (+ backing policy)


@st.composite
def plans(draw: st.DrawFn) -> Json:
    rate = draw(st.none() | st.fixed_dictionaries({"requests": positive, "per": positive}))
    quota = draw(st.none() | st.fixed_dictionaries({"requests": positive, "renewal": positive}))
    expires = draw(st.just(0) | positive)
    return {
        "provider": draw(names),
        "displayName": draw(texts),
        "description": draw(texts),
        "autoApprove": draw(flags),
        "keyExpiresIn": expires,
        "rateLimit": rate,
        "quota": quota,
        "policy": {
            "partitions": draw(partitions),
            **draw(policy_states),
            "rate": rate["requests"] if rate else -1,
            "per": rate["per"] if rate else -1,
            "quotaMax": quota["requests"] if quota else -1,
            "quotaRenewalRate": quota["renewal"] if quota else -1,
            "keyExpiresIn": expires,
        },
    }


@given(key=names, attrs=plans())
def test_plan_round_trips(key: str, attrs: Json) -> None:
    created = wire({**mapping.plan_body(key, attrs, 3), "ID": 6, "ReferenceID": "ref-6"})
    policy = wire(mapping.plan_policy_body(mapping.new_policy("ref-6", key), attrs["policy"]))
    assert mapping.plan_attrs(created, attrs["provider"], policy) == attrs
    updated = wire({**created, **mapping.plan_body(key, attrs, 3)})
    policy = wire(mapping.plan_policy_body(policy, attrs["policy"]))
    assert mapping.plan_attrs(updated, attrs["provider"], policy) == attrs


# --------------------------------------------------------------------------------------------
# Catalogue (+ audiences)

audiences = sorted_unique(st.tuples(names, st.just("") | names), max_size=4).map(
    lambda pairs: [{"organisation": o, "team": t} for o, t in pairs]
)
catalogues = st.fixed_dictionaries(
    {
        "visibility": st.sampled_from(["private", "public"]),
        "audience": audiences,
        "products": sorted_unique(names, max_size=3),
        "plans": sorted_unique(names, max_size=3),
    }
)


@given(key=names, attrs=catalogues)
def test_catalogue_round_trips(key: str, attrs: Json) -> None:
    product_ids, plan_ids = ids_for(attrs["products"], 20), ids_for(attrs["plans"], 40)
    body = mapping.catalogue_body(
        key, attrs, sorted(product_ids.values()), sorted(plan_ids.values())
    )
    orgs = ids_for(sorted({a["organisation"] for a in attrs["audience"]}), 60)
    teams = ids_for(sorted({(a["organisation"], a["team"]) for a in attrs["audience"]}), 80)
    default_ids = {i for (_, team), i in teams.items() if team == ""}
    listed = [
        wire({"ID": i, **mapping.audience_body(orgs[a["organisation"]], teams[key_])})
        for i, a in enumerate(attrs["audience"])
        for key_ in [(a["organisation"], a["team"])]
    ]
    org_names = {i: name for name, i in orgs.items()}
    team_names = {i: pair for pair, i in teams.items()}
    audience = [mapping.audience_entry(a, org_names, team_names, default_ids) for a in listed]
    product_names = {i: name for name, i in product_ids.items()}
    plan_names = {i: name for name, i in plan_ids.items()}
    # the portal shows Products/Plans as names (null when none) ...
    shown = wire({**body, "ID": 8, "Products": attrs["products"] or None})
    shown["Plans"] = attrs["plans"] or None
    assert mapping.catalogue_attrs(shown, audience, product_names, plan_names) == attrs
    # ... and one that answers with the IDs it was sent is understood too
    as_sent = wire({**body, "ID": 8})
    assert mapping.catalogue_attrs(as_sent, audience, product_names, plan_names) == attrs


# --------------------------------------------------------------------------------------------
# App and AccessRequest

apps = st.fixed_dictionaries(
    {
        "owner": emails,
        "name": names,
        "description": texts,
        "redirectUrls": sorted_unique(urls, max_size=3),
        "visibility": st.sampled_from(["personal", "team", "organisation"]),
    }
)


@settings(max_examples=150)
@given(attrs=apps)
def test_app_round_trips(attrs: Json) -> None:
    user_id = 12
    created = wire({**mapping.app_body(attrs, user_id), "ID": 30, "CreatedAt": "2026-12-04 10:00"})
    assert not mapping.app_differs(created, attrs)
    assert mapping.app_attrs(created, attrs["owner"]) == attrs
    updated = wire({**created, **mapping.app_body(attrs, user_id)})
    assert mapping.app_attrs(updated, attrs["owner"]) == attrs


requests = st.fixed_dictionaries(
    {
        "consumer": emails,
        "organisation": names,
        "app": st.fixed_dictionaries({"name": names}),
        "products": sorted_unique(names, min_size=1, max_size=3),
        "plan": names,
        "status": st.sampled_from(["approved", "pending", "rejected"]),
    }
)


@settings(max_examples=150)
@given(attrs=requests, products_as_string=flags)
def test_access_request_round_trips(attrs: Json, products_as_string: bool) -> None:
    user_id = 12
    app = {"Name": attrs["app"]["name"], "ID": 30}
    product_ids = ids_for(attrs["products"], 20)
    provision = mapping.provision_body(41, sorted(product_ids.values()))
    # the portal files the request under the app, naming what the IDs stand for
    by_id = {i: name for name, i in product_ids.items()}
    products_ = sorted(by_id[i] for i in provision["ProductIDs"])
    request = wire(
        {
            "ID": 50,
            "User": f"User#{user_id}",
            "Client": app["Name"],
            "Products": ",".join(products_) if products_as_string else products_,
            "Plan": {41: attrs["plan"]}[provision["PlanID"]],
            "Catalogue": "chosen by the portal",
            "Status": attrs["status"],
        }
    )
    assert parse_user_ref(request["User"]) == user_id
    consumer, organisation = attrs["consumer"], attrs["organisation"]
    known = attrs["products"]
    assert mapping.access_request_attrs(request, consumer, organisation, known) == attrs
    assert mapping.request_matches(request, attrs, set(known))
    assert mapping.request_catalogue(request) == "chosen by the portal"


# --------------------------------------------------------------------------------------------
# ApiDoc and Guide (a product's documentation)

oas_urls = st.one_of(st.just(""), urls)


@given(product=names, api_id=api_ids, url=oas_urls, document=st.binary(max_size=64))
def test_api_doc_round_trips(product: str, api_id: str, url: str, document: bytes) -> None:
    address = Content(document) if document else ""
    attrs = {"product": product, "apiId": api_id, "oasUrl": url, "document": address}
    current = {"APIID": api_id, "Description": "kept", "Name": api_id}
    body = docs_mapping.api_detail_body(current, url)
    assert body["Description"] == "kept"  # APIDetail-update: the description is not lost
    detail = wire({**current, **body})  # the portal answers APIDetail-show
    # the document's address is what the managed record keeps (a note), as a string
    note = wire({"document": str(address)})["document"]
    assert docs_mapping.api_doc_attrs(product, api_id, detail, note) == attrs


guides = st.fixed_dictionaries(
    {
        "title": texts.filter(bool),
        "path": st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True),
        "status": st.sampled_from(["published", "draft", "review"]),
        "markdown": st.just(True),
        "content": st.text(max_size=80).map(lambda t: Content(t.encode("utf-8"))),
        "position": st.integers(0, 5),
    }
)


@given(product=names, attrs=guides, post_id=positive)
def test_guide_round_trips(product: str, attrs: Json, post_id: int) -> None:
    attrs = {"product": product, **attrs}
    body = docs_mapping.post_body(attrs, attrs["content"].data)
    assert body["MarkdownEnabled"] is True
    post = wire({**body, "ID": post_id, "Type": "tutorial", "Lede": ""})  # Post-index-elem
    read = docs_mapping.guide_attrs(product, post, attrs["position"])
    assert read == attrs
    assert read["content"].data == attrs["content"].data


@given(
    pages=st.lists(st.tuples(positive, st.sampled_from("ABCDE")), unique_by=lambda p: p[0]),
    order=st.lists(st.sampled_from("ABCDEF"), unique=True),
)
def test_pages_are_put_in_the_manifest_order_the_others_after(
    pages: list[tuple[int, str]], order: list[str]
) -> None:
    wanted = docs_mapping.reordered(pages, order)
    assert sorted(wanted) == sorted(i for i, _ in pages)
    title = dict(pages)
    named = [i for i in wanted if title[i] in order]
    assert [order.index(title[i]) for i in named] == sorted(order.index(title[i]) for i in named)
    assert wanted[len(named) :] == [i for i, t in pages if t not in order]
    # a fixed point: in order already, it stays so
    assert docs_mapping.reordered([(i, title[i]) for i in wanted], order) == wanted
