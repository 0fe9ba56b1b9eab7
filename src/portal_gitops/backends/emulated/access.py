"""The emulated portal's consumer side: apps, their provisioning into access requests,
approval and rejection, and the credentials an approval issues."""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import TYPE_CHECKING, Any

from portal_gitops.backends.emulated.db import Row, Tx, timestamp
from portal_gitops.backends.emulated.replies import (
    OK_ACTION,
    ApiError,
    Params,
    Reply,
    Req,
    RouteTable,
    catalogues_with,
    id_list,
    int_field,
    need,
    need_child,
    perr,
    portal_page,
    r_access_request,
    r_app,
    r_credential,
    required,
    str_field,
)

if TYPE_CHECKING:
    from portal_gitops.backends.emulated.store import PortalStore

route = RouteTable()

APP_VISIBILITIES = ("personal", "team", "organisation")


# -- access requests and their credentials ---------------------------------------------------------


def _revoke(tx: Tx, ar_id: int) -> None:
    for cred in tx.rows("credential", parent=ar_id):
        tx.delete("credential", cred["ID"])


def _delete_access_request(tx: Tx, ar: Row) -> None:
    _revoke(tx, ar["ID"])
    tx.delete("access_request", ar["ID"])


def delete_app(tx: Tx, app: Row) -> None:
    """Delete an app with its access requests and their credentials."""
    for ar in tx.rows("access_request", parent=app["ID"]):
        _delete_access_request(tx, ar)
    tx.delete("app", app["ID"])


def _issue_credential(tx: Tx, ar: Row) -> None:
    policies = [
        p["ReferenceID"]
        for i in ar["ProductIDs"]
        if (p := tx.get("product", i)) and p.get("ReferenceID")
    ]
    plan = tx.get("plan", ar["PlanID"])
    if plan and plan.get("ReferenceID"):
        policies.append(plan["ReferenceID"])
    key = secrets.token_hex(16)
    expires = ""
    if plan and (plan.get("KeyExpiresIn") or 0) > 0:
        expires = time.strftime("%Y-%m-%d %H:%M", time.gmtime(time.time() + plan["KeyExpiresIn"]))
    tx.insert(
        "credential",
        {
            "AccessRequestID": ar["ID"],
            "AppID": ar["AppID"],
            "Credential": key,
            "CredentialHash": hashlib.sha256(key.encode()).hexdigest()[:32],
            "Expires": expires,
            "GrantType": "",
            "OAuthClientID": "",
            "OAuthClientSecret": "",
            "RedirectURI": "",
            "ResponseType": "",
            "Scope": "",
            "TokenEndpoints": "",
            "Policies": policies,
            "CreatedAt": timestamp(),
        },
    )


def _recorded_catalogue(
    store: PortalStore, tx: Tx, user_id: int, plan_id: int, product_ids: list[int]
) -> int:
    """The catalogue the portal records on a new request: one the consumer sees (public, or
    an audience names one of their teams) offering the plan with those products; the first
    or the last by ID (``PortalStore.provision_catalogue``: unsettled, REFERENCE.md §9)."""
    user = tx.get("user", user_id) or {}
    teams = set(user.get("Teams") or [])
    # the catalogues listing the plan and every product: from the shortest of their lists
    # (the memoised index), not by decoding every catalogue on every request
    having = [catalogues_with(store, tx, "Products", pid) for pid in product_ids]
    fewest = min([catalogues_with(store, tx, "Plans", plan_id), *having], key=len)
    offering = [
        c for c in fewest if plan_id in c["Plans"] and all(i in c["Products"] for i in product_ids)
    ]
    visible = [
        c["ID"]
        for c in offering
        if c["VisibilityStatus"] == "Public"
        or any(a["TeamID"] in teams for a in tx.rows("audience", parent=c["ID"]))
    ]
    # none visible: the consumer could not have asked; keep the first offering one, if any
    ids: list[int] = sorted(visible or [c["ID"] for c in offering])
    if not ids:
        return 0
    return ids[-1] if store.provision_catalogue == "last" else ids[0]


def _decide(tx: Tx, ar: Row, status: str) -> None:
    if ar["Status"] == status:
        return
    if status == "approved":
        _issue_credential(tx, ar)
    else:
        _revoke(tx, ar["ID"])
    ar["Status"] = status
    ar["UpdatedAt"] = timestamp()
    tx.save("access_request", ar)


# -- apps, provisioning, access requests, credentials ----------------------------------------------


def _app_fields(tx: Tx, body: Row, row: Row) -> Row:
    for field in ("Name", "Description", "RedirectURLs"):
        if field in body:
            row[field] = str_field(body, field)
    if "Visibility" in body:
        if body["Visibility"] not in APP_VISIBILITIES:
            raise perr(422, f"Visibility must be one of {', '.join(APP_VISIBILITIES)}")
        row["Visibility"] = body["Visibility"]
    if "UserID" in body:
        uid = int_field(body, "UserID")
        need(tx, "user", uid, f"user {uid}", 422)
        row["UserID"] = uid
    return row


@route("GET", "/apps")
def _apps_list(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    off, lim = portal_page(store, req)
    return 200, [r_app(tx, a, full=False) for a in tx.rows("app", None, off, lim)]


@route("POST", "/apps")
def _apps_create(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    body = req.json()
    required(body, "Name", "UserID")
    row = _app_fields(
        tx,
        body,
        {
            "Name": "",
            "Description": "",
            "RedirectURLs": "",
            "UserID": 0,
            "Visibility": "organisation",
        },
    )
    row["CreatedAt"] = row["UpdatedAt"] = timestamp()
    return 200, r_app(tx, tx.insert("app", row))


@route("GET", "/apps/{id}")
def _apps_get(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    return 200, r_app(tx, need(tx, "app", p["id"], "app"))


@route("PUT", "/apps/{id}")
def _apps_update(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    row = need(tx, "app", p["id"], "app", 422)
    body = req.json()
    if "Name" in body:
        required(body, "Name")
    row = _app_fields(tx, body, row)
    row["UpdatedAt"] = timestamp()
    return 200, r_app(tx, tx.save("app", row))


@route("DELETE", "/apps/{id}")
def _apps_delete(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    delete_app(tx, need(tx, "app", p["id"], "app"))
    return 200, {"status": "ok"}


@route("PUT", "/apps/{id}/provision")
def _apps_provision(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    """A consumer asks for products on a plan: a new access request (maybe auto-approved)."""
    app = tx.get("app", int(p["id"])) if p["id"].isdigit() else None
    try:
        if app is None:
            raise perr(422, f"app {p['id']} not found")
        body = req.json()
        required(body, "PlanID", "ProductIDs")
        plan = need(tx, "plan", int_field(body, "PlanID"), f"plan {body['PlanID']}", 422)
        product_ids = id_list(body, "ProductIDs")
        for pid in product_ids:
            need(tx, "product", pid, f"product {pid}", 422)
        if "CatalogueID" in body:
            # REFERENCE.md §9 "Provision body": in no documented request; Tyk would ignore it
            raise perr(422, "CatalogueID is not a field of the provision request")
        catalogue_id = _recorded_catalogue(store, tx, app["UserID"], plan["ID"], product_ids)
    except ApiError as exc:
        errors = exc.payload.get("errors", []) if isinstance(exc.payload, dict) else []
        raise ApiError(422, {"status": "error", "errors": errors}) from None
    now = timestamp()
    ar = tx.insert(
        "access_request",
        {
            "AppID": app["ID"],
            "UserID": app["UserID"],
            "PlanID": plan["ID"],
            "ProductIDs": product_ids,
            "CatalogueID": catalogue_id,
            "Status": "pending",
            "ProvisionImmediately": plan["AutoApproveAccessRequests"],
            "AuthType": "authToken",
            "CreatedAt": now,
            "UpdatedAt": now,
        },
    )
    if plan["AutoApproveAccessRequests"]:
        _decide(tx, ar, "approved")
    return 200, {"status": "ok", "message": OK_ACTION.format("Provision")}


@route("GET", "/access_requests")
def _ars_list(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    off, lim = portal_page(store, req)
    status = req.query.get("status")
    rows = tx.rows("access_request") if status else tx.rows("access_request", None, off, lim)
    if status:
        rows = [r for r in rows if r["Status"] == status][off : off + lim]
    return 200, [r_access_request(tx, r, credentials=False) for r in rows]


@route("GET", "/access_requests/{id}")
def _ars_get(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    return 200, r_access_request(tx, need(tx, "access_request", p["id"], "access request"))


@route("DELETE", "/access_requests/{id}")
def _ars_delete(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    _delete_access_request(tx, need(tx, "access_request", p["id"], "access request"))
    return 200, {"status": "ok"}


def _decision(tx: Tx, p: dict[str, str], status: str, action: str) -> tuple[int, Any]:
    ar = tx.get("access_request", int(p["id"])) if p["id"].isdigit() else None
    if ar is None:
        raise ApiError(422, {"status": "error", "message": "access request not found"})
    if ar["Status"] != "pending":
        # REFERENCE.md §9 "Decisions": approve and reject act on pending requests only
        raise ApiError(
            422, {"status": "error", "errors": [f"access request is already {ar['Status']}"]}
        )
    _decide(tx, ar, status)
    return 200, {"status": "ok", "message": OK_ACTION.format(action)}


@route("PUT", "/access_requests/{id}/approve")
def _ars_approve(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    return _decision(tx, p, "approved", "Approve")


@route("PUT", "/access_requests/{id}/reject")
def _ars_reject(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    return _decision(tx, p, "rejected", "Reject")


def _app_ar(tx: Tx, p: dict[str, str], status: int = 404) -> Row:
    app = need(tx, "app", p["app"], "app", status)
    return need_child(tx, "access_request", p["ar"], "access request", ("AppID", app["ID"]), status)


@route("GET", "/apps/{app}/access-requests")
def _app_ars_list(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    app = need(tx, "app", p["app"], "app")
    off, lim = portal_page(store, req)
    return 200, [r_access_request(tx, r) for r in tx.rows("access_request", app["ID"], off, lim)]


@route("GET", "/apps/{app}/access-requests/{ar}")
def _app_ars_get(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    return 200, r_access_request(tx, _app_ar(tx, p))


@route("DELETE", "/apps/{app}/access-requests/{ar}")
def _app_ars_delete(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    _delete_access_request(tx, _app_ar(tx, p, 422))
    return 200, {"status": "ok"}


@route("GET", "/apps/{app}/access-requests/{ar}/credentials")
def _creds_list(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    ar = _app_ar(tx, p)
    off, lim = portal_page(store, req)
    return 200, [r_credential(c) for c in tx.rows("credential", ar["ID"], off, lim)]


def _credential(tx: Tx, p: dict[str, str], status: int = 404) -> Row:
    ar = _app_ar(tx, p, status)
    return need_child(
        tx, "credential", p["id"], "credential", ("AccessRequestID", ar["ID"]), status
    )


@route("GET", "/apps/{app}/access-requests/{ar}/credentials/{id}")
def _creds_get(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    return 200, r_credential(_credential(tx, p))


@route("DELETE", "/apps/{app}/access-requests/{ar}/credentials/{id}")
def _creds_delete(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    tx.delete("credential", _credential(tx, p)["ID"])
    return 200, {"status": "ok"}


@route("PUT", "/apps/{app}/access-requests/{ar}/credentials/{id}/rotate")
def _creds_rotate(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    """The spec's rotate-credentials: the new credential replaces the existing one (same ID,
    new value); 422 when not found (StatusWithErrors), 200 StatusWithMessage."""
    cred = _credential(tx, p, 422)
    key = secrets.token_hex(16)
    cred.update(
        Credential=key,
        CredentialHash=hashlib.sha256(key.encode()).hexdigest()[:32],
        UpdatedAt=timestamp(),
    )
    tx.save("credential", cred)
    return 200, {"status": "ok", "message": OK_ACTION.format("Rotate")}
