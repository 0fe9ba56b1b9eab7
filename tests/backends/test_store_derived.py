"""What the store derives and indexes so that a request costs the same in a large store as in a
small one, without ever answering from data older than the store.

The look-ups by name must be answered from an index (they were a walk over every object of the
kind, in ID order), and the index of catalogue memberships, kept across requests and used by
provisions too, must follow every write: one of this connection (inside the writing
transaction as well), one another process made, and none that was rolled back.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from portal_gitops.backends.emulated.replies import catalogues_with
from portal_gitops.backends.emulated.store import PortalStore
from tests.apis import TEST_APIS
from tests.backends.test_store import Call, estate, make_call, provision


def _plans_of_name_lookups(store: PortalStore, call: Call) -> list[tuple[str, str]]:
    """(statement, its query plan) for every look-up by name the requests of an estate make."""
    statements: list[str] = []
    store._conn.set_trace_callback(statements.append)
    try:
        estate(call)
        call("POST", "/portal-api/organisations", {"Name": "Acme"})  # refused: a duplicate
    finally:
        store._conn.set_trace_callback(None)
    by_name = {s for s in statements if s.startswith("SELECT") and " AND name=" in s}
    assert by_name, statements
    out = []
    for statement in sorted(by_name):
        rows = store._conn.execute("EXPLAIN QUERY PLAN " + statement).fetchall()
        out.append((statement, " / ".join(str(r[-1]) for r in rows)))
    return out


def test_a_look_up_by_name_is_answered_from_an_index(tmp_path: Path) -> None:
    store = PortalStore(str(tmp_path / "portal.db"), apis=TEST_APIS)
    try:
        for statement, plan in _plans_of_name_lookups(store, make_call(store)):
            # on (kind, name) alone, SQLite chose the primary key to return rows in ID order
            # and read every object of the kind: "USING INDEX sqlite_autoindex_objects_1 (kind=?)"
            assert "name=?" in plan or "parent=?" in plan, (statement, plan)
            assert "TEMP B-TREE" not in plan, (statement, plan)
    finally:
        store.close()


def test_a_store_made_before_the_index_gets_it_on_opening(tmp_path: Path) -> None:
    path = str(tmp_path / "portal.db")
    PortalStore(path, apis=TEST_APIS).close()
    con = sqlite3.connect(path)  # as an older version left it
    con.executescript(
        "DROP INDEX objects_name_id; CREATE INDEX objects_name ON objects(kind, name);"
    )
    con.close()
    store = PortalStore(path)
    try:
        indexes = {
            r[0] for r in store._conn.execute("SELECT name FROM sqlite_master WHERE type='index'")
        }
        assert "objects_name_id" in indexes and "objects_name" not in indexes
        for statement, plan in _plans_of_name_lookups(store, make_call(store)):
            assert "name=?" in plan or "parent=?" in plan, (statement, plan)
    finally:
        store.close()


def _move_offer(call: Call, e: dict[str, Any]) -> None:
    """Offer the product and plan in a new public catalogue only (the public one drops them)."""
    status, out = call(
        "POST",
        "/portal-api/catalogues",
        {
            "Name": "Second",
            "VisibilityStatus": "Public",
            "Products": [e["product"]["ID"]],
            "Plans": [e["plan"]["ID"]],
        },
    )
    assert status == 200, out
    status, out = call("PUT", "/portal-api/catalogues/1", {"Products": None})
    assert status == 200, out


def test_a_provision_records_the_catalogue_as_the_store_has_it_now() -> None:
    call = make_call(PortalStore(":memory:", apis=TEST_APIS))
    e = estate(call)
    assert provision(call, e)["Catalogue"] == "Public Catalogue"  # the index is built here
    _move_offer(call, e)
    assert provision(call, e)["Catalogue"] == "Second"


def test_a_provision_sees_the_catalogues_another_process_wrote(tmp_path: Path) -> None:
    path = str(tmp_path / "portal.db")
    mine, theirs = PortalStore(path, apis=TEST_APIS), PortalStore(path)
    try:
        call = make_call(mine)
        e = estate(call)
        assert provision(call, e)["Catalogue"] == "Public Catalogue"
        _move_offer(make_call(theirs), e)
        assert provision(call, e)["Catalogue"] == "Second"
    finally:
        mine.close()
        theirs.close()


def test_what_a_failed_write_derived_is_forgotten() -> None:
    store = PortalStore(":memory:", apis=TEST_APIS)
    e = estate(make_call(store))
    product_id = e["product"]["ID"]

    def offering(tx: Any) -> list[int]:
        return [c["ID"] for c in catalogues_with(store, tx, "Products", product_id)]

    with pytest.raises(RuntimeError), store._transaction(write=True) as tx:
        assert offering(tx) == [1]
        row = tx.get("catalogue", 1)
        assert row is not None
        tx.save("catalogue", {**row, "Products": []})
        assert offering(tx) == []  # the write dropped what was derived before it
        raise RuntimeError("the request fails after deriving from its own write")
    with store._transaction(write=False) as tx:
        assert offering(tx) == [1]  # rolled back: the catalogue offers the product again
