"""Secrets: known values never appear in anything the tool prints or writes.

Every command runs with known secret values (the portal token, the Dashboard secret, the
credential the portal issues on approval, and the wrong token/secret of the failing runs), on
the embedded store and over HTTP to the emulator: validate, plan (text, markdown, json, -v,
--out), apply, apply PLAN.json, drift, import, requests pull, codeowners, schema, init, and
failing runs (bad token, bad Dashboard secret, unreachable portal, stale plan). None of those
values is found in stdout, stderr, plan files or any written file. Tokens come from the
environment or files only: no command-line option can take one. TLS verification is on
unless a Provider says insecureSkipVerify.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import re
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner

from portal_gitops import commands
from portal_gitops.backends.emulated.server import running_emulator
from portal_gitops.backends.emulated.store import PortalStore
from portal_gitops.cli import main
from portal_gitops.errors import TransportError
from portal_gitops.models import Provider
from tests.apis import example_apis
from tests.conftest import DASHBOARD_SECRET, PORTAL_TOKEN, CliTarget, copy_examples
from tests.requests.test_access_requests import consumer_requests_access, credentials_of

WRONG_TOKEN = "wrong-portal-token-0c4e1d"
WRONG_SECRET = "wrong-dashboard-secret-8b2f7a"


def _all_files(root: Path) -> dict[Path, str]:
    out = {}
    for path in root.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        if path.suffix == ".db" or path.name.endswith(("-wal", "-shm")):
            continue  # the live store itself: it is the portal, it holds what a portal holds
        out[path] = path.read_bytes().decode("utf-8", "replace")
    return out


def test_no_secret_in_any_output_or_file(cli_target: CliTarget, tmp_path: Path) -> None:
    manifests = copy_examples(tmp_path)
    outputs: list[tuple[str, int, str]] = []

    def run(*argv: str, env: dict[str, str | None] | None = None, expect: int | None = 0) -> str:
        from click.testing import CliRunner

        local = argv[0] in ("validate", "codeowners", "schema", "init")
        result = CliRunner().invoke(
            main,
            [*argv, *([] if local else cli_target.args)],
            env={**cli_target.env, **(env or {})},
            catch_exceptions=False,
        )
        text = result.stdout + (result.stderr or "")
        outputs.append((" ".join(argv), result.exit_code, text))
        if expect is not None:
            assert result.exit_code == expect, f"{argv}: {text}"
        assert "Traceback" not in text
        return text

    m = str(manifests)
    run("validate", m)
    run("validate", m, "--format", "json")
    for fmt in ("text", "markdown", "json"):
        run("plan", m, "--format", fmt, "-v")
    plan_file = tmp_path / "plan.json"
    run("plan", m, "--out", str(plan_file))
    run("apply", str(plan_file))
    run("apply", m, "--auto-approve", "-v")

    store = cli_target.store()
    rid = consumer_requests_access(
        store, "milton@initech.example", "Stapler Tracker", ["weather-api"], "basic", "public"
    )
    run("requests", "pull", m, "--out", str(manifests / "requests"))
    for fmt in ("text", "markdown", "json"):
        run("plan", m, "--format", fmt, "-v")
    approve_plan = tmp_path / "approve.json"
    run("plan", m, "--out", str(approve_plan))
    run("apply", str(approve_plan))
    (credential,) = credentials_of(store, rid)
    issued = [credential]
    run("apply", m, "--auto-approve", "-v")

    # rotate it through the manifests: the new value is as secret as the old, and neither
    # reaches the plan, the apply's log (-v, --debug) or a file
    (pulled,) = [p for p in (manifests / "requests").rglob("*.yaml") if f"'{rid}'" in p.read_text()]
    document = yaml.safe_load(pulled.read_text())
    document["spec"]["rotate"] = "first-rotation"
    pulled.write_text(yaml.safe_dump(document, sort_keys=False))
    for fmt in ("text", "markdown", "json"):
        run("plan", m, "--format", fmt, "-v")
    rotate_plan = tmp_path / "rotate.json"
    run("plan", m, "--out", str(rotate_plan))
    run("apply", str(rotate_plan), "--debug")
    (rotated,) = credentials_of(store, rid)
    assert rotated != credential
    issued.append(rotated)
    run("apply", m, "--auto-approve", "-v", "--debug")
    assert credentials_of(store, rid) == [rotated]  # once per value
    for fmt in ("text", "markdown", "json"):
        run("drift", m, "--format", fmt)
        run("plan", m, "--format", fmt, "-v", "--out", str(tmp_path / f"after-{fmt}.json"))
    run("import", "--out", str(tmp_path / "imported"))
    run("requests", "pull", m, "--out", str(tmp_path / "pulled"))
    run("codeowners", m)
    run("schema")
    run("schema", "--out", str(tmp_path / "schemas"))
    run("init", str(tmp_path / "new-repo"), "--no-lock")

    # revoke (prune the request): the portal drops its credential, the plan says so
    for path in (manifests / "requests").rglob("*.yaml"):
        if f"request-id: '{rid}'" in path.read_text() or f'request-id: "{rid}"' in (
            path.read_text()
        ):
            path.unlink()
    run("plan", m, "--prune", "--format", "json", "-v")

    # failing runs
    stale = tmp_path / "stale.json"
    run("plan", m, "--out", str(stale))
    (manifests / "plans.yaml").write_text(
        (manifests / "plans.yaml").read_text().replace("requests: 50", "requests: 51", 1)
    )
    run("plan", m, "--out", str(stale))
    (manifests / "plans.yaml").write_text(
        (manifests / "plans.yaml").read_text().replace("requests: 51", "requests: 52", 1)
    )
    stale_text = run("apply", str(stale), expect=1)
    assert "stale" in stale_text or "changed" in stale_text
    run("plan", m, env={"TYK_DASHBOARD_SECRET": None}, expect=None)  # secret unset
    run("apply", m, "--auto-approve", env={"TYK_DASHBOARD_SECRET": None}, expect=None)
    if cli_target.kind == "emulator":
        bad = run("plan", m, env={"TYK_PORTAL_TOKEN": WRONG_TOKEN}, expect=1)
        assert "401" in bad or "403" in bad
        run("apply", m, "--auto-approve", env={"TYK_PORTAL_TOKEN": WRONG_TOKEN}, expect=1)
        run("import", "--out", str(tmp_path / "x"), env={"TYK_PORTAL_TOKEN": WRONG_TOKEN}, expect=1)
        bad = run("plan", m, env={"TYK_DASHBOARD_SECRET": WRONG_SECRET}, expect=1)
        assert "401" in bad or "403" in bad
        token_file = tmp_path / "token"
        token_file.write_text(PORTAL_TOKEN + "\n")
        run("plan", m, env={"TYK_PORTAL_TOKEN": None, "TYK_PORTAL_TOKEN_FILE": str(token_file)})
    unreachable = {
        "TYK_PORTAL_URL": "http://127.0.0.1:9",
        "TYK_PORTAL_TOKEN": PORTAL_TOKEN,
        "PORTAL_GITOPS_APPROVED_DASHBOARDS": "http://tyk-dashboard.localhost:3000",
    }
    text = run("plan", m, "--portal-url", "http://127.0.0.1:9", env=unreachable, expect=1)
    assert "cannot connect" in text
    run(
        "apply",
        m,
        "--auto-approve",
        "--portal-url",
        "http://127.0.0.1:9",
        env=unreachable,
        expect=1,
    )
    run(
        "import",
        "--out",
        str(tmp_path / "y"),
        "--portal-url",
        "http://127.0.0.1:9",
        env=unreachable,
        expect=1,
    )

    secrets = [PORTAL_TOKEN, DASHBOARD_SECRET, WRONG_TOKEN, WRONG_SECRET, *issued]
    assert all(len(s) >= 16 for s in secrets)
    for command, code, text in outputs:
        for secret in secrets:
            assert secret not in text, f"`{command}` (exit {code}) printed a secret"
    files = _all_files(tmp_path)
    files.pop(tmp_path / "token", None)  # the token file we gave it
    assert any(p.suffix == ".json" for p in files) and len(files) > 30
    for path, text in files.items():
        for secret in secrets:
            assert secret not in text, f"{path} holds a secret"
    print(f"\nsecrets: {len(outputs)} runs, {len(files)} files checked, none holds a secret")


def _params(command: click.Command, prefix: str = "") -> list[tuple[str, click.Parameter]]:
    found = [(f"{prefix}{command.name}", p) for p in command.params]
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            found.extend(_params(sub, f"{prefix}{command.name} "))
    return found


def test_no_command_line_option_takes_a_token_or_secret() -> None:
    params = _params(main)
    assert len(params) > 40  # the whole tree was walked
    secretive = re.compile(r"token|secret|password|passwd|credential|api[-_]?key|auth", re.I)
    for where, param in params:
        names = [param.name or "", *param.opts, *param.secondary_opts]
        assert not any(secretive.search(n) for n in names), f"{where}: {names}"
        envvar = getattr(param, "envvar", None)
        envvars = [envvar] if isinstance(envvar, str) else list(envvar or [])
        assert not any(secretive.search(e) for e in envvars), f"{where}: {envvars}"


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An HTTPS server with a self-signed certificate, answering every GET with ``[]``."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a self-signed certificate")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    make = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    subprocess.run(
        [*make, "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"[]"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.mark.parametrize("insecure", [False, True])
def test_tls_verification_is_on_unless_the_provider_says_insecure(
    tls_server: str, insecure: bool
) -> None:
    """Behaviour, not configuration: a self-signed certificate is refused by the portal
    client always, and by a Dashboard client unless its Provider says insecureSkipVerify."""
    provider = Provider.model_validate(
        {
            "apiVersion": "portal-gitops/v1",
            "kind": "Provider",
            "metadata": {"name": "tyk"},
            "spec": {
                "type": "tyk-pro",
                "dashboardUrl": tls_server,
                "secret": {"fromEnv": "DASH_SECRET"},
                "orgId": "org",
                "insecureSkipVerify": insecure,
            },
        }
    )
    target = commands.Target(
        portal_url=tls_server,
        environ={
            "TYK_PORTAL_TOKEN": "t" * 20,
            "DASH_SECRET": "s" * 20,
            "PORTAL_GITOPS_APPROVED_DASHBOARDS": tls_server,
        },
    )

    async def attempt() -> tuple[str, str]:
        backend = commands.open_backend(target, ["."], [provider])
        outcomes = []
        try:
            for call in (
                backend.api.portal.list_providers,
                backend.dashboard_for("tyk").list_policies,
            ):
                try:
                    await call()
                    outcomes.append("ok")
                except TransportError as exc:
                    outcomes.append(str(exc))
        finally:
            await backend.aclose()
        return outcomes[0], outcomes[1]

    portal, dashboard = asyncio.run(attempt())
    assert "CERTIFICATE_VERIFY_FAILED" in portal or "certificate verify failed" in portal
    if insecure:
        assert dashboard == "ok"
    else:
        assert "certificate verify failed" in dashboard.lower()


def test_credentials_in_the_portal_url_are_never_printed(tmp_path: Path) -> None:
    """TYK_PORTAL_URL is a secret in CI and may carry credentials: the plan's target, its
    markdown (the PR comment) and JSON, and a saved plan show the host only."""
    manifests = copy_examples(tmp_path)
    saved = tmp_path / "plan.json"
    store = PortalStore(str(tmp_path / "portal.db"), apis=example_apis())
    try:
        with running_emulator(
            store, portal_token=PORTAL_TOKEN, dashboard_secret=DASHBOARD_SECRET
        ) as url:
            env: dict[str, str | None] = {
                "NO_COLOR": "1",
                "TYK_PORTAL_URL": url.replace("http://", "http://robot:url-password-5e1d@"),
                "TYK_PORTAL_TOKEN": PORTAL_TOKEN,
                "TYK_DASHBOARD_URL": url,
                "TYK_DASHBOARD_SECRET": DASHBOARD_SECRET,
            }
            outputs = [
                CliRunner().invoke(
                    main,
                    ["plan", str(manifests), "--format", fmt, "--out", str(saved)],
                    env=env,
                    catch_exceptions=False,
                )
                for fmt in ("text", "markdown", "json")
            ]
    finally:
        store.close()
    for result in outputs:
        assert result.exit_code == 0, result.output
        assert "url-password-5e1d" not in result.output + (result.stderr or "")
        assert "robot" not in result.output
    assert f"Target: `{url}`" in outputs[1].stdout
    assert "url-password-5e1d" not in saved.read_text()


def test_a_live_providers_insecure_flag_never_turns_tls_verification_off(
    tls_server: str, tmp_path: Path
) -> None:
    """A provider configured in the portal (no manifest) whose InsecureSkipVerify is on: its
    Dashboard is still verified, so its secret never reaches an unverified host."""
    store = PortalStore(str(tmp_path / "portal.db"))
    meta = json.dumps({"URL": tls_server, "Secret": "live-secret-3f1c", "InsecureSkipVerify": True})
    body = json.dumps(
        {"Name": "live", "Type": "tyk-pro", "Configuration": {"MetaData": meta}}
    ).encode()
    assert store.handle("POST", "/portal-api/providers", {}, {}, body).status == 200
    try:
        with running_emulator(
            store, portal_token=PORTAL_TOKEN, dashboard_secret=DASHBOARD_SECRET
        ) as url:
            backend = commands.open_backend(
                commands.Target(portal_url=url, environ={"TYK_PORTAL_TOKEN": PORTAL_TOKEN}),
                ["."],
                [],
            )

            async def read() -> None:
                try:
                    await backend.read()
                finally:
                    await backend.aclose()

            with pytest.raises(TransportError, match=r"(?i)certificate verify failed"):
                asyncio.run(read())
    finally:
        store.close()
