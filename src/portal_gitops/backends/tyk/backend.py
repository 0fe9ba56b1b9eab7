"""The one backend: canonical attrs (state.py) <-> the Tyk portal and Dashboard APIs, composed
from the rooms of this package (read, write, ids, dashboards, records over the client).

``PortalBackend`` implements the Backend protocol over a ``TykApi``. The embedded backend is
this class over an in-process transport to the emulated store; the tyk backend is this class
over real HTTP. Same translation, same requests, same behaviour, with one exception: a full
read of the embedded store takes the store's one-transaction snapshot (the same list and
detail shapes, rendered by the same code) instead of one in-process request per object.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from portal_gitops.backends.base import LockInfo, ManagedRecord
from portal_gitops.backends.tyk.client import DashboardApi, Timeouts, TykApi
from portal_gitops.backends.tyk.dashboards import DashboardConn, Dashboards
from portal_gitops.backends.tyk.ids import Ids
from portal_gitops.backends.tyk.mapping import BUILTIN_CATALOGUES
from portal_gitops.backends.tyk.read import Reader, Snapshot
from portal_gitops.backends.tyk.records import Records
from portal_gitops.backends.tyk.write import Writer
from portal_gitops.retry import RetryPolicy
from portal_gitops.state import LOCK_POLICY, STATE_POLICY, LiveObject, LiveState
from portal_gitops.urls import display_url

__all__ = [
    "BUILTIN_CATALOGUES",
    "EMBEDDED_URL",
    "LOCK_POLICY",
    "STATE_POLICY",
    "DashboardConn",
    "PortalBackend",
    "Timeouts",
    "open_tyk",
]

EMBEDDED_URL = "http://embedded.portal-gitops"


class PortalBackend:
    """Backend over a ``TykApi``.

    ``dashboards`` maps provider names (from the Provider manifests) to their Dashboard
    connection; providers not listed fall back to their live configuration.
    ``dashboard_url_override`` replaces every Dashboard URL (env ``TYK_DASHBOARD_URL``).
    ``fixed_dashboard`` sends every Dashboard request to one place (the embedded store).
    ``snapshot`` reads everything at once (the embedded store, whose Dashboard is fixed).
    """

    def __init__(
        self,
        api: TykApi,
        *,
        kind: str,
        target: str,
        dashboards: Mapping[str, DashboardConn] | None = None,
        dashboard_url_override: str | None = None,
        fixed_dashboard: DashboardConn | None = None,
        clock: Callable[[], float] = time.time,
        on_close: Callable[[], Awaitable[None] | None] | None = None,
        snapshot: Callable[[], Snapshot] | None = None,
    ) -> None:
        self.kind = kind
        self.target = target
        self.api = api
        self._on_close = on_close
        self.ids = Ids(api)
        self.dashboards = Dashboards(
            api,
            self.ids,
            configured=dashboards,
            url_override=dashboard_url_override,
            fixed=fixed_dashboard,
        )
        self.records = Records(api, self.dashboards, self.ids, target=target, clock=clock)
        self.reader = Reader(self.ids, self.dashboards, self.records, snapshot)
        self.writer = Writer(self.ids, self.dashboards, self.reader.find)

    def __repr__(self) -> str:
        return f"PortalBackend(kind={self.kind!r}, target={self.target!r})"

    async def aclose(self) -> None:
        await self.api.aclose()
        if self._on_close is not None:
            result = self._on_close()
            if result is not None:
                await result

    def dashboard_for(self, provider: str) -> DashboardApi:
        """The Dashboard API client for a provider's Dashboard (raises if none is known)."""
        return self.dashboards.dashboard_for(provider)

    async def read(self) -> LiveState:
        return await self.reader.read()

    async def with_documents(self, live: LiveState) -> LiveState:
        return await self.reader.with_documents(live)

    async def find(self, kind: str, key: str) -> LiveObject | None:
        """Look one object up by identity, after a create whose reply was lost."""
        return await self.reader.find(kind, key)

    async def create(self, kind: str, key: str, attrs: Mapping[str, Any]) -> str:
        return await self.writer.create(kind, key, attrs)

    async def update(self, live: LiveObject, attrs: Mapping[str, Any]) -> None:
        await self.writer.update(live, attrs)

    async def delete(self, live: LiveObject) -> None:
        await self.writer.delete(live)

    async def read_managed(self) -> ManagedRecord:
        return await self.records.read_managed()

    async def write_managed(self, record: ManagedRecord) -> None:
        await self.records.write_managed(record)

    async def acquire_lock(self, holder: str, ttl_seconds: float) -> LockInfo:
        """Take the apply lock or raise LockError naming the holder and when it expires."""
        return await self.records.acquire_lock(holder, ttl_seconds)

    async def release_lock(self, holder: str) -> None:
        await self.records.release_lock(holder)

    async def renew_lock(self, holder: str, ttl_seconds: float) -> LockInfo:
        return await self.records.renew_lock(holder, ttl_seconds)

    async def lock_info(self) -> LockInfo | None:
        return await self.records.lock_info()

    async def force_unlock(self) -> LockInfo | None:
        return await self.records.force_unlock()

    async def record_move(self) -> str:
        """What would move the managed record and lock to another Dashboard, in words; ""
        when they stay where they are (see records.Records.home)."""
        return await self.records.pending_move()

    def confirm_record_move(self) -> None:
        """Let the next write of the managed record move it (or merge records)."""
        self.records.confirm_move()


def open_tyk(
    portal_url: str,
    portal_token: str,
    dashboards: Mapping[str, DashboardConn],
    *,
    dashboard_url_override: str | None = None,
    timeout: Timeouts | float | None = None,
    parallelism: int = 8,
    transport: httpx.AsyncBaseTransport | None = None,
    insecure: bool = False,
    retry: RetryPolicy | None = None,
    clock: Callable[[], float] = time.time,
    token_source: str = "",
) -> PortalBackend:
    """The tyk backend: the portal admin API at ``portal_url`` and the providers' Dashboards.
    ``token_source`` names where the token came from, for the message when it is refused."""
    if timeout is None:
        timeouts = Timeouts()
    elif isinstance(timeout, Timeouts):
        timeouts = timeout
    else:
        timeouts = Timeouts(read=float(timeout))
    api = TykApi(
        portal_url,
        portal_token,
        transport=transport,
        timeouts=timeouts,
        parallelism=parallelism,
        retry=retry,
        insecure=insecure,
        token_source=token_source,
    )
    return PortalBackend(
        api,
        kind="tyk",
        target=display_url(portal_url),
        dashboards=dashboards,
        dashboard_url_override=dashboard_url_override,
        clock=clock,
    )
