"""The emulated portal's SQLite layer: schema, row helpers over one transaction, ids and names.

Storage: one JSON row per object in ``objects(kind, id, name, parent, data)`` with per-kind
auto-increment ids, and ``policies`` keyed by the Dashboard ``_id``. Every request runs in one
transaction (``BEGIN IMMEDIATE`` for writes, so processes sharing a file serialise).
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import string
import time
from collections.abc import Callable, Iterable
from typing import Any

SCHEMA_VERSION = 1
Row = dict[str, Any]

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
    "oas": "ProductID",
    "doc": "ProductID",
}


SCHEMA = (
    "CREATE TABLE objects(kind TEXT NOT NULL, id INTEGER NOT NULL, name TEXT NOT NULL DEFAULT '',"
    " parent INTEGER NOT NULL DEFAULT 0, data TEXT NOT NULL, PRIMARY KEY(kind, id))",
    "CREATE INDEX objects_parent ON objects(kind, parent, id)",
    "CREATE TABLE seq(kind TEXT PRIMARY KEY, last INTEGER NOT NULL)",
    "CREATE TABLE policies(seq INTEGER PRIMARY KEY AUTOINCREMENT, pid TEXT NOT NULL UNIQUE,"
    " name TEXT NOT NULL DEFAULT '', data TEXT NOT NULL)",
    "CREATE INDEX policies_name ON policies(name)",
)
# Indexes and tables added after schema version 1 (IF NOT EXISTS, so older stores get them too):
# the Dashboard's API definitions (apis.py); the look-up by name ends with ``id`` so that its
# ``ORDER BY id LIMIT 1`` is answered from the index (on ``(kind, name)`` alone SQLite walked
# every object of the kind in ID order instead: a look-up cost grew with the store).
INDEXES = (
    "DROP INDEX IF EXISTS objects_name",
    "CREATE INDEX IF NOT EXISTS objects_name_id ON objects(kind, name, id)",
    "CREATE INDEX IF NOT EXISTS policies_id ON policies(json_extract(data, '$.id'))",
    "CREATE TABLE IF NOT EXISTS apis(api_id TEXT PRIMARY KEY, data TEXT NOT NULL)",
)


def timestamp() -> str:
    """Now, as the portal stamps ``CreatedAt``/``UpdatedAt``."""
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime())


def new_cid() -> str:
    return "".join(secrets.choice(_CID_ALPHABET) for _ in range(27))


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _row_id(row: Row) -> int:
    return int(row["ID"])


def _first(pair: list[Any]) -> Any:
    return pair[0]


def _ignore(kind: str) -> None:
    pass


class Tx:
    """Row helpers over one open transaction. ``on_write`` is told the kind of every portal
    object inserted, saved or deleted ("policy" for Dashboard policies), before the write."""

    def __init__(self, conn: sqlite3.Connection, on_write: Callable[[str], None] = _ignore):
        self.c = conn
        self.on_write = on_write
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

    def default_team(self, org_id: int) -> Row | None:
        """The organisation's default team (its "All users" team), if it has one."""
        return next((t for t in self.rows("team", parent=org_id) if t["Default"]), None)

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
        self.on_write(kind)
        self._names.pop((kind, oid), None)
        name, parent = self._cols(kind, row)
        self.c.execute(
            "INSERT INTO objects(kind, id, name, parent, data) VALUES(?,?,?,?,?)",
            (kind, oid, name, parent, json.dumps(row)),
        )
        return row

    def save(self, kind: str, row: Row) -> Row:
        self.on_write(kind)
        self._names.pop((kind, row["ID"]), None)
        name, parent = self._cols(kind, row)
        self.c.execute(
            "UPDATE objects SET name=?, parent=?, data=? WHERE kind=? AND id=?",
            (name, parent, json.dumps(row), kind, row["ID"]),
        )
        return row

    def delete(self, kind: str, oid: int) -> None:
        self.on_write(kind)
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

    def policy_texts(self) -> list[str]:
        """Every policy's JSON text, in ``policies()`` order, left undecoded: a read decodes
        each when it needs it (decoded all at once, the policies of a large store took more
        memory than the live state built from them)."""
        return [r[0] for r in self.c.execute("SELECT data FROM policies ORDER BY seq")]

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
        self.on_write("policy")
        self.c.execute(
            "INSERT INTO policies(pid, name, data) VALUES(?,?,?) "
            "ON CONFLICT(pid) DO UPDATE SET name=excluded.name, data=excluded.data",
            (pol["_id"], str(pol.get("name") or ""), json.dumps(pol)),
        )

    def delete_policy(self, pid: str) -> None:
        self.on_write("policy")
        self.c.execute("DELETE FROM policies WHERE pid=?", (pid,))
