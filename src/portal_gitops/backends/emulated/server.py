"""The emulator: the portal store served over HTTP with Tyk's real paths, plus injectable faults.

``create_app`` wraps ``PortalStore.handle`` in a plain ASGI app (portal under ``/portal-api``,
Dashboard under ``/api``, health at ``/ready`` and ``/live``); ``serve`` runs it with uvicorn for
``portal-gitops emulator``; ``running_emulator`` starts it on a loopback port in a background
thread for tests. ``FaultConfig`` injects latency, 5xx, 429, connection resets and lost responses
(committed writes whose reply never arrives) so the tyk backend's retry paths can be exercised.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import random
import re
import selectors
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from portal_gitops.backends.emulated.store import PortalStore, StoreResponse
from portal_gitops.errors import PortalGitopsError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

HEALTH_PATHS = frozenset({"/ready", "/live"})
WRITE_METHODS = frozenset({"POST", "PUT", "DELETE", "PATCH"})
PORTAL_TOKEN_ENV = "TYK_PORTAL_TOKEN"
DASHBOARD_SECRET_ENV = "TYK_DASHBOARD_SECRET"
_TRANSPORT_KEY = "portal_gitops.transport"


@dataclass(frozen=True)
class FaultConfig:
    """Faults to inject, all off by default. Rates are fractions of requests in [0, 1].

    latency_ms            added (asynchronously) to every request, to the microsecond
                          (see ``_run_server``)
    error_rate            answered 500 or 503 before the store is touched
    rate_limit_rate       answered 429 with ``Retry-After: retry_after_seconds``
    reset_rate            connection dropped without any response (the store is not touched)
    lost_response_rate    writes committed to the store, then the connection dropped
    lose_first_reply_of   a regular expression: the first write to each path it matches
                          (in full) is committed, then its connection dropped (a targeted
                          lost reply, e.g. ``.*/approve``)
    down_after_writes     after this many writes (POST, PUT, PATCH, DELETE) reached the
                          store, every request is answered 503 before the store is touched:
                          a portal that went down in the middle of an apply (0: never)
    seed                  seed of the random generator deciding which requests fail
    Faults never apply to the health endpoints.
    """

    latency_ms: float = 0
    error_rate: float = 0
    rate_limit_rate: float = 0
    retry_after_seconds: float = 1
    reset_rate: float = 0
    lost_response_rate: float = 0
    lose_first_reply_of: str = ""
    down_after_writes: int = 0
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("error_rate", "rate_limit_rate", "reset_rate", "lost_response_rate"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"FaultConfig.{name} must be between 0 and 1, got {value}")
        if self.latency_ms < 0 or self.retry_after_seconds < 0:
            raise ValueError("FaultConfig.latency_ms and retry_after_seconds must be >= 0")


@dataclass
class FaultStats:
    """What the emulator did to the requests it received (tests report fault rates from it)."""

    requests: int = 0  # every request but the health checks
    errors: int = 0  # answered 500/503 before the store was touched
    rate_limited: int = 0  # answered 429
    resets: int = 0  # dropped before the store was touched
    lost_responses: int = 0  # committed to the store, then dropped

    @property
    def faults(self) -> int:
        return self.errors + self.rate_limited + self.resets + self.lost_responses


class _DropConnection(Exception):
    """Raised inside the app to make the client see the connection close without a reply."""


class _Protocol(H11Protocol):
    """uvicorn's h11 protocol, exposing the transport to the app so it can drop connections."""

    def handle_events(self) -> None:
        super().handle_events()
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope.setdefault("extensions", {})[_TRANSPORT_KEY] = self.transport


def _fault_payload(path: str, status: int, message: str) -> dict[str, Any]:
    if path.startswith("/api/"):
        return {"Status": "Error", "Message": message, "Meta": None}
    return {"errors": [message]}


def _json_response(
    status: int, payload: Any, headers: Mapping[str, str] | None = None
) -> StoreResponse:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return StoreResponse(status, body, {"content-type": "application/json", **(headers or {})})


MAX_REQUEST_BYTES = 32 * 1024 * 1024
"""The largest request body the emulator reads (the managed record of 100,000 objects is a few
MB); a larger one is answered 413 without being buffered, as a portal behind a proxy would."""


class _TooLarge(Exception):
    pass


def create_app(
    store: PortalStore,
    faults: FaultConfig | None = None,
    stats: FaultStats | None = None,
    *,
    max_body_bytes: int = MAX_REQUEST_BYTES,
) -> ASGIApp:
    """An ASGI app answering every request through ``store.handle`` (with ``faults`` injected,
    counted in ``stats`` when given); bodies over ``max_body_bytes`` are refused with 413."""
    faults = faults or FaultConfig()
    stats = stats if stats is not None else FaultStats()
    rng = random.Random(faults.seed)
    lost_once: set[str] = set()  # paths whose first reply was lost (lose_first_reply_of)
    writes = [0]  # writes that reached the store (down_after_writes)

    def roll(rate: float) -> bool:
        return rate > 0 and rng.random() < rate

    async def read_body(receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _DropConnection
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_body_bytes:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def respond(send: Send, resp: StoreResponse) -> None:
        headers = [(k.lower().encode(), v.encode()) for k, v in resp.headers.items()]
        headers.append((b"content-length", str(len(resp.body)).encode()))
        await send({"type": "http.response.start", "status": resp.status, "headers": headers})
        await send({"type": "http.response.body", "body": resp.body})

    async def drop(scope: Scope, receive: Receive) -> None:
        transport = scope.get("extensions", {}).get(_TRANSPORT_KEY)
        if transport is None:  # not under our protocol: make the server cut the response
            raise _DropConnection
        transport.abort()
        # wait until the server has noticed, so it does not try to answer with a 500 itself
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(receive(), timeout=1.0)

    async def lifespan(receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        method, path = scope["method"].upper(), scope["path"]
        if path in HEALTH_PATHS:
            await respond(send, _json_response(200, {"status": "ok"}))
            return
        stats.requests += 1
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if faults.down_after_writes and writes[0] >= faults.down_after_writes:
            stats.errors += 1
            await respond(send, _json_response(503, _fault_payload(path, 503, "down")))
            return
        if roll(faults.error_rate):
            stats.errors += 1
            status = rng.choice((500, 503))
            await respond(send, _json_response(status, _fault_payload(path, status, "injected")))
            return
        if roll(faults.rate_limit_rate):
            stats.rate_limited += 1
            seconds = faults.retry_after_seconds
            retry_after = str(int(seconds)) if float(seconds).is_integer() else str(seconds)
            payload = _fault_payload(path, 429, "Too Many Requests")
            await respond(send, _json_response(429, payload, {"retry-after": retry_after}))
            return
        if roll(faults.reset_rate):
            stats.resets += 1
            await drop(scope, receive)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        declared = headers.get("content-length", "")
        try:
            if declared.isdigit() and int(declared) > max_body_bytes:
                raise _TooLarge
            body = await read_body(receive)
        except _TooLarge:
            message = f"request body larger than {max_body_bytes} bytes"
            await respond(send, _json_response(413, _fault_payload(path, 413, message)))
            return
        query = dict(
            parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        )
        resp = store.handle(method, path, query, headers, body)
        if method in WRITE_METHODS:
            writes[0] += 1
        if (
            method in WRITE_METHODS
            and faults.lose_first_reply_of
            and path not in lost_once
            and re.fullmatch(faults.lose_first_reply_of, path)
        ):
            lost_once.add(path)
            stats.lost_responses += 1
            await drop(scope, receive)
            return
        if method in WRITE_METHODS and roll(faults.lost_response_rate):
            stats.lost_responses += 1
            await drop(scope, receive)
            return
        await respond(send, resp)

    return app


def settings_from_env(environ: Mapping[str, str]) -> tuple[str, str]:
    """(portal_token, dashboard_secret) from TYK_PORTAL_TOKEN and TYK_DASHBOARD_SECRET."""
    missing = [name for name in (PORTAL_TOKEN_ENV, DASHBOARD_SECRET_ENV) if not environ.get(name)]
    if missing:
        raise PortalGitopsError(
            f"the emulator needs {' and '.join(missing)} set in the environment: the tokens "
            "clients must send in the Authorization header (portal and Dashboard)"
        )
    return environ[PORTAL_TOKEN_ENV], environ[DASHBOARD_SECRET_ENV]


def _config(app: ASGIApp, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=_Protocol,
        lifespan="off",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=1,
    )


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port``, or a PortalGitopsError saying why not (in use, no such
    address): taken before anything is printed, so a busy port is one clear error."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        raise PortalGitopsError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; check --host"
        ) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        hint = (
            "another program (perhaps another emulator) is using it: stop it, or pick a free "
            "port with --port"
            if exc.errno == errno.EADDRINUSE
            else "check --host and --port"
        )
        raise PortalGitopsError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; {hint}"
        ) from None
    return sock


def _run_server(
    server: uvicorn.Server, faults: FaultConfig | None, sockets: list[socket.socket] | None
) -> None:
    """Run ``server`` until it exits.

    With latency injected, on an event loop over select(), whose waits have microsecond
    resolution: epoll's are rounded up to the next millisecond, which added up to 1 ms to
    every request and released the requests that arrived within a millisecond together, in
    bursts a network does not make (apply of 2,000 creates at 10 ms: 8% slower). select()
    handles the few connections a test or benchmark makes.
    """
    if faults is None or not faults.latency_ms:
        server.run(sockets=sockets)
        return
    loop = asyncio.SelectorEventLoop(selectors.SelectSelector())
    try:
        loop.run_until_complete(server.serve(sockets=sockets))
    finally:
        loop.close()


def serve(
    host: str,
    port: int,
    store_path: str,
    faults: FaultConfig | None = None,
    *,
    portal_token: str | None = None,
    dashboard_secret: str | None = None,
    environ: Mapping[str, str] | None = None,
    apis: Sequence[Mapping[str, Any]] = (),
    listening: Callable[[], None] = lambda: None,
) -> None:
    """Serve the store at ``store_path`` until interrupted (``portal-gitops emulator``).

    ``apis``: API definitions stored in the emulated Dashboard first (``--apis``).
    ``listening`` is called once the port is bound and the store open (the CLI's banner); a
    port that cannot be bound raises PortalGitopsError before.

    Tokens not given are read with ``settings_from_env`` (``os.environ`` unless ``environ``).
    """
    if portal_token is None or dashboard_secret is None:
        env_token, env_secret = settings_from_env(os.environ if environ is None else environ)
        portal_token = portal_token or env_token
        dashboard_secret = dashboard_secret or env_secret
    sock = listen(host, port)
    try:
        store = PortalStore(
            store_path, portal_token=portal_token, dashboard_secret=dashboard_secret, apis=apis
        )
        try:
            listening()
            server = uvicorn.Server(_config(create_app(store, faults), host, port))
            _run_server(server, faults, [sock])
        finally:
            store.close()
    finally:
        sock.close()


@contextlib.contextmanager
def running_emulator(
    store: PortalStore,
    faults: FaultConfig | None = None,
    *,
    portal_token: str | None,
    dashboard_secret: str | None,
    stats: FaultStats | None = None,
    max_body_bytes: int = MAX_REQUEST_BYTES,
) -> Iterator[str]:
    """Serve ``store`` on 127.0.0.1 (a free port) in a background thread; yields the base URL.

    The store is set to require ``portal_token`` / ``dashboard_secret`` (None = no check).
    """
    store.portal_token = portal_token
    store.dashboard_secret = dashboard_secret
    app = create_app(store, faults, stats, max_body_bytes=max_body_bytes)
    server = uvicorn.Server(_config(app, "127.0.0.1", 0))
    errors: list[BaseException] = []

    def run() -> None:
        try:
            _run_server(server, faults, None)
        except BaseException as exc:  # surfaced to the caller below
            errors.append(exc)

    thread = threading.Thread(target=run, name="portal-gitops-emulator", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if errors or not thread.is_alive():
            raise RuntimeError(f"emulator failed to start: {errors[0] if errors else 'exited'}")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("emulator did not start within 10 s")
        time.sleep(0.005)
    sockets = [s for srv in server.servers for s in (srv.sockets or ())]
    port = sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


__all__ = [
    "MAX_REQUEST_BYTES",
    "FaultConfig",
    "FaultStats",
    "create_app",
    "running_emulator",
    "serve",
    "settings_from_env",
]
