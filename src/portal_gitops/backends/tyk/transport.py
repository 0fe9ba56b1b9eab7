"""The transports under the API client: HTTP/1.1 keep-alive over asyncio streams (the default),
and an in-process one that serves requests from a store without a socket.

The embedded backend is the tyk backend's code over ``InProcessTransport``, so both behave the
same: same requests, same replies, same error translation (a full read is the exception: it
takes the store's one-transaction snapshot). The store is synchronous and fast, so it is called
directly on the event loop (which also serialises access to its SQLite file).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import ssl
import time
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import h11
import httpx

from portal_gitops.backends.tyk.limits import ReplyBudget, ReplyTooLarge, ReplyTooSlow

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


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.CLIENT)

    def reusable(self) -> bool:
        return not (self.reader.at_eof() or self.writer.is_closing())

    def close(self) -> None:
        self.writer.close()


@dataclass
class _Pool:
    """Idle connections per (scheme, host, port), and the TLS context of new ones."""

    _ssl_context: ssl.SSLContext
    idle: dict[tuple[str, str, int], list[_Connection]] = field(default_factory=dict)


class KeepAliveTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 with keep-alive connections over asyncio streams, framed by h11.

    httpx's default transport (httpcore over anyio) costs about 2.5 ms of CPU per request
    here, more than the whole budget of a request when eight overlap at 10 ms each; this one
    costs under 1 ms (benchmarks/bench_read.py). Bodies are read whole (replies are JSON),
    up to the request's ``max_reply_bytes`` extension (compressed or not: ``ReplyTooLarge``)
    and by its ``deadline`` extension (``time.monotonic``: a reply still arriving then raises
    ``ReplyTooSlow``; one that has not started is a read timeout).
    Failures are raised as httpx's exceptions, as httpx's own transport raises them, so the
    client's error table applies unchanged. Concurrency is bounded by the caller (``TykApi``'s
    semaphore); idle connections are kept per (scheme, host, port) and dropped once the
    server has closed them.
    """

    def __init__(self, *, verify: bool = True) -> None:
        self._pool = _Pool(httpx.create_ssl_context(verify=verify))

    async def aclose(self) -> None:
        for conns in self._pool.idle.values():
            for conn in conns:
                conn.close()
        self._pool.idle.clear()

    async def _connect(self, request: httpx.Request, timeout: float | None) -> _Connection:
        url = request.url
        https = url.scheme == "https"
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    url.host,
                    url.port or (443 if https else 80),
                    ssl=self._pool._ssl_context if https else None,
                    server_hostname=url.host if https else None,
                )
        except TimeoutError as exc:
            raise httpx.ConnectTimeout("timed out connecting", request=request) from exc
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from exc
        return _Connection(reader, writer)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        url = request.url
        key = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        idle = self._pool.idle.setdefault(key, [])
        conn = None
        while idle and conn is None:
            candidate = idle.pop()
            if candidate.reusable():
                conn = candidate
            else:
                candidate.close()
        if conn is None:
            conn = await self._connect(request, timeouts.get("connect"))
        budget: ReplyBudget | None = request.extensions.get("reply_budget")
        held = [0]  # bytes of this reply counted in the budget shared by concurrent replies
        try:
            response = await self._exchange(conn, request, timeouts, budget, held)
        except BaseException:
            conn.close()  # a half-done exchange leaves the connection unusable
            raise
        finally:
            if budget is not None:
                budget.used -= held[0]
        if conn.h11.our_state is h11.DONE and conn.h11.their_state is h11.DONE:
            conn.h11.start_next_cycle()
            idle.append(conn)
        else:
            conn.close()
        return response

    async def _exchange(
        self,
        conn: _Connection,
        request: httpx.Request,
        timeouts: Mapping[str, Any],
        budget: ReplyBudget | None,
        held: list[int],
    ) -> httpx.Response:
        body = await request.aread()
        headers = list(request.headers.raw)
        if body and not any(k.lower() == b"content-length" for k, _ in headers):
            headers.append((b"content-length", str(len(body)).encode()))
        try:
            data = conn.h11.send(
                h11.Request(
                    method=request.method.encode(), target=request.url.raw_path, headers=headers
                )
            )
            if body:
                data = (data or b"") + (conn.h11.send(h11.Data(data=body)) or b"")
            data = (data or b"") + (conn.h11.send(h11.EndOfMessage()) or b"")
        except h11.LocalProtocolError as exc:
            raise httpx.LocalProtocolError(str(exc), request=request) from exc
        try:
            async with asyncio.timeout(timeouts.get("write")):
                conn.writer.write(data)
                await conn.writer.drain()
        except TimeoutError as exc:
            raise httpx.WriteTimeout("timed out sending", request=request) from exc
        except OSError as exc:
            raise httpx.WriteError(str(exc) or type(exc).__name__, request=request) from exc
        head: h11.Response | None = None
        chunks: list[bytes] = []
        size = 0
        received_any = False
        read_timeout = timeouts.get("read")
        cap: int | None = request.extensions.get("max_reply_bytes")
        deadline: float | None = request.extensions.get("deadline")
        while True:
            try:
                event = conn.h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise httpx.RemoteProtocolError(str(exc), request=request) from exc
            if event is h11.NEED_DATA:
                wait = read_timeout
                if deadline is not None:
                    left = deadline - time.monotonic()
                    wait = left if wait is None else min(wait, left)
                try:
                    async with asyncio.timeout(wait):
                        received = await conn.reader.read(65536)
                except TimeoutError as exc:
                    if received_any and deadline is not None and time.monotonic() >= deadline:
                        raise ReplyTooSlow from None
                    raise httpx.ReadTimeout("timed out reading", request=request) from exc
                except OSError as exc:
                    raise httpx.ReadError(str(exc) or type(exc).__name__, request=request) from exc
                if not received and head is None:
                    raise httpx.RemoteProtocolError(
                        "Server disconnected without sending a response.", request=request
                    )
                received_any = True
                conn.h11.receive_data(received)
            elif isinstance(event, h11.Response):
                head = event
                if cap is not None and _declared_length(event.headers) > cap:
                    raise ReplyTooLarge(cap)
            elif isinstance(event, h11.Data):
                size += len(event.data)
                if cap is not None and size > cap:
                    raise ReplyTooLarge(cap)
                if budget is not None:
                    budget.used += len(event.data)
                    held[0] += len(event.data)
                    if budget.used > budget.limit:
                        raise ReplyTooLarge(budget.limit, together=True)
                chunks.append(bytes(event.data))
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                break
        assert head is not None
        headers = list(head.headers)
        content = b"".join(chunks)
        if cap is not None:
            headers, content = _decoded(headers, content, cap)
        return httpx.Response(
            head.status_code,
            headers=headers,
            content=content,
            request=request,
            extensions={"http_version": b"HTTP/" + head.http_version},
        )


def _declared_length(headers: Iterable[tuple[bytes, bytes]]) -> int:
    for name, value in headers:
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0


_DECODERS = {b"gzip": 16 + zlib.MAX_WBITS, b"deflate": zlib.MAX_WBITS}


def _decoded(
    headers: list[tuple[bytes, bytes]], content: bytes, cap: int
) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """A compressed body decompressed here, to at most ``cap`` bytes (httpx would decompress
    it without a bound: 64 MB of gzip can hold 64 GB); the headers then say it is plain."""
    encoding = next((v.lower() for n, v in headers if n == b"content-encoding"), b"identity")
    if encoding == b"identity" or not content:
        return headers, content
    wbits = _DECODERS.get(encoding)
    if wbits is None:
        raise httpx.DecodingError(f"unsupported content encoding {encoding.decode('latin-1')}")
    try:
        decoder = zlib.decompressobj(wbits)
        plain = decoder.decompress(content, cap + 1)
    except zlib.error as exc:
        raise httpx.DecodingError(f"cannot decompress the reply: {exc}") from exc
    if len(plain) > cap:
        raise ReplyTooLarge(cap)
    kept = [(n, v) for n, v in headers if n not in (b"content-encoding", b"content-length")]
    return kept, plain


def default_transport(verify: bool) -> httpx.AsyncBaseTransport | None:
    """Our keep-alive transport, unless the environment names a proxy: then httpx's own
    (None), which honours HTTP(S)_PROXY, ALL_PROXY and NO_PROXY as users expect."""
    if any(
        os.environ.get(name) or os.environ.get(name.lower())
        for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY")
    ):
        return None
    return KeepAliveTransport(verify=verify)
