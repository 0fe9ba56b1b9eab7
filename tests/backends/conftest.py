"""Fixtures for the backend suites: one ``backend`` fixture, run on both transports.

``embedded`` is PortalBackend over the in-process transport to a fresh store; ``tyk`` is the
same class over a real loopback socket to the emulator serving a fresh store, with tokens
required. Every behavioural test runs on both, so they cannot drift apart.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from portal_gitops.backends.embedded import open_embedded
from portal_gitops.backends.emulated.server import running_emulator
from portal_gitops.backends.emulated.store import PortalStore
from portal_gitops.backends.tyk.backend import PortalBackend, open_tyk
from portal_gitops.backends.tyk.dashboards import DashboardConn
from tests.apis import TEST_APIS

PORTAL_TOKEN = "portal-token-for-tests-7f3a"
DASHBOARD_SECRET = "dashboard-secret-for-tests-91c2"
PROVIDER = "tyk-local"


class FakeClock:
    """A clock the lock tests can move forward (epoch seconds)."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        """Wait until the clock has been moved ``seconds`` forward (by ``advance``)."""
        until = self.now + seconds
        while self.now < until:
            await asyncio.sleep(0.001)


class Target:
    """What a test needs to know about the target behind ``backend``."""

    def __init__(
        self, kind: str, dashboard_url: str, clock: FakeClock, opener: Callable[[], PortalBackend]
    ) -> None:
        self.kind = kind
        self.dashboard_url = dashboard_url  # what the Provider manifest would say
        self.clock = clock
        self._opener = opener

    def open(self) -> PortalBackend:
        """Another backend on the same target (a second CI run, another machine)."""
        return self._opener()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[str]:
    store = PortalStore(str(tmp_path / "emulated.db"), apis=TEST_APIS)
    try:
        with running_emulator(
            store, portal_token=PORTAL_TOKEN, dashboard_secret=DASHBOARD_SECRET
        ) as url:
            yield url
    finally:
        store.close()


@pytest.fixture(params=["embedded", "tyk"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    clock = FakeClock()
    if request.param == "embedded":
        path = str(tmp_path / "portal.db")
        return Target(
            "embedded",
            "http://dashboard.example:3000",
            clock,
            lambda: open_embedded(path, apis=TEST_APIS, clock=clock),
        )
    url: str = request.getfixturevalue("emulator")
    return Target(
        "tyk",
        url,
        clock,
        lambda: open_tyk(
            url, PORTAL_TOKEN, {PROVIDER: DashboardConn(url, DASHBOARD_SECRET)}, clock=clock
        ),
    )


@pytest.fixture
async def backend(target: Target, anyio_backend: str) -> AsyncIterator[PortalBackend]:
    opened = target.open()
    try:
        yield opened
    finally:
        await opened.aclose()
