"""The emulated Dashboard's API definitions (``/api/apis``): what a product's ``APIID`` and a
policy's ``access_rights`` must name.

Tyk's facts (tyk-api/REFERENCE.md §9 "API ids" and the Dashboard spec, ``getApis``/``getApi``/
``postApis``): ``GET /api/apis?p=N`` answers ``{apis: [ApiDefinitionWrapper], pages}`` (``p < 0``:
every API in one reply), ``GET /api/apis/{apiId}`` one ``ApiDefinitionWrapper`` (an unknown id is
400 "Could not retrieve API detail": the spec documents no 404), ``POST /api/apis`` creates one
(409 "Found API with the same ID"). A definition's ``version_data`` says which versions exist:
``{not_versioned, default_version, versions: {<name>: {...}}}``; an API that is not versioned
has the one version ``Default``.

Strict as Tyk is: (inferred) the portal refuses a product naming an API its provider's Dashboard
does not have, and a policy's ``access_rights[api].versions`` must name versions the API
defines (an empty list is accepted, as by Tyk: the Gateway then denies every request to a
versioned API).

The embedded store and the emulator get their definitions from files (``--apis``), as a
Dashboard exports them: this is the emulated Dashboard's own content, never something the
reconciler writes to a real Dashboard.
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from portal_gitops.backends.emulated.db import Row, Tx
from portal_gitops.backends.emulated.replies import Params, Reply, Req, RouteTable, derr, perr

if TYPE_CHECKING:
    from portal_gitops.backends.emulated.store import PortalStore

route = RouteTable()

DEFAULT_VERSION = "Default"


# -- definitions -------------------------------------------------------------------------------


def definition_of(value: Mapping[str, Any]) -> Row:
    """The Tyk Classic API definition in an export: an ``ApiDefinitionWrapper`` (``{api_definition:
    {...}}``, as ``GET /api/apis/{id}`` answers) or the bare definition. Raises ValueError."""
    inner = value.get("api_definition", value)
    if not isinstance(inner, Mapping):
        raise ValueError("api_definition must be an object")
    api_id = inner.get("api_id")
    if not isinstance(api_id, str) or not api_id:
        raise ValueError("an API definition needs a non-empty string api_id")
    return dict(inner)


def defined_versions(definition: Mapping[str, Any]) -> list[str]:
    """The version names an API defines (``Default`` for an API that is not versioned)."""
    data = definition.get("version_data")
    data = data if isinstance(data, Mapping) else {}
    versions = data.get("versions")
    names = [str(v) for v in versions] if isinstance(versions, Mapping) else []
    if data.get("not_versioned", True) and DEFAULT_VERSION not in names:
        names.append(DEFAULT_VERSION)
    return names


def default_versions(definition: Mapping[str, Any]) -> list[str]:
    """What a portal-made policy grants on the API: ``["Default"]`` (REFERENCE §9: portal-made
    and tyk-demo policies use it) when the API is not versioned, else every version it defines."""
    data = definition.get("version_data")
    if not isinstance(data, Mapping) or data.get("not_versioned", True):
        return [DEFAULT_VERSION]
    return sorted(defined_versions(definition))


def _wrapper(definition: Row) -> Row:
    return {
        "api_definition": definition,
        "hook_references": [],
        "is_site": False,
        "sort_by": 0,
        "user_group_owners": [],
        "user_owners": [],
    }


def put(tx: Tx, definition: Mapping[str, Any]) -> Row:
    """Store (or replace) one definition, given a Dashboard-assigned ``id`` if it has none."""
    row = definition_of(definition)
    current = get(tx, row["api_id"])
    row.setdefault("id", (current or {}).get("id") or secrets.token_hex(12))
    row.setdefault("name", row["api_id"])
    row.setdefault("active", True)
    tx.c.execute(
        "INSERT INTO apis(api_id, data) VALUES(?,?) "
        "ON CONFLICT(api_id) DO UPDATE SET data=excluded.data",
        (row["api_id"], json.dumps(row)),
    )
    return row


def seed(tx: Tx, definitions: Iterable[Mapping[str, Any]]) -> None:
    for definition in definitions:
        put(tx, definition)


def get(tx: Tx, api_id: str) -> Row | None:
    r = tx.c.execute("SELECT data FROM apis WHERE api_id=?", (api_id,)).fetchone()
    return json.loads(r[0]) if r else None


def every(tx: Tx) -> list[Row]:
    return [json.loads(r[0]) for r in tx.c.execute("SELECT data FROM apis ORDER BY api_id")]


def every_lazily(tx: Tx) -> Iterator[Row]:
    """``every``, read now and each definition decoded as it is taken: decoded all at once, a
    large Dashboard's definitions were 1.5 KB each at the height of a read that keeps a
    fifth of that of each (the snapshot)."""
    texts = [r[0] for r in tx.c.execute("SELECT data FROM apis ORDER BY api_id")]
    return map(json.loads, texts)


# -- what the portal and the Dashboard refuse ----------------------------------------------------


def check_product_apis(tx: Tx, api_ids: Iterable[str]) -> None:
    """A product's ``APIDetails[].APIID`` must exist on the Dashboard (422, portal shape)."""
    unknown = [a for a in api_ids if get(tx, a) is None]
    if unknown:
        raise perr(
            422, "API(s) not found on the provider's Dashboard: " + ", ".join(sorted(unknown))
        )


def check_access_rights(tx: Tx, rights: Any) -> None:
    """A policy's ``access_rights``: every API exists and its ``versions`` are ones the API
    defines (400, Dashboard shape)."""
    if not isinstance(rights, Mapping):
        return
    for key, right in rights.items():
        right = right if isinstance(right, Mapping) else {}
        api_id = str(right.get("api_id") or key)
        definition = get(tx, api_id)
        if definition is None:
            raise derr(400, f"API {api_id} not found")
        versions = right.get("versions") or []
        known = defined_versions(definition)
        bad = [str(v) for v in versions if v not in known] if isinstance(versions, list) else []
        if bad:
            raise derr(
                400,
                f"API {api_id} has no version(s) {', '.join(bad)} (it defines {', '.join(known)})",
            )


# -- the Dashboard API -------------------------------------------------------------------------


@route("GET", "/api/apis")
def _apis_list(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    try:
        page = int(req.query.get("p", "1") or "1")
    except ValueError:
        raise derr(400, "Could not retrieve APIs.") from None
    rows = every(tx)
    if page < 0:  # "Send number less than 0 to return all items."
        return 200, {"apis": [_wrapper(r) for r in rows], "pages": 1}
    size = max(1, store.dashboard_page_size)
    page = max(page, 1)
    chosen = rows[(page - 1) * size : page * size]
    return 200, {"apis": [_wrapper(r) for r in chosen], "pages": math.ceil(len(rows) / size)}


@route("GET", "/api/apis/{id}")
def _apis_get(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    # "Can either be internal or public API ID."
    row = get(tx, p["id"]) or next((r for r in every(tx) if r.get("id") == p["id"]), None)
    if row is None:
        raise derr(400, "Could not retrieve API detail")
    return 200, _wrapper(row)


@route("POST", "/api/apis")
def _apis_create(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    body = req.json()
    inner = body.get("api_definition")
    if isinstance(inner, dict) and not inner.get("api_id"):
        inner["api_id"] = secrets.token_hex(15)  # "otherwise Tyk will automatically generate"
    try:
        definition = definition_of(body)
    except ValueError as exc:
        raise derr(400, str(exc)) from None
    if get(tx, definition["api_id"]) is not None:
        raise derr(409, "Found API with the same ID")
    definition.pop("id", None)  # "cannot be chosen or modified by the user"
    row = put(tx, definition)
    return 200, {"Status": "OK", "Message": "API created", "Meta": row["id"], "ID": row["api_id"]}
