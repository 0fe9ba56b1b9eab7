"""The environment a GitHub Actions step runs in, read as GitHub documents it.

Variables: "Store information in variables", default environment variables
(https://docs.github.com/en/actions/reference/workflows-and-actions/variables):
GITHUB_API_URL, GITHUB_REPOSITORY (``owner/name``), GITHUB_EVENT_NAME, GITHUB_EVENT_PATH (the
webhook payload as JSON), GITHUB_SERVER_URL, GITHUB_RUN_ID, GITHUB_SHA, GITHUB_STEP_SUMMARY and
GITHUB_OUTPUT (files a step appends to). The token is not among them: a workflow passes it to a
step explicitly, as GITHUB_TOKEN.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portal_gitops.errors import PortalGitopsError


class GitHubError(PortalGitopsError):
    """A GitHub call failed, or the run's environment is not what the command needs."""

    def __init__(self, message: str, *, status: int = 0):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class PullRequest:
    """The fields of a ``pull_request`` webhook payload the workflows use ("Webhook events
    and payloads", pull_request: ``number``, ``head.sha``, ``head.ref``, ``head.repo``,
    ``base.repo``, ``merged``, ``body``, ``user.login``: who opened it)."""

    number: int
    head_sha: str
    head_ref: str
    fork: bool
    merged: bool
    body: str
    author: str = ""

    @classmethod
    def from_payload(cls, pr: Mapping[str, Any]) -> PullRequest:
        head, base = pr.get("head") or {}, pr.get("base") or {}
        head_repo = (head.get("repo") or {}).get("full_name")
        base_repo = (base.get("repo") or {}).get("full_name")
        return cls(
            number=int(pr["number"]),
            head_sha=str(head.get("sha", "")),
            head_ref=str(head.get("ref", "")),
            # a fork's head repository differs from the base's; it is null once the fork is
            # deleted: both count as a fork (untrusted, no secrets, read-only token)
            fork=head_repo is None or head_repo != base_repo,
            merged=bool(pr.get("merged")),
            body=str(pr.get("body") or ""),
            author=str((pr.get("user") or {}).get("login") or ""),
        )


@dataclass(frozen=True)
class Run:
    environ: Mapping[str, str]
    event_name: str
    event: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Run:
        path = environ.get("GITHUB_EVENT_PATH")
        event: Mapping[str, Any] = {}
        if path:
            try:
                event = json.loads(Path(path).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise GitHubError(f"cannot read the event payload {path}: {exc}") from None
            if not isinstance(event, dict):
                raise GitHubError(f"cannot read the event payload {path}: it is not a JSON object")
        return cls(environ, environ.get("GITHUB_EVENT_NAME", ""), event)

    def need(self, name: str) -> str:
        value = self.environ.get(name, "")
        if not value:
            raise GitHubError(f"{name} is not set: run this inside GitHub Actions")
        return value

    @property
    def api_url(self) -> str:
        return self.environ.get("GITHUB_API_URL") or "https://api.github.com"

    @property
    def repository(self) -> str:
        return self.need("GITHUB_REPOSITORY")

    @property
    def token(self) -> str:
        return self.environ.get("GITHUB_TOKEN", "")

    @property
    def pull_request(self) -> PullRequest | None:
        pr = self.event.get("pull_request")
        return PullRequest.from_payload(pr) if isinstance(pr, Mapping) else None

    @property
    def run_url(self) -> str:
        server = self.environ.get("GITHUB_SERVER_URL") or "https://github.com"
        run_id = self.environ.get("GITHUB_RUN_ID", "")
        return f"{server}/{self.repository}/actions/runs/{run_id}" if run_id else ""

    def inputs(self) -> Mapping[str, Any]:
        """workflow_dispatch inputs, from the payload (``inputs``)."""
        inputs = self.event.get("inputs")
        return inputs if isinstance(inputs, Mapping) else {}

    def summary(self, text: str) -> None:
        """Append to the job summary; GitHub shows up to 1 MiB per step ("Adding a job
        summary", workflow commands), so a longer text is cut with a note."""
        path = self.environ.get("GITHUB_STEP_SUMMARY")
        if not path:
            return
        limit = 1024 * 1024 - 200
        data = text.encode("utf-8")
        if len(data) > limit:
            text = data[:limit].decode("utf-8", "ignore") + "\n\n(cut at the 1 MiB summary limit)\n"
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text + "\n")

    def output(self, name: str, value: str) -> None:
        """A step output (``name=value`` lines appended to GITHUB_OUTPUT)."""
        path = self.environ.get("GITHUB_OUTPUT")
        if path and "\n" not in value:
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(f"{name}={value}\n")
