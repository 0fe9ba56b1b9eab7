"""An httpx transport that serves requests from a ``PortalStore`` in-process (no socket).

The embedded backend is the tyk backend's code over this transport, so both behave the same:
same requests, same replies, same error translation. The store is synchronous and fast, so it
is called directly on the event loop (which also serialises access to its SQLite file).
"""

from __future__ import annotations

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

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        try:
            reply = self._store.handle(
                request.method,
                request.url.path,
                request.url.params,  # a str -> str mapping (last value wins)
                request.headers,  # case-insensitive mapping
                body,
            )
        except Exception as exc:  # a store bug must look like a server error, not leak httpx-side
            log.exception("embedded store failed on %s %s", request.method, request.url.path)
            payload = {"errors": [f"embedded store error: {type(exc).__name__}: {exc}"]}
            return httpx.Response(500, json=payload, request=request)
        return httpx.Response(
            reply.status,
            headers=dict(reply.headers or {}),
            content=reply.body,
            request=request,
        )
