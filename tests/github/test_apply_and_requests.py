"""portal-apply and portal-requests-pull: the reviewed plan applied on merge (refused when
stale, then re-planned and said on the pull request), the manual apply with a deletion
budget or force, expiries on a schedule without a merge, one pull request per Live Portal
request from the real default branch with CODEOWNERS reviewers, and a pull request closed
unmerged rejecting its request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.github.conftest import REPO, World, git
from tests.requests.test_access_requests import consumer_requests_access, request_status


def _planned(world: World, number: int, *extra: str) -> str:
    """A pull request's commit planned by portal-plan (plan.json written): its head sha."""
    head = world.commit(f"change of #{number}")
    planned = world.run(
        world.event("pull_request", world.pr_payload(number, head)),
        "github",
        "plan",
        "manifests",
        "--prune",
        "--out",
        "plan.json",
        *extra,
    )
    assert planned.exit_code == 0, planned.output
    return head


def _reviewed(world: World, number: int, *extra: str) -> tuple[str, str]:
    """A pull request planned by portal-plan (artifact uploaded), then merged: returns
    (head sha, merge sha) and registers the merge as GitHub would."""
    head = _planned(world, number, *extra)
    world.gh.add_artifact(
        f"portal-plan-{head}", {"plan.json": (world.work / "plan.json").read_bytes()}
    )
    merge = world.commit(f"Merge pull request #{number}")
    world.gh.commit_pulls[merge] = [
        {"number": number, "merged_at": "2026-01-02T00:00:00Z", "head": {"sha": head}}
    ]
    return head, merge


def _push(world: World, sha: str) -> dict[str, str]:
    return world.event(
        "push",
        {
            "ref": "refs/heads/trunk",
            "before": "0" * 40,
            "after": sha,
            "repository": {"full_name": REPO, "default_branch": "trunk"},
        },
    )


def _organisations(world: World) -> list[str]:
    from tests.requests.test_access_requests import call

    return sorted(o["Name"] for o in call(world.direct, "GET", "/portal-api/organisations"))


def test_merge_applies_the_reviewed_plan(world: World) -> None:
    _, merge = _reviewed(world, 1)
    applied = world.run(_push(world, merge), "github", "apply", "manifests")
    assert applied.exit_code == 0, applied.output
    assert "Reviewed plan of #1:" in applied.stdout
    assert world.gh.bodies(1)[-1].startswith("**portal-gitops:** Reviewed plan of #1:")
    assert world.run({}, "plan", "manifests", "--detailed-exitcode").exit_code == 0
    # the artifact came from storage without the API token (another origin)
    blob = [r for r in world.gh.requests if r.path.startswith("/blob/")]
    assert blob and blob[0].authorization == ""


def test_a_stale_reviewed_plan_is_refused_replanned_and_said(world: World) -> None:
    _, merge = _reviewed(world, 2)
    # someone changed the portal after the review: an organisation the plan creates exists
    from tests.requests.test_access_requests import call

    call(world.direct, "POST", "/portal-api/organisations", {"Name": "Made By Hand"})
    org = world.manifests / "organisations"
    (org / "hand.yaml").write_text(
        "apiVersion: portal-gitops/v1\nkind: Organisation\nmetadata:\n  name: Late Edit\nspec: {}\n"
    )
    merge = world.commit("main moved on after the review")
    world.gh.commit_pulls[merge] = world.gh.commit_pulls.pop(next(iter(world.gh.commit_pulls)))
    refused = world.run(_push(world, merge), "github", "apply", "manifests")
    assert refused.exit_code == 1
    assert "::error title=portal-gitops::reviewed plan of #2 not applied" in refused.stdout
    body = world.gh.bodies(2)[-1]
    assert "did not apply the reviewed plan: it is stale" in body
    assert "Organisation/Late Edit" in body  # the new plan, to review
    assert _organisations(world) == ["Default Organisation", "Made By Hand"]  # none applied


def test_a_push_that_is_no_pull_request_merge_applies_nothing(world: World) -> None:
    sha = world.commit("pushed straight to trunk")
    before = _organisations(world)
    result = world.run(_push(world, sha), "github", "apply", "manifests")
    assert result.exit_code == 1
    assert "no reviewed plan" in result.stdout
    assert _organisations(world) == before


def test_apply_without_portal_credentials_applies_nothing_and_says_so(world: World) -> None:
    sha = world.commit("merged")
    result = world.run(_push(world, sha), "github", "apply", "manifests", secrets=False)
    assert result.exit_code == 0, result.output
    assert "No portal credentials in this run" in result.stdout
    assert not (world.work / ".portal-gitops").exists()  # no embedded store either


def test_budget_refusal_on_merge_and_the_manual_override(world: World) -> None:
    assert world.run({}, "apply", "manifests", "--auto-approve").exit_code == 0
    for f in (world.manifests / "requests").rglob("*.yaml"):
        f.unlink()
    _, merge = _reviewed(world, 4, "--max-deletes", "2")
    refused = world.run(_push(world, merge), "github", "apply", "manifests", "--max-deletes", "2")
    assert refused.exit_code == 1
    assert "over the deletion budget" in world.gh.bodies(4)[-1]

    def dispatch(**inputs: Any) -> Any:
        event = world.event(
            "workflow_dispatch",
            {"inputs": inputs, "ref": "refs/heads/trunk", "repository": {"full_name": REPO}},
        )
        return world.run(event, "github", "apply", "manifests", "--max-deletes", "2")

    assert dispatch(**{"max-deletes": "3", "force": False}).exit_code == 1  # still over
    done = dispatch(**{"max-deletes": "2", "force": True})
    assert done.exit_code == 0, done.output
    assert "Manual apply:" in done.stdout
    assert world.run({}, "plan", "manifests", "--prune", "--detailed-exitcode").exit_code == 0


def test_expiry_is_enforced_on_a_schedule_without_a_merge(world: World) -> None:
    req = world.manifests / "requests" / "geocoding-api" / "initech-store-locator.yaml"
    req.write_text(req.read_text() + "  expires: 2999-01-01\n")
    assert world.run({}, "apply", "manifests", "--auto-approve").exit_code == 0
    # time passes (the date is now behind us); an unrelated edit sits unmerged in the tree
    req.write_text(req.read_text().replace("2999-01-01", "2001-01-01"))
    (world.manifests / "organisations" / "unmerged.yaml").write_text(
        "apiVersion: portal-gitops/v1\nkind: Organisation\nmetadata:\n  name: Unmerged\nspec: {}\n"
    )
    drift = world.run({}, "drift", "manifests")
    assert "expired access request(s) wait for the next apply" in drift.stderr
    result = world.run(
        world.event("schedule", {"schedule": "17 * * * *"}), "github", "apply", "manifests"
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Expiries: ")
    after = world.run({}, "plan", "manifests")
    assert "AccessRequest/initech-store-locator" not in after.stdout  # revoked
    assert "Organisation/Unmerged will be created" in after.stdout  # not applied
    assert world.gh.requests == []  # the expiry run needs nothing from GitHub


def _pending(
    world: World, app: str = "Stapler Tracker", catalogue: str = "public", plan: str = "basic"
) -> int:
    assert world.run({}, "apply", "manifests", "--auto-approve").exit_code == 0
    return consumer_requests_access(
        world.direct, "milton@initech.example", app, ["weather-api"], plan, catalogue
    )


def test_requests_pull_opens_one_pr_per_request_from_the_real_default_branch(world: World) -> None:
    rid = _pending(world)
    schedule = world.event("schedule", {"schedule": "*/15 * * * *"})  # no repository in it
    token = "ghs_app_installation_token"
    world.gh.token = token
    opened = world.run(
        schedule,
        "github",
        "open-request-prs",
        "manifests",
        "--out",
        "manifests/requests",
        token=token,
    )
    assert opened.exit_code == 0, opened.output
    (pr,) = world.gh.pulls
    assert pr["base"]["ref"] == "trunk"  # asked GitHub, not the (absent) payload field
    assert f"<!-- portal-gitops/request-id: {rid} -->" in pr["body"]
    branch = pr["head"]["ref"]
    assert branch.startswith("access-request/milton-stapler-tracker-")
    # the branch is on the remote, one commit on top of trunk, adding the request file only
    files = git(world.work, "diff", "--name-only", "origin/trunk", f"origin/{branch}")
    git(world.work, "fetch", "--quiet", "origin", f"{branch}:refs/remotes/origin/{branch}")
    files = git(world.work, "diff", "--name-only", "origin/trunk", f"origin/{branch}")
    assert files == f"manifests/requests/weather-api/{branch.split('/', 1)[1]}.yaml"
    assert world.gh.reviewers[1] == {
        "reviewers": ["rosa-weatherco"],  # the API owner (AdminUser rosa) by GitHub handle
        "team_reviewers": ["api-platform", "forecasting"],
    }
    assert all(r.authorization == f"Bearer {token}" for r in world.gh.requests)
    # the next run finds the branch and opens nothing twice
    again = world.run(
        schedule,
        "github",
        "open-request-prs",
        "manifests",
        "--out",
        "manifests/requests",
        token=token,
    )
    assert again.exit_code == 0, again.output
    assert len(world.gh.pulls) == 1

    # closing it unmerged rejects the request in the portal
    closed = world.pr_payload(
        1, "f" * 40, action="closed", ref=branch, body=pr["body"], state="closed", user=pr["user"]
    )
    rejected = world.run(
        world.event("pull_request", closed),
        "github",
        "close-rejects",
        "manifests",
        token=token,
        opener="portal-requests[bot]",
    )
    assert rejected.exit_code == 0, rejected.output
    assert request_status(world.direct, rid) == "rejected"
    assert "rejected in the portal" in world.gh.bodies(1)[-1]


def test_a_merged_or_foreign_closed_pr_rejects_nothing(world: World) -> None:
    rid = _pending(world)
    body = f"<!-- portal-gitops/request-id: {rid} -->"
    bot = {"login": "portal-requests[bot]", "type": "Bot"}
    branch = f"access-request/milton-stapler-tracker-{rid}"
    for kw in (
        {"merged": True, "ref": branch, "user": bot},
        {"ref": "feature", "user": bot},
        {"ref": branch, "fork": True, "user": bot},
        # anyone who can push a branch can open a pull request shaped like a request's,
        # carrying another consumer's request id, and close it: only the pull requests the
        # request puller opened are taken as requests
        {"ref": branch, "user": {"login": "mallory", "type": "User"}},
        {"ref": branch},
        # the puller's own pull request for another request, its body edited
        {"ref": "access-request/milton-stapler-tracker-999", "user": bot},
    ):
        fork = bool(kw.pop("fork", False))
        payload = world.pr_payload(5, "e" * 40, action="closed", body=body, fork=fork, **kw)
        result = world.run(
            world.event("pull_request", payload),
            "github",
            "close-rejects",
            "manifests",
            opener="portal-requests[bot]",
        )
        assert result.exit_code == 0, result.output
        assert "nothing to do" in result.stdout, kw
    # with no opener configured nothing is taken as a request, and the run says how to fix it
    payload = world.pr_payload(5, "e" * 40, action="closed", body=body, ref=branch, user=bot)
    result = world.run(world.event("pull_request", payload), "github", "close-rejects", "manifests")
    assert result.exit_code == 0, result.output
    assert "PORTAL_GITOPS_REQUEST_OPENER" in result.stdout and "still pending" in result.stdout
    assert request_status(world.direct, rid) == "pending"


def test_a_pulled_request_that_would_not_validate_is_reported_and_skipped(world: World) -> None:
    # only the partner catalogue offers premium, and milton is not a partner: no catalogue
    # the manifest could name validates (provisioning names none; the portal records one)
    rid = _pending(world, app="Wrong Catalogue", catalogue="partner", plan="premium")
    result = world.run(
        world.event("schedule", {}),
        "github",
        "open-request-prs",
        "manifests",
        "--out",
        "manifests/requests",
    )
    assert result.exit_code == 0, result.output
    assert world.gh.pulls == []
    assert (
        f"::warning title=portal-gitops::request {rid} (milton@initech.example) skipped"
        in result.stdout
    )
    assert "skipped: its manifest does not validate" in world.summary.read_text()
    assert not list(Path(world.manifests / "requests").rglob("milton-*"))


def test_a_forged_plan_artifact_is_not_applied_on_merge(world: World) -> None:
    """The artifact comes from the pull request's run, which runs the branch's version of the
    workflow: whoever can push a branch controls it. A plan whose ``paths`` name no folder
    escaped the check that it is what main's manifests plan; apply on merge plans the
    workflow's own manifests again and requires the same changes."""
    import json

    from portal_gitops.plan import actions_digest

    _, merge = _reviewed(world, 6)  # the estate applied: the portal knows its Dashboard
    assert world.run(_push(world, merge), "github", "apply", "manifests").exit_code == 0
    head = _planned(world, 7)
    forged = json.loads((world.work / "plan.json").read_text())
    assert forged["changes"] == []  # the branch changes nothing: the review sees no change
    forged["changes"] = [
        {
            "op": "create",
            "kind": "Organisation",
            "key": "Planted By The Branch",
            "live_id": "",
            "reason": "",
            "deferred": False,
            "attrs": {},
            "fields": [],
        }
    ]
    forged["paths"] = ["no-such-folder"]
    forged["actions_digest"] = actions_digest(forged)
    world.gh.add_artifact(f"portal-plan-{head}", {"plan.json": json.dumps(forged).encode()})
    merge = world.commit("Merge pull request #7")
    world.gh.commit_pulls[merge] = [
        {"number": 7, "merged_at": "2026-01-02T00:00:00Z", "head": {"sha": head}}
    ]
    refused = world.run(_push(world, merge), "github", "apply", "manifests")
    assert refused.exit_code == 1, refused.output
    assert "reviewed plan of #7 not applied" in refused.stdout, refused.output
    body = world.gh.bodies(7)[-1]
    assert "the saved plan was made from no-such-folder, not from manifests" in body
    assert "Planted By The Branch" not in _organisations(world)
