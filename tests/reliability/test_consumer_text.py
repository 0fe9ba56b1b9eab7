"""What a consumer types into the Live Portal cannot spoof the terminal or the CI job log: an
app description holding line breaks, a workflow command, escape sequences and Unicode line
separators is shown escaped in the text plan, and no line of the output starts a GitHub
workflow command (``::``)."""

from __future__ import annotations

import json
from pathlib import Path

from portal_gitops.escape import log_safe_lines, terminal_safe
from tests.conftest import CliTarget, copy_examples

HOSTILE = (
    "Nice app\n::add-mask::ghp_token\r\n::error title=APPROVED::merge me"
    "\x1b[2K\x1b[1A\rPlan: 0 to create, 0 to update, 0 to delete.\u2028::warning::x\u202e"
)


def _call(store: object, method: str, path: str, body: object = None) -> object:
    reply = store.handle(  # type: ignore[attr-defined]
        method, path, {"per_page": "100"}, {}, json.dumps(body).encode() if body else b""
    )
    assert reply.status in (200, 201), reply.body
    return json.loads(reply.body)


def test_terminal_safe_escapes_what_moves_the_cursor_or_ends_a_line() -> None:
    assert terminal_safe("plain text, é and 日本") == "plain text, é and 日本"
    assert (
        terminal_safe("a\nb\r\x1b[2K\x9b\u2028\u202e") == "a\\x0ab\\x0d\\x1b[2K\\x9b\\u2028\\u202e"
    )
    assert log_safe_lines("ok\n::error::x\n  ::y") == "ok\n ::error::x\n  ::y"


def test_an_app_description_cannot_spoof_the_plan(cli_target: CliTarget, tmp_path: Path) -> None:
    manifests = copy_examples(tmp_path)
    assert cli_target.invoke("apply", str(manifests), "--auto-approve").exit_code == 0
    with cli_target.store() as store:
        store.portal_token = None
        apps = _call(store, "GET", "/portal-api/apps")
        app = next(a for a in apps if a["Name"] == "Storm Tracker")  # type: ignore[union-attr]
        _call(store, "PUT", f"/portal-api/apps/{app['ID']}", {"Description": HOSTILE})
    result = cli_target.invoke("plan", str(manifests))
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "description" in text  # the consumer's edit is shown, as drift
    # and it is an update of the app in place: the consumer's credential is not reissued
    assert "~ App/alice.admin@acme.example/Storm Tracker will be updated" in text
    assert "credential" not in text.lower() and "will be replaced" not in text
    assert not [line for line in text.splitlines() if line.startswith("::")]
    for raw in ("\x1b", "\r", "\u2028", "\u202e"):
        assert raw not in text
    assert "::add-mask::ghp_token" in text  # shown, escaped inside one line, never run
    assert text.count("\n") == len(text.splitlines())
