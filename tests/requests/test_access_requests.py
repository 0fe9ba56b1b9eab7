"""Access requests through pull requests, end to end on both backends.

A consumer asks for access in the Live Portal (through the portal API, as the portal's UI
would), `requests pull` writes the manifest, `apply` approves that very request, and the
credential the portal issues appears nowhere in what the tool prints or writes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from portal_gitops.backends.emulated.store import PortalStore
from tests.conftest import CliTarget, copy_examples


def call(store: PortalStore, method: str, path: str, body: Any = None) -> Any:
    raw = b"" if body is None else json.dumps(body).encode()
    resp = store.handle(method, path, {"per_page": "500"}, {}, raw)
    assert resp.status < 300, (method, path, resp.status, resp.body)
    return json.loads(resp.body) if resp.body else None


def _id(items: list[dict[str, Any]], field: str, value: str) -> int:
    return next(int(i["ID"]) for i in items if i[field] == value)


def consumer_requests_access(
    store: PortalStore, email: str, app: str, products: list[str], plan: str, catalogue: str
) -> int:
    """What a consumer does in the Live Portal: create an app, then request access."""
    user_id = _id(call(store, "GET", "/portal-api/users"), "Email", email)
    plans = call(store, "GET", "/portal-api/plans")
    plans = plans["data"] if isinstance(plans, dict) else plans
    product_list = call(store, "GET", "/portal-api/products")
    # ``catalogue`` is where the consumer browsed; provisioning names none (REFERENCE.md §9)
    assert _id(call(store, "GET", "/portal-api/catalogues"), "Name", catalogue)
    created = call(
        store,
        "POST",
        "/portal-api/apps",
        {"Name": app, "Description": "made in the portal", "UserID": user_id},
    )
    call(
        store,
        "PUT",
        f"/portal-api/apps/{created['ID']}/provision",
        {
            "PlanID": _id(plans, "Name", plan),
            "ProductIDs": [_id(product_list, "Name", p) for p in products],
        },
    )
    requests = call(store, "GET", f"/portal-api/apps/{created['ID']}/access-requests")
    return int(requests[-1]["ID"])


def request_status(store: PortalStore, request_id: int) -> str:
    return str(call(store, "GET", f"/portal-api/access_requests/{request_id}")["Status"])


def credentials_of(store: PortalStore, request_id: int) -> list[str]:
    # access-request replies name no app (REFERENCE.md §9): find the app holding it
    app_id = next(
        a["ID"]
        for a in call(store, "GET", "/portal-api/apps")
        if any(
            r["ID"] == request_id
            for r in call(store, "GET", f"/portal-api/apps/{a['ID']}/access-requests")
        )
    )
    creds = call(
        store, "GET", f"/portal-api/apps/{app_id}/access-requests/{request_id}/credentials"
    )
    return [c["Credential"] for c in creds if c.get("Credential")]


def all_text_under(root: Path) -> str:
    chunks = []
    for p in root.rglob("*"):
        if p.is_file() and p.suffix != ".db" and "-wal" not in p.name and "-shm" not in p.name:
            chunks.append(p.read_bytes().decode("utf-8", "replace"))
    return "\n".join(chunks)


def test_portal_request_pulled_merged_and_approved_without_leaking_the_credential(
    cli_target: CliTarget, tmp_path: Path
) -> None:
    manifests = copy_examples(tmp_path)
    assert cli_target.invoke("apply", str(manifests), "--auto-approve").exit_code == 0
    store = cli_target.store()
    rid = consumer_requests_access(
        store, "milton@initech.example", "Stapler Tracker", ["weather-api"], "basic", "public"
    )
    assert request_status(store, rid) == "pending"

    out = manifests / "requests"
    pulled = cli_target.invoke("requests", "pull", str(manifests), "--out", str(out))
    assert pulled.exit_code == 0, pulled.output
    (written,) = [Path(line) for line in pulled.stdout.splitlines()]
    assert written.parent == out / "weather-api"
    text = written.read_text()
    assert text.startswith("# yaml-language-server: $schema=")
    doc = yaml.safe_load(text)
    assert doc["metadata"]["annotations"] == {"portal-gitops/request-id": str(rid)}
    assert doc["spec"] == {
        "consumer": "milton@initech.example",
        # made in the portal without a Visibility: the portal's default, kept as it is
        "app": {
            "name": "Stapler Tracker",
            "description": "made in the portal",
            "visibility": "organisation",
        },
        "products": ["weather-api"],
        "plan": "basic",
        "catalogue": "public",
        "justification": "",
        "decision": "approve",
    }
    again = cli_target.invoke("requests", "pull", str(manifests), "--out", str(out))
    assert again.stdout == "" and "0 new request(s) written, 1 already" in again.stderr

    plan_file = tmp_path / "plan.json"
    planned = cli_target.invoke("plan", str(manifests), "--out", str(plan_file))
    assert planned.exit_code == 0, planned.output
    assert (
        "GRANT milton@initech.example (Initech: Store Locator) products [weather-api] on plan "
        "basic (50 requests per 1 s, quota 100000 per 2592000 s, keys expire after 31536000 s) "
        "via app 'Stapler Tracker' from catalogue public"
    ) in planned.stdout
    applied = cli_target.invoke("apply", str(plan_file))
    assert applied.exit_code == 0, applied.output
    assert request_status(store, rid) == "approved"
    (credential,) = credentials_of(store, rid)
    assert len(credential) >= 16

    after = cli_target.invoke("plan", str(manifests), "--detailed-exitcode")
    assert after.exit_code == 0, after.output
    pulled_again = cli_target.invoke("requests", "pull", str(manifests), "--out", str(out))
    assert pulled_again.stdout == ""  # approved requests are never written again
    for result in (pulled, again, planned, applied, after, pulled_again):
        assert credential not in result.stdout + result.stderr
    assert credential not in all_text_under(tmp_path)


def test_rejection_revocation_by_removal_and_expiry(cli_target: CliTarget, tmp_path: Path) -> None:
    manifests = copy_examples(tmp_path)
    assert cli_target.invoke("apply", str(manifests), "--auto-approve").exit_code == 0
    store = cli_target.store()
    by_client = {r["Client"]: r for r in call(store, "GET", "/portal-api/access_requests")}
    rejected = by_client["Route Planner Premium"]
    assert rejected["Status"] == "rejected"
    assert credentials_of(store, int(rejected["ID"])) == []
    approved = [r for r in by_client.values() if r["Status"] == "approved"]
    assert approved and all(credentials_of(store, int(r["ID"])) for r in approved)

    # expiry: a date in the past makes the plan revoke the access, without --prune
    req = manifests / "requests" / "geocoding-api" / "initech-store-locator.yaml"
    req.write_text(req.read_text() + "  expires: 2020-01-01\n")
    plan = cli_target.invoke("plan", str(manifests), "--detailed-exitcode")
    assert plan.exit_code == 2
    assert "- AccessRequest/initech-store-locator will be deleted (expired)" in plan.stdout
    assert (
        "EXPIRE peter.gibbons@initech.example (Initech: Store Locator) products [geocoding-api] "
        "on plan free (5 requests per 1 s, quota 1000 per 86400 s, keys expire after 2592000 s) "
        "via app 'Store Locator' from catalogue public"
    ) in plan.stdout
    store_locator = by_client["Store Locator"]
    assert cli_target.invoke("apply", str(manifests), "--auto-approve").exit_code == 0
    remaining = {r["ID"] for r in call(store, "GET", "/portal-api/access_requests")}
    assert store_locator["ID"] not in remaining

    # removal: the manifest leaves the repository; --prune revokes it
    (manifests / "requests" / "air-quality-api" / "acme-logistics-air.yaml").unlink()
    kept = cli_target.invoke("plan", str(manifests), "--detailed-exitcode")
    assert kept.exit_code == 0
    assert "AccessRequest/acme-logistics-air" in kept.stdout  # listed, not deleted
    pruned = cli_target.invoke("apply", str(manifests), "--auto-approve", "--prune")
    assert pruned.exit_code == 0, pruned.output
    assert "- AccessRequest/acme-logistics-air will be deleted (removed from the manifests)" in (
        pruned.stdout
    )
    assert (
        "REVOKE chen.ops@acme.example (Acme Corp) products [air-quality-api] on plan basic "
        "via app 'Depot Air Monitor' from catalogue partner"
    ) in pruned.stdout
    clients = {r["Client"] for r in call(store, "GET", "/portal-api/access_requests")}
    assert "Depot Air Monitor" in by_client and "Depot Air Monitor" not in clients
    assert (
        cli_target.invoke("plan", str(manifests), "--detailed-exitcode", "--prune").exit_code == 0
    )


def test_a_request_for_a_plan_outside_the_consumers_catalogues_is_a_validation_error(
    tmp_path: Path,
) -> None:
    from click.testing import CliRunner

    from portal_gitops.cli import main

    manifests = copy_examples(tmp_path)
    req = manifests / "requests" / "geocoding-api" / "initech-store-locator.yaml"
    text = req.read_text()
    req.write_text(text.replace("plan: free", "plan: premium"))
    line = next(i for i, t in enumerate(req.read_text().splitlines(), 1) if "plan: premium" in t)
    result = CliRunner().invoke(main, ["validate", str(manifests)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{req}:{line}: AccessRequest/initech-store-locator: spec.plan: "
        "Catalogue 'public' does not offer Plan 'premium'",
        "error: 1 problem found in the manifests",
    ]
    assert "Traceback" not in result.output


def test_codeowners_routes_requests_to_the_owners_of_their_products_and_plan() -> None:
    from click.testing import CliRunner

    from portal_gitops.cli import main

    result = CliRunner().invoke(main, ["codeowners", "examples/manifests"])
    assert result.exit_code == 0
    out = result.stdout.splitlines()
    # rosa is an API owner (an AdminUser): her GitHub handle is written
    folder = (
        "/examples/manifests/requests/weather-api/ @weatherco/api-platform "
        "@weatherco/forecasting @rosa-weatherco"
    )
    assert folder in out
    assert (
        "/examples/manifests/requests/weather-api/globex-premium-upgrade.yaml "
        "@weatherco/api-platform @weatherco/forecasting @rosa-weatherco @weatherco/partnerships"
    ) in out
    # per-file lines come after the folder lines, so they take precedence
    assert out.index(folder) < next(
        i
        for i, line in enumerate(out)
        if line.startswith("/examples/manifests/requests/weather-api/globex")
    )


def test_a_file_name_cannot_inject_codeowners_lines(tmp_path: Path) -> None:
    """A contributor names a request file so that its CODEOWNERS line would end, and a line of
    their own would follow (``* @attacker``): the file gets no line and a warning says why."""
    import shutil

    from click.testing import CliRunner

    from portal_gitops.cli import main

    tree = tmp_path / "manifests"
    shutil.copytree("examples/manifests", tree)
    source = tree / "requests" / "weather-api" / "globex-premium-upgrade.yaml"
    evil = source.with_name("x.yaml\n* @attacker\t#.yaml")
    source.rename(evil)
    result = CliRunner().invoke(main, ["codeowners", str(tree)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert not any("@attacker" in line for line in lines)
    assert all(line.startswith(("#", "/")) for line in lines), lines
    assert "its file name holds a line break or another control character" in result.stderr


def test_requests_pull_is_capped_per_run_and_per_consumer(
    cli_target: CliTarget, tmp_path: Path
) -> None:
    """One consumer filing a burst of requests cannot flood the repository (and, through the
    workflow, its pull requests): a few per consumer and a bounded number per run are
    written, the rest are reported and pulled on later runs."""
    manifests = copy_examples(tmp_path)
    assert cli_target.invoke("apply", str(manifests), "--auto-approve").exit_code == 0
    store = cli_target.store()
    burst = [
        consumer_requests_access(
            store, "milton@initech.example", f"Flood {i}", ["weather-api"], "basic", "public"
        )
        for i in range(12)
    ]
    other = consumer_requests_access(
        store, "peter.gibbons@initech.example", "Honest App", ["weather-api"], "basic", "public"
    )
    out = manifests / "requests"
    pulled = cli_target.invoke("requests", "pull", str(manifests), "--out", str(out))
    assert pulled.exit_code == 0, pulled.output
    written = [Path(line) for line in pulled.stdout.splitlines()]
    ids = sorted(
        yaml.safe_load(p.read_text())["metadata"]["annotations"]["portal-gitops/request-id"]
        for p in written
    )
    assert ids == sorted([str(r) for r in burst[:3]] + [str(other)])
    assert (
        "9 request(s) not pulled this run: milton@initech.example has 3 pending in the "
        "repository or this run (at most 3 per consumer); they are pulled once those are decided"
    ) in pulled.stderr

    again = cli_target.invoke("requests", "pull", str(manifests), "--out", str(out))
    assert again.stdout == ""  # still 3 of milton's pending in the repository
    capped = cli_target.invoke(
        "requests",
        "pull",
        str(manifests),
        "--out",
        str(tmp_path / "elsewhere"),
        "--max-requests",
        "1",
        "--max-per-consumer",
        "20",
    )
    assert len(capped.stdout.splitlines()) == 1
    assert "at most 1 per run" in capped.stderr


def test_requests_pull_never_writes_a_manifest_that_does_not_validate(
    cli_target: CliTarget, tmp_path: Path
) -> None:
    manifests = copy_examples(tmp_path)
    assert cli_target.invoke("apply", str(manifests), "--auto-approve").exit_code == 0
    store = cli_target.store()
    # only the partner catalogue offers premium, and milton is not a partner: no catalogue
    # the manifest could name validates, so the request cannot be decided through Git as it
    # is; it is reported with the reason, and nothing is written
    bad = consumer_requests_access(
        store, "milton@initech.example", "Wrong Catalogue", ["weather-api"], "premium", "partner"
    )
    good = consumer_requests_access(
        store, "milton@initech.example", "Stapler Tracker", ["weather-api"], "basic", "public"
    )
    out = manifests / "requests"
    pulled = cli_target.invoke("requests", "pull", str(manifests), "--out", str(out))
    assert pulled.exit_code == 0, pulled.output
    (written,) = [Path(line) for line in pulled.stdout.splitlines()]
    assert f"request-id: '{good}'" in written.read_text()
    assert f"request {bad} (milton@initech.example) skipped" in pulled.stderr
    assert "does not validate" in pulled.stderr and "Catalogue" in pulled.stderr
    assert "1 new request(s) written" in pulled.stderr
    from click.testing import CliRunner

    from portal_gitops.cli import main

    assert CliRunner().invoke(main, ["validate", str(manifests)]).exit_code == 0
    assert request_status(store, bad) == "pending"  # left for a person to decide
