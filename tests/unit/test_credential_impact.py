"""A plan names every live credential it revokes or reissues, in text, markdown and JSON.

A credential is issued when the portal approves an access request, and revoked when the
request, its app or its consumer is deleted (REFERENCE.md §4 "Apps, access requests,
credentials"; §9 "Decisions": revoking an approved request is deleting it). Pure: plans
built from changes and a live state, no backend.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from portal_gitops.diff import Change, DiffResult, FieldChange
from portal_gitops.plan import Plan, build_plan, dumps, loads
from portal_gitops.render import access_verb, render_json, render_markdown, render_text
from portal_gitops.state import LiveObject, LiveState


def request(status: str = "approved", products: tuple[str, ...] = ("weather",)) -> dict[str, Any]:
    return {
        "consumer": "dev@acme.example",
        "organisation": "Acme",
        "app": {
            "name": "acme-app",
            "description": "",
            "redirectUrls": [],
            "visibility": "personal",
        },
        "products": list(products),
        "plan": "free",
        "status": status,
    }


LIVE = LiveObject("AccessRequest", "acme-weather", "7", request(products=("maps", "weather")))
OTHER = LiveObject(
    "AccessRequest", "acme-maps", "8", {**request(products=("maps",)), "consumer": "ann@acme.io"}
)
PENDING = LiveObject("AccessRequest", "acme-pending", "9", request("pending"))
USER = LiveObject("User", "dev@acme.example", "3", {"organisation": "Acme"})
ORG = LiveObject("Organisation", "Acme", "2", {})


def plan_of(*changes: Change) -> Plan:
    live = LiveState({o.ref: o for o in (LIVE, OTHER, PENDING, USER, ORG)})
    return build_plan(DiffResult(list(changes)), live)


def narrowed() -> Change:
    return Change(
        "replace",
        "AccessRequest",
        "acme-weather",
        after=request(),
        live=LIVE,
        fields=(FieldChange("products[0]", "maps", "weather"),),
    )


def test_narrowing_products_reissues_the_credential() -> None:
    plan = plan_of(narrowed())
    [c] = plan.credentials
    assert (c.effect, c.request, c.live_id, c.consumer, c.app, c.products, c.plan) == (
        "reissue",
        "acme-weather",
        "7",
        "dev@acme.example",
        "acme-app",
        ("maps", "weather"),
        "free",
    )
    assert plan.credential_counts() == {"revoke": 0, "reissue": 1, "rotate": 0}


@pytest.mark.parametrize("reason", ["expired", "removed from the manifests"])
def test_deleting_an_approved_request_revokes_its_credential(reason: str) -> None:
    plan = plan_of(Change("delete", "AccessRequest", "acme-weather", live=LIVE, reason=reason))
    assert [(c.effect, c.request, c.reason) for c in plan.credentials] == [
        ("revoke", "acme-weather", reason)
    ]


def test_a_pending_request_holds_no_credential() -> None:
    plan = plan_of(Change("delete", "AccessRequest", "acme-pending", live=PENDING))
    assert plan.credentials == ()


def test_a_rejection_replacing_an_approval_revokes() -> None:
    change = Change(
        "replace",
        "AccessRequest",
        "acme-weather",
        after=request("rejected"),
        live=LIVE,
        fields=(FieldChange("status", "approved", "rejected"),),
    )
    assert [c.effect for c in plan_of(change).credentials] == ["revoke"]


def test_deleting_a_user_or_organisation_revokes_what_they_hold() -> None:
    by_user = plan_of(Change("delete", "User", "dev@acme.example", live=USER))
    assert [(c.request, c.cause) for c in by_user.credentials] == [
        ("acme-weather", "User/dev@acme.example")
    ]
    by_org = plan_of(
        Change("delete", "User", "dev@acme.example", live=USER),
        Change("delete", "Organisation", "Acme", live=ORG),
    )
    assert sorted(c.request for c in by_org.credentials) == ["acme-maps", "acme-weather"]
    # each counted once
    assert by_org.credential_counts() == {"revoke": 2, "reissue": 0, "rotate": 0}


def test_text_and_markdown_say_so_first_and_json_lists_them() -> None:
    plan = plan_of(
        narrowed(),
        Change("delete", "AccessRequest", "acme-maps", live=OTHER, reason="expired"),
    )
    text = render_text(plan).splitlines()
    assert text[0] == "1 credential revoked, 1 reissued (revoked, then issued anew) by this plan:"
    assert text[1].startswith("  REVOKE credential of ann@acme.io (Acme) app 'acme-app', ")
    assert text[2].startswith("  REISSUE credential of dev@acme.example (Acme) app 'acme-app', ")
    md = render_markdown(plan)
    lines = md.splitlines()
    assert lines[0] == "### portal-gitops plan"
    assert lines[2].startswith("#### :warning: Credentials: 1 credential revoked, 1 reissued")
    assert md.index("Credentials") < md.index("**Plan:") < md.index("#### Access requests")
    data = json.loads(render_json(plan))
    assert data["summary"]["credentials_revoked"] == 1
    assert data["summary"]["credentials_reissued"] == 1
    assert [(c["effect"], c["request"], c["products"]) for c in data["credentials"]] == [
        ("revoke", "acme-maps", ["maps"]),
        ("reissue", "acme-weather", ["maps", "weather"]),
    ]
    assert set(data["credentials"][0]) == {
        "effect", "request", "live_id", "consumer", "organisation", "app", "products", "plan",
        "cause", "reason",
    }  # fmt: skip
    assert loads(dumps(plan)).credentials == plan.credentials  # a saved plan keeps them


def test_no_credential_block_when_none_is_touched() -> None:
    plan = plan_of(Change("create", "AccessRequest", "new", after=request()))
    assert plan.credentials == ()
    assert "credential" not in render_text(plan) and "Credentials" not in render_markdown(plan)
    assert json.loads(render_json(plan))["credentials"] == []


@pytest.mark.parametrize(
    ("op", "old", "new", "verb"),
    [
        ("create", None, "approved", "GRANT"),
        ("create", None, "rejected", "REJECT"),
        ("update", "pending", "approved", "GRANT"),
        ("update", "pending", "rejected", "REJECT"),
        ("update", None, "approved", "KEEP"),  # the app's description or visibility
        ("adopt", None, "approved", "KEEP"),
        ("replace", None, "approved", "REISSUE"),
        ("replace", "approved", "rejected", "REVOKE"),
        ("replace", "rejected", "approved", "REFILE (approve)"),
        ("replace", "pending", "rejected", "REFILE (reject)"),
        ("delete", None, "approved", "REVOKE"),
        ("delete", None, "pending", "WITHDRAW"),
    ],
)
def test_every_operation_has_its_own_verb_and_a_replace_never_grants(
    op: str, old: str | None, new: str, verb: str
) -> None:
    fields = () if old is None else (FieldChange("status", old, new),)
    after = request(new)
    change = Change(
        op,
        "AccessRequest",
        "r",
        after=None if op == "delete" else after,
        live=LiveObject("AccessRequest", "r", "1", request(old or new)),
        fields=fields,
    )
    [action] = plan_of(change).actions
    assert access_verb(action) == verb
    if op == "replace":
        assert "GRANT" not in render_text(plan_of(change))
