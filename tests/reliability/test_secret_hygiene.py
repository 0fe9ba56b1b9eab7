"""Credentials as they arrive from environments and files, and as servers echo them: surrounding
whitespace is dropped, whitespace inside is refused by name, an echoed secret is scrubbed before
an error message is cut, and a header's value is never repeated in a message."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import h11
import pytest
from click.testing import CliRunner

from portal_gitops import credentials
from portal_gitops.backends.tyk.client import error_for_status, error_for_transport
from portal_gitops.cli import main
from portal_gitops.errors import SecretError
from tests.conftest import copy_examples

TOKEN = "hygiene-token-0c5e8d2b7a91"


def test_surrounding_whitespace_is_dropped() -> None:
    assert credentials.clean_credential(f"  {TOKEN}\n", "TYK_PORTAL_TOKEN") == TOKEN
    assert credentials.clean_credential("\n", "TYK_PORTAL_TOKEN") is None


@pytest.mark.parametrize("inside", [" ", "\t", "\n", "\r\nX-Injected: 1", "\x00"])
def test_whitespace_or_control_characters_inside_are_refused_without_the_value(
    inside: str,
) -> None:
    with pytest.raises(SecretError) as caught:
        credentials.clean_credential(TOKEN[:8] + inside + TOKEN[8:], "TYK_PORTAL_TOKEN")
    assert str(caught.value) == (
        "TYK_PORTAL_TOKEN holds whitespace or a control character inside the value; a token or "
        "secret is one line with no spaces (its value is not shown)"
    )
    assert TOKEN[:8] not in str(caught.value)


def test_a_dashboard_secret_from_the_environment_is_checked_by_name() -> None:
    resolve = credentials.secret_resolver({"DASH": f"{TOKEN}\n", "BAD": f"{TOKEN} x"})
    assert resolve("env:DASH") == TOKEN
    with pytest.raises(SecretError, match=r"^the environment variable BAD holds whitespace"):
        resolve("env:BAD")


def test_a_token_with_a_line_break_inside_is_a_clear_error_on_the_command_line(
    tmp_path: Path,
) -> None:
    manifests = copy_examples(tmp_path)
    result = CliRunner().invoke(
        main,
        ["plan", str(manifests)],
        env={
            "NO_COLOR": "1",
            "TYK_PORTAL_URL": "http://127.0.0.1:9",
            "TYK_PORTAL_TOKEN": TOKEN[:10] + "\n" + TOKEN[10:],
            "TYK_DASHBOARD_SECRET": "x",
        },
    )
    assert result.exit_code == 1
    assert "TYK_PORTAL_TOKEN holds whitespace or a control character" in result.output
    assert TOKEN[:10] not in result.output and TOKEN[10:] not in result.output


def _scrub(text: str) -> str:
    return text.replace(TOKEN, "***")


@pytest.mark.parametrize("before", [270, 285, 295, 299])
def test_an_echoed_secret_is_scrubbed_before_the_message_is_cut(before: int) -> None:
    """The token straddles the 300-character cut: cut first, all but its tail would leak."""
    body = ('{"errors": ["' + "x" * before + TOKEN + ' is not a valid token"]}').encode()
    error = error_for_status(401, body, operation="read portal", scrub=_scrub)
    for n in range(6, len(TOKEN) + 1):
        assert TOKEN[:n] not in str(error)


def test_a_refused_header_value_is_never_repeated() -> None:
    try:
        h11.Request(
            method="GET", target="/", headers=[("Host", "x"), ("Authorization", TOKEN + "\n")]
        )
    except h11.LocalProtocolError as exc:
        error = error_for_transport(exc, operation="read portal", host="portal.example")
    assert TOKEN not in str(error)
    assert "(not shown)" in str(error)


@pytest.fixture
def echoing_portal() -> Iterator[str]:
    """A portal that echoes the Authorization header it received in its 401 error text, with
    padding so the token straddles the 300-character cut of error messages."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            token = self.headers.get("Authorization", "")
            body = json.dumps({"errors": ["x" * 280 + f" token {token} is not valid"]}).encode()
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            pass  # the client hangs up after an error reply: nothing to report

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.mark.parametrize("flags", [[], ["-v"], ["--debug"]])
@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_a_token_a_server_echoes_reaches_no_output(
    echoing_portal: str, tmp_path: Path, flags: list[str], fmt: str
) -> None:
    manifests = copy_examples(tmp_path)
    saved = tmp_path / "plan.json"
    result = CliRunner().invoke(
        main,
        ["plan", str(manifests), "--format", fmt, "--out", str(saved), *flags],
        env={
            "NO_COLOR": "1",
            "TYK_PORTAL_URL": echoing_portal,
            "TYK_PORTAL_TOKEN": f"{TOKEN}\n",  # as `$(cat token-file)` leaves it
            "TYK_DASHBOARD_URL": echoing_portal,
            "TYK_DASHBOARD_SECRET": "dash-secret-9e77d1",
        },
    )
    assert result.exit_code == 1
    assert "401" in result.output
    everything = result.output + (result.stderr or "")
    everything += saved.read_text() if saved.exists() else ""
    for secret in (TOKEN, "dash-secret-9e77d1"):
        for n in range(8, len(secret) + 1):
            assert secret[:n] not in everything, (n, everything[-600:])
