"""The emulated portal's identities: providers (with their synchronisation from the Dashboard),
organisations with their teams, and users."""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING

from portal_gitops.backends.emulated.access import delete_app
from portal_gitops.backends.emulated.catalogue import (
    delete_team_audiences,
    drop_from_catalogues,
    insert_plan,
    insert_product,
)
from portal_gitops.backends.emulated.dashboard import delete_policy_of, provider_tags
from portal_gitops.backends.emulated.db import Row, Tx, new_cid, timestamp
from portal_gitops.backends.emulated.docs import delete_product_docs
from portal_gitops.backends.emulated.replies import (
    OK_ACTION,
    Params,
    Reply,
    Req,
    RouteTable,
    bool_field,
    id_list,
    int_field,
    need,
    need_child,
    perr,
    portal_page,
    r_org,
    r_org_elem,
    r_provider,
    r_team,
    r_team_elem,
    r_user,
    r_user_elem,
    required,
    str_field,
    unique,
)

if TYPE_CHECKING:
    from portal_gitops.backends.emulated.store import PortalStore

route = RouteTable()

DEFAULT_ORGANISATION_ID = 1
CONSUMER_ROLES = ("consumer-admin", "consumer-team-member")
ADMIN_ROLES = ("provider-admin", "super-admin")  # User-basis: their OrganisationID is always 0


# -- providers -------------------------------------------------------------------------------------


def _metadata(body: Row) -> str:
    conf = body.get("Configuration") or {}
    if not isinstance(conf, dict):
        raise perr(422, "Configuration must be an object")
    meta = conf.get("MetaData", "")
    if isinstance(meta, dict):
        return json.dumps(meta)
    if not isinstance(meta, str):
        raise perr(422, "Configuration.MetaData must be a JSON-encoded string")
    if meta:
        try:
            json.loads(meta)
        except ValueError:
            raise perr(422, "Configuration.MetaData is not valid JSON") from None
    return meta


@route("GET", "/providers")
def _providers_list(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    off, lim = portal_page(store, req)
    return 200, [r_provider(r, full=False) for r in tx.rows("provider", None, off, lim)]


@route("POST", "/providers")
def _providers_create(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    body = req.json()
    required(body, "Name")
    name = str_field(body, "Name")
    unique(tx, "provider", "provider", name)
    now = timestamp()
    row = tx.insert(
        "provider",
        {
            "Name": name,
            "Type": str_field(body, "Type", "tyk-pro") or "tyk-pro",
            "Status": "Unknown",
            "LastSyncedAt": "",
            "Configuration": {"MetaData": _metadata(body)},
            "CreatedAt": now,
            "UpdatedAt": now,
        },
    )
    row["Configuration"]["ID"] = row["ID"]
    return 200, r_provider(tx.save("provider", row))


@route("GET", "/providers/{id}")
def _providers_get(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    return 200, r_provider(need(tx, "provider", p["id"], "provider"))


@route("PUT", "/providers/{id}")
def _providers_update(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    row = need(tx, "provider", p["id"], "provider", 422)
    body = req.json()
    if "Name" in body:
        required(body, "Name")
        unique(tx, "provider", "provider", str_field(body, "Name"), row["ID"])
        row["Name"] = body["Name"]
    if "Type" in body:
        row["Type"] = str_field(body, "Type")
    if isinstance(body.get("Configuration"), dict) and "MetaData" in body["Configuration"]:
        row["Configuration"]["MetaData"] = _metadata(body)
    row["UpdatedAt"] = timestamp()
    return 200, r_provider(tx.save("provider", row))


@route("DELETE", "/providers/{id}")
def _providers_delete(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    row = need(tx, "provider", p["id"], "provider")
    for kind, field in (("product", "Products"), ("plan", "Plans")):
        for obj in tx.rows(kind):
            if obj["ProviderID"] == row["ID"]:
                delete_policy_of(store, tx, obj)
                drop_from_catalogues(tx, field, obj["ID"])
                if kind == "product":
                    delete_product_docs(tx, obj["ID"])
                tx.delete(kind, obj["ID"])
    tx.delete("provider", row["ID"])
    return 200, {"status": "ok"}


@route("PUT", "/providers/{id}/synchronize")
def _providers_sync(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    """Dashboard-first: import tagged partitioned policies; policy renames flow back."""
    provider = need(tx, "provider", p["id"], "provider", 422)
    tags = set(provider_tags(provider))
    linked: dict[str, tuple[str, Row]] = {}
    for kind in ("product", "plan"):
        for obj in tx.rows(kind):
            if obj.get("ReferenceID"):
                linked[obj["ReferenceID"]] = (kind, obj)
    for pol in tx.policies():
        parts = pol.get("partitions") or {}
        if pol["_id"] in linked:
            kind, obj = linked[pol["_id"]]
            if obj["ProviderID"] != provider["ID"]:
                continue
            if (
                pol.get("name")
                and (pol["name"] != obj["Name"])
                and tx.by_name(kind, pol["name"]) is None
            ):
                obj["Name"] = pol["name"]
            if kind == "product" and isinstance(parts, dict) and parts.get("acl"):
                obj["APIDetails"] = linked_apis(obj, pol)
            tx.save(kind, obj)
            continue
        if not isinstance(parts, dict) or not any(
            parts.get(k) for k in ("acl", "quota", "rate_limit")
        ):
            continue
        if tags and not tags.intersection(pol.get("tags") or []):
            continue
        name = str(pol.get("name") or pol["_id"])
        if parts.get("acl"):
            if tx.by_name("product", name) is None:
                apis = [
                    {"APIID": a, "Name": (r or {}).get("api_name", a)}
                    for a, r in (pol.get("access_rights") or {}).items()
                ]
                insert_product(
                    tx, provider, {"Name": name, "APIDetails": apis}, reference=pol["_id"]
                )
        elif tx.by_name("plan", name) is None:
            insert_plan(tx, provider, {"Name": name}, reference=pol["_id"], policy=pol)
    provider.update(Status="Up", LastSyncedAt=timestamp(), UpdatedAt=timestamp())
    tx.save("provider", provider)
    return 200, {"status": "ok", "message": OK_ACTION.format("Synchronize")}


def linked_apis(product: Row, policy: Row) -> list[Row]:
    """A linked product's APIs as its policy's access rights say (what the portal learns on
    synchronise, REFERENCE §9), keeping what it knew of the APIs it already had."""
    known = {d["APIID"]: d for d in product["APIDetails"]}
    rights = policy.get("access_rights") or {}
    return [
        known.get(api_id)
        or {
            "APIID": api_id,
            "Name": str((right.get("api_name") if isinstance(right, dict) else "") or api_id),
        }
        for api_id, right in sorted(rights.items())
    ]


# -- organisations ---------------------------------------------------------------------------------


def insert_default_team(tx: Tx, org: Row) -> Row:
    """The "All users" team every organisation is created with."""
    now = timestamp()
    return tx.insert(
        "team",
        {
            "Name": f"{org['Name']} All users",
            "OrganisationID": org["ID"],
            "Default": True,
            "CreatedAt": now,
            "UpdatedAt": now,
        },
    )


@route("GET", "/organisations")
def _orgs_list(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    off, lim = portal_page(store, req)
    return 200, [r_org_elem(r) for r in tx.rows("organisation", None, off, lim)]


@route("POST", "/organisations")
def _orgs_create(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    body = req.json()
    required(body, "Name")
    name = str_field(body, "Name")
    unique(tx, "organisation", "organisation", name)
    now = timestamp()
    org = tx.insert(
        "organisation",
        {
            "Name": name,
            "CID": str_field(body, "CID") or new_cid(),
            "CreatedAt": now,
            "UpdatedAt": now,
        },
    )
    insert_default_team(tx, org)
    return 200, r_org(tx, org)


@route("GET", "/organisations/{id}")
def _orgs_get(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    return 200, r_org(tx, need(tx, "organisation", p["id"], "organisation"))


@route("PUT", "/organisations/{id}")
def _orgs_update(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    org = need(tx, "organisation", p["id"], "organisation", 422)
    body = req.json()
    required(body, "Name")
    name = str_field(body, "Name")
    unique(tx, "organisation", "organisation", name, org["ID"])
    team = tx.default_team(org["ID"])
    if team is not None and team["Name"] == f"{org['Name']} All users":
        team.update(Name=f"{name} All users", UpdatedAt=timestamp())
        tx.save("team", team)
    org.update(Name=name, UpdatedAt=timestamp())
    return 200, r_org(tx, tx.save("organisation", org))


@route("DELETE", "/organisations/{id}")
def _orgs_delete(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    org = need(tx, "organisation", p["id"], "organisation")
    if org["ID"] == DEFAULT_ORGANISATION_ID:
        raise perr(422, "the Default Organisation cannot be deleted")
    default_team = tx.default_team(DEFAULT_ORGANISATION_ID)
    for user in tx.rows("user", parent=org["ID"]):
        user.update(
            OrganisationID=DEFAULT_ORGANISATION_ID,
            Teams=[default_team["ID"]] if default_team else [],
            UpdatedAt=timestamp(),
        )
        tx.save("user", user)
    for team in tx.rows("team", parent=org["ID"]):
        delete_team_audiences(tx, team["ID"])
        tx.delete("team", team["ID"])
    tx.delete("organisation", org["ID"])
    return 200, {"status": "ok"}


# -- teams -----------------------------------------------------------------------------------------


def _team_of(tx: Tx, p: dict[str, str], status: int = 404) -> tuple[Row, Row]:
    org = need(tx, "organisation", p["org"], "organisation", status)
    return org, need_child(tx, "team", p["id"], "team", ("OrganisationID", org["ID"]), status)


@route("GET", "/organisations/{org}/teams")
def _teams_list(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    org = need(tx, "organisation", p["org"], "organisation")
    off, lim = portal_page(store, req)
    return 200, [r_team_elem(t) for t in tx.rows("team", org["ID"], off, lim)]


@route("POST", "/organisations/{org}/teams")
def _teams_create(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    org = need(tx, "organisation", p["org"], "organisation", 422)
    body = req.json()
    required(body, "Name")
    name = str_field(body, "Name")
    unique(tx, "team", "team", name, parent=org["ID"])
    now = timestamp()
    team = tx.insert(
        "team",
        {
            "Name": name,
            "OrganisationID": org["ID"],
            "Default": False,
            "CreatedAt": now,
            "UpdatedAt": now,
        },
    )
    return 200, r_team(tx, team)


@route("GET", "/organisations/{org}/teams/{id}")
def _teams_get(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    return 200, r_team(tx, _team_of(tx, p)[1])


@route("PUT", "/organisations/{org}/teams/{id}")
def _teams_update(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    org, team = _team_of(tx, p, 422)
    body = req.json()
    if "Name" in body:
        required(body, "Name")
        unique(tx, "team", "team", str_field(body, "Name"), team["ID"], parent=org["ID"])
        team["Name"] = body["Name"]
    if "Users" in body:
        wanted = set(id_list(body, "Users"))
        for uid in wanted:
            user = need(tx, "user", uid, f"user {uid}", 422)
            if user["OrganisationID"] != org["ID"]:
                raise perr(422, f"user {uid} does not belong to organisation {org['Name']!r}")
        for user in tx.rows("user", parent=org["ID"]):
            member = team["ID"] in user["Teams"]
            if (user["ID"] in wanted) != member:
                user["Teams"] = (
                    [*user["Teams"], team["ID"]]
                    if not member
                    else [t for t in user["Teams"] if t != team["ID"]]
                )
                user["UpdatedAt"] = timestamp()
                tx.save("user", user)
    team["UpdatedAt"] = timestamp()
    return 200, r_team(tx, tx.save("team", team))


@route("DELETE", "/organisations/{org}/teams/{id}")
def _teams_delete(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    org, team = _team_of(tx, p)
    if team["Default"]:
        raise perr(422, "the default team of an organisation cannot be deleted")
    default = tx.default_team(org["ID"])
    for user in tx.rows("user", parent=org["ID"]):
        if team["ID"] in user["Teams"]:
            teams = [t for t in user["Teams"] if t != team["ID"]]
            if default and default["ID"] not in teams:
                teams.append(default["ID"])
            user.update(Teams=teams, UpdatedAt=timestamp())
            tx.save("user", user)
    delete_team_audiences(tx, team["ID"])
    tx.delete("team", team["ID"])
    return 200, {"status": "ok"}


# -- users -----------------------------------------------------------------------------------------


def _user_teams(tx: Tx, body: Row, org_id: int) -> list[int]:
    teams = id_list(body, "Teams", numeric_strings=True)
    for tid in teams:
        team = need(tx, "team", tid, f"team {tid}", 422)
        if team["OrganisationID"] != org_id:
            raise perr(422, f"team {tid} does not belong to the user's organisation")
    return teams


def _user_org(tx: Tx, body: Row, role: str) -> int:
    if role not in CONSUMER_ROLES + ADMIN_ROLES:
        raise perr(422, f"unknown role {role!r}")
    if "OrganisationID" in body and body["OrganisationID"] is not None:
        org_id = int_field(body, "OrganisationID")
    else:
        org_id = DEFAULT_ORGANISATION_ID if role in CONSUMER_ROLES else 0
    if role in ADMIN_ROLES and org_id:
        raise perr(422, "an admin user belongs to no organisation (OrganisationID 0)")
    if org_id:
        need(tx, "organisation", org_id, f"organisation {org_id}", 422)
    return org_id


@route("GET", "/users")
def _users_list(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    off, lim = portal_page(store, req)
    return 200, [r_user_elem(u) for u in tx.rows("user", None, off, lim)]


@route("POST", "/users")
def _users_create(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    body = req.json()
    required(body, "Email")
    email = str_field(body, "Email")
    if tx.by_name("user", email) is not None:
        raise perr(422, f"user with email {email!r} already exists")
    role = str_field(body, "Role", "consumer-team-member") or "consumer-team-member"
    org_id = _user_org(tx, body, role)
    teams = _user_teams(tx, body, org_id)
    if not teams and org_id and role in CONSUMER_ROLES:
        default = tx.default_team(org_id)
        teams = [default["ID"]] if default else []
    now = timestamp()
    user = tx.insert(
        "user",
        {
            "Email": email,
            "First": str_field(body, "First"),
            "Last": str_field(body, "Last"),
            "Role": role,
            "OrganisationID": org_id,
            "Provider": str_field(body, "Provider", "password") or "password",
            "Active": bool_field(body, "Active", True),
            "ResetPassword": bool_field(body, "ResetPassword"),
            # Password: not in the spec, sent on create by tyk-demo (REFERENCE.md §4 "Users").
            # Only whether one was set is kept, and no reply ever carries it.
            "HasPassword": bool(str_field(body, "Password")),
            "Teams": teams,
            "JWTToken": secrets.token_hex(16),
            "APITokenCreatedAt": now[:10],
            "CreatedAt": now,
            "UpdatedAt": now,
        },
    )
    return 200, r_user(tx, user)


@route("GET", "/users/{id}")
def _users_get(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    return 200, r_user(tx, need(tx, "user", p["id"], "user"))


@route("PUT", "/users/{id}")
def _users_update(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    user = need(tx, "user", p["id"], "user", 422)
    body = req.json()
    if "Email" in body:
        required(body, "Email")
        other = tx.by_name("user", str_field(body, "Email"))
        if other is not None and other["ID"] != user["ID"]:
            raise perr(422, f"user with email {body['Email']!r} already exists")
        user["Email"] = body["Email"]
    for field in ("First", "Last", "Role", "Provider"):
        if field in body:
            user[field] = str_field(body, field)
    for field in ("Active", "ResetPassword"):
        if field in body:
            user[field] = bool_field(body, field)
    if "OrganisationID" in body or "Role" in body:
        org_id = _user_org(tx, {"OrganisationID": user["OrganisationID"], **body}, user["Role"])
        if org_id != user["OrganisationID"]:
            default = tx.default_team(org_id) if org_id else None
            user.update(OrganisationID=org_id, Teams=[default["ID"]] if default else [])
    if "Teams" in body:
        user["Teams"] = _user_teams(tx, body, user["OrganisationID"])
    user["UpdatedAt"] = timestamp()
    return 200, r_user(tx, tx.save("user", user))


@route("DELETE", "/users/{id}")
def _users_delete(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    user = need(tx, "user", p["id"], "user")
    for app in tx.rows("app", parent=user["ID"]):
        delete_app(tx, app)
    tx.delete("user", user["ID"])
    return 200, {"status": "ok"}
