"""Import never writes a manifest that would change the portal on the next apply: a limit it
cannot express is reported as not imported (with the reason), and files already in the output
folder are kept unless --force."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from portal_gitops.backends.emulated.store import PortalStore
from tests.conftest import CliTarget, copy_examples


def call(store: PortalStore, method: str, path: str, body: Any = None, **query: str) -> Any:
    data = json.dumps(body).encode() if body is not None else b""
    resp = store.handle(method, path, query, {"content-type": "application/json"}, data)
    assert resp.status in (200, 201), (method, path, resp.status, resp.body)
    return json.loads(resp.body) if resp.body else None


def documents(out: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for f in sorted(out.rglob("*.yaml")):
        for doc in yaml.safe_load_all(f.read_text()):
            found.setdefault(doc["kind"], []).append(doc["metadata"]["name"])
    return found


@pytest.mark.parametrize(
    ("limits", "said"),
    [
        ({"rate": 10, "per": -1}, "rate limit (rate 10, per -1)"),
        ({"rate": 0, "per": 60}, "rate limit (rate 0, per 60)"),
        (
            {"quota_max": 500, "quota_renewal_rate": -1},
            "quota (quota_max 500, quota_renewal_rate -1)",
        ),
    ],
)
def test_a_limit_import_cannot_express_is_reported_never_loosened(
    cli_target: CliTarget, tmp_path: Path, limits: dict[str, int], said: str
) -> None:
    manifests = copy_examples(tmp_path)
    assert cli_target.invoke("apply", str(manifests), "--auto-approve").exit_code == 0
    with cli_target.store() as store:
        policies = call(store, "GET", "/api/portal/policies", p="-1")["Data"]
        (policy,) = [p for p in policies if p["name"] == "basic"]
        call(store, "PUT", f"/api/portal/policies/{policy['_id']}", {**policy, **limits})

    out = tmp_path / "imported"
    result = cli_target.invoke("import", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert (
        f"not imported: Plan/basic: its Dashboard policy's {said} cannot be written in a "
        "manifest (a rate limit or quota needs both numbers above 0; -1 means unlimited), and "
        "importing it as unlimited would loosen it: write this Plan by hand, or change the "
        "policy\n"
    ) in result.stderr
    # what offers or uses the plan is reported too, rather than written naming a missing plan
    assert (
        "not imported: Catalogue/partner: it offers objects that could not be imported: basic\n"
        in result.stderr
    )
    assert (
        "not imported: AccessRequest/globex-route-planner: it asks for objects that could not "
        "be imported: basic\n"
    ) in result.stderr
    found = documents(out)
    assert "basic" not in found["Plan"] and "free" in found["Plan"]
    assert "globex-route-planner" not in found["AccessRequest"]
    # a request whose every catalogue offers the plan it could not write: reported as well
    assert (
        "not imported: AccessRequest/initech-store-locator: no imported catalogue offers its "
        "plan and products to its consumer\n"
    ) in result.stderr

    # the imported manifests validate, and their plan loosens nothing: basic is left alone
    plan = cli_target.invoke("plan", str(out), "--format", "json")
    assert plan.exit_code == 0, plan.output
    data = json.loads(plan.stdout)
    assert [c for c in data["changes"] if c["key"] == "basic"] == []
    assert {"kind": "Plan", "key": "basic"} in [
        {"kind": o["kind"], "key": o["key"]} for o in data["orphaned"]
    ]


def test_import_refuses_to_overwrite_files_unless_forced(
    cli_target: CliTarget, tmp_path: Path
) -> None:
    manifests = copy_examples(tmp_path)
    assert cli_target.invoke("apply", str(manifests), "--auto-approve").exit_code == 0
    out = tmp_path / "imported"
    (out / "products").mkdir(parents=True)
    mine = "# my own plans, not to be lost\n"
    (out / "plans.yaml").write_text(mine)
    (out / "products" / "weather-api.yaml").write_text(mine)
    (out / "notes.txt").write_text(mine)  # not a file import writes: no reason to refuse

    refused = cli_target.invoke("import", "--out", str(out))
    assert refused.exit_code == 1
    assert refused.stdout == ""
    assert refused.stderr == (
        f"error: {out} already has plans.yaml, products/weather-api.yaml; import writes whole "
        "files and would replace them: import into an empty folder, or pass --force to "
        "overwrite\n"
    )
    assert (out / "plans.yaml").read_text() == mine
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == [
        "notes.txt",
        "plans.yaml",
        "weather-api.yaml",
    ]

    forced = cli_target.invoke("import", "--out", str(out), "--force")
    assert forced.exit_code == 0, forced.output
    assert "kind: Plan" in (out / "plans.yaml").read_text()
    assert (out / "notes.txt").read_text() == mine
