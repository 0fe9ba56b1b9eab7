"""The emulated portal's catalogue: products (and their tags), plans, catalogues and their
audiences; creating a product or plan creates its backing policy in the Dashboard."""

from __future__ import annotations

from typing import TYPE_CHECKING

from portal_gitops.backends.emulated import apis as api_definitions
from portal_gitops.backends.emulated.dashboard import (
    access_rights,
    delete_policy_of,
    new_backing_policy,
    plan_policy_fields,
    update_backing_policy,
)
from portal_gitops.backends.emulated.db import Row, Tx, new_cid, slug, timestamp
from portal_gitops.backends.emulated.docs import delete_product_docs
from portal_gitops.backends.emulated.replies import (
    Params,
    Reply,
    Req,
    RouteTable,
    as_int,
    bool_field,
    id_list,
    int_field,
    need,
    number,
    perr,
    portal_page,
    r_audience,
    r_catalogue,
    r_plan,
    r_product,
    r_tag,
    required,
    str_field,
    unique,
)

if TYPE_CHECKING:
    from portal_gitops.backends.emulated.store import PortalStore

route = RouteTable()

VISIBILITIES = ("Public", "Private")
API_EDIT = ("Description", "OASUrl")  # the spec's Product-APIDetail-edit


# -- memberships -----------------------------------------------------------------------------------


def set_memberships(tx: Tx, field: str, oid: int, catalogue_ids: list[int]) -> None:
    """Make ``oid`` (a product or plan) listed in exactly these catalogues."""
    for cid in catalogue_ids:
        need(tx, "catalogue", cid, f"catalogue {cid}", 422)
    wanted = set(catalogue_ids)
    for cat in tx.rows("catalogue"):
        listed = oid in cat[field]
        if (cat["ID"] in wanted) != listed:
            cat[field] = [*cat[field], oid] if not listed else [x for x in cat[field] if x != oid]
            cat["UpdatedAt"] = timestamp()
            tx.save("catalogue", cat)


def drop_from_catalogues(tx: Tx, field: str, oid: int) -> None:
    """Take ``oid`` (a product or plan being deleted) out of every catalogue."""
    set_memberships(tx, field, oid, [])


def _provider_of(tx: Tx, body: Row) -> Row:
    int_field(body, "ProviderID")
    return need(tx, "provider", body["ProviderID"], f"provider {body['ProviderID']}", 422)


def delete_team_audiences(tx: Tx, team_id: int) -> None:
    """Delete the audiences naming a team (the team, or its organisation, is being deleted)."""
    for aud in tx.rows("audience"):
        if aud["TeamID"] == team_id:
            tx.delete("audience", aud["ID"])


# -- tags (products' ``Tags`` are tag IDs on write, names on read) ---------------------------------


@route("GET", "/tags")
def _tags_list(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    off, lim = portal_page(store, req)
    return 200, [{"ID": t["ID"], "Name": t["Name"]} for t in tx.rows("tag", None, off, lim)]


def _tag_named(tx: Tx, body: Row) -> Row:
    required(body, "Name")
    name = str_field(body, "Name")
    return tx.by_name("tag", name) or tx.insert("tag", {"Name": name})


@route("POST", "/tags")
def _tags_create(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    body = req.json()
    required(body, "Name")
    unique(tx, "tag", "tag", str_field(body, "Name"))
    return 201, r_tag(tx, _tag_named(tx, body))


@route("GET", "/tags/{id}")
def _tags_get(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    return 200, r_tag(tx, need(tx, "tag", p["id"], "tag"))


@route("DELETE", "/tags/{id}")
def _tags_delete(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    tag = need(tx, "tag", p["id"], "tag")
    for product in tx.rows("product"):
        if tag["ID"] in product["Tags"]:
            product["Tags"] = [t for t in product["Tags"] if t != tag["ID"]]
            tx.save("product", product)
    tx.delete("tag", tag["ID"])
    return 200, {"status": "ok"}


@route("GET", "/products/{id}/tags")
def _product_tags_list(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    product = need(tx, "product", p["id"], "product")
    return 200, [{"Name": n} for t in product["Tags"] if (n := tx.name_of("tag", t))]


@route("POST", "/products/{id}/tags")
def _product_tags_add(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    product = need(tx, "product", p["id"], "product", 422)
    tag = _tag_named(tx, req.json())
    if tag["ID"] not in product["Tags"]:
        product["Tags"].append(tag["ID"])
        tx.save("product", product)
    return 201, {"Name": tag["Name"]}


@route("DELETE", "/products/{id}/tags/{name}")
def _product_tags_remove(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    product = need(tx, "product", p["id"], "product")
    tag = tx.by_name("tag", p["name"])
    if tag is None or tag["ID"] not in product["Tags"]:
        raise perr(404, f"tag {p['name']!r} not found on this product")
    product["Tags"] = [t for t in product["Tags"] if t != tag["ID"]]
    tx.save("product", product)
    return 200, {"status": "ok"}


# -- products --------------------------------------------------------------------------------------


def _api_details(body: Row) -> list[Row]:
    value = body.get("APIDetails")
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(d, dict) for d in value):
        raise perr(422, "APIDetails must be an array of objects")
    out: dict[str, Row] = {}
    for d in value:
        api_id = d.get("APIID")
        if not isinstance(api_id, str) or not api_id:
            raise perr(422, "APIDetails[].APIID is required")
        out[api_id] = {
            "APIID": api_id,
            **{
                k: d[k]
                for k in ("Name", "Description", "OASUrl", "APIType", "ListenPath", "TargetURL")
                if isinstance(d.get(k), str)
            },
        }
    return list(out.values())


def _tag_ids(tx: Tx, body: Row) -> list[int]:
    ids = id_list(body, "Tags")
    for tid in ids:
        need(tx, "tag", tid, f"tag {tid}", 422)
    return ids


def insert_product(tx: Tx, provider: Row, body: Row, *, reference: str = "") -> Row:
    """A new product from a request body, backed by a new policy unless ``reference`` names one
    (a provider's synchronisation imports existing policies)."""
    name = str_field(body, "Name")
    unique(tx, "product", "product", name)
    apis = _api_details(body)
    if not reference:  # (a policy imported by a synchronisation already names known APIs)
        api_definitions.check_product_apis(tx, (d["APIID"] for d in apis))
        reference = new_backing_policy(
            tx,
            provider,
            name,
            {
                "partitions": {
                    "acl": True,
                    "quota": False,
                    "rate_limit": False,
                    "complexity": False,
                    "per_api": False,
                },
                "access_rights": access_rights(tx, apis, {}),
                "rate": -1,
                "per": -1,
                "quota_max": -1,
                "quota_renewal_rate": -1,
            },
        )
    now = timestamp()
    row = tx.insert(
        "product",
        {
            "CID": str_field(body, "CID") or new_cid(),
            "Name": name,
            "DisplayName": str_field(body, "DisplayName", name),
            "Description": str_field(body, "Description"),
            "Content": str_field(body, "Content"),
            "Feature": bool_field(body, "Feature"),
            "DCREnabled": bool_field(body, "DCREnabled"),
            "Scopes": str_field(body, "Scopes"),
            "Path": str_field(body, "Path") or slug(name),
            "IsDocumentationOnly": bool_field(body, "IsDocumentationOnly"),
            "ProviderID": provider["ID"],
            "ReferenceID": reference,
            "APIDetails": apis,
            "Tags": _tag_ids(tx, body),
            "AuthType": "authToken",
            "AuthTypes": ["authToken"],
            "Logo": "",
            "Preview": "",
            "SpecDetails": [],
            "CreatedAt": now,
            "UpdatedAt": now,
        },
    )
    catalogues = id_list(body, "Catalogues")
    if catalogues:  # a new product is in no catalogue yet: nothing to take it out of
        set_memberships(tx, "Products", row["ID"], catalogues)
    return row


@route("GET", "/products")
def _products_list(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    off, lim = portal_page(store, req)
    return 200, [r_product(store, tx, r, full=False) for r in tx.rows("product", None, off, lim)]


@route("POST", "/products")
def _products_create(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    body = req.json()
    required(body, "Name", "ProviderID")
    if "IsDocumentationOnly" not in body:
        raise perr(422, "missing required field(s): IsDocumentationOnly")
    provider = _provider_of(tx, body)
    return 201, r_product(store, tx, insert_product(tx, provider, body))


@route("GET", "/products/{id}")
def _products_get(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    return 200, r_product(store, tx, need(tx, "product", p["id"], "product"))


@route("PUT", "/products/{id}")
def _products_update(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    row = need(tx, "product", p["id"], "product", 422)
    body = req.json()
    policy: Row = {}
    if "Name" in body:
        required(body, "Name")
        unique(tx, "product", "product", str_field(body, "Name"), row["ID"])
        row["Name"] = policy["name"] = body["Name"]
    for field in ("DisplayName", "Description", "Content", "Scopes", "Path", "AuthType"):
        if field in body:
            row[field] = str_field(body, field)
    for field in ("Feature", "DCREnabled", "IsDocumentationOnly"):
        if field in body:
            row[field] = bool_field(body, field)
    if "APIDetails" in body and store.product_update_api_ids == "honour":
        apis = _api_details(body)
        api_definitions.check_product_apis(tx, (d["APIID"] for d in apis))
        old = {d["APIID"]: d for d in row["APIDetails"]}
        row["APIDetails"] = [{**old.get(d["APIID"], {}), **d} for d in apis]
        current = tx.policy(row.get("ReferenceID") or "")
        rights = (current or {}).get("access_rights") or {}
        policy["access_rights"] = access_rights(tx, row["APIDetails"], rights)
    elif "APIDetails" in body:
        # Product-APIDetail-edit has only Description and OASUrl: the product's APIs stay
        # (they follow its policy on synchronise); only the listed ones' texts change
        edits = {d["APIID"]: d for d in _api_details(body)}
        row["APIDetails"] = [
            {**d, **{k: v for k, v in edits.get(d["APIID"], {}).items() if k in API_EDIT}}
            for d in row["APIDetails"]
        ]
    if "Tags" in body:
        row["Tags"] = _tag_ids(tx, body)
    if "Catalogues" in body:
        set_memberships(tx, "Products", row["ID"], id_list(body, "Catalogues"))
    if policy:
        update_backing_policy(tx, row, policy)
    row["UpdatedAt"] = timestamp()
    return 200, r_product(store, tx, tx.save("product", row))


@route("DELETE", "/products/{id}")
def _products_delete(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    row = need(tx, "product", p["id"], "product")
    delete_policy_of(store, tx, row)
    drop_from_catalogues(tx, "Products", row["ID"])
    delete_product_docs(tx, row["ID"])
    tx.delete("product", row["ID"])
    return 200, {"status": "ok"}


# -- plans -----------------------------------------------------------------------------------------


def _plan_fields(body: Row, row: Row) -> Row:
    """Apply a PlanRequest's optional fields onto ``row`` (a plan being created/updated)."""
    for field in ("DisplayName", "Description", "JWTScope", "CID"):
        if field in body:
            row[field] = str_field(body, field)
    for field in ("AutoApproveAccessRequests", "UnlimitedQuota", "UnlimitedRateLimit"):
        if field in body:
            row[field] = bool_field(body, field)
    for field in ("RateLimit", "Quota"):
        if field in body:
            value = number(body[field], field)
            row[field] = None if value is None else as_int(value)
            if value is None and body[field] is not None:  # the legacy "unlimited"
                row["UnlimitedRateLimit" if field == "RateLimit" else "UnlimitedQuota"] = True
    for field in (
        "Per",
        "QuotaRenewalRate",
        "KeyExpiresIn",
        "PlanQuota",
        "PlanQuotaRenewalRate",
    ):
        if field in body:
            value = number(body[field], field)
            row[field] = None if value is None else as_int(value)
    for field, flag in (("RateLimit", "UnlimitedRateLimit"), ("Quota", "UnlimitedQuota")):
        if flag not in body and field in body and row[field] is not None:
            row[flag] = row[field] < 0  # a limit given without its flag is a limit
    if "MetaData" in body:
        if body["MetaData"] is not None and not isinstance(body["MetaData"], dict):
            raise perr(422, "MetaData must be an object")
        row["MetaData"] = body["MetaData"] or {}
    return row


def insert_plan(
    tx: Tx, provider: Row, body: Row, *, reference: str = "", policy: Row | None = None
) -> Row:
    """A new plan from a request body, backed by a new policy unless ``reference`` names one
    (a provider's synchronisation imports ``policy`` with its limits)."""
    name = str_field(body, "Name")
    unique(tx, "plan", "plan", name)
    row: Row = {
        "CID": new_cid(),
        "Name": name,
        "DisplayName": name,
        "Description": "",
        "JWTScope": "",
        "AutoApproveAccessRequests": False,
        "UnlimitedQuota": False,
        "UnlimitedRateLimit": False,
        "RateLimit": None,
        "Per": None,
        "Quota": None,
        "QuotaRenewalRate": None,
        "KeyExpiresIn": 0,
        "PlanQuota": 0,
        "PlanQuotaRenewalRate": 0,
        "MetaData": {},
        "ProviderID": provider["ID"],
    }
    if policy is not None:  # imported from the Dashboard on synchronise
        row.update(
            RateLimit=policy.get("rate"),
            Per=policy.get("per"),
            Quota=policy.get("quota_max"),
            QuotaRenewalRate=policy.get("quota_renewal_rate"),
            KeyExpiresIn=policy.get("key_expires_in") or 0,
        )
    # an omitted limit is unlimited (the manifests' contract: quota omitted = unlimited)
    for field, flag in (("RateLimit", "UnlimitedRateLimit"), ("Quota", "UnlimitedQuota")):
        value = row[field]
        row[flag] = not isinstance(value, (int, float)) or value < 0
    _plan_fields(body, row)
    if not reference:
        reference = new_backing_policy(tx, provider, name, plan_policy_fields(row))
    now = timestamp()
    row = tx.insert("plan", {**row, "ReferenceID": reference, "CreatedAt": now, "UpdatedAt": now})
    catalogues = id_list(body, "Catalogues")
    if catalogues:  # a new plan is in no catalogue yet: nothing to take it out of
        set_memberships(tx, "Plans", row["ID"], catalogues)
    return row


@route("GET", "/plans")
def _plans_list(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    off, lim = portal_page(store, req)
    items = [r_plan(store, tx, r, full=False) for r in tx.rows("plan", None, off, lim)]
    return 200, ({"data": items} if store.plans_list_shape == "spec" else items)


@route("POST", "/plans")
def _plans_create(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    body = req.json()
    required(body, "Name", "ProviderID")
    provider = _provider_of(tx, body)
    return 200, r_plan(store, tx, insert_plan(tx, provider, body))


@route("GET", "/plans/{id}")
def _plans_get(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    return 200, r_plan(store, tx, need(tx, "plan", p["id"], "plan"))


@route("PUT", "/plans/{id}")
def _plans_update(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    row = need(tx, "plan", p["id"], "plan")
    body = req.json()
    if body.get("ProviderID") not in (None, row["ProviderID"]):
        raise perr(422, "a plan's ProviderID cannot be changed")
    if "Name" in body:
        required(body, "Name")
        unique(tx, "plan", "plan", str_field(body, "Name"), row["ID"])
        row["Name"] = body["Name"]
    _plan_fields(body, row)
    if "Catalogues" in body:
        set_memberships(tx, "Plans", row["ID"], id_list(body, "Catalogues"))
    update_backing_policy(tx, row, {"name": row["Name"], **plan_policy_fields(row)})
    row["UpdatedAt"] = timestamp()
    return 200, r_plan(store, tx, tx.save("plan", row))


@route("DELETE", "/plans/{id}")
def _plans_delete(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    row = need(tx, "plan", p["id"], "plan")
    delete_policy_of(store, tx, row)
    drop_from_catalogues(tx, "Plans", row["ID"])
    tx.delete("plan", row["ID"])
    return 200, {"status": "ok"}


# -- catalogues and audiences ----------------------------------------------------------------------


def _catalogue_members(tx: Tx, body: Row, row: Row) -> None:
    for field, kind in (("Products", "product"), ("Plans", "plan")):
        if field in body:
            ids = id_list(body, field)
            for oid in ids:
                need(tx, kind, oid, f"{kind} {oid}", 422)
            row[field] = ids


def _visibility(body: Row, default: str) -> str:
    value = body.get("VisibilityStatus", default)
    if value not in VISIBILITIES:
        raise perr(422, f"VisibilityStatus must be one of {', '.join(VISIBILITIES)}")
    return str(value)


def _insert_audience(tx: Tx, catalogue: Row, body: Row) -> Row:
    org_id = int_field(body, "OrganisationID")
    org = need(tx, "organisation", org_id, f"organisation {org_id}", 422)
    if body.get("TeamID") in (None, 0):
        team = tx.default_team(org["ID"])
        if team is None:
            raise perr(422, f"organisation {org_id} has no default team")
    else:
        team = need(tx, "team", int_field(body, "TeamID"), f"team {body['TeamID']}", 422)
        if team["OrganisationID"] != org["ID"]:
            raise perr(422, f"team {team['ID']} does not belong to organisation {org_id}")
    if any(a["TeamID"] == team["ID"] for a in tx.rows("audience", parent=catalogue["ID"])):
        raise perr(422, "this audience already exists in the catalogue")
    now = timestamp()
    return tx.insert(
        "audience",
        {
            "CatalogueID": catalogue["ID"],
            "OrganisationID": org["ID"],
            "TeamID": team["ID"],
            "CreatedAt": now,
            "UpdatedAt": now,
        },
    )


@route("GET", "/catalogues")
def _catalogues_list(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    off, lim = portal_page(store, req)
    return 200, [r_catalogue(tx, r, full=False) for r in tx.rows("catalogue", None, off, lim)]


@route("POST", "/catalogues")
def _catalogues_create(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    body = req.json()
    required(body, "Name")
    name = str_field(body, "Name")
    unique(tx, "catalogue", "catalogue", name)
    now = timestamp()
    row: Row = {
        "Name": name,
        "NameWithSlug": str_field(body, "NameWithSlug") or slug(name),
        "VisibilityStatus": _visibility(body, "Private"),
        "Products": [],
        "Plans": [],
        "CreatedAt": now,
        "UpdatedAt": now,
    }
    _catalogue_members(tx, body, row)
    row = tx.insert("catalogue", row)
    audiences = body.get("OrgCatalogues") or []
    if not isinstance(audiences, list) or not all(isinstance(a, dict) for a in audiences):
        raise perr(422, "OrgCatalogues must be an array of objects")
    for aud in audiences:
        _insert_audience(tx, row, aud)
    return 200, r_catalogue(tx, row)


@route("GET", "/catalogues/{id}")
def _catalogues_get(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    return 200, r_catalogue(tx, need(tx, "catalogue", p["id"], "catalogue"))


@route("PUT", "/catalogues/{id}")
def _catalogues_update(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    row = need(tx, "catalogue", p["id"], "catalogue", 422)
    body = req.json()
    if "Name" in body:
        required(body, "Name")
        unique(tx, "catalogue", "catalogue", str_field(body, "Name"), row["ID"])
        row["Name"] = body["Name"]
    if "NameWithSlug" in body:
        row["NameWithSlug"] = str_field(body, "NameWithSlug")
    if "VisibilityStatus" in body:
        row["VisibilityStatus"] = _visibility(body, row["VisibilityStatus"])
    _catalogue_members(tx, body, row)
    row["UpdatedAt"] = timestamp()
    return 200, r_catalogue(tx, tx.save("catalogue", row))


@route("DELETE", "/catalogues/{id}")
def _catalogues_delete(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    row = need(tx, "catalogue", p["id"], "catalogue")
    for aud in tx.rows("audience", parent=row["ID"]):
        tx.delete("audience", aud["ID"])
    tx.delete("catalogue", row["ID"])
    return 200, {"status": "ok"}


def _audience_of(tx: Tx, p: dict[str, str]) -> Row:
    cat = need(tx, "catalogue", p["cat"], "catalogue")
    aud = need(tx, "audience", p["id"], "audience")
    if aud["CatalogueID"] != cat["ID"]:
        raise perr(404, "audience not found")
    return aud


@route("GET", "/catalogues/{cat}/audiences")
def _audiences_list(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    cat = need(tx, "catalogue", p["cat"], "catalogue")
    off, lim = portal_page(store, req)
    return 200, [r_audience(a, full=False) for a in tx.rows("audience", cat["ID"], off, lim)]


@route("POST", "/catalogues/{cat}/audiences")
def _audiences_create(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    cat = need(tx, "catalogue", p["cat"], "catalogue", 422)
    return 201, r_audience(_insert_audience(tx, cat, req.json()))


@route("GET", "/catalogues/{cat}/audiences/{id}")
def _audiences_get(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    return 200, r_audience(_audience_of(tx, p))


@route("DELETE", "/catalogues/{cat}/audiences/{id}")
def _audiences_delete(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    tx.delete("audience", _audience_of(tx, p)["ID"])
    return 200, {"status": "ok"}
