"""The pure pieces of the GitHub side: annotations, CODEOWNERS matching, fork detection and
the job summary limit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from portal_gitops.errors import Issue
from portal_gitops.github.comment import COMMENT_LIMIT, annotate, failure_comment, plan_comment
from portal_gitops.github.context import GitHubError, PullRequest, Run
from portal_gitops.github.flows import _matches, codeowners_for


def test_annotations_escape_what_workflow_commands_reserve() -> None:
    issue = Issue("m/a,b:c.yaml", 3, "bad: 100%\nvalue", "Plan", "free", "spec.quota")
    (line,) = annotate([issue])
    assert line == (
        "::error file=m/a%2Cb%3Ac.yaml,line=3,title=Plan/free::spec.quota: bad: 100%25%0Avalue"
    )
    (warning,) = annotate([Issue("x.yaml", 0, "old", severity="warning")])
    assert warning == "::warning file=x.yaml,line=1,title=portal-gitops::old"


def test_comments_stay_within_githubs_limit() -> None:
    assert len(plan_comment("x" * 100_000)) <= COMMENT_LIMIT
    body = failure_comment("broken", [f"problem {i}" for i in range(1000)])
    assert "... and 800 more" in body and len(body) <= COMMENT_LIMIT


@pytest.mark.parametrize(
    ("pattern", "path", "hit"),
    [
        ("*", "manifests/requests/a.yaml", True),
        ("/manifests/requests/weather-api/", "manifests/requests/weather-api/x.yaml", True),
        ("/manifests/requests/weather-api/", "manifests/requests/weather/x.yaml", False),
        ("/manifests/plans.yaml", "manifests/plans.yaml", True),
        ("/manifests/plans.yaml", "other/manifests/plans.yaml", False),
        ("plans.yaml", "other/manifests/plans.yaml", True),
        ("manifests/*.yaml", "manifests/plans.yaml", True),
        ("manifests/*.yaml", "manifests/requests/x.yaml", False),
        ("/manifests/**/x.yaml", "manifests/requests/a/x.yaml", True),
        ("requests/", "manifests/requests/a/x.yaml", True),
    ],
)
def test_codeowners_patterns(pattern: str, path: str, hit: bool) -> None:
    assert _matches(pattern, path) is hit


def test_the_last_matching_codeowners_line_wins(tmp_path: Path) -> None:
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "CODEOWNERS").write_text(
        "# comment\n* @acme/everyone\n/manifests/requests/ @acme/api-platform @ada # inline\n"
        "/manifests/requests/\\ odd/ ops@acme.example\n"
    )
    assert codeowners_for(tmp_path, "manifests/requests/w/x.yaml") == (["ada"], ["api-platform"])
    assert codeowners_for(tmp_path, "README.md") == ([], ["everyone"])
    assert codeowners_for(tmp_path, "manifests/requests/ odd/x.yaml") == ([], [])  # e-mail


def _pr(head_repo: object) -> PullRequest:
    return PullRequest.from_payload(
        {
            "number": 1,
            "head": {"ref": "f", "sha": "a", "repo": head_repo},
            "base": {"repo": {"full_name": "acme/x"}},
        }
    )


def test_forks_are_told_apart_by_the_head_repository() -> None:
    assert not _pr({"full_name": "acme/x"}).fork
    assert _pr({"full_name": "mallory/x"}).fork
    assert _pr(None).fork  # the fork was deleted


def test_the_job_summary_is_cut_at_one_mebibyte(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    run = Run({"GITHUB_STEP_SUMMARY": str(summary)}, "push")
    run.summary("é" * 1_000_000)
    data = summary.read_bytes()
    assert len(data) <= 1024 * 1024 and data.decode().endswith(
        "(cut at the 1 MiB summary limit)\n\n"
    )


def test_an_event_payload_that_is_no_object_is_a_clear_error(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from portal_gitops.cli import main

    for text in ("[1]", '"text"', "null"):
        event = tmp_path / "event.json"
        event.write_text(text)
        env = {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(event)}
        result = CliRunner().invoke(main, ["github", "plan", str(tmp_path)], env=env)
        assert result.exit_code == 1
        assert result.stderr == (
            f"error: cannot read the event payload {event}: it is not a JSON object\n"
        ), result.stderr


def test_a_plan_artifact_is_read_within_bounds() -> None:
    """The plan artifact comes from the pull request's own run, which the branch controls:
    an oversized archive, or a small one that inflates to gigabytes, is refused with a clear
    error before it is held in memory, never read whole."""
    from portal_gitops.github.api import MAX_ARTIFACT_BYTES, GitHubApi
    from tests.github.fake_github import FakeGitHub, running

    limit = 1 << 20  # the same code path as the real limit, at a size a test can afford
    assert 64 * limit <= MAX_ARTIFACT_BYTES  # room for the plan of a large estate
    with running(FakeGitHub()) as gh, GitHubApi(gh.url, gh.repo, gh.token) as api:
        gh.add_artifact("ok", {"plan.json": b"{}"})
        assert api.artifact_file("ok", "plan.json", max_bytes=limit) == b"{}"
        # deflate turns a run of one byte into about a thousandth of its size
        gh.add_artifact("bomb", {"plan.json": b"0" * (limit * 50)})
        assert len(gh.archives[max(gh.archives)]) < limit // 10
        with pytest.raises(GitHubError, match="larger than"):
            api.artifact_file("bomb", "plan.json", max_bytes=limit)
        gh.add_artifact("big", {"plan.json": b"{}", "noise.bin": os.urandom(limit + 1)})
        with pytest.raises(GitHubError, match="larger than"):
            api.artifact_file("big", "plan.json", max_bytes=limit)
