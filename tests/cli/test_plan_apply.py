"""plan / apply / drift through the CLI, on the embedded store and over HTTP to the emulator.

Confirmation, progress, output formats, saved plans (fresh and stale), drift, unmanaged and
adopted objects, --prune with the deletion budget, built-ins, and the apply lock.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from portal_gitops.backends.embedded import open_embedded
from portal_gitops.backends.emulated.store import PortalStore
from portal_gitops.state import LOCK_POLICY
from tests.conftest import DASHBOARD_SECRET, CliTarget, copy_examples

TOTAL = 48  # objects in examples/manifests
REQUESTS = 7  # access requests under examples/manifests/requests
PLAN_LINE = f"Plan: {TOTAL} to create, 0 to update, 0 to delete."
NO_CHANGES = "No changes. The portal matches the manifests."
WEATHER_DESCRIPTION = "Current conditions, history and forecasts for any place on Earth."


def call(store: PortalStore, method: str, path: str, body: Any = None, **query: str) -> Any:
    data = json.dumps(body).encode() if body is not None else b""
    resp = store.handle(method, path, query, {"content-type": "application/json"}, data)
    assert resp.status in (200, 201), (method, path, resp.status, resp.body)
    return json.loads(resp.body) if resp.body else None


def names(target: CliTarget, path: str) -> list[str]:
    with target.store() as store:
        return sorted(
            item["Name"] for item in call(store, "GET", f"/portal-api{path}", per_page="100")
        )


def hand_made_organisation(target: CliTarget, name: str) -> None:
    with target.store() as store:
        call(store, "POST", "/portal-api/organisations", {"Name": name})


def target_name(target: CliTarget) -> str:
    return target.url if target.url else str(target.store_path)


@pytest.fixture
def manifests(tmp_path: Path) -> Path:
    return copy_examples(tmp_path)


class _Terminal:
    """``sys`` as cli.py sees it, with standard input claiming to be a terminal."""

    class _Stdin:
        def __getattr__(self, name: str) -> Any:
            return getattr(sys.stdin, name)

        def isatty(self) -> bool:
            return True

    stdin = _Stdin()

    def __getattr__(self, name: str) -> Any:
        return getattr(sys, name)


def test_apply_asks_for_confirmation_refuses_without_a_terminal_and_shows_progress(
    cli_target: CliTarget, manifests: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = cli_target.invoke("apply", str(manifests))
    assert refused.exit_code == 1
    assert PLAN_LINE in refused.stdout  # the plan is shown before anything is asked
    assert refused.stderr.endswith(
        "error: refusing to apply without confirmation: standard input is not a terminal; "
        "pass --auto-approve\n"
    )
    assert cli_target.invoke("plan", str(manifests), "--detailed-exitcode").exit_code == 2

    monkeypatch.setattr("portal_gitops.cli.sys", _Terminal())
    # as Terraform: only the word "yes" approves, and declining exits 1
    for answer in ("n\n", "y\n", "YES please\n", "\n", ""):
        declined = cli_target.invoke("apply", str(manifests), input=answer)
        assert declined.exit_code == 1, (answer, declined.output)
        assert (
            f"{PLAN_LINE}\nDo you want to apply these changes?\n"
            "  Only 'yes' will be accepted to approve.\n\n  Enter a value: "
        ) in declined.stdout
        assert declined.stdout.endswith("Apply cancelled. Nothing was changed.\n")
        assert cli_target.invoke("plan", str(manifests), "--detailed-exitcode").exit_code == 2

    accepted = cli_target.invoke("apply", str(manifests), input="yes\n")
    assert accepted.exit_code == 0, accepted.output
    assert accepted.stdout.endswith(f"Apply: {TOTAL} done, 0 failed, 0 skipped.\n")
    # more than 20 changes: one progress line per finished action, counted in order
    progress = [line for line in accepted.stderr.splitlines() if line.startswith("[")]
    assert [int(re.match(rf"\[(\d+)/{TOTAL}\] create ", p)[1]) for p in progress] == list(  # type: ignore[index]
        range(1, TOTAL + 1)
    )
    assert len({p.split(" create ")[1] for p in progress}) == TOTAL
    assert cli_target.invoke("plan", str(manifests), "--detailed-exitcode").exit_code == 0


def test_plan_formats_json_and_markdown(cli_target: CliTarget, manifests: Path) -> None:
    as_json = cli_target.invoke("plan", str(manifests), "--format", "json")
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.stdout)
    assert data["format_version"] == 2
    assert data["backend"] == ("embedded" if cli_target.kind == "embedded" else "tyk")
    assert data["summary"] == {
        "create": TOTAL,
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
    provider = next(c for c in data["changes"] if c["kind"] == "Provider")
    assert provider["attrs"]["secret"] == {"sensitive": "env:TYK_DASHBOARD_SECRET"}
    assert DASHBOARD_SECRET not in as_json.output

    markdown = cli_target.invoke("plan", str(manifests), "--format", "markdown")
    assert markdown.exit_code == 0, markdown.output
    assert markdown.stdout.startswith(f"### portal-gitops plan\n\n**{PLAN_LINE}**\n\n")
    assert "| + | `Provider/tyk-dashboard` | will be created |" in markdown.stdout
    assert markdown.stdout.count("\n- GRANT ") + markdown.stdout.count("\n- REJECT ") >= 1
    assert DASHBOARD_SECRET not in markdown.output


def test_a_saved_plan_is_applied_and_a_stale_one_refused(
    cli_target: CliTarget, manifests: Path, tmp_path: Path
) -> None:
    saved = str(tmp_path / "plan.json")
    made = cli_target.invoke("plan", str(manifests), "--out", saved)
    assert made.exit_code == 0
    assert f"Saved the plan to {saved}; apply it with `portal-gitops apply {saved}`." in made.stderr

    hand_made_organisation(cli_target, "Hand Made")  # the portal changes after the review
    stale = cli_target.invoke("apply", saved)
    assert stale.exit_code == 1
    assert stale.stderr == (
        "error: the saved plan is stale: created in the portal since the plan was made: "
        "Organisation/Hand Made, Team/Hand Made/Hand Made All users. Run plan again.\n"
    )
    assert cli_target.invoke("plan", str(manifests), "--detailed-exitcode").exit_code == 2

    cli_target.invoke("plan", str(manifests), "--out", saved)
    applied = cli_target.invoke("apply", saved)  # reviewed when saved: no question asked
    assert applied.exit_code == 0, applied.output
    assert applied.stdout.endswith(f"Apply: {TOTAL} done, 0 failed, 0 skipped.\n")

    cli_target.invoke("plan", str(manifests), "--out", saved)
    with (manifests / "organisations" / "acme.yaml").open("a", encoding="utf-8") as fh:
        fh.write(
            "---\napiVersion: portal-gitops/v1\nkind: Organisation\nmetadata:\n  name: Umbrella\n"
        )
    edited = cli_target.invoke("apply", saved)
    assert edited.exit_code == 1
    assert edited.stderr == (
        "error: the saved plan is stale: the manifests changed since the plan was made. "
        "Run plan again.\n"
    )
    assert "Umbrella" not in names(cli_target, "/organisations")


def _edit_saved_plan(saved: Path, *, redigest: bool) -> None:
    """What a hand (or a pull request touching the artifact) could do to a reviewed plan: add
    an organisation nobody reviewed, optionally fixing up the digest as plan computes it."""
    from portal_gitops.plan import actions_digest

    data = json.loads(saved.read_text())
    data["changes"].insert(
        0,
        {
            "op": "create",
            "kind": "Organisation",
            "key": "Unreviewed",
            "live_id": "",
            "reason": "",
            "deferred": False,
            "attrs": {},
            "fields": [],
        },
    )
    data["summary"]["create"] += 1
    if redigest:
        data["actions_digest"] = actions_digest(data)
    saved.write_text(json.dumps(data))


@pytest.mark.parametrize("redigest", [False, True], ids=["edited", "edited-and-redigested"])
def test_an_edited_saved_plan_is_refused_and_nothing_changes(
    cli_target: CliTarget, manifests: Path, tmp_path: Path, redigest: bool
) -> None:
    saved = tmp_path / "plan.json"
    assert cli_target.invoke("plan", str(manifests), "--out", str(saved)).exit_code == 0
    _edit_saved_plan(saved, redigest=redigest)
    applied = cli_target.invoke("apply", str(saved))
    assert applied.exit_code == 1, applied.output
    expected = (
        "error: the saved plan's changes are not the ones plan wrote (the file was edited "
        "after it was saved); run plan again.\n"
        if not redigest
        else "error: the saved plan's changes are not what its manifests and the portal give "
        "now (the file was edited after it was saved, or a secret or the date changed since); "
        "run plan again.\n"
    )
    assert applied.stderr == expected
    assert "Unreviewed" not in names(cli_target, "/organisations")
    assert "Acme Corp" not in names(cli_target, "/organisations")  # nothing of it applied


def test_drift_exits_2_with_a_report(cli_target: CliTarget, manifests: Path) -> None:
    assert cli_target.invoke("apply", str(manifests), "--auto-approve").exit_code == 0
    with cli_target.store() as store:  # someone edits the product in the portal's admin UI
        products = call(store, "GET", "/portal-api/products", per_page="100")
        weather = next(p for p in products if p["Name"] == "weather-api")
        call(store, "PUT", f"/portal-api/products/{weather['ID']}", {"Description": "edited"})

    drift = cli_target.invoke("drift", str(manifests))
    assert drift.exit_code == 2
    assert drift.stdout == (
        "~ Product/weather-api will be updated\n"
        f'    ~ description: "edited" -> {json.dumps(WEATHER_DESCRIPTION)}\n'
        "\nPlan: 0 to create, 1 to update, 0 to delete.\n"
    )
    where = f"Embedded portal: {cli_target.store_path}\n" if cli_target.kind == "embedded" else ""
    assert drift.stderr == where + "drift detected: the portal differs from the manifests\n"
    as_json = cli_target.invoke("drift", str(manifests), "--format", "json")
    assert as_json.exit_code == 2
    (change,) = json.loads(as_json.stdout)["changes"]
    assert (change["op"], change["key"], change["fields"]) == (
        "update",
        "weather-api",
        [{"path": "description", "old": "edited", "new": WEATHER_DESCRIPTION}],
    )
    markdown = cli_target.invoke("drift", str(manifests), "--format", "markdown")
    assert markdown.exit_code == 2
    assert "| ~ | `Product/weather-api` | `description`: " in markdown.stdout

    assert cli_target.invoke("apply", str(manifests), "--auto-approve").exit_code == 0
    clean = cli_target.invoke("drift", str(manifests))
    assert (clean.exit_code, clean.stdout, clean.stderr) == (0, f"{NO_CHANGES}\n", where)


def test_matching_objects_are_adopted_and_unmanaged_ones_never_touched(
    cli_target: CliTarget, manifests: Path
) -> None:
    hand_made_organisation(cli_target, "Acme Corp")  # what the manifests say: adopted
    hand_made_organisation(cli_target, "Hand Made")  # not in the manifests: left alone
    planned = cli_target.invoke("plan", str(manifests))
    assert planned.exit_code == 0
    assert "= Organisation/Acme Corp will be managed (no change)\n" in planned.stdout
    assert (
        "\nUnmanaged objects in the portal (1), never touched:\n  Organisation/Hand Made\n"
        in planned.stdout
    )
    assert planned.stdout.endswith(
        f"Plan: {TOTAL - 1} to create, 0 to update, 0 to delete, 1 to adopt.\n"
    )

    applied = cli_target.invoke("apply", str(manifests), "--auto-approve", "--prune")
    assert applied.exit_code == 0, applied.output
    assert applied.stdout.endswith(f"Apply: {TOTAL} done, 0 failed, 0 skipped.\n")
    orgs = names(cli_target, "/organisations")
    assert orgs.count("Acme Corp") == orgs.count("Hand Made") == 1
    after = cli_target.invoke("plan", str(manifests), "--prune", "--detailed-exitcode")
    assert after.exit_code == 0
    assert after.stdout == (
        "\nUnmanaged objects in the portal (1), never touched:\n  Organisation/Hand Made\n\n"
        f"{NO_CHANGES}\n"
    )


def test_prune_keeps_to_the_deletion_budget_and_never_deletes_builtins(
    cli_target: CliTarget, manifests: Path
) -> None:
    assert cli_target.invoke("apply", str(manifests), "--auto-approve").exit_code == 0
    shutil.rmtree(manifests / "requests")

    kept = cli_target.invoke("plan", str(manifests), "--detailed-exitcode")
    assert kept.exit_code == 0  # without --prune, nothing is deleted
    assert "Managed objects removed from the manifests (deleted only with --prune):" in kept.stdout

    over = cli_target.invoke(
        "apply", str(manifests), "--auto-approve", "--prune", "--max-deletes", str(REQUESTS - 1)
    )
    assert over.exit_code == 1
    assert over.stderr == (
        f"error: the plan deletes {REQUESTS} objects, more than --max-deletes {REQUESTS - 1}; "
        "review it, then raise --max-deletes or pass --force\n"
    )
    assert (
        cli_target.invoke("plan", str(manifests), "--prune", "--detailed-exitcode").exit_code == 2
    )

    within = cli_target.invoke(
        "apply", str(manifests), "--auto-approve", "--prune", "--max-deletes", str(REQUESTS)
    )
    assert within.exit_code == 0, within.output
    assert within.stdout.endswith(f"Apply: {REQUESTS} done, 0 failed, 0 skipped.\n")

    # everything but the provider removed: all managed objects go, the built-ins stay
    for path in manifests.iterdir():
        if path.name != "providers.yaml":
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    refused = cli_target.invoke("apply", str(manifests), "--auto-approve", "--prune")
    assert refused.exit_code == 1
    assert "more than --max-deletes 10" in refused.stderr
    forced = cli_target.invoke("apply", str(manifests), "--auto-approve", "--prune", "--force")
    assert forced.exit_code == 0, forced.output
    assert forced.stdout.endswith(f"Apply: {TOTAL - REQUESTS - 1} done, 0 failed, 0 skipped.\n")
    assert names(cli_target, "/organisations") == ["Default Organisation"]
    assert names(cli_target, "/catalogues") == ["Private Catalogue", "Public Catalogue"]
    final = cli_target.invoke("plan", str(manifests), "--prune", "--detailed-exitcode")
    assert (final.exit_code, final.stdout) == (0, f"{NO_CHANGES}\n")


def _hold_lock(target: CliTarget, holder: str, *, now: float, ttl: float) -> None:
    async def take() -> None:
        backend = open_embedded(str(target.store_path), clock=lambda: now)
        try:
            await backend.acquire_lock(holder, ttl)
        finally:
            await backend.aclose()

    asyncio.run(take())


def _lock_policies(target: CliTarget) -> list[dict[str, Any]]:
    with target.store() as store:
        policies = call(store, "GET", "/api/portal/policies", p="-1")["Data"]
    return [p for p in policies if p["name"] == LOCK_POLICY]


def test_apply_fails_while_another_holds_the_lock_and_takes_over_an_expired_lease(
    cli_target: CliTarget, manifests: Path
) -> None:
    _hold_lock(cli_target, "ci-runner-7 pid 4242", now=time.time(), ttl=600)
    blocked = cli_target.invoke("apply", str(manifests), "--auto-approve")
    assert blocked.exit_code == 1
    assert re.fullmatch(
        f"error: the apply lock on {re.escape(target_name(cli_target))} is held by "
        r"ci-runner-7 pid 4242 until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ; wait for that apply to "
        r"finish, or retry after the lease expires\n",
        blocked.stderr,
    ), blocked.stderr
    assert cli_target.invoke("plan", str(manifests), "--detailed-exitcode").exit_code == 2
    assert len(_lock_policies(cli_target)) == 1  # the holder's lock is left alone

    with cli_target.store() as store:  # the holder was killed; its lease ran out an hour ago
        call(store, "DELETE", f"/api/portal/policies/{_lock_policies(cli_target)[0]['_id']}")
    _hold_lock(cli_target, "ci-runner-7 pid 4242", now=time.time() - 3600, ttl=60)
    taken = cli_target.invoke("apply", str(manifests), "--auto-approve")
    assert taken.exit_code == 0, taken.output
    assert taken.stdout.endswith(f"Apply: {TOTAL} done, 0 failed, 0 skipped.\n")
    assert _lock_policies(cli_target) == []  # released after the apply
