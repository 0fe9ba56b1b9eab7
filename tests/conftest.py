"""Fixtures shared by the end-to-end suites: a CLI target on both backends.

``cli_target`` is parametrised: ``embedded`` runs the CLI on a fresh SQLite store file;
``emulator`` runs it as the tyk backend over a real loopback socket against the emulator
serving a fresh store, with the tokens a real Tyk would require.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from portal_gitops import heap
from portal_gitops.backends.emulated.server import running_emulator
from portal_gitops.backends.emulated.store import PortalStore
from portal_gitops.cli import main
from tests.apis import example_apis, seed_store_file

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "manifests"
PORTAL_TOKEN = "e2e-portal-token-5d1f0c"
DASHBOARD_SECRET = "e2e-dashboard-secret-a93b27"


@dataclass
class CliTarget:
    kind: str  # "embedded" | "emulator"
    store_path: Path
    env: dict[str, str | None]
    args: list[str] = field(default_factory=list)  # extra CLI args selecting the target
    url: str | None = None

    def invoke(self, *argv: str, input: str | None = None) -> Result:
        """Run the CLI against this target; `args` are appended after the command's own."""
        runner = CliRunner()
        return runner.invoke(
            main, [*argv, *self.args], env=self.env, input=input, catch_exceptions=False
        )

    def store(self) -> PortalStore:
        """A second handle on the live store (to act as the portal or a consumer would)."""
        return PortalStore(str(self.store_path))


@pytest.fixture(autouse=True)
def _collectable_after_each_test() -> Iterator[None]:
    """Commands freeze what they built (heap.py); between tests it must be collectable again,
    as a process that runs commands one after another would make it."""
    yield
    heap.release()


def copy_examples(dest: Path) -> Path:
    """A private copy of the example manifests (tests may edit them)."""
    out = dest / "manifests"
    shutil.copytree(EXAMPLES, out, ignore=shutil.ignore_patterns(".portal-gitops"))
    return out


@pytest.fixture(params=["embedded", "emulator"])
def cli_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CliTarget]:
    store_path = tmp_path / "live" / "portal.db"
    store_path.parent.mkdir()
    seed_store_file(store_path, example_apis())  # the Dashboard has the examples' APIs
    base_env: dict[str, str | None] = {
        "TYK_DASHBOARD_SECRET": DASHBOARD_SECRET,
        "NO_COLOR": "1",
        "TYK_PORTAL_URL": None,
        "TYK_PORTAL_TOKEN": None,
        "TYK_DASHBOARD_URL": None,
    }
    if request.param == "embedded":
        yield CliTarget("embedded", store_path, base_env, ["--store", str(store_path)])
        return
    store = PortalStore(str(store_path))
    with running_emulator(
        store, portal_token=PORTAL_TOKEN, dashboard_secret=DASHBOARD_SECRET
    ) as url:
        env = {
            **base_env,
            "TYK_PORTAL_URL": url,
            "TYK_PORTAL_TOKEN": PORTAL_TOKEN,
            "TYK_DASHBOARD_URL": url,
        }
        yield CliTarget("emulator", store_path, env, [], url)
    store.close()


def lines(text: str) -> Sequence[str]:
    return [line for line in text.splitlines() if line.strip()]


# --- every request the tyk backend sends during the suite conforms to Tyk's documents -------
#
# The keep-alive transport (the tyk backend's real-HTTP path) is wrapped for the whole run;
# each distinct request shape (method, path template, query keys, body structure) is kept
# and, when the session ends, validated against the official OpenAPI documents by the same
# checks as tests/contract/test_client_requests.py. A request that does not conform fails
# the run. Subprocess runs (crash and concurrency tests) are not seen here.

SENT_SHAPES: dict[Any, Any] = {}


def _shape(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _shape(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("list", tuple(sorted({repr(_shape(v)) for v in value})))
    return type(value).__name__


def pytest_configure(config: pytest.Config) -> None:
    from portal_gitops.backends.tyk.transport import KeepAliveTransport

    original = KeepAliveTransport.handle_async_request

    async def recording(self: KeepAliveTransport, request: httpx.Request) -> httpx.Response:
        from tests.contract.test_client_requests import Sent

        body = await request.aread()
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = "<not json>"
        path = re.sub(r"/\d+(?=/|$)", "/N", request.url.path)
        path = re.sub(r"/[0-9a-f]{24}(?=/|$)", "/ID", path)
        key = (request.method, path, tuple(sorted(request.url.params)), _shape(parsed))
        if key not in SENT_SHAPES:
            SENT_SHAPES[key] = Sent(
                request.method,
                request.url.path,
                dict(request.url.params),
                dict(request.headers),
                body or None,
            )
        return await original(self, request)

    KeepAliveTransport.handle_async_request = recording  # type: ignore[method-assign]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not SENT_SHAPES:
        return
    from tests.contract.test_client_requests import check_requests

    problems = []
    for sent in SENT_SHAPES.values():
        try:
            check_requests([sent])
        except Exception as exc:  # report every non-conforming request, then fail the run
            problems.append(f"{sent.method} {sent.path}: {type(exc).__name__}: {exc}")
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    line = (
        f"{len(SENT_SHAPES)} request shapes sent by the tyk backend checked against Tyk's documents"
    )
    if reporter is not None:
        reporter.write_line(
            line + (f"; {len(problems)} do not conform:" if problems else "; all conform")
        )
        for problem in problems:
            reporter.write_line(f"  {problem[:2000]}")
    if problems:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
