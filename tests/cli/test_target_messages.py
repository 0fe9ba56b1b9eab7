"""A mistyped target says what is wrong and how to fix it: a portal URL without a scheme, a
Dashboard URL ending in /api, a token or secret the server refuses (named by where it came
from, never shown)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from portal_gitops.backends.emulated.server import running_emulator
from portal_gitops.backends.emulated.store import PortalStore
from portal_gitops.cli import main
from tests.apis import example_apis
from tests.conftest import copy_examples

TOKEN, SECRET = "portal-t0ken-7c1e", "dash-s3cret-44f0"


def _run(env: dict[str, str | None], *argv: str) -> tuple[int, str]:
    base: dict[str, str | None] = {"NO_COLOR": "1", "TYK_PORTAL_URL": None}
    result = CliRunner().invoke(main, list(argv), env={**base, **env}, catch_exceptions=False)
    return result.exit_code, result.stderr


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[str]:
    store = PortalStore(str(tmp_path / "live.db"), apis=example_apis())
    with running_emulator(store, portal_token=TOKEN, dashboard_secret=SECRET) as url:
        yield url
    store.close()


def test_a_portal_url_without_a_scheme_says_how_to_write_it(tmp_path: Path) -> None:
    manifests = str(copy_examples(tmp_path))
    env: dict[str, str | None] = {"TYK_PORTAL_TOKEN": TOKEN, "TYK_DASHBOARD_SECRET": SECRET}
    code, err = _run(env, "plan", manifests, "--portal-url", "127.0.0.1:3101")
    assert (code, err) == (
        1,
        "error: --portal-url (or TYK_PORTAL_URL) '127.0.0.1:3101' has no scheme: write "
        "http://127.0.0.1:3101 or https://127.0.0.1:3101\n",
    )
    # a URL that may carry a credential is not repeated
    code, err = _run({**env, "TYK_PORTAL_URL": "admin:hunter2@portal:3001"}, "plan", manifests)
    assert code == 1 and "hunter2" not in err
    assert err == (
        "error: --portal-url (or TYK_PORTAL_URL) is not an http:// or https:// URL with a host: "
        "write the portal's base URL, e.g. https://portal.example.com:3001\n"
    )


def test_a_dashboard_url_ending_in_api_is_refused_with_the_fix(
    tmp_path: Path, emulator: str
) -> None:
    manifests = copy_examples(tmp_path)
    env: dict[str, str | None] = {
        "TYK_PORTAL_TOKEN": TOKEN,
        "TYK_DASHBOARD_SECRET": SECRET,
        "TYK_DASHBOARD_URL": f"{emulator}/api/",
    }
    code, err = _run(env, "plan", str(manifests), "--portal-url", emulator)
    assert (code, err) == (
        1,
        f"error: TYK_DASHBOARD_URL ends in /api: write the Dashboard's base URL ({emulator}); "
        "portal-gitops adds /api itself (requests went to /api/api/...)\n",
    )

    providers = manifests / "providers.yaml"
    text = providers.read_text()
    line = next(n for n, s in enumerate(text.splitlines(), 1) if "dashboardUrl:" in s)
    providers.write_text(text.replace(":3000\n", ":3000/api\n"))
    code, err = _run({}, "validate", str(manifests))
    assert code == 1
    assert err.startswith(
        f"{providers}:{line}: Provider/tyk-dashboard: spec.dashboardUrl: ends in /api: write "
        "the Dashboard's base URL (without /api), e.g. https://dashboard.example.com:3000; "
        "the portal and portal-gitops add /api\n"
    ), err


def test_a_refused_token_or_secret_names_the_server_and_where_it_came_from(
    tmp_path: Path, emulator: str
) -> None:
    manifests = str(copy_examples(tmp_path))
    env: dict[str, str | None] = {
        "TYK_PORTAL_TOKEN": TOKEN,
        "TYK_DASHBOARD_SECRET": "not-the-secret-91",
        "TYK_DASHBOARD_URL": emulator,
    }
    code, err = _run(env, "plan", manifests, "--portal-url", emulator)
    assert code == 1
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "401 Unauthorized" in err
    assert err.endswith(
        f'; the Dashboard {emulator} refused the secret (provider "tyk-dashboard", secret '
        "from environment variable TYK_DASHBOARD_SECRET): set it to an API secret of a user of "
        "that Dashboard (the user's Tyk Dashboard API Access Credentials)\n"
    ), err
    assert "not-the-secret-91" not in err

    token_file = tmp_path / "token"
    token_file.write_text("wrong-token-55\n")
    env = {
        "TYK_PORTAL_TOKEN": None,
        "TYK_PORTAL_TOKEN_FILE": str(token_file),
        "TYK_DASHBOARD_SECRET": SECRET,
        "TYK_DASHBOARD_URL": emulator,
    }
    code, err = _run(env, "plan", manifests, "--portal-url", emulator)
    assert code == 1 and "401 Unauthorized" in err and "wrong-token-55" not in err
    assert err.endswith(
        f"; the portal {emulator} refused the admin token from the file TYK_PORTAL_TOKEN_FILE "
        "names: set it to the API credential of a portal admin (the profile page of an admin "
        "user in the portal)\n"
    ), err
