"""The embedded backend: the tyk client over an in-process transport to the emulated store.

This is the one place the two wings meet; the tyk client never imports the emulated portal.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Any

from portal_gitops.backends.emulated.store import PortalStore
from portal_gitops.backends.tyk.backend import EMBEDDED_URL, PortalBackend
from portal_gitops.backends.tyk.client import TykApi
from portal_gitops.backends.tyk.dashboards import DashboardConn
from portal_gitops.backends.tyk.transport import InProcessTransport
from portal_gitops.errors import BackendError
from portal_gitops.retry import NO_RETRY

__all__ = ["open_embedded"]


def open_embedded(
    store_path: str, *, clock: Callable[[], float] = time.time, **store_kwargs: Any
) -> PortalBackend:
    """The embedded backend: this same code over an in-process transport to a PortalStore.

    ``store_kwargs`` go to ``PortalStore`` (tokens, page sizes, quirk switches).
    """
    try:
        store = PortalStore(store_path, **store_kwargs)
    except (sqlite3.Error, RuntimeError) as exc:
        raise BackendError(
            f"cannot open the embedded store {store_path}: {exc}", operation="open store"
        ) from exc
    token = store_kwargs.get("portal_token")
    secret = store_kwargs.get("dashboard_secret")
    api = TykApi(EMBEDDED_URL, token, transport=InProcessTransport(store), retry=NO_RETRY)

    async def close() -> None:
        store.close()

    return PortalBackend(
        api,
        kind="embedded",
        target=store_path,
        fixed_dashboard=DashboardConn(EMBEDDED_URL, secret),
        clock=clock,
        on_close=close,
        snapshot=store.snapshot,
    )
