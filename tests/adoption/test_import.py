"""Adoption: import a live portal as manifests that plan clean; report what cannot be said."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings

from portal_gitops import commands as cmd
from portal_gitops import writing
from portal_gitops.backends.emulated.store import PortalStore
from portal_gitops.commands import load_and_validate
from tests.apis import api_definition, definitions_for, seed_store_file
from tests.conftest import DASHBOARD_SECRET, CliTarget, copy_examples
from tests.strategies import estates, write_documents


def test_apply_import_then_plan_the_imported_manifests_is_clean(
    cli_target: CliTarget, tmp_path: Path
) -> None:
    manifests = copy_examples(tmp_path)
    assert cli_target.invoke("apply", str(manifests), "--auto-approve").exit_code == 0
    out = tmp_path / "imported"
    result = cli_target.invoke("import", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "0 object(s) could not be expressed" in result.stderr
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.yaml"))
    assert "providers.yaml" in files and "catalogues.yaml" in files
    assert any(f.startswith("requests/") for f in files)
    for f in out.rglob("*.yaml"):
        text = f.read_text()
        assert text.startswith("# yaml-language-server: $schema=")
        assert DASHBOARD_SECRET not in text
    provider = yaml.safe_load((out / "providers.yaml").read_text().split("\n", 1)[1])
    assert provider["spec"]["secret"] == {"fromEnv": "TYK_DASHBOARD_SECRET"}
    assert load_and_validate([str(out)]).errors == []
    plan = cli_target.invoke("plan", str(out), "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output
    assert plan.stdout == "No changes. The portal matches the manifests.\n"


def _call(store: PortalStore, method: str, path: str, body: Any = None) -> Any:
    resp = store.handle(
        method, path, {"p": "-1"}, {}, b"" if body is None else json.dumps(body).encode()
    )
    assert resp.status < 300, (method, path, resp.body)
    return json.loads(resp.body)


def test_hand_made_objects_are_reported_by_name_and_the_rest_imported(tmp_path: Path) -> None:
    store_path = tmp_path / "portal.db"
    names = ("clean-product", "mixed-product", "policyless-product")
    store = PortalStore(str(store_path), apis=[api_definition(f"{n}-api") for n in names])
    provider = _call(
        store,
        "POST",
        "/portal-api/providers",
        {
            "Name": "tyk",
            "Type": "tyk-pro",
            "Configuration": {
                "MetaData": json.dumps({"URL": "http://dash:3000", "Secret": "s", "OrgID": "o1"})
            },
        },
    )
    pid = provider["ID"]

    def product(name: str) -> dict[str, Any]:
        return _call(
            store,
            "POST",
            "/portal-api/products",
            {
                "Name": name,
                "ProviderID": pid,
                "IsDocumentationOnly": False,
                "APIDetails": [{"APIID": f"{name}-api"}],
            },
        )

    product("clean-product")
    mixed = product("mixed-product")
    policy = _call(store, "GET", f"/api/portal/policies/{mixed['ReferenceID']}")
    policy["partitions"] = {"acl": True, "quota": True, "rate_limit": True}
    policy["rate"], policy["per"] = 100, 60
    _call(store, "PUT", f"/api/portal/policies/{mixed['ReferenceID']}", policy)
    orphan = product("policyless-product")
    _call(store, "DELETE", f"/api/portal/policies/{orphan['ReferenceID']}")
    store.close()

    outcome = writing.import_portal(
        str(tmp_path / "out"), cmd.Target(store=str(store_path), environ={})
    )
    assert sorted(outcome.skipped) == [
        "Product/mixed-product: its Dashboard policy carries limits as well as access rights "
        "(partitions acl, quota, rate_limit); split it into a product and a plan",
        "Product/policyless-product: it has no backing Dashboard policy",
    ]
    written = load_and_validate([str(tmp_path / "out")])
    assert written.errors == []
    names = sorted(m.metadata.name for m, _ in written.manifests)
    assert names == ["clean-product", "tyk"]


@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(estate=estates(max_objects=3))
def test_for_generated_live_states_import_then_plan_is_empty(
    tmp_path_factory: Any, estate: list[dict[str, Any]]
) -> None:
    root = tmp_path_factory.mktemp("estate")
    src = root / "src"
    src.mkdir()
    (src / "estate.yaml").write_text(yaml.safe_dump_all(estate, sort_keys=False))
    write_documents(estate, src)
    seed_store_file(root / "portal.db", definitions_for(estate))
    target = cmd.Target(store=str(root / "portal.db"), environ={})
    today = dt.date(2026, 1, 1)
    outcome = cmd.apply([str(src)], target, today=today)
    assert outcome.result is None or outcome.result.ok, outcome.result.failed
    imported = writing.import_portal(str(root / "out"), target)
    assert imported.skipped == []
    if not imported.written:
        return
    again = cmd.plan([str(root / "out")], target, today=today)
    assert again.actions == (), [a.address for a in again.actions]


def test_init_then_validate_then_plan(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from portal_gitops.cli import main

    runner = CliRunner()
    repo = tmp_path / "portal-config"
    init = runner.invoke(main, ["init", str(repo), "--no-lock"])
    assert init.exit_code == 0, init.output
    (repo / ".git").mkdir()  # as `git init` leaves it: the embedded store goes to its root
    for rel in (
        ".github/workflows/portal-plan.yml",
        ".github/CODEOWNERS",
        ".pre-commit-config.yaml",
        "schemas/manifest.schema.json",
        "README.md",
        "manifests/providers.yaml",
        "apis/example-api-id.json",
    ):
        assert (repo / rel).is_file(), rel
    assert runner.invoke(main, ["validate", str(repo / "manifests")]).exit_code == 0
    plan = runner.invoke(
        main,
        ["plan", str(repo / "manifests"), "--detailed-exitcode", "--apis", str(repo / "apis")],
        env={"TYK_PORTAL_URL": None},
    )
    assert plan.exit_code == 2, plan.output
    assert "Plan: 9 to create, 0 to update, 0 to delete." in plan.stdout
    assert plan.stderr.startswith(f"Embedded portal: {repo / '.portal-gitops' / 'portal.db'}\n")
    assert (repo / ".portal-gitops" / "portal.db").is_file()
    again = runner.invoke(main, ["init", str(repo), "--no-lock"])
    assert again.exit_code == 1
    assert "already has" in again.stderr and "pass --force to overwrite" in again.stderr
    codeowners = (repo / ".github" / "CODEOWNERS").read_text()
    assert "/manifests/requests/example-api/ @your-org/api-platform" in codeowners
