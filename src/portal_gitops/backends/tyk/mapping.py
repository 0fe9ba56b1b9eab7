"""Tyk JSON <-> canonical attrs (state.py) per kind, pure: each kind's read (a portal reply to
attrs) sits beside its write (attrs to the request body), so a new Tyk field touches one place.

Names are resolved by the caller: reads take the names behind the portal's IDs, writes the IDs
behind the attrs' names (``ids.py``).
"""

from __future__ import annotations

import json
from collections.abc import Container, Iterable, Mapping
from typing import Any

from portal_gitops.backends.tyk.quirks import (
    as_int,
    canonical_access_rights,
    name_of,
    number,
    parse_limit,
    parse_names,
    parse_names_or_ids,
    parse_redirect_urls,
    provider_metadata,
    text,
)
from portal_gitops.state import MANAGED_POLICY_TAG, Sensitive, default_team_name

Json = dict[str, Any]

BUILTIN_CATALOGUES = frozenset({"Public Catalogue", "Private Catalogue"})
CONSUMER_ROLES = frozenset({"consumer-admin", "consumer-team-member"})
DEFAULT_PROVIDER_TYPE = "tyk-pro"


# --------------------------------------------------------------------------------------------
# Provider: Configuration.MetaData is a JSON-encoded string


def provider_attrs(provider: Mapping[str, Any]) -> Json:
    """Read: a provider (detail) to canonical attrs."""
    meta = provider_metadata(provider)
    return {
        "type": text(provider.get("Type")) or DEFAULT_PROVIDER_TYPE,
        "dashboardUrl": text(meta.get("URL")),
        "orgId": text(meta.get("OrgID")),
        "gatewayUrl": text(meta.get("Gateway")),
        "policyTags": sorted({t for t in meta.get("PoliciesTags") or [] if isinstance(t, str)}),
        "insecureSkipVerify": bool(meta.get("InsecureSkipVerify")),
        "secret": Sensitive("live", text(meta.get("Secret")) or None),
    }


def provider_metadata_json(attrs: Mapping[str, Any], secret: str) -> str:
    """Write: ``Configuration.MetaData`` for the attrs, with the resolved ``secret``."""
    meta = {
        "URL": text(attrs.get("dashboardUrl")),
        "Secret": secret,
        "OrgID": text(attrs.get("orgId")),
        "Gateway": text(attrs.get("gatewayUrl")),
        "PoliciesTags": sorted(attrs.get("policyTags") or []),
        "InsecureSkipVerify": bool(attrs.get("insecureSkipVerify")),
    }
    return json.dumps(meta, separators=(",", ":"))


def provider_create_body(key: str, attrs: Mapping[str, Any], meta: str) -> Json:
    return {
        "Name": key,
        "Type": text(attrs.get("type")) or DEFAULT_PROVIDER_TYPE,
        "Configuration": {"MetaData": meta},
    }


def provider_update_body(key: str, meta: str, config_id: int | None) -> Json:
    """Write: the update body carries the configuration's ID (and no ``Type``)."""
    configuration: Json = {"MetaData": meta}
    if config_id is not None:
        configuration["ID"] = config_id
    return {"Name": key, "Configuration": configuration}


# --------------------------------------------------------------------------------------------
# Organisation and Team: a name is all they have


def organisation_body(key: str) -> Json:
    return {"Name": key}


def is_default_team(org_name: str, team: Mapping[str, Any]) -> bool:
    return team.get("Default") is True or name_of(team) == default_team_name(org_name)


def team_attrs(org_name: str, team_name: str) -> Json:
    return {"organisation": org_name, "name": team_name}


def team_body(attrs: Mapping[str, Any]) -> Json:
    return {"Name": text(attrs.get("name"))}


# --------------------------------------------------------------------------------------------
# User (consumers only: admins are never touched)

PASSWORD_PROVIDER = "password"


def new_user(attrs: Mapping[str, Any]) -> Json:
    """What a create adds to the user body: how the user signs in (REFERENCE.md §9 "Users":
    a password user with no password and no reset cannot log in).

    SSO: ``Provider`` is the SSO provider's name. A password from a secret: ``Password`` (not
    in the spec; tyk-demo sends it on create, REFERENCE.md §4 "Users"). Neither: invited,
    ``ResetPassword: true`` (the portal emails a link to set a password).
    """
    body: Json = {"Provider": text(attrs.get("sso")) or PASSWORD_PROVIDER, "Active": True}
    password = attrs.get("password")
    if isinstance(password, Sensitive) and password.value:
        body["Password"] = password.value
    body["ResetPassword"] = not attrs.get("sso") and "Password" not in body
    return body


def user_sign_in_update(live: Mapping[str, Any], attrs: Mapping[str, Any]) -> Json:
    """What an update adds: the ``Provider`` (read back, so compared); a user moved from SSO
    to password sign-in is sent a reset email (``Password`` is documented on create only)."""
    body: Json = {"Provider": text(attrs.get("sso")) or PASSWORD_PROVIDER}
    if live.get("sso") and not attrs.get("sso"):
        body["ResetPassword"] = True
    return body


def is_consumer(user: Mapping[str, Any]) -> bool:
    return text(user.get("Role")) in CONSUMER_ROLES


def user_attrs(
    user: Mapping[str, Any],
    organisation: str,
    teams: Iterable[str],
    *,
    in_default_team: bool = True,
) -> Json:
    """Read: a user with its organisation's name and the names of its (non-default) teams.

    A consumer outside its organisation's default team is not covered by an audience entry
    without a team (REFERENCE.md §9 "Team membership"): that shows as ``inDefaultTeam:
    false``, which no manifest asks for, so the plan updates the user (``user_teams`` puts the
    default team back).
    """
    attrs: Json = {
        "organisation": organisation,
        "first": text(user.get("First")),
        "last": text(user.get("Last")),
        "role": text(user.get("Role")),
        "teams": sorted(teams),
    }
    provider = text(user.get("Provider"))
    if provider and provider != PASSWORD_PROVIDER:
        attrs["sso"] = provider
    if not in_default_team:
        attrs["inDefaultTeam"] = False
    return attrs


def user_body(key: str, attrs: Mapping[str, Any], org_id: int) -> Json:
    return {
        "Email": key,
        "First": text(attrs.get("first")),
        "Last": text(attrs.get("last")),
        "Role": text(attrs.get("role")) or "consumer-team-member",
        "OrganisationID": org_id,
    }


def user_teams(team_ids: Iterable[int], default_team: int) -> list[str]:
    """Write: User-update ``Teams``, team IDs typed as strings in the spec.

    ``Teams`` replaces the user's teams, the organisation's default team included only if
    sent (REFERENCE.md §9 "Team membership"), so it is always sent: an audience entry without
    a team (the default team) then covers every member of the organisation.
    """
    return [str(i) for i in sorted({*team_ids, default_team})]


# --------------------------------------------------------------------------------------------
# backing policies (Dashboard): shared by products and plans


def policy_partitions(policy: Mapping[str, Any]) -> dict[str, bool]:
    parts = policy.get("partitions")
    parts = parts if isinstance(parts, dict) else {}  # decoded JSON: objects are dicts
    return {k: bool(parts.get(k)) for k in ("acl", "quota", "rate_limit")}


def policy_state(policy: Mapping[str, Any]) -> Json:
    """Read: a policy's ``active`` and ``state`` (REFERENCE §6; the dash spec lacks ``state``:
    a Dashboard that omits it is read from ``active``, as ``active`` or ``deny``)."""
    active = policy.get("active") is not False and policy.get("is_inactive") is not True
    state = text(policy.get("state")) or ("active" if active else "deny")
    return {"active": active, "state": state}


def new_policy(reference: str, name: str) -> Json:
    """Write: a backing policy deleted in the Dashboard, made again under the same ``_id``."""
    return {
        "_id": reference,
        "id": reference,
        "name": name,
        "active": True,
        "is_inactive": False,
        "state": "active",
    }


def policy_body(current: Mapping[str, Any], policy: Mapping[str, Any]) -> Json:
    """Write: the common fields of a backing policy (partitions, our tag) over ``current``."""
    body = dict(current)
    partitions = dict(body.get("partitions") or {})
    partitions.update({k: bool(v) for k, v in (policy.get("partitions") or {}).items()})
    partitions["per_api"] = False  # cannot be combined with the other partitions
    body["partitions"] = partitions
    tags = [t for t in body.get("tags") or [] if isinstance(t, str)]
    body["tags"] = sorted(set(tags) | {MANAGED_POLICY_TAG})
    active = policy.get("active", True) is not False
    body["active"], body["is_inactive"] = active, not active
    body["state"] = text(policy.get("state")) or ("active" if active else "deny")
    return body


def expires(value: Any) -> int:
    seconds = as_int(number(value, 0))
    return seconds if seconds and seconds > 0 else 0


# --------------------------------------------------------------------------------------------
# Product (+ its backing policy: access rights)

PRODUCT_KEEP = ("Scopes", "Path", "Feature", "DCREnabled", "AuthType")
"""Product fields the tool does not manage, sent back as read on update."""


def product_attrs(product: Mapping[str, Any], provider: str, policy: Json | None) -> Json:
    """Read: a product (detail) with its provider's name and its backing policy."""
    apis = product_apis(product)
    return {
        "provider": provider,
        "displayName": text(product.get("DisplayName")),
        "description": text(product.get("Description")),
        "content": text(product.get("Content")),
        "tags": sorted(set(parse_names(product.get("Tags")))),
        "apis": apis,
        "policy": product_policy_attrs(policy),
    }


def product_apis(product: Mapping[str, Any]) -> list[str]:
    """Read: the IDs of a product's APIs (``APIDetails[].APIID``), sorted."""
    return sorted(
        {
            d["APIID"]
            for d in product.get("APIDetails") or ()
            if isinstance(d, dict) and isinstance(d.get("APIID"), str) and d["APIID"]
        }
    )


def product_create_body(
    key: str, attrs: Mapping[str, Any], provider_id: int, tag_ids: list[int]
) -> Json:
    body: Json = {
        "Name": key,
        "ProviderID": provider_id,
        "IsDocumentationOnly": False,
        "DisplayName": text(attrs.get("displayName")),
        "Description": text(attrs.get("description")),
        "Content": text(attrs.get("content")),
        "APIDetails": [{"APIID": api} for api in attrs.get("apis") or []],
    }
    if tag_ids:
        body["Tags"] = tag_ids
    return body


def product_update_body(
    key: str,
    attrs: Mapping[str, Any],
    current: Mapping[str, Any],
    tag_ids: list[int],
    catalogue_ids: list[int],
) -> Json:
    """Write: the whole product for a PUT (no ``ProviderID``), over what ``current`` holds:
    the APIs' descriptions and OAS URLs and the fields the tool does not manage are kept;
    catalogue membership is driven from the catalogue side (the portal's, as IDs)."""
    existing = {
        text(d.get("APIID")): d for d in current.get("APIDetails") or [] if isinstance(d, Mapping)
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
        "Name": key,
        "DisplayName": text(attrs.get("displayName")),
        "Description": text(attrs.get("description")),
        "Content": text(attrs.get("content")),
        "APIDetails": details,
        "Tags": tag_ids,
        "Catalogues": catalogue_ids,
    }
    for keep in PRODUCT_KEEP:
        if keep in current and current[keep] is not None:
            body[keep] = current[keep]
    return body


def product_policy_attrs(policy: Mapping[str, Any] | None) -> Json | None:
    if policy is None:
        return None
    return {
        "partitions": policy_partitions(policy),
        **policy_state(policy),
        "accessRights": canonical_access_rights(policy.get("access_rights")),
    }


def product_policy_body(current: Mapping[str, Any], policy: Mapping[str, Any]) -> Json:
    """Write: the product's backing policy (``current`` or a new one) brought to ``policy``."""
    body = policy_body(current, policy)
    body["access_rights"] = access_rights(
        policy.get("accessRights") or [], body.get("access_rights")
    )
    return body


def access_rights(rights: Iterable[Mapping[str, Any]], current: Any) -> Json:
    """Write: canonical access rights as the policy's map, over each API's current entry."""
    existing = current if isinstance(current, Mapping) else {}
    out: Json = {}
    for right in rights:
        api_id = str(right["apiId"])
        entry = dict(existing.get(api_id) or {})
        entry.setdefault("api_name", "")
        entry["api_id"] = api_id
        entry["versions"] = list(right.get("versions") or [])
        entry["allowed_urls"] = [
            {"url": u["url"], "methods": list(u["methods"])} for u in right.get("allowedUrls") or []
        ]
        out[api_id] = entry
    return out


# --------------------------------------------------------------------------------------------
# Plan (+ its backing policy: rate, quota, expiry)

PLAN_KEEP = ("JWTScope", "MetaData", "CID")
"""Plan fields the tool does not manage, sent back as read on update (when set)."""


def plan_attrs(plan: Mapping[str, Any], provider: str, policy: Json | None) -> Json:
    """Read: a plan (detail) with its provider's name and its backing policy."""
    rate, quota = plan_limits(plan)
    return {
        "provider": provider,
        "displayName": text(plan.get("DisplayName")),
        "description": text(plan.get("Description")),
        "autoApprove": plan.get("AutoApproveAccessRequests") is True,
        "keyExpiresIn": expires(plan.get("KeyExpiresIn")),
        "rateLimit": rate,
        "quota": quota,
        "policy": plan_policy_attrs(policy),
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


def plan_body(key: str, attrs: Mapping[str, Any], provider_id: int) -> Json:
    body: Json = {
        "Name": key,
        "ProviderID": provider_id,
        "DisplayName": text(attrs.get("displayName")),
        "Description": text(attrs.get("description")),
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


def plan_policy_attrs(policy: Mapping[str, Any] | None) -> Json | None:
    if policy is None:
        return None
    return {
        "partitions": policy_partitions(policy),
        **policy_state(policy),
        "rate": number(policy.get("rate"), 0),
        "per": number(policy.get("per"), 0),
        "quotaMax": number(policy.get("quota_max"), 0),
        "quotaRenewalRate": number(policy.get("quota_renewal_rate"), 0),
        "keyExpiresIn": expires(policy.get("key_expires_in")),
    }


def plan_policy_body(current: Mapping[str, Any], policy: Mapping[str, Any]) -> Json:
    """Write: the plan's backing policy (``current`` or a new one) brought to ``policy``."""
    body = policy_body(current, policy)
    body["rate"] = policy.get("rate", -1)
    body["per"] = policy.get("per", -1)
    body["quota_max"] = policy.get("quotaMax", -1)
    body["quota_renewal_rate"] = policy.get("quotaRenewalRate", -1)
    body["key_expires_in"] = policy.get("keyExpiresIn", 0)
    return body


def kept_catalogues(current: Mapping[str, Any]) -> tuple[list[int], list[str]] | None:
    """A plan's current ``Catalogues`` (names on read, IDs tolerated) as (IDs, names); None
    when it lists none (the update leaves them alone)."""
    catalogues = current.get("Catalogues")
    if not isinstance(catalogues, list) or not catalogues:
        return None
    ids = [as_int(c) for c in catalogues if not isinstance(c, str)]
    names = [c for c in catalogues if isinstance(c, str)]
    return sorted({i for i in ids if i is not None}), names


# --------------------------------------------------------------------------------------------
# Catalogue (+ its audiences: one per organisation team)


def catalogue_attrs(
    catalogue: Mapping[str, Any],
    audience: Iterable[tuple[str, str]],
    product_names: Mapping[int, str],
    plan_names: Mapping[int, str],
) -> Json:
    """Read: a catalogue (detail) with its audience as (organisation, team) names."""
    return {
        "visibility": text(catalogue.get("VisibilityStatus")).lower() or "private",
        "audience": [{"organisation": o, "team": t} for o, t in sorted(set(audience))],
        "products": sorted(set(parse_names_or_ids(catalogue.get("Products"), product_names))),
        "plans": sorted(set(parse_names_or_ids(catalogue.get("Plans"), plan_names))),
    }


def catalogue_body(
    key: str, attrs: Mapping[str, Any], product_ids: list[int], plan_ids: list[int]
) -> Json:
    return {
        "Name": key,
        "VisibilityStatus": "Public" if attrs.get("visibility") == "public" else "Private",
        # null clears the list (Catalogue-update in the spec)
        "Products": product_ids or None,
        "Plans": plan_ids or None,
    }


def audience_ids(audience: Mapping[str, Any]) -> tuple[int, int]:
    """Read: an audience's (organisation ID, team ID)."""
    return as_int(audience.get("OrganisationID")) or 0, as_int(audience.get("TeamID")) or 0


def audience_entry(
    audience: Mapping[str, Any],
    org_names: Mapping[int, str],
    team_names: Mapping[int, tuple[str, str]],
    default_team_ids: Container[int],
) -> tuple[str, str]:
    """Read: an audience as (organisation, team) names; team "" is the default team."""
    org_id, team_id = audience_ids(audience)
    org_name = org_names.get(org_id, f"#{org_id}")
    if team_id in default_team_ids:
        return org_name, ""
    return org_name, team_names.get(team_id, (org_name, f"#{team_id}"))[1]


def audience_body(org_id: int, team_id: int) -> Json:
    """Write: one audience, a team of an organisation (its default team for the whole of it)."""
    return {"OrganisationID": org_id, "TeamID": team_id}


# --------------------------------------------------------------------------------------------
# App and AccessRequest


def access_request_attrs(
    request: Mapping[str, Any],
    consumer: str,
    organisation: str,
    known_products: Iterable[str],
) -> Json:
    """Read: a request with its app's name (``Client``), its consumer's email and the
    consumer's organisation (the app itself is an App)."""
    return {
        "consumer": consumer,
        "organisation": organisation,
        "app": {"name": text(request.get("Client"))},
        "products": sorted(set(parse_names(request.get("Products"), known_products))),
        "plan": text(request.get("Plan")),
        "status": request_status(request),
    }


CREDENTIAL_SECRETS = ("Credential", "CredentialHash", "OAuthClientSecret")
"""The fields of a credential reply that hold a secret (REFERENCE.md §4 "credentials"): read
only to be registered as secrets, never kept."""


def request_catalogue(request: Mapping[str, Any]) -> str:
    """Read: the catalogue the portal recorded on a request (its choice, not ours: not part
    of the canonical attrs; REFERENCE.md §9 "Provision body")."""
    return text(request.get("Catalogue"))


def request_status(request: Mapping[str, Any]) -> str:
    return text(request.get("Status")) or "pending"


def request_matches(
    request: Mapping[str, Any], attrs: Mapping[str, Any], products: set[str]
) -> bool:
    """A live request asks for what the attrs ask (the catalogue is the portal's choice)."""
    return text(request.get("Plan")) == attrs.get("plan") and set(
        parse_names(request.get("Products"), products)
    ) == set(attrs.get("products") or [])


def provision_body(plan_id: int, product_ids: list[int]) -> Json:
    """Write: only the documented fields (REFERENCE.md §9 "Provision body": no CatalogueID)."""
    return {"PlanID": plan_id, "ProductIDs": product_ids}


def app_visibility(app: Mapping[str, Any]) -> str:
    """Read: an app's ``Visibility``; the portal's default (organisation) when absent
    (REFERENCE.md §4 "Apps")."""
    return text(app.get("Visibility")) or "organisation"


def app_attrs(app: Mapping[str, Any], owner: str) -> Json:
    """Read: an app (the spec's ``Client-show``) with its owner's email."""
    return {
        "owner": owner,
        "name": name_of(app),
        "description": text(app.get("Description")),
        "redirectUrls": parse_redirect_urls(app.get("RedirectURLs")),
        "visibility": app_visibility(app),
    }


def app_body(app: Mapping[str, Any], user_id: int) -> Json:
    """Write: the spec's ``Client-basic`` (App create and update)."""
    return {
        "Name": text(app.get("name")),
        "Description": text(app.get("description")),
        "RedirectURLs": ",".join(sorted(app.get("redirectUrls") or [])),
        "UserID": user_id,
        "Visibility": text(app.get("visibility")) or "personal",
    }


def app_differs(current: Mapping[str, Any], app: Mapping[str, Any]) -> bool:
    """The live app's description, redirect URLs or visibility are not the attrs' ones."""
    return (
        text(current.get("Description")) != text(app.get("description"))
        or parse_redirect_urls(current.get("RedirectURLs")) != sorted(app.get("redirectUrls") or [])
        or app_visibility(current) != (text(app.get("visibility")) or "personal")
    )
