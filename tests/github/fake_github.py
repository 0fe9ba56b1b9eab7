"""A small fake of GitHub's REST API on loopback, recording every request.

It serves the endpoints the workflows' commands call, with the shapes and status codes
GitHub documents (https://docs.github.com/en/rest): issue comments (list, paginated with a
``Link`` header; create; update; 422 past 65,536 characters), pull requests (create, list by
head, requested reviewers, pulls of a commit), the repository (``default_branch``) and
artifacts (list by name; download answers 302 to a zip archive on another origin). A token
marked read-only gets 403 on every write, as a fork pull request's GITHUB_TOKEN does.
"""

from __future__ import annotations

import io
import json
import re
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

COMMENT_LIMIT = 65_536
PAGE = 2  # small pages, so that pagination is exercised


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    authorization: str
    body: Any


@dataclass
class FakeGitHub:
    repo: str = "acme/portal-config"
    default_branch: str = "trunk"
    token: str = "ghs_test_token"
    # who the token belongs to: a GitHub App's installation token acts as "<app-slug>[bot]"
    login: str = "portal-requests[bot]"
    read_only_tokens: set[str] = field(default_factory=set)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    pulls: list[dict[str, Any]] = field(default_factory=list)
    commit_pulls: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    archives: dict[int, bytes] = field(default_factory=dict)
    reviewers: dict[int, dict[str, list[str]]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    url: str = ""
    storage: str = ""
    _next_id: int = 1000

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def add_artifact(self, name: str, files: dict[str, bytes], created: str = "2026-01-01") -> None:
        buf = io.BytesIO()
        # GitHub's artifact archives are deflated zip files
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
            for member, data in files.items():
                archive.writestr(member, data)
        aid = self.new_id()
        self.artifacts.append({"id": aid, "name": name, "expired": False, "created_at": created})
        self.archives[aid] = buf.getvalue()

    def bodies(self, number: int) -> list[str]:
        return [c["body"] for c in self.comments.get(number, [])]

    def writes(self) -> list[Recorded]:
        return [r for r in self.requests if r.method != "GET"]


def _handler(gh: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    repo = re.escape(gh.repo)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _reply(
            self, status: int, body: Any = None, headers: dict[str, str] | None = None
        ) -> None:
            data = (
                b""
                if body is None
                else (body if isinstance(body, bytes) else json.dumps(body).encode())
            )
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            if not isinstance(body, bytes):
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _list(self, items: list[Any], path: str, query: dict[str, list[str]]) -> None:
            page = int(query.get("page", ["1"])[0])
            size = min(int(query.get("per_page", ["30"])[0]), PAGE)
            chunk = items[(page - 1) * size : page * size]
            headers = {}
            if page * size < len(items):
                headers["Link"] = f'<{gh.url}{path}?per_page={size}&page={page + 1}>; rel="next"'
            self._reply(200, chunk, headers)

        def _handle(self, method: str) -> None:
            split = urlsplit(self.path)
            path, query = split.path, parse_qs(split.query)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            auth = self.headers.get("Authorization", "")
            gh.requests.append(Recorded(method, path, query, auth, body))
            if path.startswith("/blob/"):  # the artifact storage: another origin in reality
                if auth:
                    return self._reply(400, {"message": "storage refuses Authorization headers"})
                return self._reply(200, gh.archives[int(path.rsplit("/", 1)[1])])
            token = auth.removeprefix("Bearer ")
            if token != gh.token and token not in gh.read_only_tokens:
                return self._reply(401, {"message": "Bad credentials"})
            if method != "GET" and token in gh.read_only_tokens:
                return self._reply(403, {"message": "Resource not accessible by integration"})
            if self.headers.get("X-GitHub-Api-Version") != "2022-11-28":
                return self._reply(400, {"message": "missing API version"})
            self._route(method, path, query, body)

        def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> None:
            if m := re.fullmatch(rf"/repos/{repo}", path):
                return self._reply(200, {"full_name": gh.repo, "default_branch": gh.default_branch})
            if m := re.fullmatch(rf"/repos/{repo}/issues/(\d+)/comments", path):
                number = int(m.group(1))
                if method == "GET":
                    return self._list(gh.comments.get(number, []), path, query)
                if len(body["body"]) > COMMENT_LIMIT:
                    return self._reply(
                        422,
                        {
                            "message": "Validation Failed",
                            "errors": [
                                {"message": "body is too long (maximum is 65536 characters)"}
                            ],
                        },
                    )
                c = {"id": gh.new_id(), "body": body["body"]}
                gh.comments.setdefault(number, []).append(c)
                return self._reply(201, c)
            if m := re.fullmatch(rf"/repos/{repo}/issues/comments/(\d+)", path):
                cid = int(m.group(1))
                for cs in gh.comments.values():
                    for c in cs:
                        if c["id"] == cid:
                            if len(body["body"]) > COMMENT_LIMIT:
                                return self._reply(422, {"message": "Validation Failed"})
                            c["body"] = body["body"]
                            return self._reply(200, c)
                return self._reply(404, {"message": "Not Found"})
            if re.fullmatch(rf"/repos/{repo}/pulls", path):
                if method == "GET":
                    head = query.get("head", [""])[0]
                    found = [
                        p for p in gh.pulls if f"{gh.repo.split('/')[0]}:{p['head']['ref']}" == head
                    ]
                    return self._list(found, path, query)
                number = len(gh.pulls) + 1
                pr = {
                    "number": number,
                    "head": {"ref": body["head"]},
                    "base": {"ref": body["base"]},
                    "title": body["title"],
                    "body": body["body"],
                    "state": "open",
                    "user": {"login": gh.login, "type": "Bot"},
                    "html_url": f"https://github.example/{gh.repo}/pull/{number}",
                }
                gh.pulls.append(pr)
                return self._reply(201, pr)
            if m := re.fullmatch(rf"/repos/{repo}/pulls/(\d+)/requested_reviewers", path):
                gh.reviewers[int(m.group(1))] = body
                return self._reply(201, {"number": int(m.group(1))})
            if m := re.fullmatch(rf"/repos/{repo}/commits/(\w+)/pulls", path):
                return self._list(gh.commit_pulls.get(m.group(1), []), path, query)
            if re.fullmatch(rf"/repos/{repo}/actions/artifacts", path):
                name = query.get("name", [None])[0]
                found = [a for a in gh.artifacts if name is None or a["name"] == name]
                return self._reply(200, {"total_count": len(found), "artifacts": found})
            if m := re.fullmatch(rf"/repos/{repo}/actions/artifacts/(\d+)/zip", path):
                return self._reply(302, b"", {"Location": f"{gh.storage}/blob/{m.group(1)}"})
            return self._reply(404, {"message": "Not Found", "path": path})

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PATCH(self) -> None:
            self._handle("PATCH")

    return Handler


@contextmanager
def running(gh: FakeGitHub) -> Iterator[FakeGitHub]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(gh))
    port = server.server_address[1]
    gh.url = f"http://127.0.0.1:{port}"
    # the storage the download redirects to: same server, another origin (localhost vs IP)
    gh.storage = f"http://localhost:{port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield gh
    finally:
        server.shutdown()
        server.server_close()
