"""How a plan shows a change, in text, markdown and JSON: a plan's limits once (its Dashboard
policy only where it drifted), and a set-valued list's members added or removed as such."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from portal_gitops.backends.emulated.store import PortalStore
from tests.conftest import CliTarget, copy_examples


def call(store: PortalStore, method: str, path: str, body: Any = None, **query: str) -> Any:
    data = json.dumps(body).encode() if body is not None else b""
    resp = store.handle(method, path, query, {"content-type": "application/json"}, data)
    assert resp.status in (200, 201), (method, path, resp.status, resp.body)
    return json.loads(resp.body) if resp.body else None


@pytest.fixture
def applied(cli_target: CliTarget, tmp_path: Path) -> Path:
    manifests = copy_examples(tmp_path)
    done = cli_target.invoke("apply", str(manifests), "--auto-approve")
    assert done.exit_code == 0, done.output
    return manifests


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


def three_formats(target: CliTarget, manifests: Path) -> tuple[str, str, list[dict[str, Any]]]:
    text = target.invoke("plan", str(manifests))
    markdown = target.invoke("plan", str(manifests), "--format", "markdown")
    as_json = target.invoke("plan", str(manifests), "--format", "json")
    for r in (text, markdown, as_json):
        assert r.exit_code == 0, r.output
    return text.stdout, markdown.stdout, json.loads(as_json.stdout)["changes"]


def test_a_plans_limits_show_once_and_its_policy_only_where_it_drifted(
    cli_target: CliTarget, applied: Path
) -> None:
    edit(applied / "plans.yaml", "    requests: 50\n", "    requests: 75\n")
    text, markdown, changes = three_formats(cli_target, applied)
    assert "    ~ rateLimit.requests: 50 -> 75\n" in text
    assert "policy." not in text
    assert "`rateLimit.requests`: `50` → `75`" in markdown
    assert "policy." not in markdown
    (basic,) = [c for c in changes if c["key"] == "basic"]
    assert basic["fields"] == [{"path": "rateLimit.requests", "old": 50, "new": 75}]
    assert basic["attrs"]["policy"]["rate"] == 75  # what apply writes is unchanged

    # the policy edited in the Dashboard by hand: drift, shown as the policy's own change
    edit(applied / "plans.yaml", "    requests: 75\n", "    requests: 50\n")
    with cli_target.store() as store:
        policies = call(store, "GET", "/api/portal/policies", p="-1")["Data"]
        (policy,) = [p for p in policies if p["name"] == "basic"]
        call(store, "PUT", f"/api/portal/policies/{policy['_id']}", {**policy, "rate": 500})
    text, markdown, changes = three_formats(cli_target, applied)
    assert "    ~ policy.rate: 500 -> 50\n" in text
    assert "rateLimit" not in text
    assert "`policy.rate`: `500` → `50`" in markdown
    (basic,) = [c for c in changes if c["key"] == "basic"]
    assert basic["fields"] == [{"path": "policy.rate", "old": 500, "new": 50}]

    # both at once: the limit's change once, the policy's drift on another field
    edit(applied / "plans.yaml", "    requests: 50\n", "    requests: 75\n")
    with cli_target.store() as store:
        path = f"/api/portal/policies/{policy['_id']}"
        call(store, "PUT", path, {**call(store, "GET", path), "rate": 50, "per": 9})
    text, _, changes = three_formats(cli_target, applied)
    (basic,) = [c for c in changes if c["key"] == "basic"]
    assert basic["fields"] == [
        {"path": "policy.per", "old": 9, "new": 1},
        {"path": "rateLimit.requests", "old": 50, "new": 75},
    ]


def test_a_sets_members_added_or_removed_show_as_such(
    cli_target: CliTarget, applied: Path, tmp_path: Path
) -> None:
    edit(applied / "products" / "air-quality-api.yaml", "methods: [GET]", "methods: [GET, DELETE]")
    edit(
        applied / "catalogues.yaml",
        "    - organisation: Acme Corp\n      team: Storm Tracker\n",
        "",
    )
    text, markdown, changes = three_formats(cli_target, applied)
    methods = "policy.accessRights[0].allowedUrls[0].methods"
    assert f'    ~ {methods}: + "DELETE"\n' in text
    assert '    ~ audience: - {"organisation": "Acme Corp", "team": "Storm Tracker"}\n' in text
    assert "null" not in text
    assert f'`{methods}`: + `"DELETE"`' in markdown
    assert '`audience`: - `{"organisation": "Acme Corp", "team": "Storm Tracker"}`' in markdown
    fields = {c["key"]: c["fields"] for c in changes}
    assert fields["air-quality-api"] == [{"path": methods, "added": "DELETE"}]
    assert fields["partner"] == [
        {"path": "audience", "removed": {"organisation": "Acme Corp", "team": "Storm Tracker"}}
    ]

    # a saved plan carries them the same way, and applies
    saved = tmp_path / "plan.json"
    made = cli_target.invoke("plan", str(applied), "--out", str(saved))
    assert made.exit_code == 0, made.output
    assert f'    ~ {methods}: + "DELETE"\n' in made.stdout
    done = cli_target.invoke("apply", str(saved))
    assert done.exit_code == 0, done.output
    assert cli_target.invoke("plan", str(applied), "--detailed-exitcode").exit_code == 0
