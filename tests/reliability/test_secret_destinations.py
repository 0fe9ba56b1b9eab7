"""A pull request's manifests cannot choose where a secret goes or which file becomes one: the
Dashboards a secret is sent to are approved outside the manifests, and ``fromFile`` reads only
small regular files inside the repository. Each attack runs against a fake Dashboard that
records what reaches it."""

from __future__ import annotations

import http.server
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from portal_gitops import commands, credentials
from portal_gitops.cli import main
from portal_gitops.errors import SecretError
from tests.conftest import DASHBOARD_SECRET, PORTAL_TOKEN, CliTarget, copy_examples


@pytest.fixture
def fake_dashboard() -> Iterator[tuple[str, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(dict(self.headers))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"Data": [], "Pages": 1}')

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()


def _point_provider_at(manifests: Path, url: str, secret: str) -> None:
    providers = manifests / "providers.yaml"
    text = providers.read_text()
    head, _, rest = text.partition("dashboardUrl:")
    rest = rest.split("\n", 1)[1]
    text = f"{head}dashboardUrl: {url}\n{rest}"
    providers.write_text(text.replace("fromEnv: TYK_DASHBOARD_SECRET", secret))


def test_a_dashboard_named_only_by_the_manifests_receives_nothing(
    cli_target: CliTarget, tmp_path: Path, fake_dashboard: tuple[str, list[dict[str, str]]]
) -> None:
    if cli_target.kind == "embedded":
        cli_target.env["TYK_PORTAL_URL"] = "http://127.0.0.1:9"  # never reached either
        cli_target.env["TYK_PORTAL_TOKEN"] = PORTAL_TOKEN
        cli_target.args = []
    cli_target.env["TYK_DASHBOARD_URL"] = None
    cli_target.env["RUNNER_SECRET"] = "runner-secret-41f0"
    url, seen = fake_dashboard
    manifests = copy_examples(tmp_path)
    _point_provider_at(manifests, url, "fromEnv: RUNNER_SECRET")
    result = cli_target.invoke("plan", str(manifests))
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"error: Provider/tyk-dashboard: its Dashboard {url} is not approved. Secrets are sent "
        "only to Dashboards listed in PORTAL_GITOPS_APPROVED_DASHBOARDS"
    ), result.stderr
    assert seen == []
    assert "runner-secret-41f0" not in result.output + result.stderr


def test_an_approved_dashboard_gets_the_secret(
    tmp_path: Path, fake_dashboard: tuple[str, list[dict[str, str]]]
) -> None:
    url, seen = fake_dashboard
    environ = {
        "TYK_PORTAL_TOKEN": PORTAL_TOKEN,
        "DASH": DASHBOARD_SECRET,
        "PORTAL_GITOPS_APPROVED_DASHBOARDS": f"https://other.example, {url}/",
    }
    manifests = copy_examples(tmp_path)
    _point_provider_at(manifests, url, "fromEnv: DASH")
    loaded = commands.load([str(manifests)], environ)
    target = commands.Target(portal_url="http://127.0.0.1:9", environ=environ)
    backend = commands.open_backend(target, [str(manifests)], loaded.manifests)
    import asyncio

    async def ask() -> None:
        try:
            await backend.dashboard_for("tyk-dashboard").list_policies(at_once=True)
        finally:
            await backend.aclose()

    asyncio.run(ask())
    assert [h.get("Authorization") for h in seen] == [DASHBOARD_SECRET]


def test_a_secret_file_must_be_a_small_regular_file_inside_the_repository(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"
    (repo / "secrets").mkdir(parents=True)
    (repo / "secrets" / "ok").write_text("dash-secret-7c21\n")
    (repo / "secrets" / "big").write_text("x" * (64 * 1024 + 1))
    (repo / "secrets" / "out").symlink_to("/etc/hostname")
    (repo / "secrets" / "zero").symlink_to("/dev/zero")
    os.mkfifo(repo / "secrets" / "fifo")
    resolve = credentials.secret_resolver({}, root=repo)
    assert resolve("file:secrets/ok") == "dash-secret-7c21"
    assert resolve("file:secrets/missing") is None
    cases = {
        "secrets/big": "the secret file secrets/big is larger than 65536 bytes; not a secret",
        "secrets/out": "the secret file secrets/out leads outside the repository; it is not read",
        "secrets/zero": "the secret file secrets/zero leads outside the repository; it is not read",
        "secrets/fifo": "the secret file secrets/fifo is not a regular file; it is not read",
    }
    for name, message in cases.items():
        started = time.monotonic()
        with pytest.raises(SecretError) as caught:
            resolve(f"file:{name}")
        assert str(caught.value) == message
        assert time.monotonic() - started < 5  # a FIFO with no writer never hangs the run


def test_the_plan_command_refuses_a_fifo_secret_quickly(tmp_path: Path) -> None:
    manifests = copy_examples(tmp_path)
    os.mkfifo(tmp_path / "fifo")
    text = (manifests / "providers.yaml").read_text()
    (manifests / "providers.yaml").write_text(
        text.replace("fromEnv: TYK_DASHBOARD_SECRET", "fromFile: fifo")
    )
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        started = time.monotonic()
        result = CliRunner().invoke(
            main, ["plan", "manifests", "--store", str(tmp_path / "p.db")], env={"NO_COLOR": "1"}
        )
    finally:
        os.chdir(cwd)
    assert time.monotonic() - started < 30
    assert result.exit_code == 1
    assert "the secret file fifo is not a regular file; it is not read" in result.output
