"""portal-plan: one plan comment per pull request, replaced on every run (success or
failure), annotations for problems, forks validated only, never an empty-store plan."""

from __future__ import annotations

import json
import re

from portal_gitops.plan import loads
from tests.github.conftest import World

HOSTILE_APP = "Tracker` @octocat [win](mailto:x@evil.example) ![x](x.png) <b>hi"


def _plan_step(world: World, head: str, *extra: str, **kw: object) -> object:
    return world.run(
        world.event("pull_request", world.pr_payload(7, head)),
        "github",
        "plan",
        "manifests",
        "--prune",
        "--out",
        "plan.json",
        *extra,
        **kw,  # type: ignore[arg-type]
    )


def test_one_comment_updated_in_place_and_replaced_on_failure(world: World) -> None:
    req = world.manifests / "requests" / "geocoding-api" / "initech-store-locator.yaml"
    req.write_text(req.read_text().replace("app: Store Locator", f"app: {json.dumps(HOSTILE_APP)}"))
    app = world.manifests / "apps" / "initech.yaml"
    app.write_text(
        app.read_text().replace("name: Store Locator", f"name: {json.dumps(HOSTILE_APP)}")
    )
    head = world.commit("request with a hostile app name")

    first = _plan_step(world, head)
    assert first.exit_code == 0, first.output  # type: ignore[attr-defined]
    (body,) = world.gh.bodies(7)
    assert body.startswith("<!-- portal-gitops-plan -->\n### portal-gitops plan")
    assert "Plan: 48 to create" in body and "GRANT" in body
    assert "actions/runs/4242" in body  # links the run holding the full plan
    # consumer-typed text stays inside a code span: no ping, no link, no image
    assert f"``{HOSTILE_APP}``" in body
    assert "@octocat" not in re.sub(r"``.*?``", "", body)
    saved = loads((world.work / "plan.json").read_text())
    assert len(saved.actions) == 48
    assert "Plan: 48 to create" in world.summary.read_text()
    assert "changes=true" in world.output.read_text()

    # break a manifest: the same comment now says the plan failed, with the problem
    text = req.read_text()
    req.write_text(text.replace("plan: free", "plan: premium"))
    line = next(i for i, t in enumerate(req.read_text().splitlines(), 1) if "plan: premium" in t)
    failed = _plan_step(world, world.commit("wrong plan"))
    assert failed.exit_code == 1
    (body,) = world.gh.bodies(7)
    assert "portal-gitops plan: failed" in body and "Plan: 44" not in body
    assert "does not offer Plan 'premium'" in body
    rel = "manifests/requests/geocoding-api/initech-store-locator.yaml"
    assert (
        f"::error file={rel},line={line},title=AccessRequest/initech-store-locator::"
        "spec.plan: Catalogue 'public' does not offer Plan 'premium'"
    ) in failed.stdout.splitlines()  # type: ignore[attr-defined]

    # the portal cannot be reached: the comment says the plan failed (no stale plan stays up)
    req.write_text(text)
    head = world.commit("fixed")
    down = world.run(
        world.event("pull_request", world.pr_payload(7, head)),
        "github",
        "plan",
        "manifests",
        "--portal-url",
        "http://127.0.0.1:9",
    )
    assert down.exit_code == 1
    (body,) = world.gh.bodies(7)
    assert "The plan failed." in body

    again = _plan_step(world, head)
    assert again.exit_code == 0, again.output  # type: ignore[attr-defined]
    (body,) = world.gh.bodies(7)  # still one comment, the plan again
    assert "Plan: 48 to create" in body
    assert [r.method for r in world.gh.writes()] == ["POST", "PATCH", "PATCH", "PATCH"]


def test_fork_pull_requests_are_validated_with_a_notice_never_planned(world: World) -> None:
    head = world.commit("from a fork")
    world.gh.read_only_tokens.add("ghs_read_only")
    for fork in (True, "deleted"):
        result = world.run(
            world.event("pull_request", world.pr_payload(9, head, fork=fork)),
            "github",
            "plan",
            "manifests",
            "--prune",
            secrets=False,  # GitHub passes a fork's run no secrets ...
            token="ghs_read_only",  # ... and a read-only token
        )
        assert result.exit_code == 0, result.output
        assert "::notice title=portal-gitops::No portal credentials on fork pull requests" in (
            result.stdout
        )
        assert "will be created" not in result.output
    assert world.gh.writes() == []  # the read-only token is never used to write
    summary = world.summary.read_text()
    assert "No portal credentials on fork pull requests" in summary
    assert "Manifests valid." in summary
    assert not (world.work / "plan.json").exists()
    assert not (world.work / ".portal-gitops").exists()  # no embedded store was opened


def test_without_portal_credentials_a_same_repository_pr_gets_no_empty_store_plan(
    world: World,
) -> None:
    result = world.run(
        world.event("pull_request", world.pr_payload(3, world.commit("x"))),
        "github",
        "plan",
        "manifests",
        secrets=False,
    )
    assert result.exit_code == 0, result.output  # valid manifests; said, not failed
    assert "::notice title=portal-gitops::No portal credentials in this run" in result.stdout
    (body,) = world.gh.bodies(3)
    assert "No portal credentials in this run" in body and "will be created" not in body
    assert "The manifests are valid." in body
    assert not (world.work / ".portal-gitops").exists()


def test_plan_warns_in_the_pr_when_the_merge_would_exceed_the_deletion_budget(
    world: World,
) -> None:
    applied = world.run({}, "apply", "manifests", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    for f in (world.manifests / "requests").rglob("*.yaml"):
        f.unlink()
    result = _plan_step(world, world.commit("revoke everything"), "--max-deletes", "2")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    (body,) = world.gh.bodies(7)
    assert "more than the deletion budget (--max-deletes 2)" in body
    # all seven deletions are listed: six approved requests revoked (their credentials named
    # first), the rejected one withdrawn (it holds no credential); the apps stay declared
    assert "6 credentials revoked, 0 reissued" in body
    assert body.count("\n- REVOKE credential of ") == 6
    assert body.count("\n- REVOKE `") == 6 and body.count("\n- WITHDRAW `") == 1
    assert "::warning title=portal-gitops::warning: this plan deletes 7" in result.stdout  # type: ignore[attr-defined]
