"""The emulated Dashboard's policies API (``/api/portal/policies``) and the bookkeeping of the
policies that back the portal's products (access rights) and plans (limits)."""

from __future__ import annotations

import json
import math
import secrets
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from portal_gitops.backends.emulated import apis as api_definitions
from portal_gitops.backends.emulated.db import Row, Tx
from portal_gitops.backends.emulated.replies import (
    Params,
    Reply,
    Req,
    RouteTable,
    derr,
    perr,
)

if TYPE_CHECKING:
    from portal_gitops.backends.emulated.store import PortalStore

route = RouteTable()

POLICY_STATES = ("active", "draft", "deny")  # REFERENCE §6; keys under draft/deny stop working
DUPLICATE_POLICY_NAME = "This policy name has already been used, please choose another one"


# -- policies backing products and plans -----------------------------------------------------------


def provider_tags(provider: Row) -> list[str]:
    """The policy tags in a provider's ``Configuration.MetaData`` (``PoliciesTags``)."""
    try:
        meta = json.loads(provider.get("Configuration", {}).get("MetaData") or "{}")
    except ValueError:
        return []
    tags = meta.get("PoliciesTags") if isinstance(meta, dict) else None
    return [str(t) for t in tags] if isinstance(tags, list) else []


def _new_policy_id(tx: Tx) -> str:
    while True:
        pid = secrets.token_hex(12)
        if not tx.policy_exists(pid):
            return pid


def _policy_stamp(pol: Row) -> Row:
    pol["last_updated"] = str(int(time.time()))
    return pol


def delete_policy_of(store: PortalStore, tx: Tx, row: Row) -> None:
    """Delete the policy backing a product or plan (``ReferenceID``), if it has one, unless
    the store plays a portal that leaves it behind (``policy_on_delete``, REFERENCE §9)."""
    if row.get("ReferenceID") and store.policy_on_delete == "delete":
        tx.delete_policy(row["ReferenceID"])


def new_backing_policy(tx: Tx, provider: Row, name: str, fields: Row) -> str:
    """Create the Dashboard policy backing a new product or plan; its ``_id``."""
    if tx.policy_named(name):
        raise perr(422, f"policy with name {name!r} already exists in the provider")
    pid = _new_policy_id(tx)
    meta = json.loads(provider["Configuration"].get("MetaData") or "{}") or {}
    pol: Row = {
        "_id": pid,
        "id": pid,
        "name": name,
        "org_id": str(meta.get("OrgID", "")) if isinstance(meta, dict) else "",
        "tags": provider_tags(provider),
        "active": True,
        "is_inactive": False,
        "state": "active",
        "meta_data": {},
        "hmac_enabled": False,
        "throttle_interval": -1,
        "throttle_retry_limit": -1,
        "max_query_depth": -1,
        "key_expires_in": 0,
        "date_created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **fields,
    }
    tx.put_policy(_policy_stamp(pol))
    return pid


def access_rights(tx: Tx, apis: list[Row], current: Mapping[str, Any]) -> Row:
    """A product policy's ``access_rights`` for its APIs, keeping what ``current`` set per API;
    a new API gets what portal-made policies grant (``["Default"]``, REFERENCE §9)."""
    rights: Row = {}
    for d in apis:
        kept = current.get(d["APIID"])
        definition = api_definitions.get(tx, d["APIID"]) or {}
        versions = api_definitions.default_versions(definition)
        rights[d["APIID"]] = {
            "api_id": d["APIID"],
            "api_name": d.get("Name") or definition.get("name") or d["APIID"],
            "versions": kept.get("versions", versions) if isinstance(kept, dict) else versions,
            "allowed_urls": kept.get("allowed_urls", []) if isinstance(kept, dict) else [],
            "limit": kept.get("limit") if isinstance(kept, dict) else None,
        }
    return rights


def plan_policy_fields(plan: Row) -> Row:
    """A plan's limits as its backing policy's fields (-1: unlimited)."""
    unlimited_rate = plan["UnlimitedRateLimit"] or plan["RateLimit"] is None
    unlimited_quota = plan["UnlimitedQuota"] or plan["Quota"] is None
    return {
        "partitions": {
            "acl": False,
            "quota": True,
            "rate_limit": True,
            "complexity": False,
            "per_api": False,
        },
        "rate": -1 if unlimited_rate else plan["RateLimit"],
        "per": -1 if unlimited_rate or plan["Per"] is None else plan["Per"],
        "quota_max": -1 if unlimited_quota else plan["Quota"],
        "quota_renewal_rate": (
            -1 if unlimited_quota or plan["QuotaRenewalRate"] is None else plan["QuotaRenewalRate"]
        ),
        "key_expires_in": plan["KeyExpiresIn"] or 0,
        "access_rights": {},
    }


def update_backing_policy(tx: Tx, row: Row, fields: Row) -> None:
    """Carry a product's or plan's change into its backing policy."""
    pol = tx.policy(row.get("ReferenceID") or "")
    if pol is None:
        return  # deleted in the Dashboard: drift the reconciler reports, not ours to fix
    if fields.get("name", pol.get("name")) != pol.get("name") and tx.policy_named(
        fields["name"], exclude=pol["_id"]
    ):
        raise perr(422, f"policy with name {fields['name']!r} already exists in the provider")
    pol.update(fields)
    tx.put_policy(_policy_stamp(pol))


# -- the Dashboard API -----------------------------------------------------------------------------


def _policy_page(store: PortalStore, rows: list[Row], query: Mapping[str, str]) -> Row:
    try:
        page = int(query.get("p", "1") or "1")
    except ValueError:
        raise derr(400, "p must be an integer") from None
    size = max(1, store.dashboard_page_size)
    if page < 0:  # everything at once; Pages still counts pages (REFERENCE §2, §9)
        return {"Data": rows, "Pages": math.ceil(len(rows) / size)}
    page = max(page, 1)
    return {"Data": rows[(page - 1) * size : page * size], "Pages": math.ceil(len(rows) / size)}


def _active_only(rows: Iterable[Row], query: Mapping[str, str]) -> list[Row]:
    if "active" in query:
        return [r for r in rows if r.get("active") is True]
    return list(rows)


@route("GET", "/api/portal/policies")
def _policies_list(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    q = req.query
    if "active" in q:
        return 200, _policy_page(store, _active_only(tx.policies(), q), q)
    # one page read in SQL (not every policy decoded for every page)
    try:
        page = int(q.get("p", "1") or "1")
    except ValueError:
        raise derr(400, "p must be an integer") from None
    size = max(1, store.dashboard_page_size)
    if page < 0:  # everything at once; Pages still counts pages (REFERENCE §2, §9)
        rows = tx.policies()
        return 200, {"Data": rows, "Pages": math.ceil(len(rows) / size)}
    page = max(page, 1)
    pages = math.ceil(tx.policy_count() / size)
    return 200, {"Data": tx.policies((page - 1) * size, size), "Pages": pages}


@route("GET", "/api/portal/policies/search")
def _policies_search(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    q = req.query
    rows = _active_only(tx.policies(), q)
    if q.get("q"):
        needle = q["q"].lower()
        rows = [
            r
            for r in rows
            if needle in str(r.get("name", "")).lower() or needle in (r["_id"], r.get("id"))
        ]
    if q.get("policy_ids"):
        ids = set(q["policy_ids"].split(","))
        rows = [r for r in rows if r["_id"] in ids or r.get("id") in ids]
    if q.get("state"):
        rows = [r for r in rows if r.get("state", "active") == q["state"]]
    if q.get("api_id"):
        rows = [r for r in rows if q["api_id"] in (r.get("access_rights") or {})]
    if q.get("sort") in ("name", "date_created", "state"):
        field = q["sort"]
        rows.sort(key=lambda r: str(r.get(field, "")))
    return 200, _policy_page(store, rows, q)


def _policy_body(req: Req) -> Row:
    body = req.json()
    if "name" in body and not isinstance(body["name"], str):
        raise derr(400, "Policy name must be a string")
    if "state" in body and body["state"] not in POLICY_STATES:
        raise derr(400, f"Policy state must be one of {', '.join(POLICY_STATES)}")
    if "active" in body and not isinstance(body["active"], bool):
        raise derr(400, "Policy active must be a boolean")
    return body


@route("POST", "/api/portal/policies")
def _policies_create(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    body = _policy_body(req)
    pid = body.get("_id") or ""
    if not isinstance(pid, str):
        raise derr(400, "Invalid policy ID.")
    if pid and tx.c.execute("SELECT 1 FROM policies WHERE pid=?", (pid,)).fetchone():
        raise derr(400, "A policy with this ID already exists")
    if body.get("name") and tx.policy_named(body["name"]):
        raise derr(400, DUPLICATE_POLICY_NAME)
    api_definitions.check_access_rights(tx, body.get("access_rights"))
    pid = pid or _new_policy_id(tx)
    pol = {**body, "_id": pid, "id": body.get("id") or pid}
    pol.setdefault("date_created", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    tx.put_policy(_policy_stamp(pol))
    return 200, {"Status": "OK", "Message": pid, "Meta": None}


def _need_policy(tx: Tx, pid: str) -> Row:
    pol = tx.policy(pid)
    if pol is None:
        raise derr(404, "Could not retrieve policy detail")
    return pol


@route("GET", "/api/portal/policies/{id}")
def _policies_get(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    return 200, _need_policy(tx, p["id"])


@route("PUT", "/api/portal/policies/{id}")
def _policies_update(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    current = _need_policy(tx, p["id"])
    body = _policy_body(req)
    if body.get("name") and tx.policy_named(body["name"], exclude=current["_id"]):
        raise derr(400, DUPLICATE_POLICY_NAME)
    api_definitions.check_access_rights(tx, body.get("access_rights"))
    pol = {
        **body,
        "_id": current["_id"],
        "id": body.get("id") or current.get("id") or current["_id"],
    }
    pol.setdefault("date_created", current.get("date_created"))
    tx.put_policy(_policy_stamp(pol))
    return 200, {"Status": "OK", "Message": "Data updated", "Meta": None}


@route("DELETE", "/api/portal/policies/{id}")
def _policies_delete(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    tx.delete_policy(_need_policy(tx, p["id"])["_id"])
    return 200, {"Status": "OK", "Message": "Data deleted", "Meta": None}
