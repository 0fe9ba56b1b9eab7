"""What the emulated portal's handlers share: the request, refusals in Tyk's two error shapes,
request-body field parsers, pagination, the route tables, and the renderers of replies.

The renderers (``r_*``) turn stored rows into the portal's read shapes (names where Tyk returns
names); the API handlers and ``PortalStore.snapshot`` both use them, so a snapshot carries
exactly what the list entry merged with the detail reply would.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from portal_gitops.backends.emulated.db import Row, Tx

if TYPE_CHECKING:
    from portal_gitops.backends.emulated.store import PortalStore

Api = Literal["portal", "dashboard"]
Params = dict[str, str]  # the path's named groups
Reply = tuple[int, Any]  # status and JSON payload
Handler = Callable[["PortalStore", Tx, "Req", Params], Reply]

PORTAL_PREFIX = "/portal-api"
DASHBOARD_PREFIX = "/api"
OK_ACTION = "Action {}: Executed successfully"


class ApiError(Exception):
    """A refusal with its exact status and JSON payload (raised by handlers, never escapes)."""

    def __init__(self, status: int, payload: Any):
        super().__init__(status)
        self.status = status
        self.payload = payload


@dataclass(frozen=True)
class RawBody:
    """A reply that is not JSON (a downloaded OpenAPI document), with its content type."""

    body: bytes
    content_type: str


def perr(status: int, message: str) -> ApiError:
    """A refusal in the portal's shape."""
    return ApiError(status, {"errors": [message]})


def derr(status: int, message: str) -> ApiError:
    """A refusal in the Dashboard's shape."""
    return ApiError(status, {"Status": "Error", "Message": message, "Meta": None})


@dataclass(frozen=True)
class Req:
    api: Api
    method: str
    path: str
    query: Mapping[str, str]
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-cased names

    def json(self) -> Row:
        """The body as a JSON object; malformed JSON is 422 (portal) or 400 (Dashboard)."""
        if not self.body.strip():
            return {}
        try:
            data = json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise self.error(422, 400, f"malformed JSON body: {exc}") from None
        if not isinstance(data, dict):
            raise self.error(422, 400, "request body must be a JSON object")
        return data

    def error(self, portal_status: int, dashboard_status: int, message: str) -> ApiError:
        if self.api == "portal":
            return perr(portal_status, message)
        return derr(dashboard_status, message)


@dataclass(frozen=True)
class Route:
    api: Api
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    write: bool


class RouteTable:
    """One family's routes in registration order: ``@route(method, pattern)`` on each handler.

    The store joins the families' tables; the first route whose pattern matches answers.
    """

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def __call__(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        """Register a handler for ``method`` on a path regex (named groups become params)."""
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)

        def deco(fn: Handler) -> Handler:
            api: Api = "dashboard" if pattern.startswith(DASHBOARD_PREFIX + "/") else "portal"
            self.routes.append(Route(api, method, re.compile(f"^{regex}$"), fn, method != "GET"))
            return fn

        return deco


# -- look-ups that refuse --------------------------------------------------------------------------


def need(tx: Tx, kind: str, raw: str | int, label: str, status: int = 404) -> Row:
    """The object with this ID (or CID); ``status`` (404/422) with ``<label> not found``."""
    row: Row | None = None
    if isinstance(raw, int) or (isinstance(raw, str) and raw.isdigit()):
        row = tx.get(kind, int(raw))
    elif isinstance(raw, str) and raw:
        row = next((r for r in tx.rows(kind) if r.get("CID") == raw), None)
    if row is None:
        raise perr(status, f"{label} not found")
    return row


def need_child(
    tx: Tx, kind: str, raw: str | int, label: str, parent: tuple[str, Any], status: int = 404
) -> Row:
    """As ``need``, for an object reached through its parent's path: ``parent`` is the field
    naming the parent and the parent's ID; an object of another parent is not found either."""
    row = need(tx, kind, raw, label, status)
    field, parent_id = parent
    if row.get(field) != parent_id:
        raise perr(status, f"{label} not found")
    return row


def unique(
    tx: Tx, kind: str, label: str, name: str, oid: int = 0, parent: int | None = None
) -> None:
    """Refuse (422) a name another object of this kind (under this parent) already has."""
    other = tx.by_name(kind, name, parent)
    if other is not None and other["ID"] != oid:
        raise perr(422, f"{label} with name {name!r} already exists")


# -- request-body field parsers --------------------------------------------------------------------


def required(body: Row, *fields: str) -> None:
    missing = [f for f in fields if body.get(f) in (None, "")]
    if missing:
        raise perr(422, f"missing required field(s): {', '.join(missing)}")


def str_field(body: Row, field: str, default: str = "") -> str:
    value = body.get(field, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise perr(422, f"{field} must be a string")
    return value


def bool_field(body: Row, field: str, default: bool = False) -> bool:
    value = body.get(field, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise perr(422, f"{field} must be a boolean")
    return value


def int_field(body: Row, field: str) -> int:
    value = body.get(field)
    if isinstance(value, bool) or not isinstance(value, int):
        raise perr(422, f"{field} must be an integer")
    return value


def id_list(body: Row, field: str, *, numeric_strings: bool = False) -> list[int]:
    """An array of integer IDs (``null`` = empty). Names (strings) are refused, as by Tyk."""
    value = body.get(field)
    if value is None:
        return []
    if not isinstance(value, list):
        raise perr(422, f"{field} must be an array of integer IDs")
    out: list[int] = []
    for item in value:
        if numeric_strings and isinstance(item, str) and item.isdigit():
            out.append(int(item))
        elif isinstance(item, int) and not isinstance(item, bool):
            out.append(item)
        else:
            raise perr(422, f"{field} must be an array of integer IDs, got {item!r}")
    return list(dict.fromkeys(out))


def number(value: Any, field: str) -> float | None:
    """A limit: a number, a legacy string ("1000 calls / 60 second(s)"), or "unlimited" (None)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise perr(422, f"{field} must be a number")
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        if value.strip().lower() == "unlimited":
            return None
        m = re.match(r"\s*(-?\d+(?:\.\d+)?)", value)
        if m:
            return float(m.group(1))
    raise perr(422, f"{field} must be a number")


def as_int(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


# -- pagination ------------------------------------------------------------------------------------


def _paginate(
    query: Mapping[str, str], default_per_page: int, max_per_page: int | None = None
) -> tuple[int, int]:
    """(offset, limit) from Tyk's portal ``page``/``per_page``/``limit`` parameters; a server
    may cap ``per_page`` below what is asked (REFERENCE §2), and pages by the capped size."""

    def num(name: str, default: int) -> int:
        try:
            value = int(query.get(name, default))
        except ValueError:
            return default
        return value if value > 0 else default

    page, per_page = num("page", 1), num("per_page", default_per_page)
    if max_per_page is not None:
        per_page = min(per_page, max(1, max_per_page))
    limit = min(num("limit", per_page), per_page)
    return (page - 1) * per_page, limit


def portal_page(store: PortalStore, req: Req) -> tuple[int, int]:
    """(offset, limit) of a portal list request, with the store's default page size."""
    return _paginate(req.query, store.portal_page_size, store.portal_max_per_page)


# -- renderers: stored rows -> the portal's read shapes --------------------------------------------


def r_provider(row: Row, *, full: bool = True) -> Row:
    out = {k: row[k] for k in ("ID", "Name", "Type", "Status", "LastSyncedAt")}
    if full:
        out.update(
            Configuration=row["Configuration"],
            CreatedAt=row["CreatedAt"],
            UpdatedAt=row["UpdatedAt"],
        )
    return out


def r_org_elem(row: Row) -> Row:
    return {"ID": row["ID"], "CID": row["CID"], "Name": row["Name"]}


def r_team_elem(row: Row) -> Row:
    return {"ID": row["ID"], "Name": row["Name"], "Default": row["Default"]}


def r_user_elem(row: Row) -> Row:
    keys = ("ID", "Email", "First", "Last", "Role", "OrganisationID", "Provider", "Active")
    return {k: row[k] for k in keys}


def r_team(tx: Tx, row: Row) -> Row:
    # members: the organisation's users whose Teams list this team (filtered in SQLite)
    members = tx.c.execute(
        "SELECT id FROM objects WHERE kind='user' AND parent=? AND EXISTS "
        "(SELECT 1 FROM json_each(objects.data, '$.Teams') WHERE json_each.value=?) "
        "ORDER BY id",
        (row["OrganisationID"], row["ID"]),
    )
    users = [f"User#{r[0]}" for r in members]
    return {
        "ID": row["ID"],
        "Name": row["Name"],
        "Default": row["Default"],
        "OrganisationID": row["OrganisationID"],
        "Users": users,
        "CreatedAt": row["CreatedAt"],
        "UpdatedAt": row["UpdatedAt"],
    }


def r_org(tx: Tx, row: Row) -> Row:
    teams = [r_team_elem(t) for t in tx.rows("team", parent=row["ID"])]
    users = [r_user_elem(u) for u in tx.rows("user", parent=row["ID"])]
    return {
        "ID": row["ID"],
        "CID": row["CID"],
        "Name": row["Name"],
        "Teams": teams,
        "Users": users,
        "CreatedAt": row["CreatedAt"],
        "UpdatedAt": row["UpdatedAt"],
    }


def r_user(tx: Tx, row: Row) -> Row:
    org = tx.get("organisation", row["OrganisationID"]) if row["OrganisationID"] else None
    teams = [r_team(tx, t) for tid in row["Teams"] if (t := tx.get("team", tid))]
    return {
        **r_user_elem(row),
        "ResetPassword": row["ResetPassword"],
        "JWTToken": row["JWTToken"],
        "APITokenCreatedAt": row["APITokenCreatedAt"],
        "Organisation": org["Name"] if org else "",
        "Teams": teams,
        "CreatedAt": row["CreatedAt"],
        "UpdatedAt": row["UpdatedAt"],
    }


def catalogues_with(store: PortalStore, tx: Tx, field: str, oid: int) -> list[Row]:
    """Catalogues whose ``field`` (Products/Plans) lists ``oid`` (rows: read, never change).

    Every product/plan detail and every provision needs this: the map of all memberships is
    built once and kept until a catalogue is written (see ``PortalStore.memoised``) instead of
    scanning every catalogue each time.
    """

    def build() -> dict[tuple[str, int], list[Row]]:
        index: dict[tuple[str, int], list[Row]] = {}
        for cat in tx.rows("catalogue"):
            for name in ("Products", "Plans"):
                for member in dict.fromkeys(cat[name]):
                    index.setdefault((name, member), []).append(cat)
        return index

    memberships: dict[tuple[str, int], list[Row]] = store.memoised(
        tx, "memberships", ("catalogue",), build
    )
    return memberships.get((field, oid), [])


def _api_detail(d: Row, *, full: bool) -> Row:
    out: Row = {"APIID": d["APIID"], "Name": d.get("Name") or d["APIID"], "Status": True}
    if full:
        out.update(
            APIType=d.get("APIType", ""),
            Description=d.get("Description", ""),
            ListenPath=d.get("ListenPath", ""),
            OASUrl=d.get("OASUrl", ""),
            TargetURL=d.get("TargetURL", ""),
        )
    return out


def r_product(store: PortalStore, tx: Tx, row: Row, *, full: bool = True) -> Row:
    keys = (
        "ID",
        "CID",
        "Name",
        "DisplayName",
        "AuthType",
        "AuthTypes",
        "DCREnabled",
        "Feature",
        "IsDocumentationOnly",
        "Path",
        "Preview",
        "ReferenceID",
        "Scopes",
        "SpecDetails",
        "ProviderID",
    )
    out = {k: row[k] for k in keys}
    out["APIDetails"] = [_api_detail(d, full=full) for d in row["APIDetails"]]
    if full:
        out.update(
            Description=row["Description"],
            Content=row["Content"],
            Logo=row["Logo"],
            Catalogues=[c["Name"] for c in catalogues_with(store, tx, "Products", row["ID"])],
            Tags=[n for t in row["Tags"] if (n := tx.name_of("tag", t))],
            Templates=[],
            CreatedAt=row["CreatedAt"],
            UpdatedAt=row["UpdatedAt"],
        )
    return out


def _limits(store: PortalStore, row: Row) -> Row:
    if not store.legacy_limit_strings:
        return {"RateLimit": row["RateLimit"] or 0, "Quota": row["Quota"] or 0}

    def legacy(value: Any, per: Any, unlimited: bool) -> str:
        if unlimited or value is None or value < 0:
            return "unlimited"
        return f"{as_int(value)} calls / {as_int(per)} second(s)"

    return {
        "RateLimit": legacy(row["RateLimit"], row["Per"], row["UnlimitedRateLimit"]),
        "Quota": legacy(row["Quota"], row["QuotaRenewalRate"], row["UnlimitedQuota"]),
    }


def r_plan(store: PortalStore, tx: Tx, row: Row, *, full: bool = True) -> Row:
    keys = (
        "ID",
        "CID",
        "Name",
        "DisplayName",
        "AutoApproveAccessRequests",
        "ReferenceID",
        "ProviderID",
    )
    out = {k: row[k] for k in keys}
    out.update(_limits(store, row))
    if full:
        out.update(
            {
                k: row[k]
                for k in (
                    "Description",
                    "JWTScope",
                    "MetaData",
                    "UnlimitedQuota",
                    "UnlimitedRateLimit",
                )
            }
        )
        # unset numbers read back as 0, as Go's zero values do
        out.update(
            {
                k: row[k] or 0
                for k in (
                    "KeyExpiresIn",
                    "Per",
                    "PlanQuota",
                    "PlanQuotaRenewalRate",
                    "QuotaRenewalRate",
                )
            }
        )
        # 1.14's Plan has catalogue IDs; older portals answered Plan-show, with names
        key = "Name" if store.legacy_limit_strings else "ID"
        out["Catalogues"] = [c[key] for c in catalogues_with(store, tx, "Plans", row["ID"])]
    return out


def r_audience(row: Row, *, full: bool = True) -> Row:
    out = {k: row[k] for k in ("ID", "OrganisationID", "TeamID")}
    if full:
        out.update(
            CatalogueID=row["CatalogueID"],
            CreatedAt=row["CreatedAt"],
            UpdatedAt=row["UpdatedAt"],
        )
    return out


def r_catalogue(tx: Tx, row: Row, *, full: bool = True) -> Row:
    out = {k: row[k] for k in ("ID", "Name", "NameWithSlug", "VisibilityStatus")}
    if full:
        audiences = []
        for a in tx.rows("audience", parent=row["ID"]):
            audiences.append(
                {
                    "ID": a["ID"],
                    "Name": tx.name_of("team", a["TeamID"]),
                    "Catalogue": row["Name"],
                    "Organisation": tx.name_of("organisation", a["OrganisationID"]),
                    "OrganisationID": a["OrganisationID"],
                    "TeamID": a["TeamID"],
                }
            )
        out.update(
            Products=[tx.name_of("product", i) for i in row["Products"]],
            Plans=[tx.name_of("plan", i) for i in row["Plans"]],
            ProductIDs=list(row["Products"]),
            PlanIDs=list(row["Plans"]),
            OrgCatalogues=audiences,
            CreatedAt=row["CreatedAt"],
            UpdatedAt=row["UpdatedAt"],
        )
    return out


def r_credential(row: Row) -> Row:
    out = {
        k: row[k]
        for k in (
            "ID",
            "Credential",
            "CredentialHash",
            "GrantType",
            "OAuthClientID",
            "OAuthClientSecret",
            "RedirectURI",
            "ResponseType",
            "Scope",
            "TokenEndpoints",
        )
    }
    if row.get("Expires"):
        out["Expires"] = row["Expires"]
    out.update(AccessRequestID=row["AccessRequestID"], Policies=list(row["Policies"]))
    return out


def r_access_request(tx: Tx, row: Row, *, credentials: bool = True) -> Row:
    out: Row = {
        "ID": row["ID"],
        "Status": row["Status"],
        "ProvisionImmediately": row["ProvisionImmediately"],
        "AuthType": row["AuthType"],
        "DCREnabled": False,
        "Client": tx.name_of("app", row["AppID"]),
        "Plan": tx.name_of("plan", row["PlanID"]),
        "Products": [tx.name_of("product", p) for p in row["ProductIDs"]],
        "Catalogue": tx.name_of("catalogue", row["CatalogueID"]),
        "User": f"User#{row['UserID']}",
        # no AppID, PlanID, ProductIDs, CatalogueID: real replies carry names only (§9)
        "CreatedAt": row["CreatedAt"],
        "UpdatedAt": row["UpdatedAt"],
    }
    if credentials:
        out["Credentials"] = [r_credential(c) for c in tx.rows("credential", parent=row["ID"])]
    return out


def r_app(tx: Tx, row: Row, *, full: bool = True) -> Row:
    out = {
        k: row[k]
        for k in (
            "ID",
            "Name",
            "Description",
            "RedirectURLs",
            "UserID",
            "Visibility",
            "CreatedAt",
        )
    }
    if full:
        out["AccessRequests"] = [
            r_access_request(tx, r) for r in tx.rows("access_request", parent=row["ID"])
        ]
    return out


def r_tag(tx: Tx, tag: Row) -> Row:
    products = [
        {
            k: pr[k]
            for k in (
                "ID",
                "Name",
                "DisplayName",
                "Path",
                "ReferenceID",
                "Feature",
                "DCREnabled",
                "ProviderID",
            )
        }
        for pr in tx.rows("product")
        if tag["ID"] in pr["Tags"]
    ]
    return {"ID": tag["ID"], "Name": tag["Name"], "Posts": [], "Products": products}
