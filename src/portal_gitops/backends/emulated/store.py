"""The portal store: one SQLite-backed implementation of the Tyk portal's and Dashboard's behaviour.

``PortalStore.handle`` answers HTTP-shaped requests (method, path, query, headers, body) with the
real Tyk paths, status codes and JSON shapes (portal admin API under ``/portal-api``, Dashboard
policies under ``/api/portal/policies``). The embedded backend calls it in-process; the emulator
serves it over a socket. Facts and quirks come from tyk-api/REFERENCE.md and the OpenAPI documents.

Storage: one JSON row per object in ``objects(kind, id, name, parent, data)`` with per-kind
auto-increment ids, and ``policies`` keyed by the Dashboard ``_id``. Every request runs in one
transaction (``BEGIN IMMEDIATE`` for writes, so processes sharing a file serialise).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import re
import secrets
import sqlite3
import string
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
Row = dict[str, Any]
Api = Literal["portal", "dashboard"]

PORTAL_PREFIX = "/portal-api"
DASHBOARD_PREFIX = "/api"
DEFAULT_ORGANISATION_ID = 1
ADMIN_EMAIL = "admin@portal.local"
CONSUMER_ROLES = ("consumer-admin", "consumer-team-member")
VISIBILITIES = ("Public", "Private")
APP_VISIBILITIES = ("personal", "team", "organisation")
OK_ACTION = "Action {}: Executed successfully"
DUPLICATE_POLICY_NAME = "This policy name has already been used, please choose another one"

_CID_ALPHABET = string.ascii_letters + string.digits
# Column used for the indexed ``name`` and ``parent`` of each kind (lookups, scoped listing).
_NAME_FIELD = {"user": "Email"}
_PARENT_FIELD = {
    "team": "OrganisationID",
    "user": "OrganisationID",
    "audience": "CatalogueID",
    "app": "UserID",
    "access_request": "AppID",
    "credential": "AccessRequestID",
}


_SCHEMA = (
    "CREATE TABLE objects(kind TEXT NOT NULL, id INTEGER NOT NULL, name TEXT NOT NULL DEFAULT '',"
    " parent INTEGER NOT NULL DEFAULT 0, data TEXT NOT NULL, PRIMARY KEY(kind, id))",
    "CREATE INDEX objects_name ON objects(kind, name)",
    "CREATE INDEX objects_parent ON objects(kind, parent, id)",
    "CREATE TABLE seq(kind TEXT PRIMARY KEY, last INTEGER NOT NULL)",
    "CREATE TABLE policies(seq INTEGER PRIMARY KEY AUTOINCREMENT, pid TEXT NOT NULL UNIQUE,"
    " name TEXT NOT NULL DEFAULT '', data TEXT NOT NULL)",
    "CREATE INDEX policies_name ON policies(name)",
)
# Indexes added after schema version 1 (created IF NOT EXISTS, so older stores get them too).
_INDEXES = ("CREATE INDEX IF NOT EXISTS policies_id ON policies(json_extract(data, '$.id'))",)


@dataclass(frozen=True)
class StoreResponse:
    status: int
    body: bytes  # JSON
    headers: dict[str, str]  # at least content-type


@dataclass(frozen=True)
class StoreSnapshot:
    """The whole portal as a read sees it (``PortalStore.snapshot``): portal objects in the
    shapes of their list entries merged with their detail replies, and every policy."""

    providers: list[Row]
    orgs: list[Row]
    teams: dict[int, list[Row]]  # organisation ID -> its teams' list entries
    team_users: dict[int, list[int]]  # team ID -> its members' user IDs
    users: list[Row]
    products: list[Row]
    plans: list[Row]
    catalogues: list[Row]
    audiences: dict[int, list[Row]]  # catalogue ID -> its audiences' list entries
    requests: list[Row]
    apps: list[Row]
    policies: list[Row]


class _ApiError(Exception):
    """A refusal with its exact status and JSON payload (raised by handlers, never escapes)."""

    def __init__(self, status: int, payload: Any):
        super().__init__(status)
        self.status = status
        self.payload = payload


def _perr(status: int, message: str) -> _ApiError:
    return _ApiError(status, {"errors": [message]})


def _derr(status: int, message: str) -> _ApiError:
    return _ApiError(status, {"Status": "Error", "Message": message, "Meta": None})


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime())


def _cid() -> str:
    return "".join(secrets.choice(_CID_ALPHABET) for _ in range(27))


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


@dataclass(frozen=True)
class _Req:
    api: Api
    method: str
    path: str
    query: Mapping[str, str]
    body: bytes

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

    def error(self, portal_status: int, dashboard_status: int, message: str) -> _ApiError:
        if self.api == "portal":
            return _perr(portal_status, message)
        return _derr(dashboard_status, message)


def _row_id(row: Row) -> int:
    return int(row["ID"])


def _first(pair: list[Any]) -> Any:
    return pair[0]


class _Tx:
    """Row helpers over one open transaction."""

    def __init__(self, conn: sqlite3.Connection):
        self.c = conn
        self._names: dict[tuple[str, int], str] = {}
        self.memo_checked = False  # PRAGMA data_version looked at (once per transaction)

    def name_of(self, kind: str, oid: int) -> str:
        """An object's ``Name`` ("" if gone), cached for the transaction (reads render many)."""
        key = (kind, oid)
        name = self._names.get(key)
        if name is None:
            if kind in _NAME_FIELD:  # the name column holds something else (users: email)
                row = self.get(kind, oid)
                name = str(row.get("Name") or "") if row else ""
            else:  # the indexed name column is the row's Name: no JSON to decode
                r = self.c.execute(
                    "SELECT name FROM objects WHERE kind=? AND id=?", (kind, oid)
                ).fetchone()
                name = str(r[0]) if r else ""
            self._names[key] = name
        return name

    def remember_names(self, kind: str, rows: Iterable[Row]) -> None:
        """Cache the names of rows already read (what ``name_of`` would look up)."""
        self._names.update(((kind, r["ID"]), str(r.get("Name") or "")) for r in rows)

    def all_rows(self, kinds: Iterable[str]) -> dict[str, list[Row]]:
        """Every row of these kinds, by kind, in ID order.

        Each kind's rows come back as one JSON array, decoded in one call: a call per row
        costs a third more. SQLite does not promise group_concat's order, hence the sort.
        (One kind's rows must fit in one SQLite string, 1 GB: about a million objects.)
        """
        kinds = tuple(kinds)
        out: dict[str, list[Row]] = {k: [] for k in kinds}
        marks = ",".join("?" * len(kinds))
        cursor = self.c.execute(
            f"SELECT kind, '[' || group_concat(data, ',') || ']' FROM objects "
            f"WHERE kind IN ({marks}) GROUP BY kind",
            kinds,
        )
        for kind, array in cursor:
            out[kind] = sorted(json.loads(array), key=_row_id)
        return out

    # -- portal objects -------------------------------------------------------------------
    def get(self, kind: str, oid: int) -> Row | None:
        r = self.c.execute("SELECT data FROM objects WHERE kind=? AND id=?", (kind, oid)).fetchone()
        return None if r is None else dict(json.loads(r[0]))

    def need(self, kind: str, raw: str | int, label: str, status: int = 404) -> Row:
        """The object with this ID (or CID); ``status`` (404/422) with ``<label> not found``."""
        row: Row | None = None
        if isinstance(raw, int) or (isinstance(raw, str) and raw.isdigit()):
            row = self.get(kind, int(raw))
        elif isinstance(raw, str) and raw:
            row = next((r for r in self.rows(kind) if r.get("CID") == raw), None)
        if row is None:
            raise _perr(status, f"{label} not found")
        return row

    def rows(
        self, kind: str, parent: int | None = None, offset: int = 0, limit: int = -1
    ) -> list[Row]:
        sql = "SELECT data FROM objects WHERE kind=?"
        args: list[Any] = [kind]
        if parent is not None:
            sql += " AND parent=?"
            args.append(parent)
        sql += " ORDER BY id LIMIT ? OFFSET ?"
        args += [limit, offset]
        return [json.loads(r[0]) for r in self.c.execute(sql, args)]

    def by_name(self, kind: str, name: str, parent: int | None = None) -> Row | None:
        key = name.lower() if kind == "user" else name
        sql = "SELECT data FROM objects WHERE kind=? AND name=?"
        args: list[Any] = [kind, key]
        if parent is not None:
            sql += " AND parent=?"
            args.append(parent)
        r = self.c.execute(sql + " ORDER BY id LIMIT 1", args).fetchone()
        return None if r is None else dict(json.loads(r[0]))

    def _cols(self, kind: str, row: Row) -> tuple[str, int]:
        name = str(row.get(_NAME_FIELD.get(kind, "Name")) or "")
        if kind == "user":
            name = name.lower()
        parent = row.get(_PARENT_FIELD[kind], 0) if kind in _PARENT_FIELD else 0
        return name, int(parent or 0)

    def insert(self, kind: str, row: Row) -> Row:
        r = self.c.execute("SELECT last FROM seq WHERE kind=?", (kind,)).fetchone()
        oid = (r[0] if r else 0) + 1
        self.c.execute(
            "INSERT INTO seq(kind, last) VALUES(?, ?) ON CONFLICT(kind) DO UPDATE SET last=?",
            (kind, oid, oid),
        )
        row = {"ID": oid, **row}
        self._names.pop((kind, oid), None)
        name, parent = self._cols(kind, row)
        self.c.execute(
            "INSERT INTO objects(kind, id, name, parent, data) VALUES(?,?,?,?,?)",
            (kind, oid, name, parent, json.dumps(row)),
        )
        return row

    def save(self, kind: str, row: Row) -> Row:
        self._names.pop((kind, row["ID"]), None)
        name, parent = self._cols(kind, row)
        self.c.execute(
            "UPDATE objects SET name=?, parent=?, data=? WHERE kind=? AND id=?",
            (name, parent, json.dumps(row), kind, row["ID"]),
        )
        return row

    def delete(self, kind: str, oid: int) -> None:
        self._names.pop((kind, oid), None)
        self.c.execute("DELETE FROM objects WHERE kind=? AND id=?", (kind, oid))

    # -- Dashboard policies ---------------------------------------------------------------
    def policy(self, pid: str) -> Row | None:
        r = self.c.execute("SELECT data FROM policies WHERE pid=?", (pid,)).fetchone()
        if r is None:
            r = self.c.execute(
                "SELECT data FROM policies WHERE json_extract(data, '$.id')=? ORDER BY seq LIMIT 1",
                (pid,),
            ).fetchone()
        return None if r is None else dict(json.loads(r[0]))

    def policies(self, offset: int = 0, limit: int = -1) -> list[Row]:
        sql = "SELECT data FROM policies ORDER BY seq LIMIT ? OFFSET ?"
        return [json.loads(r[0]) for r in self.c.execute(sql, (limit, offset))]

    def all_policies(self) -> list[Row]:
        """``policies()`` decoded in one call (see ``all_rows``), in the same order."""
        r = self.c.execute(
            "SELECT '[' || group_concat('[' || seq || ',' || data || ']', ',') || ']' FROM policies"
        ).fetchone()
        pairs = json.loads(r[0]) if r[0] else []
        return [policy for _, policy in sorted(pairs, key=_first)]

    def policy_count(self) -> int:
        r = self.c.execute("SELECT COUNT(*) FROM policies").fetchone()
        return int(r[0])

    def policy_exists(self, pid: str) -> bool:
        """A policy with this ``_id`` or ``id`` (both indexed)."""
        return (
            self.c.execute("SELECT 1 FROM policies WHERE pid=?", (pid,)).fetchone() is not None
            or self.c.execute(
                "SELECT 1 FROM policies WHERE json_extract(data, '$.id')=? LIMIT 1", (pid,)
            ).fetchone()
            is not None
        )

    def policy_named(self, name: str, exclude: str = "") -> bool:
        r = self.c.execute(
            "SELECT 1 FROM policies WHERE name=? AND pid<>? LIMIT 1", (name, exclude)
        ).fetchone()
        return r is not None

    def put_policy(self, pol: Row) -> None:
        self.c.execute(
            "INSERT INTO policies(pid, name, data) VALUES(?,?,?) "
            "ON CONFLICT(pid) DO UPDATE SET name=excluded.name, data=excluded.data",
            (pol["_id"], str(pol.get("name") or ""), json.dumps(pol)),
        )

    def delete_policy(self, pid: str) -> None:
        self.c.execute("DELETE FROM policies WHERE pid=?", (pid,))


Handler = Callable[["PortalStore", _Tx, _Req, dict[str, str]], tuple[int, Any]]


@dataclass(frozen=True)
class _Route:
    api: Api
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    write: bool


_ROUTES: list[_Route] = []
_BY_METHOD: dict[tuple[Api, str], list[_Route]] = {}


def _routes_for(api: Api, method: str) -> list[_Route]:
    """The routes of one API and method, in registration order (built once)."""
    routes = _BY_METHOD.get((api, method))
    if routes is None:
        routes = _BY_METHOD[(api, method)] = [
            r for r in _ROUTES if r.api == api and r.method == method
        ]
    return routes


def _route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    """Register a handler for ``method`` on a path regex (named groups become params)."""
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)

    def deco(fn: Handler) -> Handler:
        api: Api = "dashboard" if pattern.startswith(DASHBOARD_PREFIX + "/") else "portal"
        _ROUTES.append(_Route(api, method, re.compile(f"^{regex}$"), fn, method != "GET"))
        return fn

    return deco


# -- small validators ------------------------------------------------------------------------


def _required(body: Row, *fields: str) -> None:
    missing = [f for f in fields if body.get(f) in (None, "")]
    if missing:
        raise _perr(422, f"missing required field(s): {', '.join(missing)}")


def _str(body: Row, field: str, default: str = "") -> str:
    value = body.get(field, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise _perr(422, f"{field} must be a string")
    return value


def _bool(body: Row, field: str, default: bool = False) -> bool:
    value = body.get(field, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _perr(422, f"{field} must be a boolean")
    return value


def _int_field(body: Row, field: str) -> int:
    value = body.get(field)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _perr(422, f"{field} must be an integer")
    return value


def _id_list(body: Row, field: str, *, numeric_strings: bool = False) -> list[int]:
    """An array of integer IDs (``null`` = empty). Names (strings) are refused, as by Tyk."""
    value = body.get(field)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _perr(422, f"{field} must be an array of integer IDs")
    out: list[int] = []
    for item in value:
        if numeric_strings and isinstance(item, str) and item.isdigit():
            out.append(int(item))
        elif isinstance(item, int) and not isinstance(item, bool):
            out.append(item)
        else:
            raise _perr(422, f"{field} must be an array of integer IDs, got {item!r}")
    return list(dict.fromkeys(out))


def _number(value: Any, field: str) -> float | None:
    """A limit: a number, a legacy string ("1000 calls / 60 second(s)"), or "unlimited" (None)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise _perr(422, f"{field} must be a number")
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        if value.strip().lower() == "unlimited":
            return None
        m = re.match(r"\s*(-?\d+(?:\.\d+)?)", value)
        if m:
            return float(m.group(1))
    raise _perr(422, f"{field} must be a number")


def _as_int(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _paginate(query: Mapping[str, str], default_per_page: int) -> tuple[int, int]:
    """(offset, limit) from Tyk's portal ``page``/``per_page``/``limit`` parameters."""

    def num(name: str, default: int) -> int:
        try:
            value = int(query.get(name, default))
        except ValueError:
            return default
        return value if value > 0 else default

    page, per_page = num("page", 1), num("per_page", default_per_page)
    limit = min(num("limit", per_page), per_page)
    return (page - 1) * per_page, limit


def _provider_tags(provider: Row) -> list[str]:
    try:
        meta = json.loads(provider.get("Configuration", {}).get("MetaData") or "{}")
    except ValueError:
        return []
    tags = meta.get("PoliciesTags") if isinstance(meta, dict) else None
    return [str(t) for t in tags] if isinstance(tags, list) else []


def _new_policy_id(tx: _Tx) -> str:
    while True:
        pid = secrets.token_hex(12)
        if not tx.policy_exists(pid):
            return pid


def _policy_stamp(pol: Row) -> Row:
    pol["last_updated"] = str(int(time.time()))
    return pol


class PortalStore:
    """The portal (+ Dashboard policies) in one SQLite file. Thread-safe; see ``handle``.

    ``portal_token`` / ``dashboard_secret``: required ``Authorization`` values (None = no check).
    ``portal_page_size`` / ``dashboard_page_size``: default page sizes (``per_page`` / ``p``).
    ``plans_list_shape``: ``GET /plans`` as the spec's ``{"data": [...]}`` or a bare array.
    ``legacy_limit_strings``: answer plans as pre-1.13 portals did (``Plan-show``: RateLimit and
    Quota as "1000 calls / 60 second(s)" / "unlimited", Catalogues as names).
    """

    def __init__(
        self,
        path: str,
        *,
        portal_token: str | None = None,
        dashboard_secret: str | None = None,
        portal_page_size: int = 20,
        dashboard_page_size: int = 10,
        plans_list_shape: Literal["spec", "bare"] = "spec",
        legacy_limit_strings: bool = False,
    ):
        self.path = path
        self.portal_token = portal_token
        self.dashboard_secret = dashboard_secret
        self.portal_page_size = portal_page_size
        self.dashboard_page_size = dashboard_page_size
        self.plans_list_shape = plans_list_shape
        self.legacy_limit_strings = legacy_limit_strings
        self._lock = threading.Lock()
        self._memo: dict[str, Any] = {}
        self._memo_version: int | None = None
        self._writing = False
        self._conn = sqlite3.connect(
            path, timeout=30.0, isolation_level=None, check_same_thread=False
        )
        self._conn.execute("PRAGMA busy_timeout=30000")
        if path != ":memory:":
            self._enable_wal()
            self._conn.execute("PRAGMA synchronous=NORMAL")
        self._init_schema()

    def _enable_wal(self) -> None:
        """Switch a file to WAL. The switch needs the file to itself and SQLite does not
        wait for it (no busy handler), so two processes opening a new store at once retry."""
        deadline = time.monotonic() + 30.0
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    # -- lifecycle --------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> PortalStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _init_schema(self) -> None:
        with self._lock:
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            try:
                c.execute("CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT)")
                r = c.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
                if r is None:
                    for statement in _SCHEMA:
                        c.execute(statement)
                    c.execute(
                        "INSERT INTO meta(key, value) VALUES('schema_version', ?)",
                        (str(SCHEMA_VERSION),),
                    )
                    self._seed(_Tx(c))
                elif int(r[0]) != SCHEMA_VERSION:
                    raise RuntimeError(
                        f"{self.path}: store schema version {r[0]} is not {SCHEMA_VERSION}"
                    )
                for statement in _INDEXES:
                    c.execute(statement)
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise

    def _seed(self, tx: _Tx) -> None:
        """The portal's built-ins: default organisation and team, two catalogues, an admin."""
        now = _now()
        stamp = {"CreatedAt": now, "UpdatedAt": now}
        org = tx.insert("organisation", {"Name": "Default Organisation", "CID": _cid(), **stamp})
        self._default_team(tx, org)
        for name, visibility in (("Public Catalogue", "Public"), ("Private Catalogue", "Private")):
            tx.insert(
                "catalogue",
                {
                    "Name": name,
                    "NameWithSlug": _slug(name),
                    "VisibilityStatus": visibility,
                    "Products": [],
                    "Plans": [],
                    **stamp,
                },
            )
        tx.insert(
            "user",
            {
                "Email": ADMIN_EMAIL,
                "First": "Portal",
                "Last": "Admin",
                "Role": "super-admin",
                "OrganisationID": 0,
                "Provider": "password",
                "Active": True,
                "ResetPassword": False,
                "Teams": [],
                "JWTToken": self.portal_token or secrets.token_hex(16),
                "APITokenCreatedAt": now[:10],
                **stamp,
            },
        )

    # -- the entry point --------------------------------------------------------------------
    def handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> StoreResponse:
        """Answer one request as the portal (``/portal-api``) or Dashboard (``/api``) would."""
        method = method.upper()
        if len(path) > 1:
            path = path.rstrip("/")
        lower = {k.lower(): v for k, v in headers.items()}
        if path == PORTAL_PREFIX or path.startswith(PORTAL_PREFIX + "/"):
            api: Api = "portal"
            sub = path[len(PORTAL_PREFIX) :]
            if self.portal_token is not None and lower.get("authorization") != self.portal_token:
                return self._respond(
                    401, {"errors": ["Unauthorized: invalid or missing API token"]}
                )
        elif path.startswith(DASHBOARD_PREFIX + "/"):
            api = "dashboard"
            sub = path
            if (
                self.dashboard_secret is not None
                and lower.get("authorization") != self.dashboard_secret
            ):
                return self._respond(
                    401, {"Status": "Error", "Message": "Not authorised", "Meta": None}
                )
        else:
            return self._respond(404, {"errors": [f"{path} not found"]})
        req = _Req(api, method, sub, query, body)
        chosen = next(
            ((r, m) for r in _routes_for(api, method) if (m := r.pattern.match(sub))), None
        )
        if chosen is None:
            if not any(r.api == api and r.pattern.match(sub) for r in _ROUTES):
                return self._respond(404, req.error(404, 404, f"{path} not found").payload)
            return self._respond(405, req.error(405, 405, f"method {method} not allowed").payload)
        route, match = chosen
        try:
            status, payload = self._run(route, req, match.groupdict())
        except _ApiError as exc:
            status, payload = exc.status, exc.payload
        except Exception:
            log.exception("store failed on %s %s", method, path)
            status, payload = 500, req.error(500, 500, "internal error").payload
        return self._respond(status, payload)

    def _run(self, route: _Route, req: _Req, params: dict[str, str]) -> tuple[int, Any]:
        with self._transaction(write=route.write) as tx:
            return route.handler(self, tx, req, params)

    @contextlib.contextmanager
    def _transaction(self, *, write: bool) -> Iterator[_Tx]:
        """One transaction on the store, holding its lock (one request, or one snapshot)."""
        with self._lock:
            c = self._conn
            c.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            self._writing = write
            if write:
                self._memo.clear()  # whatever this write changes, nothing derived survives it
                self._memo_version = None
            try:
                yield _Tx(c)
            except BaseException:
                c.execute("ROLLBACK")
                raise
            finally:
                self._writing = False
            c.execute("COMMIT")

    def snapshot(self) -> StoreSnapshot:
        """Everything a read of the portal asks for, in one read transaction.

        The embedded backend reads through this instead of one request per list page and per
        object (about 7,700 for 10,000 objects). Every object is rendered by the same functions
        that answer the list and detail requests, so it carries exactly what the list entry
        merged with the detail reply would; a test holds the two reads equal.
        """
        kinds: tuple[str, ...] = (
            *("provider", "organisation", "team", "user", "product", "plan", "catalogue"),
            *("audience", "app", "access_request", "tag"),
        )
        with self._transaction(write=False) as tx:
            rows = tx.all_rows(kinds)
            for kind, of_kind in rows.items():
                # what name_of would look up, one query per name, while rendering
                tx.remember_names(kind, of_kind)
            # a team's members: its organisation's users whose Teams list it (as _r_team)
            members: dict[tuple[int, int], list[int]] = {}
            for user in rows["user"]:
                for team_id in dict.fromkeys(user["Teams"]):
                    members.setdefault((user["OrganisationID"], team_id), []).append(user["ID"])
            teams: dict[int, list[Row]] = {}
            for team in rows["team"]:
                teams.setdefault(team["OrganisationID"], []).append(team)
            audiences: dict[int, list[Row]] = {}
            for aud in rows["audience"]:
                audiences.setdefault(aud["CatalogueID"], []).append(aud)
            return StoreSnapshot(
                providers=[self._r_provider(r) for r in rows["provider"]],
                orgs=[self._r_org_elem(r) for r in rows["organisation"]],
                teams={
                    org["ID"]: [self._r_team_elem(t) for t in teams.get(org["ID"], [])]
                    for org in rows["organisation"]
                },
                team_users={
                    t["ID"]: members.get((t["OrganisationID"], t["ID"]), []) for t in rows["team"]
                },
                users=[self._r_user_elem(u) for u in rows["user"]],
                products=[self._r_product(tx, r) for r in rows["product"]],
                plans=[self._r_plan(tx, r) for r in rows["plan"]],
                catalogues=[self._r_catalogue(tx, r) for r in rows["catalogue"]],
                audiences={
                    cat["ID"]: [
                        self._r_audience(tx, a, full=False) for a in audiences.get(cat["ID"], [])
                    ]
                    for cat in rows["catalogue"]
                },
                requests=[
                    self._r_access_request(tx, r, credentials=False) for r in rows["access_request"]
                ],
                apps=[self._r_app(tx, a, full=False) for a in rows["app"]],
                policies=tx.all_policies(),
            )

    def _memoised(self, tx: _Tx, name: str, build: Callable[[], Any]) -> Any:
        """Data derived from the store, kept between read requests until anything writes.

        Own writes clear it (``_run``); ``PRAGMA data_version`` tells of commits by other
        connections (another process sharing the file). Inside a write it is never used.
        """
        if self._writing:
            return build()
        if not tx.memo_checked:  # a transaction sees one version of the file throughout
            version = tx.c.execute("PRAGMA data_version").fetchone()[0]
            if version != self._memo_version:
                self._memo.clear()
                self._memo_version = version
            tx.memo_checked = True
        if name not in self._memo:
            self._memo[name] = build()
        return self._memo[name]

    @staticmethod
    def _respond(status: int, payload: Any) -> StoreResponse:
        body = json.dumps(payload, separators=(",", ":")).encode()
        return StoreResponse(status, body, {"content-type": "application/json"})

    def _page(self, req: _Req) -> tuple[int, int]:
        return _paginate(req.query, self.portal_page_size)

    # ====================================================================================
    # Rendering: stored rows -> the portal's read shapes (names where Tyk returns names)
    # ====================================================================================
    def _name_of(self, tx: _Tx, kind: str, oid: int) -> str:
        return tx.name_of(kind, oid)

    def _r_provider(self, row: Row, *, full: bool = True) -> Row:
        out = {k: row[k] for k in ("ID", "Name", "Type", "Status", "LastSyncedAt")}
        if full:
            out.update(
                Configuration=row["Configuration"],
                CreatedAt=row["CreatedAt"],
                UpdatedAt=row["UpdatedAt"],
            )
        return out

    @staticmethod
    def _r_org_elem(row: Row) -> Row:
        return {"ID": row["ID"], "CID": row["CID"], "Name": row["Name"]}

    @staticmethod
    def _r_team_elem(row: Row) -> Row:
        return {"ID": row["ID"], "Name": row["Name"], "Default": row["Default"]}

    def _r_user_elem(self, row: Row) -> Row:
        keys = ("ID", "Email", "First", "Last", "Role", "OrganisationID", "Provider", "Active")
        return {k: row[k] for k in keys}

    def _r_team(self, tx: _Tx, row: Row) -> Row:
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

    def _r_org(self, tx: _Tx, row: Row) -> Row:
        teams = [self._r_team_elem(t) for t in tx.rows("team", parent=row["ID"])]
        users = [self._r_user_elem(u) for u in tx.rows("user", parent=row["ID"])]
        return {
            "ID": row["ID"],
            "CID": row["CID"],
            "Name": row["Name"],
            "Teams": teams,
            "Users": users,
            "CreatedAt": row["CreatedAt"],
            "UpdatedAt": row["UpdatedAt"],
        }

    def _r_user(self, tx: _Tx, row: Row) -> Row:
        org = tx.get("organisation", row["OrganisationID"]) if row["OrganisationID"] else None
        teams = [self._r_team(tx, t) for tid in row["Teams"] if (t := tx.get("team", tid))]
        return {
            **self._r_user_elem(row),
            "ResetPassword": row["ResetPassword"],
            "JWTToken": row["JWTToken"],
            "APITokenCreatedAt": row["APITokenCreatedAt"],
            "Organisation": org["Name"] if org else "",
            "Teams": teams,
            "CreatedAt": row["CreatedAt"],
            "UpdatedAt": row["UpdatedAt"],
        }

    def _catalogues_with(self, tx: _Tx, field: str, oid: int) -> list[Row]:
        """Catalogues whose ``field`` (Products/Plans) lists ``oid`` (rows: read, never change).

        Every product/plan detail needs this: the map of all memberships is built once and
        kept between reads (see ``_memoised``) instead of scanning every catalogue each time.
        """

        def build() -> dict[tuple[str, int], list[Row]]:
            index: dict[tuple[str, int], list[Row]] = {}
            for cat in tx.rows("catalogue"):
                for name in ("Products", "Plans"):
                    for member in dict.fromkeys(cat[name]):
                        index.setdefault((name, member), []).append(cat)
            return index

        memberships: dict[tuple[str, int], list[Row]] = self._memoised(tx, "memberships", build)
        return memberships.get((field, oid), [])

    @staticmethod
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

    def _r_product(self, tx: _Tx, row: Row, *, full: bool = True) -> Row:
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
        out["APIDetails"] = [self._api_detail(d, full=full) for d in row["APIDetails"]]
        if full:
            out.update(
                Description=row["Description"],
                Content=row["Content"],
                Logo=row["Logo"],
                Catalogues=[c["Name"] for c in self._catalogues_with(tx, "Products", row["ID"])],
                Tags=[n for t in row["Tags"] if (n := self._name_of(tx, "tag", t))],
                Templates=[],
                CreatedAt=row["CreatedAt"],
                UpdatedAt=row["UpdatedAt"],
            )
        return out

    def _limits(self, row: Row) -> Row:
        if not self.legacy_limit_strings:
            return {"RateLimit": row["RateLimit"] or 0, "Quota": row["Quota"] or 0}

        def legacy(value: Any, per: Any, unlimited: bool) -> str:
            if unlimited or value is None or value < 0:
                return "unlimited"
            return f"{_as_int(value)} calls / {_as_int(per)} second(s)"

        return {
            "RateLimit": legacy(row["RateLimit"], row["Per"], row["UnlimitedRateLimit"]),
            "Quota": legacy(row["Quota"], row["QuotaRenewalRate"], row["UnlimitedQuota"]),
        }

    def _r_plan(self, tx: _Tx, row: Row, *, full: bool = True) -> Row:
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
        out.update(self._limits(row))
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
            key = "Name" if self.legacy_limit_strings else "ID"
            out["Catalogues"] = [c[key] for c in self._catalogues_with(tx, "Plans", row["ID"])]
        return out

    def _r_audience(self, tx: _Tx, row: Row, *, full: bool = True) -> Row:
        out = {k: row[k] for k in ("ID", "OrganisationID", "TeamID")}
        if full:
            out.update(
                CatalogueID=row["CatalogueID"],
                CreatedAt=row["CreatedAt"],
                UpdatedAt=row["UpdatedAt"],
            )
        return out

    def _r_catalogue(self, tx: _Tx, row: Row, *, full: bool = True) -> Row:
        out = {k: row[k] for k in ("ID", "Name", "NameWithSlug", "VisibilityStatus")}
        if full:
            audiences = []
            for a in tx.rows("audience", parent=row["ID"]):
                audiences.append(
                    {
                        "ID": a["ID"],
                        "Name": self._name_of(tx, "team", a["TeamID"]),
                        "Catalogue": row["Name"],
                        "Organisation": self._name_of(tx, "organisation", a["OrganisationID"]),
                        "OrganisationID": a["OrganisationID"],
                        "TeamID": a["TeamID"],
                    }
                )
            out.update(
                Products=[self._name_of(tx, "product", i) for i in row["Products"]],
                Plans=[self._name_of(tx, "plan", i) for i in row["Plans"]],
                ProductIDs=list(row["Products"]),
                PlanIDs=list(row["Plans"]),
                OrgCatalogues=audiences,
                CreatedAt=row["CreatedAt"],
                UpdatedAt=row["UpdatedAt"],
            )
        return out

    @staticmethod
    def _r_credential(row: Row) -> Row:
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

    def _r_access_request(self, tx: _Tx, row: Row, *, credentials: bool = True) -> Row:
        out: Row = {
            "ID": row["ID"],
            "Status": row["Status"],
            "ProvisionImmediately": row["ProvisionImmediately"],
            "AuthType": row["AuthType"],
            "DCREnabled": False,
            "Client": self._name_of(tx, "app", row["AppID"]),
            "Plan": self._name_of(tx, "plan", row["PlanID"]),
            "Products": [self._name_of(tx, "product", p) for p in row["ProductIDs"]],
            "Catalogue": self._name_of(tx, "catalogue", row["CatalogueID"]),
            "User": f"User#{row['UserID']}",
            "AppID": row["AppID"],
            "PlanID": row["PlanID"],
            "ProductIDs": list(row["ProductIDs"]),
            "CatalogueID": row["CatalogueID"],
            "UserID": row["UserID"],
            "CreatedAt": row["CreatedAt"],
            "UpdatedAt": row["UpdatedAt"],
        }
        if credentials:
            out["Credentials"] = [
                self._r_credential(c) for c in tx.rows("credential", parent=row["ID"])
            ]
        return out

    def _r_app(self, tx: _Tx, row: Row, *, full: bool = True) -> Row:
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
                self._r_access_request(tx, r) for r in tx.rows("access_request", parent=row["ID"])
            ]
        return out

    # ====================================================================================
    # Shared portal rules
    # ====================================================================================
    def _unique(
        self, tx: _Tx, kind: str, label: str, name: str, oid: int = 0, parent: int | None = None
    ) -> None:
        other = tx.by_name(kind, name, parent)
        if other is not None and other["ID"] != oid:
            raise _perr(422, f"{label} with name {name!r} already exists")

    def _default_team(self, tx: _Tx, org: Row) -> Row:
        now = _now()
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

    def _org_default_team(self, tx: _Tx, org_id: int) -> Row | None:
        return next((t for t in tx.rows("team", parent=org_id) if t["Default"]), None)

    def _set_memberships(self, tx: _Tx, field: str, oid: int, catalogue_ids: list[int]) -> None:
        """Make ``oid`` (a product or plan) listed in exactly these catalogues."""
        for cid in catalogue_ids:
            tx.need("catalogue", cid, f"catalogue {cid}", 422)
        wanted = set(catalogue_ids)
        for cat in tx.rows("catalogue"):
            listed = oid in cat[field]
            if (cat["ID"] in wanted) != listed:
                cat[field] = (
                    [*cat[field], oid] if not listed else [x for x in cat[field] if x != oid]
                )
                cat["UpdatedAt"] = _now()
                tx.save("catalogue", cat)

    def _drop_from_catalogues(self, tx: _Tx, field: str, oid: int) -> None:
        self._set_memberships(tx, field, oid, [])

    def _provider_of(self, tx: _Tx, body: Row) -> Row:
        _int_field(body, "ProviderID")
        return tx.need("provider", body["ProviderID"], f"provider {body['ProviderID']}", 422)

    def _delete_policy_of(self, tx: _Tx, row: Row) -> None:
        if row.get("ReferenceID"):
            tx.delete_policy(row["ReferenceID"])

    def _revoke(self, tx: _Tx, ar_id: int) -> None:
        for cred in tx.rows("credential", parent=ar_id):
            tx.delete("credential", cred["ID"])

    def _delete_access_request(self, tx: _Tx, ar: Row) -> None:
        self._revoke(tx, ar["ID"])
        tx.delete("access_request", ar["ID"])

    def _delete_app(self, tx: _Tx, app: Row) -> None:
        for ar in tx.rows("access_request", parent=app["ID"]):
            self._delete_access_request(tx, ar)
        tx.delete("app", app["ID"])

    def _issue_credential(self, tx: _Tx, ar: Row) -> None:
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
            expires = time.strftime(
                "%Y-%m-%d %H:%M", time.gmtime(time.time() + plan["KeyExpiresIn"])
            )
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
                "CreatedAt": _now(),
            },
        )

    def _decide(self, tx: _Tx, ar: Row, status: str) -> None:
        if ar["Status"] == status:
            return  # idempotent: a repeated approve/reject changes nothing
        if status == "approved":
            self._issue_credential(tx, ar)
        else:
            self._revoke(tx, ar["ID"])
        ar["Status"] = status
        ar["UpdatedAt"] = _now()
        tx.save("access_request", ar)

    # -- policies backing products and plans ---------------------------------------------
    def _new_backing_policy(self, tx: _Tx, provider: Row, name: str, fields: Row) -> str:
        if tx.policy_named(name):
            raise _perr(422, f"policy with name {name!r} already exists in the provider")
        pid = _new_policy_id(tx)
        meta = json.loads(provider["Configuration"].get("MetaData") or "{}") or {}
        pol: Row = {
            "_id": pid,
            "id": pid,
            "name": name,
            "org_id": str(meta.get("OrgID", "")) if isinstance(meta, dict) else "",
            "tags": _provider_tags(provider),
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

    @staticmethod
    def _access_rights(apis: list[Row], current: Mapping[str, Any]) -> Row:
        rights: Row = {}
        for d in apis:
            kept = current.get(d["APIID"])
            rights[d["APIID"]] = {
                "api_id": d["APIID"],
                "api_name": d.get("Name") or d["APIID"],
                "versions": kept.get("versions", []) if isinstance(kept, dict) else [],
                "allowed_urls": kept.get("allowed_urls", []) if isinstance(kept, dict) else [],
                "limit": kept.get("limit") if isinstance(kept, dict) else None,
            }
        return rights

    @staticmethod
    def _plan_policy_fields(plan: Row) -> Row:
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
                -1
                if unlimited_quota or plan["QuotaRenewalRate"] is None
                else plan["QuotaRenewalRate"]
            ),
            "key_expires_in": plan["KeyExpiresIn"] or 0,
            "access_rights": {},
        }

    def _update_backing_policy(self, tx: _Tx, row: Row, fields: Row) -> None:
        pol = tx.policy(row.get("ReferenceID") or "")
        if pol is None:
            return  # deleted in the Dashboard: drift the reconciler reports, not ours to fix
        if fields.get("name", pol.get("name")) != pol.get("name") and tx.policy_named(
            fields["name"], exclude=pol["_id"]
        ):
            raise _perr(422, f"policy with name {fields['name']!r} already exists in the provider")
        pol.update(fields)
        tx.put_policy(_policy_stamp(pol))

    # ====================================================================================
    # Portal: providers
    # ====================================================================================
    @staticmethod
    def _metadata(body: Row) -> str:
        conf = body.get("Configuration") or {}
        if not isinstance(conf, dict):
            raise _perr(422, "Configuration must be an object")
        meta = conf.get("MetaData", "")
        if isinstance(meta, dict):
            return json.dumps(meta)
        if not isinstance(meta, str):
            raise _perr(422, "Configuration.MetaData must be a JSON-encoded string")
        if meta:
            try:
                json.loads(meta)
            except ValueError:
                raise _perr(422, "Configuration.MetaData is not valid JSON") from None
        return meta

    @_route("GET", "/providers")
    def _providers_list(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        off, lim = self._page(req)
        return 200, [self._r_provider(r, full=False) for r in tx.rows("provider", None, off, lim)]

    @_route("POST", "/providers")
    def _providers_create(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        body = req.json()
        _required(body, "Name")
        name = _str(body, "Name")
        self._unique(tx, "provider", "provider", name)
        now = _now()
        row = tx.insert(
            "provider",
            {
                "Name": name,
                "Type": _str(body, "Type", "tyk-pro") or "tyk-pro",
                "Status": "Unknown",
                "LastSyncedAt": "",
                "Configuration": {"MetaData": self._metadata(body)},
                "CreatedAt": now,
                "UpdatedAt": now,
            },
        )
        row["Configuration"]["ID"] = row["ID"]
        return 200, self._r_provider(tx.save("provider", row))

    @_route("GET", "/providers/{id}")
    def _providers_get(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        return 200, self._r_provider(tx.need("provider", p["id"], "provider"))

    @_route("PUT", "/providers/{id}")
    def _providers_update(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        row = tx.need("provider", p["id"], "provider", 422)
        body = req.json()
        if "Name" in body:
            _required(body, "Name")
            self._unique(tx, "provider", "provider", _str(body, "Name"), row["ID"])
            row["Name"] = body["Name"]
        if "Type" in body:
            row["Type"] = _str(body, "Type")
        if isinstance(body.get("Configuration"), dict) and "MetaData" in body["Configuration"]:
            row["Configuration"]["MetaData"] = self._metadata(body)
        row["UpdatedAt"] = _now()
        return 200, self._r_provider(tx.save("provider", row))

    @_route("DELETE", "/providers/{id}")
    def _providers_delete(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        row = tx.need("provider", p["id"], "provider")
        for kind, field in (("product", "Products"), ("plan", "Plans")):
            for obj in tx.rows(kind):
                if obj["ProviderID"] == row["ID"]:
                    self._delete_policy_of(tx, obj)
                    self._drop_from_catalogues(tx, field, obj["ID"])
                    tx.delete(kind, obj["ID"])
        tx.delete("provider", row["ID"])
        return 200, {"status": "ok"}

    @_route("PUT", "/providers/{id}/synchronize")
    def _providers_sync(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        """Dashboard-first: import tagged partitioned policies; policy renames flow back."""
        provider = tx.need("provider", p["id"], "provider", 422)
        tags = set(_provider_tags(provider))
        linked: dict[str, tuple[str, Row]] = {}
        for kind in ("product", "plan"):
            for obj in tx.rows(kind):
                if obj.get("ReferenceID"):
                    linked[obj["ReferenceID"]] = (kind, obj)
        for pol in tx.policies():
            parts = pol.get("partitions") or {}
            if pol["_id"] in linked:
                kind, obj = linked[pol["_id"]]
                if (
                    obj["ProviderID"] == provider["ID"]
                    and pol.get("name")
                    and (pol["name"] != obj["Name"])
                    and tx.by_name(kind, pol["name"]) is None
                ):
                    obj["Name"] = pol["name"]
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
                    self._insert_product(
                        tx, provider, {"Name": name, "APIDetails": apis}, reference=pol["_id"]
                    )
            elif tx.by_name("plan", name) is None:
                self._insert_plan(tx, provider, {"Name": name}, reference=pol["_id"], policy=pol)
        provider.update(Status="Up", LastSyncedAt=_now(), UpdatedAt=_now())
        tx.save("provider", provider)
        return 200, {"status": "ok", "message": OK_ACTION.format("Synchronize")}

    # ====================================================================================
    # Portal: organisations and teams
    # ====================================================================================
    @_route("GET", "/organisations")
    def _orgs_list(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        off, lim = self._page(req)
        return 200, [self._r_org_elem(r) for r in tx.rows("organisation", None, off, lim)]

    @_route("POST", "/organisations")
    def _orgs_create(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        body = req.json()
        _required(body, "Name")
        name = _str(body, "Name")
        self._unique(tx, "organisation", "organisation", name)
        now = _now()
        org = tx.insert(
            "organisation",
            {"Name": name, "CID": _str(body, "CID") or _cid(), "CreatedAt": now, "UpdatedAt": now},
        )
        self._default_team(tx, org)
        return 200, self._r_org(tx, org)

    @_route("GET", "/organisations/{id}")
    def _orgs_get(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        return 200, self._r_org(tx, tx.need("organisation", p["id"], "organisation"))

    @_route("PUT", "/organisations/{id}")
    def _orgs_update(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        org = tx.need("organisation", p["id"], "organisation", 422)
        body = req.json()
        _required(body, "Name")
        name = _str(body, "Name")
        self._unique(tx, "organisation", "organisation", name, org["ID"])
        team = self._org_default_team(tx, org["ID"])
        if team is not None and team["Name"] == f"{org['Name']} All users":
            team.update(Name=f"{name} All users", UpdatedAt=_now())
            tx.save("team", team)
        org.update(Name=name, UpdatedAt=_now())
        return 200, self._r_org(tx, tx.save("organisation", org))

    @_route("DELETE", "/organisations/{id}")
    def _orgs_delete(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        org = tx.need("organisation", p["id"], "organisation")
        if org["ID"] == DEFAULT_ORGANISATION_ID:
            raise _perr(422, "the Default Organisation cannot be deleted")
        default_team = self._org_default_team(tx, DEFAULT_ORGANISATION_ID)
        for user in tx.rows("user", parent=org["ID"]):
            user.update(
                OrganisationID=DEFAULT_ORGANISATION_ID,
                Teams=[default_team["ID"]] if default_team else [],
                UpdatedAt=_now(),
            )
            tx.save("user", user)
        for team in tx.rows("team", parent=org["ID"]):
            self._delete_team_audiences(tx, team["ID"])
            tx.delete("team", team["ID"])
        tx.delete("organisation", org["ID"])
        return 200, {"status": "ok"}

    def _delete_team_audiences(self, tx: _Tx, team_id: int) -> None:
        for aud in tx.rows("audience"):
            if aud["TeamID"] == team_id:
                tx.delete("audience", aud["ID"])

    def _team_of(self, tx: _Tx, p: dict[str, str], status: int = 404) -> tuple[Row, Row]:
        org = tx.need("organisation", p["org"], "organisation", status)
        team = tx.need("team", p["id"], "team", status)
        if team["OrganisationID"] != org["ID"]:
            raise _perr(status, "team not found")
        return org, team

    @_route("GET", "/organisations/{org}/teams")
    def _teams_list(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        org = tx.need("organisation", p["org"], "organisation")
        off, lim = self._page(req)
        return 200, [self._r_team_elem(t) for t in tx.rows("team", org["ID"], off, lim)]

    @_route("POST", "/organisations/{org}/teams")
    def _teams_create(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        org = tx.need("organisation", p["org"], "organisation", 422)
        body = req.json()
        _required(body, "Name")
        name = _str(body, "Name")
        self._unique(tx, "team", "team", name, parent=org["ID"])
        now = _now()
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
        return 200, self._r_team(tx, team)

    @_route("GET", "/organisations/{org}/teams/{id}")
    def _teams_get(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        return 200, self._r_team(tx, self._team_of(tx, p)[1])

    @_route("PUT", "/organisations/{org}/teams/{id}")
    def _teams_update(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        org, team = self._team_of(tx, p, 422)
        body = req.json()
        if "Name" in body:
            _required(body, "Name")
            self._unique(tx, "team", "team", _str(body, "Name"), team["ID"], parent=org["ID"])
            team["Name"] = body["Name"]
        if "Users" in body:
            wanted = set(_id_list(body, "Users"))
            for uid in wanted:
                user = tx.need("user", uid, f"user {uid}", 422)
                if user["OrganisationID"] != org["ID"]:
                    raise _perr(422, f"user {uid} does not belong to organisation {org['Name']!r}")
            for user in tx.rows("user", parent=org["ID"]):
                member = team["ID"] in user["Teams"]
                if (user["ID"] in wanted) != member:
                    user["Teams"] = (
                        [*user["Teams"], team["ID"]]
                        if not member
                        else [t for t in user["Teams"] if t != team["ID"]]
                    )
                    user["UpdatedAt"] = _now()
                    tx.save("user", user)
        team["UpdatedAt"] = _now()
        return 200, self._r_team(tx, tx.save("team", team))

    @_route("DELETE", "/organisations/{org}/teams/{id}")
    def _teams_delete(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        org, team = self._team_of(tx, p)
        if team["Default"]:
            raise _perr(422, "the default team of an organisation cannot be deleted")
        default = self._org_default_team(tx, org["ID"])
        for user in tx.rows("user", parent=org["ID"]):
            if team["ID"] in user["Teams"]:
                teams = [t for t in user["Teams"] if t != team["ID"]]
                if default and default["ID"] not in teams:
                    teams.append(default["ID"])
                user.update(Teams=teams, UpdatedAt=_now())
                tx.save("user", user)
        self._delete_team_audiences(tx, team["ID"])
        tx.delete("team", team["ID"])
        return 200, {"status": "ok"}

    # ====================================================================================
    # Portal: users
    # ====================================================================================
    def _user_teams(self, tx: _Tx, body: Row, org_id: int) -> list[int]:
        teams = _id_list(body, "Teams", numeric_strings=True)
        for tid in teams:
            team = tx.need("team", tid, f"team {tid}", 422)
            if team["OrganisationID"] != org_id:
                raise _perr(422, f"team {tid} does not belong to the user's organisation")
        return teams

    def _user_org(self, tx: _Tx, body: Row, role: str) -> int:
        if "OrganisationID" in body and body["OrganisationID"] is not None:
            org_id = _int_field(body, "OrganisationID")
        else:
            org_id = DEFAULT_ORGANISATION_ID if role in CONSUMER_ROLES else 0
        if org_id:
            tx.need("organisation", org_id, f"organisation {org_id}", 422)
        return org_id

    @_route("GET", "/users")
    def _users_list(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        off, lim = self._page(req)
        return 200, [self._r_user_elem(u) for u in tx.rows("user", None, off, lim)]

    @_route("POST", "/users")
    def _users_create(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        body = req.json()
        _required(body, "Email")
        email = _str(body, "Email")
        if tx.by_name("user", email) is not None:
            raise _perr(422, f"user with email {email!r} already exists")
        role = _str(body, "Role", "consumer-team-member") or "consumer-team-member"
        org_id = self._user_org(tx, body, role)
        teams = self._user_teams(tx, body, org_id)
        if not teams and org_id and role in CONSUMER_ROLES:
            default = self._org_default_team(tx, org_id)
            teams = [default["ID"]] if default else []
        now = _now()
        user = tx.insert(
            "user",
            {
                "Email": email,
                "First": _str(body, "First"),
                "Last": _str(body, "Last"),
                "Role": role,
                "OrganisationID": org_id,
                "Provider": _str(body, "Provider", "password") or "password",
                "Active": _bool(body, "Active", True),
                "ResetPassword": _bool(body, "ResetPassword"),
                "Teams": teams,
                "JWTToken": secrets.token_hex(16),
                "APITokenCreatedAt": now[:10],
                "CreatedAt": now,
                "UpdatedAt": now,
            },
        )
        return 200, self._r_user(tx, user)

    @_route("GET", "/users/{id}")
    def _users_get(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        return 200, self._r_user(tx, tx.need("user", p["id"], "user"))

    @_route("PUT", "/users/{id}")
    def _users_update(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        user = tx.need("user", p["id"], "user", 422)
        body = req.json()
        if "Email" in body:
            _required(body, "Email")
            other = tx.by_name("user", _str(body, "Email"))
            if other is not None and other["ID"] != user["ID"]:
                raise _perr(422, f"user with email {body['Email']!r} already exists")
            user["Email"] = body["Email"]
        for field in ("First", "Last", "Role", "Provider"):
            if field in body:
                user[field] = _str(body, field)
        for field in ("Active", "ResetPassword"):
            if field in body:
                user[field] = _bool(body, field)
        if "OrganisationID" in body:
            org_id = self._user_org(tx, body, user["Role"])
            if org_id != user["OrganisationID"]:
                default = self._org_default_team(tx, org_id) if org_id else None
                user.update(OrganisationID=org_id, Teams=[default["ID"]] if default else [])
        if "Teams" in body:
            user["Teams"] = self._user_teams(tx, body, user["OrganisationID"])
        user["UpdatedAt"] = _now()
        return 200, self._r_user(tx, tx.save("user", user))

    @_route("DELETE", "/users/{id}")
    def _users_delete(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        user = tx.need("user", p["id"], "user")
        for app in tx.rows("app", parent=user["ID"]):
            self._delete_app(tx, app)
        tx.delete("user", user["ID"])
        return 200, {"status": "ok"}

    # ====================================================================================
    # Portal: tags (products' ``Tags`` are tag IDs on write, names on read)
    # ====================================================================================
    @_route("GET", "/tags")
    def _tags_list(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        off, lim = self._page(req)
        return 200, [{"ID": t["ID"], "Name": t["Name"]} for t in tx.rows("tag", None, off, lim)]

    def _r_tag(self, tx: _Tx, tag: Row) -> Row:
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

    def _tag_named(self, tx: _Tx, body: Row) -> Row:
        _required(body, "Name")
        name = _str(body, "Name")
        return tx.by_name("tag", name) or tx.insert("tag", {"Name": name})

    @_route("POST", "/tags")
    def _tags_create(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        body = req.json()
        _required(body, "Name")
        self._unique(tx, "tag", "tag", _str(body, "Name"))
        return 201, self._r_tag(tx, self._tag_named(tx, body))

    @_route("GET", "/tags/{id}")
    def _tags_get(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        return 200, self._r_tag(tx, tx.need("tag", p["id"], "tag"))

    @_route("DELETE", "/tags/{id}")
    def _tags_delete(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        tag = tx.need("tag", p["id"], "tag")
        for product in tx.rows("product"):
            if tag["ID"] in product["Tags"]:
                product["Tags"] = [t for t in product["Tags"] if t != tag["ID"]]
                tx.save("product", product)
        tx.delete("tag", tag["ID"])
        return 200, {"status": "ok"}

    @_route("GET", "/products/{id}/tags")
    def _product_tags_list(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        product = tx.need("product", p["id"], "product")
        return 200, [{"Name": n} for t in product["Tags"] if (n := self._name_of(tx, "tag", t))]

    @_route("POST", "/products/{id}/tags")
    def _product_tags_add(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        product = tx.need("product", p["id"], "product", 422)
        tag = self._tag_named(tx, req.json())
        if tag["ID"] not in product["Tags"]:
            product["Tags"].append(tag["ID"])
            tx.save("product", product)
        return 201, {"Name": tag["Name"]}

    @_route("DELETE", "/products/{id}/tags/{name}")
    def _product_tags_remove(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        product = tx.need("product", p["id"], "product")
        tag = tx.by_name("tag", p["name"])
        if tag is None or tag["ID"] not in product["Tags"]:
            raise _perr(404, f"tag {p['name']!r} not found on this product")
        product["Tags"] = [t for t in product["Tags"] if t != tag["ID"]]
        tx.save("product", product)
        return 200, {"status": "ok"}

    # ====================================================================================
    # Portal: products
    # ====================================================================================
    @staticmethod
    def _api_details(body: Row) -> list[Row]:
        value = body.get("APIDetails")
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(d, dict) for d in value):
            raise _perr(422, "APIDetails must be an array of objects")
        out: dict[str, Row] = {}
        for d in value:
            api_id = d.get("APIID")
            if not isinstance(api_id, str) or not api_id:
                raise _perr(422, "APIDetails[].APIID is required")
            out[api_id] = {
                "APIID": api_id,
                **{
                    k: d[k]
                    for k in ("Name", "Description", "OASUrl", "APIType", "ListenPath", "TargetURL")
                    if isinstance(d.get(k), str)
                },
            }
        return list(out.values())

    def _tag_ids(self, tx: _Tx, body: Row) -> list[int]:
        ids = _id_list(body, "Tags")
        for tid in ids:
            tx.need("tag", tid, f"tag {tid}", 422)
        return ids

    def _insert_product(self, tx: _Tx, provider: Row, body: Row, *, reference: str = "") -> Row:
        name = _str(body, "Name")
        self._unique(tx, "product", "product", name)
        apis = self._api_details(body)
        if not reference:
            reference = self._new_backing_policy(
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
                    "access_rights": self._access_rights(apis, {}),
                    "rate": -1,
                    "per": -1,
                    "quota_max": -1,
                    "quota_renewal_rate": -1,
                },
            )
        now = _now()
        row = tx.insert(
            "product",
            {
                "CID": _str(body, "CID") or _cid(),
                "Name": name,
                "DisplayName": _str(body, "DisplayName", name),
                "Description": _str(body, "Description"),
                "Content": _str(body, "Content"),
                "Feature": _bool(body, "Feature"),
                "DCREnabled": _bool(body, "DCREnabled"),
                "Scopes": _str(body, "Scopes"),
                "Path": _str(body, "Path") or _slug(name),
                "IsDocumentationOnly": _bool(body, "IsDocumentationOnly"),
                "ProviderID": provider["ID"],
                "ReferenceID": reference,
                "APIDetails": apis,
                "Tags": self._tag_ids(tx, body),
                "AuthType": "authToken",
                "AuthTypes": ["authToken"],
                "Logo": "",
                "Preview": "",
                "SpecDetails": [],
                "CreatedAt": now,
                "UpdatedAt": now,
            },
        )
        catalogues = _id_list(body, "Catalogues")
        if catalogues:  # a new product is in no catalogue yet: nothing to take it out of
            self._set_memberships(tx, "Products", row["ID"], catalogues)
        return row

    @_route("GET", "/products")
    def _products_list(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        off, lim = self._page(req)
        return 200, [self._r_product(tx, r, full=False) for r in tx.rows("product", None, off, lim)]

    @_route("POST", "/products")
    def _products_create(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        body = req.json()
        _required(body, "Name", "ProviderID")
        if "IsDocumentationOnly" not in body:
            raise _perr(422, "missing required field(s): IsDocumentationOnly")
        provider = self._provider_of(tx, body)
        return 201, self._r_product(tx, self._insert_product(tx, provider, body))

    @_route("GET", "/products/{id}")
    def _products_get(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        return 200, self._r_product(tx, tx.need("product", p["id"], "product"))

    @_route("PUT", "/products/{id}")
    def _products_update(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        row = tx.need("product", p["id"], "product", 422)
        body = req.json()
        policy: Row = {}
        if "Name" in body:
            _required(body, "Name")
            self._unique(tx, "product", "product", _str(body, "Name"), row["ID"])
            row["Name"] = policy["name"] = body["Name"]
        for field in ("DisplayName", "Description", "Content", "Scopes", "Path", "AuthType"):
            if field in body:
                row[field] = _str(body, field)
        for field in ("Feature", "DCREnabled", "IsDocumentationOnly"):
            if field in body:
                row[field] = _bool(body, field)
        if "APIDetails" in body:
            apis = self._api_details(body)
            old = {d["APIID"]: d for d in row["APIDetails"]}
            row["APIDetails"] = [{**old.get(d["APIID"], {}), **d} for d in apis]
            current = tx.policy(row.get("ReferenceID") or "")
            rights = (current or {}).get("access_rights") or {}
            policy["access_rights"] = self._access_rights(row["APIDetails"], rights)
        if "Tags" in body:
            row["Tags"] = self._tag_ids(tx, body)
        if "Catalogues" in body:
            self._set_memberships(tx, "Products", row["ID"], _id_list(body, "Catalogues"))
        if policy:
            self._update_backing_policy(tx, row, policy)
        row["UpdatedAt"] = _now()
        return 200, self._r_product(tx, tx.save("product", row))

    @_route("DELETE", "/products/{id}")
    def _products_delete(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        row = tx.need("product", p["id"], "product")
        self._delete_policy_of(tx, row)
        self._drop_from_catalogues(tx, "Products", row["ID"])
        tx.delete("product", row["ID"])
        return 200, {"status": "ok"}

    # ====================================================================================
    # Portal: plans
    # ====================================================================================
    def _plan_fields(self, body: Row, row: Row) -> Row:
        """Apply a PlanRequest's optional fields onto ``row`` (a plan being created/updated)."""
        for field in ("DisplayName", "Description", "JWTScope", "CID"):
            if field in body:
                row[field] = _str(body, field)
        for field in ("AutoApproveAccessRequests", "UnlimitedQuota", "UnlimitedRateLimit"):
            if field in body:
                row[field] = _bool(body, field)
        for field in ("RateLimit", "Quota"):
            if field in body:
                value = _number(body[field], field)
                row[field] = None if value is None else _as_int(value)
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
                value = _number(body[field], field)
                row[field] = None if value is None else _as_int(value)
        for field, flag in (("RateLimit", "UnlimitedRateLimit"), ("Quota", "UnlimitedQuota")):
            if flag not in body and field in body and row[field] is not None:
                row[flag] = row[field] < 0  # a limit given without its flag is a limit
        if "MetaData" in body:
            if body["MetaData"] is not None and not isinstance(body["MetaData"], dict):
                raise _perr(422, "MetaData must be an object")
            row["MetaData"] = body["MetaData"] or {}
        return row

    def _insert_plan(
        self, tx: _Tx, provider: Row, body: Row, *, reference: str = "", policy: Row | None = None
    ) -> Row:
        name = _str(body, "Name")
        self._unique(tx, "plan", "plan", name)
        row: Row = {
            "CID": _cid(),
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
        self._plan_fields(body, row)
        if not reference:
            reference = self._new_backing_policy(tx, provider, name, self._plan_policy_fields(row))
        now = _now()
        row = tx.insert(
            "plan", {**row, "ReferenceID": reference, "CreatedAt": now, "UpdatedAt": now}
        )
        catalogues = _id_list(body, "Catalogues")
        if catalogues:  # a new plan is in no catalogue yet: nothing to take it out of
            self._set_memberships(tx, "Plans", row["ID"], catalogues)
        return row

    @_route("GET", "/plans")
    def _plans_list(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        off, lim = self._page(req)
        items = [self._r_plan(tx, r, full=False) for r in tx.rows("plan", None, off, lim)]
        return 200, ({"data": items} if self.plans_list_shape == "spec" else items)

    @_route("POST", "/plans")
    def _plans_create(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        body = req.json()
        _required(body, "Name", "ProviderID")
        provider = self._provider_of(tx, body)
        return 200, self._r_plan(tx, self._insert_plan(tx, provider, body))

    @_route("GET", "/plans/{id}")
    def _plans_get(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        return 200, self._r_plan(tx, tx.need("plan", p["id"], "plan"))

    @_route("PUT", "/plans/{id}")
    def _plans_update(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        row = tx.need("plan", p["id"], "plan")
        body = req.json()
        if body.get("ProviderID") not in (None, row["ProviderID"]):
            raise _perr(422, "a plan's ProviderID cannot be changed")
        if "Name" in body:
            _required(body, "Name")
            self._unique(tx, "plan", "plan", _str(body, "Name"), row["ID"])
            row["Name"] = body["Name"]
        self._plan_fields(body, row)
        if "Catalogues" in body:
            self._set_memberships(tx, "Plans", row["ID"], _id_list(body, "Catalogues"))
        self._update_backing_policy(tx, row, {"name": row["Name"], **self._plan_policy_fields(row)})
        row["UpdatedAt"] = _now()
        return 200, self._r_plan(tx, tx.save("plan", row))

    @_route("DELETE", "/plans/{id}")
    def _plans_delete(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        row = tx.need("plan", p["id"], "plan")
        self._delete_policy_of(tx, row)
        self._drop_from_catalogues(tx, "Plans", row["ID"])
        tx.delete("plan", row["ID"])
        return 200, {"status": "ok"}

    # ====================================================================================
    # Portal: catalogues and audiences
    # ====================================================================================
    def _catalogue_members(self, tx: _Tx, body: Row, row: Row) -> None:
        for field, kind in (("Products", "product"), ("Plans", "plan")):
            if field in body:
                ids = _id_list(body, field)
                for oid in ids:
                    tx.need(kind, oid, f"{kind} {oid}", 422)
                row[field] = ids

    @staticmethod
    def _visibility(body: Row, default: str) -> str:
        value = body.get("VisibilityStatus", default)
        if value not in VISIBILITIES:
            raise _perr(422, f"VisibilityStatus must be one of {', '.join(VISIBILITIES)}")
        return str(value)

    def _insert_audience(self, tx: _Tx, catalogue: Row, body: Row) -> Row:
        org_id = _int_field(body, "OrganisationID")
        org = tx.need("organisation", org_id, f"organisation {org_id}", 422)
        if body.get("TeamID") in (None, 0):
            team = self._org_default_team(tx, org["ID"])
            if team is None:
                raise _perr(422, f"organisation {org_id} has no default team")
        else:
            team = tx.need("team", _int_field(body, "TeamID"), f"team {body['TeamID']}", 422)
            if team["OrganisationID"] != org["ID"]:
                raise _perr(422, f"team {team['ID']} does not belong to organisation {org_id}")
        if any(a["TeamID"] == team["ID"] for a in tx.rows("audience", parent=catalogue["ID"])):
            raise _perr(422, "this audience already exists in the catalogue")
        now = _now()
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

    @_route("GET", "/catalogues")
    def _catalogues_list(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        off, lim = self._page(req)
        return 200, [
            self._r_catalogue(tx, r, full=False) for r in tx.rows("catalogue", None, off, lim)
        ]

    @_route("POST", "/catalogues")
    def _catalogues_create(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        body = req.json()
        _required(body, "Name")
        name = _str(body, "Name")
        self._unique(tx, "catalogue", "catalogue", name)
        now = _now()
        row: Row = {
            "Name": name,
            "NameWithSlug": _str(body, "NameWithSlug") or _slug(name),
            "VisibilityStatus": self._visibility(body, "Private"),
            "Products": [],
            "Plans": [],
            "CreatedAt": now,
            "UpdatedAt": now,
        }
        self._catalogue_members(tx, body, row)
        row = tx.insert("catalogue", row)
        audiences = body.get("OrgCatalogues") or []
        if not isinstance(audiences, list) or not all(isinstance(a, dict) for a in audiences):
            raise _perr(422, "OrgCatalogues must be an array of objects")
        for aud in audiences:
            self._insert_audience(tx, row, aud)
        return 200, self._r_catalogue(tx, row)

    @_route("GET", "/catalogues/{id}")
    def _catalogues_get(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        return 200, self._r_catalogue(tx, tx.need("catalogue", p["id"], "catalogue"))

    @_route("PUT", "/catalogues/{id}")
    def _catalogues_update(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        row = tx.need("catalogue", p["id"], "catalogue", 422)
        body = req.json()
        if "Name" in body:
            _required(body, "Name")
            self._unique(tx, "catalogue", "catalogue", _str(body, "Name"), row["ID"])
            row["Name"] = body["Name"]
        if "NameWithSlug" in body:
            row["NameWithSlug"] = _str(body, "NameWithSlug")
        if "VisibilityStatus" in body:
            row["VisibilityStatus"] = self._visibility(body, row["VisibilityStatus"])
        self._catalogue_members(tx, body, row)
        row["UpdatedAt"] = _now()
        return 200, self._r_catalogue(tx, tx.save("catalogue", row))

    @_route("DELETE", "/catalogues/{id}")
    def _catalogues_delete(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        row = tx.need("catalogue", p["id"], "catalogue")
        for aud in tx.rows("audience", parent=row["ID"]):
            tx.delete("audience", aud["ID"])
        tx.delete("catalogue", row["ID"])
        return 200, {"status": "ok"}

    def _audience_of(self, tx: _Tx, p: dict[str, str]) -> Row:
        cat = tx.need("catalogue", p["cat"], "catalogue")
        aud = tx.need("audience", p["id"], "audience")
        if aud["CatalogueID"] != cat["ID"]:
            raise _perr(404, "audience not found")
        return aud

    @_route("GET", "/catalogues/{cat}/audiences")
    def _audiences_list(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        cat = tx.need("catalogue", p["cat"], "catalogue")
        off, lim = self._page(req)
        return 200, [
            self._r_audience(tx, a, full=False) for a in tx.rows("audience", cat["ID"], off, lim)
        ]

    @_route("POST", "/catalogues/{cat}/audiences")
    def _audiences_create(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        cat = tx.need("catalogue", p["cat"], "catalogue", 422)
        return 201, self._r_audience(tx, self._insert_audience(tx, cat, req.json()))

    @_route("GET", "/catalogues/{cat}/audiences/{id}")
    def _audiences_get(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        return 200, self._r_audience(tx, self._audience_of(tx, p))

    @_route("DELETE", "/catalogues/{cat}/audiences/{id}")
    def _audiences_delete(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        tx.delete("audience", self._audience_of(tx, p)["ID"])
        return 200, {"status": "ok"}

    # ====================================================================================
    # Portal: apps, provisioning, access requests, credentials
    # ====================================================================================
    def _app_fields(self, tx: _Tx, body: Row, row: Row) -> Row:
        for field in ("Name", "Description", "RedirectURLs"):
            if field in body:
                row[field] = _str(body, field)
        if "Visibility" in body:
            if body["Visibility"] not in APP_VISIBILITIES:
                raise _perr(422, f"Visibility must be one of {', '.join(APP_VISIBILITIES)}")
            row["Visibility"] = body["Visibility"]
        if "UserID" in body:
            uid = _int_field(body, "UserID")
            tx.need("user", uid, f"user {uid}", 422)
            row["UserID"] = uid
        return row

    @_route("GET", "/apps")
    def _apps_list(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        off, lim = self._page(req)
        return 200, [self._r_app(tx, a, full=False) for a in tx.rows("app", None, off, lim)]

    @_route("POST", "/apps")
    def _apps_create(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        body = req.json()
        _required(body, "Name", "UserID")
        row = self._app_fields(
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
        row["CreatedAt"] = row["UpdatedAt"] = _now()
        return 200, self._r_app(tx, tx.insert("app", row))

    @_route("GET", "/apps/{id}")
    def _apps_get(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        return 200, self._r_app(tx, tx.need("app", p["id"], "app"))

    @_route("PUT", "/apps/{id}")
    def _apps_update(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        row = tx.need("app", p["id"], "app", 422)
        body = req.json()
        if "Name" in body:
            _required(body, "Name")
        row = self._app_fields(tx, body, row)
        row["UpdatedAt"] = _now()
        return 200, self._r_app(tx, tx.save("app", row))

    @_route("DELETE", "/apps/{id}")
    def _apps_delete(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        self._delete_app(tx, tx.need("app", p["id"], "app"))
        return 200, {"status": "ok"}

    @_route("PUT", "/apps/{id}/provision")
    def _apps_provision(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        """A consumer asks for products on a plan: a new access request (maybe auto-approved)."""
        app = tx.get("app", int(p["id"])) if p["id"].isdigit() else None
        try:
            if app is None:
                raise _perr(422, f"app {p['id']} not found")
            body = req.json()
            _required(body, "PlanID", "ProductIDs")
            plan = tx.need("plan", _int_field(body, "PlanID"), f"plan {body['PlanID']}", 422)
            product_ids = _id_list(body, "ProductIDs")
            for pid in product_ids:
                tx.need("product", pid, f"product {pid}", 422)
            catalogue_id = 0
            if body.get("CatalogueID") not in (None, 0):
                catalogue = tx.need(
                    "catalogue",
                    _int_field(body, "CatalogueID"),
                    f"catalogue {body['CatalogueID']}",
                    422,
                )
                missing = [i for i in product_ids if i not in catalogue["Products"]]
                if missing or plan["ID"] not in catalogue["Plans"]:
                    raise _perr(
                        422,
                        f"catalogue {catalogue['Name']!r} does not offer "
                        "the requested products and plan",
                    )
                catalogue_id = catalogue["ID"]
            else:
                catalogue_id = next(
                    (
                        c["ID"]
                        for c in tx.rows("catalogue")
                        if plan["ID"] in c["Plans"] and all(i in c["Products"] for i in product_ids)
                    ),
                    0,
                )
        except _ApiError as exc:
            errors = exc.payload.get("errors", []) if isinstance(exc.payload, dict) else []
            raise _ApiError(422, {"status": "error", "errors": errors}) from None
        now = _now()
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
            self._decide(tx, ar, "approved")
        return 200, {"status": "ok", "message": OK_ACTION.format("Provision")}

    @_route("GET", "/access_requests")
    def _ars_list(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        off, lim = self._page(req)
        status = req.query.get("status")
        rows = tx.rows("access_request") if status else tx.rows("access_request", None, off, lim)
        if status:
            rows = [r for r in rows if r["Status"] == status][off : off + lim]
        return 200, [self._r_access_request(tx, r, credentials=False) for r in rows]

    @_route("GET", "/access_requests/{id}")
    def _ars_get(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        return 200, self._r_access_request(tx, tx.need("access_request", p["id"], "access request"))

    @_route("DELETE", "/access_requests/{id}")
    def _ars_delete(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        self._delete_access_request(tx, tx.need("access_request", p["id"], "access request"))
        return 200, {"status": "ok"}

    def _decision(self, tx: _Tx, p: dict[str, str], status: str, action: str) -> tuple[int, Any]:
        ar = tx.get("access_request", int(p["id"])) if p["id"].isdigit() else None
        if ar is None:
            raise _ApiError(422, {"status": "error", "message": "access request not found"})
        self._decide(tx, ar, status)
        return 200, {"status": "ok", "message": OK_ACTION.format(action)}

    @_route("PUT", "/access_requests/{id}/approve")
    def _ars_approve(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        return self._decision(tx, p, "approved", "Approve")

    @_route("PUT", "/access_requests/{id}/reject")
    def _ars_reject(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        return self._decision(tx, p, "rejected", "Reject")

    def _app_ar(self, tx: _Tx, p: dict[str, str], status: int = 404) -> Row:
        app = tx.need("app", p["app"], "app", status)
        ar = tx.need("access_request", p["ar"], "access request", status)
        if ar["AppID"] != app["ID"]:
            raise _perr(status, "access request not found")
        return ar

    @_route("GET", "/apps/{app}/access-requests")
    def _app_ars_list(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        app = tx.need("app", p["app"], "app")
        off, lim = self._page(req)
        return 200, [
            self._r_access_request(tx, r) for r in tx.rows("access_request", app["ID"], off, lim)
        ]

    @_route("GET", "/apps/{app}/access-requests/{ar}")
    def _app_ars_get(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        return 200, self._r_access_request(tx, self._app_ar(tx, p))

    @_route("DELETE", "/apps/{app}/access-requests/{ar}")
    def _app_ars_delete(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        self._delete_access_request(tx, self._app_ar(tx, p, 422))
        return 200, {"status": "ok"}

    @_route("GET", "/apps/{app}/access-requests/{ar}/credentials")
    def _creds_list(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        ar = self._app_ar(tx, p)
        off, lim = self._page(req)
        return 200, [self._r_credential(c) for c in tx.rows("credential", ar["ID"], off, lim)]

    def _credential(self, tx: _Tx, p: dict[str, str]) -> Row:
        ar = self._app_ar(tx, p)
        cred = tx.need("credential", p["id"], "credential")
        if cred["AccessRequestID"] != ar["ID"]:
            raise _perr(404, "credential not found")
        return cred

    @_route("GET", "/apps/{app}/access-requests/{ar}/credentials/{id}")
    def _creds_get(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        return 200, self._r_credential(self._credential(tx, p))

    @_route("DELETE", "/apps/{app}/access-requests/{ar}/credentials/{id}")
    def _creds_delete(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        tx.delete("credential", self._credential(tx, p)["ID"])
        return 200, {"status": "ok"}

    # ====================================================================================
    # Dashboard: /api/portal/policies
    # ====================================================================================
    def _policy_page(self, rows: list[Row], query: Mapping[str, str]) -> Row:
        try:
            page = int(query.get("p", "1") or "1")
        except ValueError:
            raise _derr(400, "p must be an integer") from None
        size = max(1, self.dashboard_page_size)
        if page < 0:
            return {"Data": rows, "Pages": 1}
        page = max(page, 1)
        return {"Data": rows[(page - 1) * size : page * size], "Pages": math.ceil(len(rows) / size)}

    @staticmethod
    def _active_only(rows: Iterable[Row], query: Mapping[str, str]) -> list[Row]:
        if "active" in query:
            return [r for r in rows if r.get("active") is True]
        return list(rows)

    @_route("GET", "/api/portal/policies")
    def _policies_list(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        q = req.query
        if "active" in q:
            return 200, self._policy_page(self._active_only(tx.policies(), q), q)
        # one page read in SQL (not every policy decoded for every page)
        try:
            page = int(q.get("p", "1") or "1")
        except ValueError:
            raise _derr(400, "p must be an integer") from None
        size = max(1, self.dashboard_page_size)
        if page < 0:
            return 200, {"Data": tx.policies(), "Pages": 1}
        page = max(page, 1)
        pages = math.ceil(tx.policy_count() / size)
        return 200, {"Data": tx.policies((page - 1) * size, size), "Pages": pages}

    @_route("GET", "/api/portal/policies/search")
    def _policies_search(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        q = req.query
        rows = self._active_only(tx.policies(), q)
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
        return 200, self._policy_page(rows, q)

    @staticmethod
    def _policy_body(req: _Req) -> Row:
        body = req.json()
        if "name" in body and not isinstance(body["name"], str):
            raise _derr(400, "Policy name must be a string")
        return body

    @_route("POST", "/api/portal/policies")
    def _policies_create(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        body = self._policy_body(req)
        pid = body.get("_id") or ""
        if not isinstance(pid, str):
            raise _derr(400, "Invalid policy ID.")
        if pid and tx.c.execute("SELECT 1 FROM policies WHERE pid=?", (pid,)).fetchone():
            raise _derr(400, "A policy with this ID already exists")
        if body.get("name") and tx.policy_named(body["name"]):
            raise _derr(400, DUPLICATE_POLICY_NAME)
        pid = pid or _new_policy_id(tx)
        pol = {**body, "_id": pid, "id": body.get("id") or pid}
        pol.setdefault("date_created", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        tx.put_policy(_policy_stamp(pol))
        return 200, {"Status": "OK", "Message": pid, "Meta": None}

    def _need_policy(self, tx: _Tx, pid: str) -> Row:
        pol = tx.policy(pid)
        if pol is None:
            raise _derr(404, "Could not retrieve policy detail")
        return pol

    @_route("GET", "/api/portal/policies/{id}")
    def _policies_get(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        return 200, self._need_policy(tx, p["id"])

    @_route("PUT", "/api/portal/policies/{id}")
    def _policies_update(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        current = self._need_policy(tx, p["id"])
        body = self._policy_body(req)
        if body.get("name") and tx.policy_named(body["name"], exclude=current["_id"]):
            raise _derr(400, DUPLICATE_POLICY_NAME)
        pol = {
            **body,
            "_id": current["_id"],
            "id": body.get("id") or current.get("id") or current["_id"],
        }
        pol.setdefault("date_created", current.get("date_created"))
        tx.put_policy(_policy_stamp(pol))
        return 200, {"Status": "OK", "Message": "Data updated", "Meta": None}

    @_route("DELETE", "/api/portal/policies/{id}")
    def _policies_delete(self, tx: _Tx, req: _Req, p: dict[str, str]) -> tuple[int, Any]:
        tx.delete_policy(self._need_policy(tx, p["id"])["_id"])
        return 200, {"Status": "OK", "Message": "Data deleted", "Meta": None}
