"""plan: ordering, safety gate, serialisation, staleness."""

from __future__ import annotations

import pytest

from portal_gitops import plan as planmod
from portal_gitops.diff import Change, DiffResult, FieldChange
from portal_gitops.errors import PlanError, StalePlanError, UnsafePlanError
from portal_gitops.kinds import LEVEL
from portal_gitops.plan import build_plan, check_fresh
from portal_gitops.state import LiveObject, LiveState, Sensitive


def _live(*objs: LiveObject) -> LiveState:
    return LiveState({o.ref: o for o in objs})


CHANGES = [
    Change("create", "AccessRequest", "r1", after={"plan": "free"}),
    Change("delete", "Provider", "old", live=LiveObject("Provider", "old", "3", {})),
    Change("create", "Provider", "tyk", after={"secret": Sensitive("env:DASH", "v4lue")}),
    Change("delete", "Product", "gone", live=LiveObject("Product", "gone", "8", {})),
    Change(
        "update",
        "Catalogue",
        "public",
        live=LiveObject("Catalogue", "public", "2", {}),
        after={"products": []},
        fields=(FieldChange("products[0]", "gone", None),),
    ),
    Change("create", "Organisation", "acme", after={}),
]


def test_creates_top_down_then_deletes_bottom_up() -> None:
    p = build_plan(DiffResult(list(CHANGES)), _live())
    assert [(a.op, a.address) for a in p.actions] == [
        ("create", "Provider/tyk"),
        ("create", "Organisation/acme"),
        ("update", "Catalogue/public"),
        ("create", "AccessRequest/r1"),
        ("delete", "Product/gone"),
        ("delete", "Provider/old"),
    ]
    assert [len(g) for g in p.groups()] == [1, 1, 1, 1, 1, 1]
    assert p.counts() == {"create": 3, "update": 1, "replace": 0, "adopt": 0, "delete": 2}


def test_order_respects_dependency_levels() -> None:
    p = build_plan(DiffResult(list(CHANGES)), _live())
    ups = [LEVEL[a.kind] for a in p.actions if a.op != "delete"]
    downs = [LEVEL[a.kind] for a in p.actions if a.op == "delete"]
    assert ups == sorted(ups) and downs == sorted(downs, reverse=True)


def test_more_deletions_than_the_budget_need_force() -> None:
    p = build_plan(DiffResult(list(CHANGES)), _live())
    p.raise_if_unsafe(max_deletes=2, force=False)
    with pytest.raises(UnsafePlanError) as err:
        p.raise_if_unsafe(max_deletes=1, force=False)
    assert str(err.value) == (
        "the plan deletes 2 objects, more than --max-deletes 1; "
        "review it, then raise --max-deletes or pass --force"
    )
    p.raise_if_unsafe(max_deletes=1, force=True)


def test_saved_plan_round_trips_without_secret_values() -> None:
    live = _live(LiveObject("Catalogue", "public", "2", {"products": ["gone"]}))
    p = build_plan(
        DiffResult(list(CHANGES)),
        live,
        target="t",
        backend="embedded",
        manifests_hash="abc",
        paths=["m"],
    )
    text = planmod.dumps(p)
    assert "v4lue" not in text
    back = planmod.loads(text)
    assert back.actions == tuple(
        planmod.replace(
            a,
            attrs=(
                {"secret": Sensitive("env:DASH")} if a.attrs and "secret" in a.attrs else a.attrs
            ),
        )
        for a in p.actions
    )
    assert back.fingerprints == p.fingerprints and back.target == "t"


def test_stale_plan_is_refused_saying_what_changed() -> None:
    live = _live(
        LiveObject("Catalogue", "public", "2", {"products": ["a"]}),
        LiveObject("Team", "acme/dev", "4", {}),
    )
    p = build_plan(DiffResult([]), live, manifests_hash="h1")
    check_fresh(p, live, "h1")
    edited = _live(
        LiveObject("Catalogue", "public", "2", {"products": ["b"]}),
        LiveObject("Plan", "gold", "5", {}),
    )
    with pytest.raises(StalePlanError) as err:
        check_fresh(p, edited, "h2")
    assert str(err.value) == (
        "the saved plan is stale: the manifests changed since the plan was made; "
        "changed in the portal since the plan was made: Catalogue/public; "
        "deleted in the portal since the plan was made: Team/acme/dev; "
        "created in the portal since the plan was made: Plan/gold. Run plan again."
    )


def test_malformed_plan_files_are_clear_errors() -> None:
    with pytest.raises(PlanError, match="plan file is not JSON"):
        planmod.loads("{nope")
    with pytest.raises(PlanError, match="not a portal-gitops plan file"):
        planmod.loads('{"format_version": "2"}')
    with pytest.raises(PlanError) as newer:
        planmod.loads('{"format_version": 99}')
    assert str(newer.value) == (
        "the plan file has format_version 99, written by a newer portal-gitops; this one reads "
        "format_version 2: upgrade portal-gitops, or run plan again with this one"
    )
    with pytest.raises(PlanError) as older:
        planmod.loads('{"format_version": 1}')
    assert str(older.value) == (
        "the plan file has format_version 1, written by an older portal-gitops; this one reads "
        "format_version 2: run plan again"
    )
