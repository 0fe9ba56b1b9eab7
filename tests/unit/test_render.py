"""render: text, markdown and JSON views of one plan."""

from __future__ import annotations

import json

from portal_gitops.diff import Change, DiffResult, FieldChange
from portal_gitops.plan import build_plan
from portal_gitops.render import MARKDOWN_LIMIT, render_json, render_markdown, render_text
from portal_gitops.state import LiveObject, LiveState, Sensitive

GRANT = {
    "consumer": "dev@acme.example",
    "organisation": "Acme",
    "app": {"name": "acme-app", "description": "", "redirectUrls": []},
    "products": ["weather"],
    "plan": "free",
    "catalogue": "public",
    "status": "approved",
}


def _plan(changes: list[Change]) -> object:
    return build_plan(DiffResult(changes), LiveState({}))


def test_text_shows_field_changes_masks_secrets_and_summarises() -> None:
    p = build_plan(
        DiffResult(
            [
                Change(
                    "update",
                    "Provider",
                    "tyk",
                    live=LiveObject("Provider", "tyk", "1", {}),
                    after={"secret": Sensitive("env:X", "hunter2")},
                    fields=(
                        FieldChange("secret", None, None, True),
                        FieldChange("orgId", "a", "b"),
                    ),
                ),
                Change("create", "AccessRequest", "acme-weather", after=GRANT),
            ]
        ),
        LiveState({}),
    )
    text = render_text(p)
    assert "hunter2" not in text
    assert text.splitlines() == [
        "~ Provider/tyk will be updated",
        "    ~ secret: (sensitive value changed)",
        '    ~ orgId: "a" -> "b"',
        "+ AccessRequest/acme-weather will be created",
        "    GRANT dev@acme.example (Acme) products [weather] on plan free via app 'acme-app' "
        "from catalogue public",
        "",
        "Plan: 1 to create, 1 to update, 0 to delete.",
    ]
    assert "\x1b[" in render_text(p, color=True) and "\x1b[" not in text


def test_no_changes() -> None:
    assert render_text(_plan([])) == "No changes. The portal matches the manifests.\n"  # type: ignore[arg-type]


def test_markdown_is_summarised_past_the_limit() -> None:
    changes = [Change("create", "Organisation", f"org-{i:05d}", after={}) for i in range(3000)]
    md = render_markdown(_plan(changes))  # type: ignore[arg-type]
    assert len(md) <= MARKDOWN_LIMIT
    assert "| Organisation | create | 3000 |" in md
    small = render_markdown(_plan(changes[:3]))  # type: ignore[arg-type]
    assert "| + | `Organisation/org-00001` | will be created |" in small


def test_json_has_a_stable_documented_shape() -> None:
    data = json.loads(render_json(_plan([Change("create", "AccessRequest", "r", after=GRANT)])))  # type: ignore[arg-type]
    assert list(data) == [
        "format_version",
        "backend",
        "target",
        "manifests_hash",
        "paths",
        "summary",
        "credentials",
        "changes",
        "unmanaged",
        "orphaned",
        "warnings",
        "notes",
        "details",
        "fingerprints",
        "prune",
        "actions_digest",
    ]
    assert data["summary"] == {
        "create": 1,
        "update": 0,
        "replace": 0,
        "adopt": 0,
        "delete": 0,
        "unmanaged": 0,
        "orphaned": 0,
        "credentials_revoked": 0,
        "credentials_reissued": 0,
        "credentials_rotated": 0,
    }
    assert data["credentials"] == []
    assert data["changes"][0]["op"] == "create"
