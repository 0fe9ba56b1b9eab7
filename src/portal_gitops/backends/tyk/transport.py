"""An httpx transport that serves requests from a ``PortalStore`` in-process (no socket).

The embedded backend is the tyk backend's code over this transport, so both behave the same:
same requests, same replies, same error translation (a full read is the exception: it takes
the store's one-transaction snapshot, see ``PortalStore.snapshot``). The store is synchronous
and fast, so it is called directly on the event loop (which also serialises access to its
SQLite file).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Protocol

import httpx

log = logging.getLogger(__name__)


class StoreReply(Protocol):
    @property
    def status(self) -> int: ...
    @property
    def body(self) -> bytes: ...
    @property
    def headers(self) -> Mapping[str, str]: ...


class RequestHandler(Protocol):
    """What the transport needs from the store: its single HTTP-shaped entry point."""

    def handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> StoreReply: ...


class InProcessTransport(httpx.AsyncBaseTransport):
    """Route every request to ``store.handle``; a crash in the store becomes a 500 reply."""

    def __init__(self, store: RequestHandler) -> None:
        self._store = store

    def __repr__(self) -> str:
        return f"InProcessTransport({type(self._store).__name__})"

    def call(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> tuple[int, dict[str, str], bytes]:
        """One request straight to the store: (status, lower-cased headers, body).

        The API client calls this directly, skipping httpx's request and response objects
        (most of the cost of an in-process request); ``handle_async_request`` wraps it for
        anything that goes through httpx.
        """
        try:
            reply = self._store.handle(method, path, query, headers, body)
        except Exception as exc:  # a store bug must look like a server error, not leak httpx-side
            log.exception("embedded store failed on %s %s", method, path)
            payload = {"errors": [f"embedded store error: {type(exc).__name__}: {exc}"]}
            return 500, {"content-type": "application/json"}, json.dumps(payload).encode()
        return (
            reply.status,
            {k.lower(): v for k, v in (reply.headers or {}).items()},
            reply.body,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        status, headers, content = self.call(
            request.method,
            request.url.path,
            request.url.params,  # a str -> str mapping (last value wins)
            request.headers,  # case-insensitive mapping
            body,
        )
        return httpx.Response(status, headers=headers, content=content, request=request)
