"""The GitHub REST endpoints the workflows use, over httpx (synchronous: a handful of calls).

Each method names the documented endpoint it calls (https://docs.github.com/en/rest). Errors
become GitHubError with GitHub's own message; the token never appears in one.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import httpx

from portal_gitops.commands import MAX_PLAN_BYTES
from portal_gitops.github.context import GitHubError

API_VERSION = "2022-11-28"  # "API Versions": sent as X-GitHub-Api-Version
# The plan artifact comes from the pull request's own run, which the branch controls: its
# archive, and the plan file read from it, are held only up to a plan file's limit
MAX_ARTIFACT_BYTES = MAX_PLAN_BYTES


class GitHubApi:
    def __init__(self, api_url: str, repository: str, token: str, *, timeout: float = 30.0):
        if not token:
            raise GitHubError("GITHUB_TOKEN is not set: pass the job's token to this step")
        self.repo = repository
        self.http = httpx.Client(
            base_url=api_url.rstrip("/"),
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": "portal-gitops",
            },
            timeout=timeout,
            # the artifact download answers 302 to a storage URL; httpx drops the
            # Authorization header when a redirect leaves the API's origin
            follow_redirects=True,
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> GitHubApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            resp = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise GitHubError(f"GitHub {method} {path}: {type(exc).__name__}: {exc}") from None
        if resp.status_code >= 400:
            try:
                message = resp.json().get("message", "")
            except ValueError:
                message = resp.text[:200]
            hint = ""
            if resp.status_code == 403:
                hint = " (the token lacks a permission, or is a fork pull request's read-only one)"
            raise GitHubError(
                f"GitHub {method} {path}: {resp.status_code} {message}{hint}",
                status=resp.status_code,
            )
        return resp

    def _pages(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[Any]:
        """Every item of a paginated list ("Using pagination in the REST API": follow the
        ``Link`` header's ``rel="next"``)."""
        url: str | None = path
        query: Mapping[str, Any] | None = {"per_page": 100, **(params or {})}
        while url:
            resp = self._call("GET", url, params=query)
            yield from resp.json()
            url = resp.links.get("next", {}).get("url")
            query = None  # the next link carries its own query

    # --- repository and pull requests ----------------------------------------------------

    def default_branch(self) -> str:
        """ "Get a repository": ``default_branch`` (the payload of a ``schedule`` run carries no
        repository object, so ``github.event.repository.default_branch`` is empty there)."""
        branch = str(self._call("GET", f"/repos/{self.repo}").json().get("default_branch") or "")
        if not branch:
            raise GitHubError(f"GitHub did not say which branch of {self.repo} is the default")
        return branch

    def open_pulls(self, head_branch: str) -> list[dict[str, Any]]:
        """ "List pull requests", filtered by ``head=owner:branch``."""
        owner = self.repo.split("/")[0]
        return list(self._pages(f"/repos/{self.repo}/pulls", {"head": f"{owner}:{head_branch}"}))

    def create_pull(self, head: str, base: str, title: str, body: str) -> dict[str, Any]:
        """ "Create a pull request"."""
        data = {"head": head, "base": base, "title": title, "body": body}
        result: dict[str, Any] = self._call("POST", f"/repos/{self.repo}/pulls", json=data).json()
        return result

    def request_reviewers(self, number: int, users: Sequence[str], teams: Sequence[str]) -> None:
        """ "Request reviewers for a pull request" (team slugs without the organisation)."""
        self._call(
            "POST",
            f"/repos/{self.repo}/pulls/{number}/requested_reviewers",
            json={"reviewers": list(users), "team_reviewers": list(teams)},
        )

    def pulls_for_commit(self, sha: str) -> list[dict[str, Any]]:
        """ "List pull requests associated with a commit" (the merged one for a merge)."""
        return list(self._pages(f"/repos/{self.repo}/commits/{sha}/pulls"))

    # --- issue comments -------------------------------------------------------------------

    def comments(self, number: int) -> list[dict[str, Any]]:
        """ "List issue comments" (a pull request is an issue for comments)."""
        return list(self._pages(f"/repos/{self.repo}/issues/{number}/comments"))

    def upsert_comment(self, number: int, marker: str, body: str) -> str:
        """Update the one comment starting with ``marker``, or create it ("Update an issue
        comment", "Create an issue comment"). Returns "updated" or "created"."""
        mine = [c for c in self.comments(number) if str(c.get("body") or "").startswith(marker)]
        if mine:
            self._call(
                "PATCH", f"/repos/{self.repo}/issues/comments/{mine[0]['id']}", json={"body": body}
            )
            return "updated"
        self._call("POST", f"/repos/{self.repo}/issues/{number}/comments", json={"body": body})
        return "created"

    def comment(self, number: int, body: str) -> None:
        self._call("POST", f"/repos/{self.repo}/issues/{number}/comments", json={"body": body})

    # --- artifacts ------------------------------------------------------------------------

    def artifact_file(
        self, name: str, member: str, *, max_bytes: int = MAX_ARTIFACT_BYTES
    ) -> bytes | None:
        """One file of the newest unexpired artifact called ``name`` ("List artifacts for a
        repository" with ``name``, then "Download an artifact": a 302 to a zip archive). The
        archive and the file are read up to ``max_bytes`` each, never further."""
        found = self._call(
            "GET", f"/repos/{self.repo}/actions/artifacts", params={"name": name, "per_page": 100}
        ).json()
        live = [a for a in found.get("artifacts", []) if not a.get("expired")]
        if not live:
            return None
        newest = max(live, key=lambda a: str(a.get("created_at") or ""))
        path = f"/repos/{self.repo}/actions/artifacts/{newest['id']}/zip"
        too_big = f"artifact {name} is larger than {max_bytes >> 20} MiB; refused"
        archive_bytes = self._download(path, max_bytes, too_big)
        try:
            with zipfile.ZipFile(io.BytesIO(archive_bytes)) as archive:
                # the size the archive declares, then what inflating really gives: a header
                # that lies cannot make the read go further than the limit
                if archive.getinfo(member).file_size > max_bytes:
                    raise GitHubError(too_big)
                with archive.open(member) as f:
                    data = f.read(max_bytes + 1)
        except (zipfile.BadZipFile, KeyError, OSError) as exc:
            raise GitHubError(f"artifact {name} has no readable {member}: {exc}") from None
        if len(data) > max_bytes:
            raise GitHubError(too_big)
        return data

    def _download(self, path: str, max_bytes: int, too_big: str) -> bytes:
        chunks: list[bytes] = []
        size = 0
        try:
            with self.http.stream("GET", path) as resp:
                if resp.status_code >= 400:
                    raise GitHubError(
                        f"GitHub GET {path}: {resp.status_code}", status=resp.status_code
                    )
                for chunk in resp.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise GitHubError(too_big)
                    chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise GitHubError(f"GitHub GET {path}: {type(exc).__name__}: {exc}") from None
        return b"".join(chunks)
