"""HTTP client layer for the Tyk Developer Portal admin API and the Dashboard policies API.

Everything that touches httpx lives here: authentication (raw token in ``Authorization``),
pagination followed to the end, bounded concurrency, timeouts, retries with backoff for safe
requests only, tolerant parsing of the documented quirks, and the ONE table that turns HTTP
statuses and transport failures into our errors (``errors.py``). No httpx exception leaves
this module: each is translated here, once, and chained with ``from``.

    TykApi                 one portal + the Dashboards its providers point at
    ├── PortalApi          /portal-api/...  (PascalCase JSON, integer IDs, page/per_page)
    └── DashboardApi       /api/portal/policies  (snake_case JSON, ``_id``, ``p`` + ``Pages``)
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import os
import re
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import h11
import httpx

from portal_gitops.backends.tyk.transport import InProcessTransport
from portal_gitops.errors import (
    AuthError,
    BackendError,
    ConflictError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    TransportError,
    ValidationFailed,
    is_retryable,
)
from portal_gitops.retry import RetryPolicy

log = logging.getLogger(__name__)

PORTAL_PREFIX = "/portal-api"
POLICIES_PATH = "/api/portal/policies"
SAFE_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})
"""Methods that may be retried blindly. POST never is: the caller looks the object up instead."""

_NO_BODY: Any = object()


# --------------------------------------------------------------------------------------------
# configuration records


@dataclass(frozen=True)
class DashboardConn:
    """Where a provider's Dashboard is and how to authenticate (the secret is never printed)."""

    url: str
    secret: str | None = field(default=None, repr=False)
    insecure: bool = False

    def __repr__(self) -> str:  # explicit so that no dataclass change can ever show the secret
        return f"DashboardConn(url={self.url!r}, insecure={self.insecure!r})"


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait for a connection and for a reply (write/pool share the read timeout)."""

    connect: float = 5.0
    read: float = 30.0

    def to_httpx(self) -> httpx.Timeout:
        return httpx.Timeout(self.read, connect=self.connect)


# --------------------------------------------------------------------------------------------
# tolerant parsing of the documented quirks (pure functions)


def as_list(body: Any, *, operation: str = "") -> list[dict[str, Any]]:
    """A list reply as a list of objects: a bare array, ``{"data": [...]}`` or ``{"Data": [...]}``.

    ``null`` (or ``{"data": null}``) is an empty list. Non-object items are dropped.
    """
    items: Any = body
    if isinstance(body, Mapping):
        for key in ("data", "Data"):
            if key in body:
                items = body[key]
                break
        else:
            raise ServerError(
                f"unexpected reply: an object without a data array ({_describe(body)})",
                operation=operation,
            )
    if items is None:
        return []
    if not isinstance(items, list):
        raise ServerError(f"unexpected reply: not a list ({_describe(items)})", operation=operation)
    return [item for item in items if isinstance(item, dict)]


def _describe(value: Any) -> str:
    if isinstance(value, Mapping):
        return "keys " + ", ".join(sorted(str(k) for k in value)[:8])
    return type(value).__name__


_PERIOD_SECONDS = {
    "second": 1,
    "sec": 1,
    "s": 1,
    "minute": 60,
    "min": 60,
    "m": 60,
    "hour": 3600,
    "h": 3600,
    "day": 86400,
    "d": 86400,
    "week": 604800,
    "month": 2592000,
    "year": 31536000,
}
_LIMIT_RE = re.compile(
    r"^\s*(?P<count>-?\d+(?:\.\d+)?)\s*(?:calls?|requests?)?\s*"
    r"(?:(?:/|per)\s*(?P<n>\d+(?:\.\d+)?)?\s*(?P<unit>[a-z]+)(?:\(s\)|s)?)?\s*$",
    re.IGNORECASE,
)


def parse_limit(value: Any) -> tuple[int | None, int | None]:
    """A plan limit as ``(count, period seconds)``; ``(None, None)`` means unlimited.

    Accepts integers (portal >= 1.13), numeric strings, and the legacy strings such as
    ``"1000 calls / 60 second(s)"``, ``"1000 calls / 1 minute(s)"`` or ``"unlimited"``.
    A count <= 0 means unlimited. The period is None when the value does not carry one.
    """
    if value is None or isinstance(value, bool):
        return (None, None)
    if isinstance(value, (int, float)):
        count = int(value)
        return (count, None) if count > 0 else (None, None)
    if not isinstance(value, str):
        return (None, None)
    text = value.strip()
    if not text or text.lower() in {"unlimited", "none", "disabled", "-1"}:
        return (None, None)
    match = _LIMIT_RE.match(text)
    if not match:
        return (None, None)
    count = int(float(match["count"]))
    if count <= 0:
        return (None, None)
    unit = (match["unit"] or "").lower()
    if not unit:
        return (count, None)
    unit = unit.removesuffix("(s)")
    seconds = _PERIOD_SECONDS.get(unit) or _PERIOD_SECONDS.get(unit.rstrip("s"))
    if seconds is None:
        return (count, None)
    n = float(match["n"]) if match["n"] else 1.0
    return (count, int(n * seconds))


_USER_REF_RE = re.compile(r"^\s*User\s*#\s*(\d+)\s*$", re.IGNORECASE)


def parse_user_ref(value: Any) -> int | None:
    """A user reference as an integer id: ``"User#6"``, ``6``, ``"6"`` or ``{"ID": 6}``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, Mapping):
        return parse_user_ref(value.get("ID"))
    if isinstance(value, str):
        match = _USER_REF_RE.match(value)
        if match:
            return int(match[1])
        if value.strip().isdigit():
            return int(value.strip())
    return None


def parse_names(value: Any, known: Iterable[str] = ()) -> list[str]:
    """Names from a field that is a list of names, a list of objects, or one name string.

    Access requests' ``Products`` is sometimes one string: when it is not a known name but
    its comma-separated parts all are, it is split.
    """
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return []
        known_set = set(known)
        if text in known_set or not known_set:
            return [text]
        parts = [p.strip() for p in text.split(",") if p.strip()]
        return parts if all(p in known_set for p in parts) else [text]
    if isinstance(value, list):
        names: list[str] = []
        for item in value:
            if isinstance(item, str):
                names.append(item)
            elif isinstance(item, Mapping) and isinstance(item.get("Name"), str):
                names.append(item["Name"])
        return names
    return []


def parse_timestamp(value: Any) -> datetime | None:
    """A portal timestamp (``YYYY-MM-DD HH:MM`` or with seconds); ``""``/null is None."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    for fmt in ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def as_int(value: Any) -> int | None:
    """An integer from an int, an integral float or a numeric string; otherwise None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value == int(value) else None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return int(number) if number == int(number) else None
    return None


def number(value: Any, default: int | float = 0) -> int | float:
    """A JSON number normalised: integral floats become ints; strings are parsed."""
    if isinstance(value, bool) or value is None:
        return default
    if isinstance(value, (int, float)):
        return int(value) if float(value).is_integer() else value
    if isinstance(value, str):
        try:
            parsed = float(value.strip())
        except ValueError:
            return default
        return int(parsed) if parsed.is_integer() else parsed
    return default


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; None when absent or invalid."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def provider_metadata(provider: Mapping[str, Any]) -> dict[str, Any]:
    """A provider's ``Configuration.MetaData`` decoded (it is a JSON-encoded string)."""
    config = provider.get("Configuration")
    raw = config.get("MetaData") if isinstance(config, Mapping) else None
    if isinstance(raw, Mapping):
        return dict(raw)
    if isinstance(raw, str) and raw.strip():
        try:
            decoded = json.loads(raw)
        except ValueError:
            return {}
        return dict(decoded) if isinstance(decoded, dict) else {}
    return {}


# --------------------------------------------------------------------------------------------
# the one table: HTTP status -> our error

_STATUS_ERRORS: dict[int, type[BackendError]] = {
    400: ValidationFailed,
    401: AuthError,
    403: AuthError,
    404: NotFoundError,
    409: ConflictError,
    410: NotFoundError,
    422: ValidationFailed,
}
_DUPLICATE_RE = re.compile(
    r"already\s+(?:been\s+)?(?:used|exists?|taken|in use|registered)|duplicate|not unique|"
    r"must be unique|unique constraint",
    re.IGNORECASE,
)


def error_detail(body: bytes, limit: int = 300) -> str:
    """The human part of an error reply: portal ``errors``, dashboard ``Message``, or text."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text) if text else None
    except ValueError:
        data = None
    detail = ""
    if isinstance(data, Mapping):
        errors = data.get("errors") or data.get("Errors")
        if isinstance(errors, list) and errors:
            detail = "; ".join(str(e) for e in errors)
        elif isinstance(errors, str):
            detail = errors
        else:
            for key in ("Message", "message", "error", "detail"):
                if isinstance(data.get(key), str) and data[key]:
                    detail = data[key]
                    break
    elif text and not text.startswith(("{", "[")):
        detail = " ".join(text.split())
    if len(detail) > limit:
        detail = detail[: limit - 1] + "…"
    return detail


def error_for_status(
    status: int,
    body: bytes,
    *,
    operation: str,
    retry_after: str | None = None,
    scrub: Callable[[str], str] = lambda s: s,
) -> BackendError:
    """Translate one failed HTTP reply into our error; the message names the operation."""
    detail = scrub(error_detail(body))
    reason = httpx.codes.get_reason_phrase(status) or "HTTP error"
    message = f"{status} {reason}: {detail}" if detail else f"{status} {reason}"
    if status == 429:
        return RateLimitedError(
            message, operation=operation, retry_after=parse_retry_after(retry_after)
        )
    if status >= 500:
        return ServerError(message, operation=operation, status=status)
    cls = _STATUS_ERRORS.get(status, BackendError)
    if status in (400, 422) and _DUPLICATE_RE.search(detail):
        cls = ConflictError
    return cls(message, operation=operation, status=status)


def error_for_transport(exc: Exception, *, operation: str, host: str) -> TransportError:
    """Translate an httpx transport failure (never a reply) into ``TransportError``."""
    if isinstance(exc, httpx.TimeoutException):
        phase = {
            httpx.ConnectTimeout: "connecting to",
            httpx.ReadTimeout: "waiting for a reply from",
            httpx.WriteTimeout: "sending to",
            httpx.PoolTimeout: "waiting for a free connection to",
        }.get(type(exc), "talking to")
        return TransportError(f"timed out {phase} {host}", operation=operation, timed_out=True)
    if isinstance(exc, httpx.ConnectError):
        return TransportError(f"cannot connect to {host}: {_short(exc)}", operation=operation)
    if isinstance(exc, (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)):
        return TransportError(f"connection to {host} broken: {_short(exc)}", operation=operation)
    return TransportError(f"request to {host} failed: {_short(exc)}", operation=operation)


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"


# --------------------------------------------------------------------------------------------
# the HTTP/1.1 transport


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
    costs under 1 ms (benchmarks/bench_read.py). Bodies are read whole (replies are JSON).
    Failures are raised as httpx's exceptions, as httpx's own transport raises them, so the
    error table above applies unchanged. Concurrency is bounded by the caller (``TykApi``'s
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
        try:
            response = await self._exchange(conn, request, timeouts)
        except BaseException:
            conn.close()  # a half-done exchange leaves the connection unusable
            raise
        if conn.h11.our_state is h11.DONE and conn.h11.their_state is h11.DONE:
            conn.h11.start_next_cycle()
            idle.append(conn)
        else:
            conn.close()
        return response

    async def _exchange(
        self, conn: _Connection, request: httpx.Request, timeouts: Mapping[str, Any]
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
        read_timeout = timeouts.get("read")
        while True:
            try:
                event = conn.h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise httpx.RemoteProtocolError(str(exc), request=request) from exc
            if event is h11.NEED_DATA:
                try:
                    async with asyncio.timeout(read_timeout):
                        received = await conn.reader.read(65536)
                except TimeoutError as exc:
                    raise httpx.ReadTimeout("timed out reading", request=request) from exc
                except OSError as exc:
                    raise httpx.ReadError(str(exc) or type(exc).__name__, request=request) from exc
                if not received and head is None:
                    raise httpx.RemoteProtocolError(
                        "Server disconnected without sending a response.", request=request
                    )
                conn.h11.receive_data(received)
            elif isinstance(event, h11.Response):
                head = event
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                break
        assert head is not None
        return httpx.Response(
            head.status_code,
            headers=list(head.headers),
            content=b"".join(chunks),
            request=request,
            extensions={"http_version": b"HTTP/" + head.http_version},
        )


def default_transport(verify: bool) -> httpx.AsyncBaseTransport | None:
    """Our keep-alive transport, unless the environment names a proxy: then httpx's own
    (None), which honours HTTP(S)_PROXY, ALL_PROXY and NO_PROXY as users expect."""
    if any(
        os.environ.get(name) or os.environ.get(name.lower())
        for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY")
    ):
        return None
    return KeepAliveTransport(verify=verify)


# --------------------------------------------------------------------------------------------
# one authenticated HTTP client


class _Client:
    """One base URL + one raw token; every request goes through ``request``."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        transport: httpx.AsyncBaseTransport | None,
        timeouts: Timeouts,
        verify: bool,
        semaphore: asyncio.Semaphore,
        retry: RetryPolicy,
        secrets: set[str],
    ) -> None:
        headers = {"Accept": "application/json", "User-Agent": "portal-gitops"}
        if token:
            headers["Authorization"] = token  # raw token: no "Bearer" (REFERENCE.md §1)
        self.base_url = base_url.rstrip("/")
        self._host = httpx.URL(self.base_url).netloc.decode("ascii", "replace") or self.base_url
        self._semaphore = semaphore
        self._retry = retry
        self._secrets = secrets
        if token:
            secrets.add(token)
        # in-process (the embedded store): requests go straight to the store, same bytes in
        # and out, without building httpx request/response objects
        self._direct = transport if isinstance(transport, InProcessTransport) else None
        self._direct_headers = {k.lower(): v for k, v in headers.items()}
        self._direct_prefix = httpx.URL(self.base_url).path.rstrip("/")
        own = transport or default_transport(verify)
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=timeouts.to_httpx(),
            verify=verify,
            transport=own,
            follow_redirects=False,
        )
        # Over our transport, requests are built here and handed to it: the client's request
        # building, auth, cookie and redirect machinery cost 70 us of a request's 360 us of
        # CPU and do nothing for us. Behind a proxy (no transport of ours) the client routes.
        self._send = own.handle_async_request if own is not None else None
        self._headers = httpx.Headers(self._http.headers)  # what the client would send
        self._timeout = timeouts.to_httpx().as_dict()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r})"

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret and len(secret) >= 4 and secret in text:
                text = text.replace(secret, "***")
        return text

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        params: Mapping[str, str | int] | None = None,
        body: Any = _NO_BODY,
        idempotent: bool = True,
    ) -> Any:
        """Send one request (retrying only when safe); return the decoded JSON reply or None.

        A DELETE whose retry finds the object gone (404) has succeeded: the first attempt
        deleted it and only the reply was lost. ``idempotent=False`` marks a PUT that makes
        something each time (the portal's provision): never retried blindly.
        """
        safe = method in SAFE_METHODS and idempotent
        attempts = max(1, self._retry.attempts) if safe else 1
        attempt = 0
        while True:
            try:
                return await self._once(method, path, operation=operation, params=params, body=body)
            except NotFoundError:
                if method == "DELETE" and attempt > 0:
                    return None
                raise
            except BackendError as exc:
                if attempt + 1 >= attempts or not is_retryable(exc):
                    raise
                delay = self._retry.delay(attempt, exc)
                log.debug("retrying %s %s in %.2fs after: %s", method, path, delay, exc)
                attempt += 1
                await self._retry.sleep(delay)

    def _build(self, method: str, path: str, query: Mapping[str, str], body: Any) -> httpx.Request:
        """The request ``AsyncClient.request`` would build: same URL, headers, JSON body."""
        url = self.base_url + path
        if query:
            url += "?" + urlencode(query)
        return httpx.Request(
            method,
            url,
            headers=self._headers,
            json=None if body is _NO_BODY else body,
            extensions={"timeout": self._timeout},
        )

    async def _once(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        params: Mapping[str, str | int] | None,
        body: Any,
    ) -> Any:
        query = {k: str(v) for k, v in params.items()} if params else {}
        async with self._semaphore:
            if self._direct is not None:
                status, headers, content = self._direct.call(
                    method,
                    self._direct_prefix + path,
                    query,
                    self._direct_headers,
                    json.dumps(body).encode() if body is not _NO_BODY else b"",
                )
                retry_after = headers.get("retry-after")
            else:
                try:
                    if self._send is not None:
                        response = await self._send(self._build(method, path, query, body))
                        try:
                            content = await response.aread()
                        finally:
                            await response.aclose()
                    else:
                        response = await self._http.request(
                            method,
                            path,
                            params=query or None,
                            json=None if body is _NO_BODY else body,
                        )
                        content = await response.aread()
                except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
                    raise error_for_transport(exc, operation=operation, host=self._host) from exc
                status = response.status_code
                retry_after = response.headers.get("Retry-After")
        log.debug("%s %s -> %s", method, path, status)
        if status >= 400:
            raise error_for_status(
                status,
                content,
                operation=operation,
                retry_after=retry_after,
                scrub=self._scrub,
            )
        if status >= 300:
            raise BackendError(f"{status} unexpected redirect", operation=operation, status=status)
        if not content.strip():
            return None
        try:
            return json.loads(content)
        except ValueError as exc:
            raise ServerError(
                f"{status}: the reply is not JSON", operation=operation, status=status
            ) from exc


# --------------------------------------------------------------------------------------------
# the portal admin API


class PortalApi(_Client):
    """The portal admin API under ``<portal>/portal-api``; ``what`` names the object in errors."""

    def __init__(self, *args: Any, per_page: int = 100, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.per_page = per_page

    async def list_all(self, path: str, *, what: str) -> list[dict[str, Any]]:
        """Every item of a paginated list (``page``/``per_page`` until a short page)."""
        operation = f"list {what}"
        items: list[dict[str, Any]] = []
        seen_first: set[Any] = set()
        page = 1
        while True:
            reply = await self.request(
                "GET", path, operation=operation, params={"page": page, "per_page": self.per_page}
            )
            batch = as_list(reply, operation=operation)
            if not batch:
                break
            # a server that ignores ``page`` would return page 1 forever: stop on a repeat
            marker = batch[0].get("ID", json.dumps(batch[0], sort_keys=True, default=str))
            if marker in seen_first:
                break
            seen_first.add(marker)
            items.extend(batch)
            if len(batch) < self.per_page:
                break
            page += 1
        return items

    async def get(self, path: str, *, what: str) -> dict[str, Any]:
        reply = await self.request("GET", path, operation=f"read {what}")
        return reply if isinstance(reply, dict) else {}

    async def create(self, path: str, body: Mapping[str, Any], *, what: str) -> dict[str, Any]:
        """POST (never retried); 200 and 201 are both success."""
        reply = await self.request("POST", path, operation=f"create {what}", body=dict(body))
        return reply if isinstance(reply, dict) else {}

    async def update(self, path: str, body: Mapping[str, Any], *, what: str) -> dict[str, Any]:
        reply = await self.request("PUT", path, operation=f"update {what}", body=dict(body))
        return reply if isinstance(reply, dict) else {}

    async def action(
        self,
        path: str,
        *,
        verb: str,
        what: str,
        body: Mapping[str, Any] | None = None,
        idempotent: bool = True,
    ) -> Any:
        """A PUT action such as approve, reject or provision (``{"status":"ok",...}`` replies).

        Provision is not idempotent (each call files a new access request): pass
        ``idempotent=False`` and look before trying again.
        """
        return await self.request(
            "PUT",
            path,
            operation=f"{verb} {what}",
            body=_NO_BODY if body is None else dict(body),
            idempotent=idempotent,
        )

    async def delete(
        self, path: str, *, what: str, params: Mapping[str, str] | None = None
    ) -> None:
        await self.request("DELETE", path, operation=f"delete {what}", params=params)

    # named helpers for the resources the reconciler uses (paths from the 1.14 spec)

    async def list_providers(self) -> list[dict[str, Any]]:
        return await self.list_all("/providers", what="providers")

    async def list_organisations(self) -> list[dict[str, Any]]:
        return await self.list_all("/organisations", what="organisations")

    async def list_teams(self, org_id: int, org_name: str = "") -> list[dict[str, Any]]:
        label = (
            f'teams of organisation "{org_name}"' if org_name else f"teams of organisation {org_id}"
        )
        return await self.list_all(f"/organisations/{org_id}/teams", what=label)

    async def list_users(self) -> list[dict[str, Any]]:
        return await self.list_all("/users", what="users")

    async def list_products(self) -> list[dict[str, Any]]:
        return await self.list_all("/products", what="products")

    async def list_plans(self) -> list[dict[str, Any]]:
        return await self.list_all("/plans", what="plans")

    async def list_catalogues(self) -> list[dict[str, Any]]:
        return await self.list_all("/catalogues", what="catalogues")

    async def list_audiences(self, catalogue_id: int, name: str = "") -> list[dict[str, Any]]:
        return await self.list_all(
            f"/catalogues/{catalogue_id}/audiences",
            what=f'audiences of catalogue "{name or catalogue_id}"',
        )

    async def list_tags(self) -> list[dict[str, Any]]:
        return await self.list_all("/tags", what="tags")

    async def list_apps(self) -> list[dict[str, Any]]:
        return await self.list_all("/apps", what="apps")

    async def list_access_requests(self) -> list[dict[str, Any]]:
        return await self.list_all("/access_requests", what="access requests")

    async def list_app_access_requests(self, app_id: int, name: str = "") -> list[dict[str, Any]]:
        return await self.list_all(
            f"/apps/{app_id}/access-requests", what=f'access requests of app "{name or app_id}"'
        )


# --------------------------------------------------------------------------------------------
# the Dashboard policies API


class DashboardApi(_Client):
    """Dashboard policies under ``<dashboard>/api/portal/policies``."""

    async def list_policies(self, *, at_once: bool = False) -> list[dict[str, Any]]:
        """Every policy: page 1 tells ``Pages``; the remaining pages are fetched concurrently.

        ``at_once`` asks for everything in one reply (``p=-2``: any ``p < 0`` returns every
        policy, and the portal's own synchronise asks so); a Dashboard that answers with a
        page anyway (``Pages`` > 1) gets every page fetched as above (which page it sent is
        unknown, so page 1 is fetched too).
        """
        return await self._all_pages(POLICIES_PATH, {}, "list Dashboard policies", at_once)

    async def find_policies(self, name: str) -> list[dict[str, Any]]:
        """Policies named exactly ``name``, found with the Dashboard's policy search (``q``
        matches names and ids in part, so the matches are filtered to the exact name)."""
        matches = await self._all_pages(
            f"{POLICIES_PATH}/search", {"q": name}, f'search Dashboard policies for "{name}"'
        )
        return [p for p in matches if p.get("name") == name]

    async def _all_pages(
        self, path: str, query: Mapping[str, str], operation: str, at_once: bool = False
    ) -> list[dict[str, Any]]:
        params = {**query, "p": -2 if at_once else 1}
        first = await self.request("GET", path, operation=operation, params=params)
        policies = as_list(first, operation=operation)
        pages = as_int(first.get("Pages")) if isinstance(first, Mapping) else None
        if pages and pages > 1:
            rest = await asyncio.gather(
                *(
                    self.request("GET", path, operation=operation, params={**query, "p": p})
                    for p in range(1 if at_once else 2, pages + 1)
                )
            )
            for reply in rest:
                policies.extend(as_list(reply, operation=operation))
        unique: dict[str, dict[str, Any]] = {}
        for policy in policies:  # pages may shift under concurrent writes: de-duplicate by _id
            key = str(policy.get("_id") or policy.get("id") or json.dumps(policy, sort_keys=True))
            unique.setdefault(key, policy)
        return list(unique.values())

    async def get_policy(self, policy_id: str, *, what: str) -> dict[str, Any]:
        reply = await self.request("GET", f"{POLICIES_PATH}/{policy_id}", operation=f"read {what}")
        return reply if isinstance(reply, dict) else {}

    async def create_policy(self, body: Mapping[str, Any], *, what: str) -> str:
        """POST a policy (never retried); returns the new ``_id`` (the reply's ``Message``)."""
        reply = await self.request(
            "POST", POLICIES_PATH, operation=f"create {what}", body=dict(body)
        )
        if isinstance(reply, Mapping):
            for key in ("_id", "Message", "id"):
                value = reply.get(key)
                if isinstance(value, str) and value and " " not in value:
                    return value
        return str(body.get("_id") or "")

    async def update_policy(self, policy_id: str, body: Mapping[str, Any], *, what: str) -> None:
        await self.request(
            "PUT", f"{POLICIES_PATH}/{policy_id}", operation=f"update {what}", body=dict(body)
        )

    async def delete_policy(self, policy_id: str, *, what: str) -> None:
        await self.request("DELETE", f"{POLICIES_PATH}/{policy_id}", operation=f"delete {what}")


# --------------------------------------------------------------------------------------------
# the facade


def portal_base(url: str) -> str:
    """``http://host:3001`` or ``http://host:3001/portal-api`` -> the admin API base."""
    base = url.rstrip("/")
    return base if base.endswith(PORTAL_PREFIX) else base + PORTAL_PREFIX


class TykApi:
    """The portal admin API plus one ``DashboardApi`` per Dashboard connection.

    One semaphore bounds concurrent requests across all of them (``parallelism``). Pass
    ``transport`` to route every request through it (the in-process store, a mock, a recorder).
    """

    def __init__(
        self,
        portal_url: str,
        portal_token: str | None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeouts: Timeouts | None = None,
        parallelism: int = 8,
        retry: RetryPolicy | None = None,
        insecure: bool = False,
        per_page: int = 100,
    ) -> None:
        self._transport = transport
        self._timeouts = timeouts or Timeouts()
        self.retry = self._retry = retry or RetryPolicy()
        self._semaphore = asyncio.Semaphore(max(1, parallelism))
        self._secrets: set[str] = set()
        self._dashboards: dict[tuple[str, str | None, bool], DashboardApi] = {}
        self.portal_url = portal_url.rstrip("/")
        self.portal = PortalApi(
            portal_base(portal_url),
            portal_token,
            transport=transport,
            timeouts=self._timeouts,
            verify=not insecure,
            semaphore=self._semaphore,
            retry=self._retry,
            secrets=self._secrets,
            per_page=per_page,
        )

    def __repr__(self) -> str:
        return f"TykApi({self.portal_url!r})"

    def add_secret(self, secret: str | None) -> None:
        """Register a secret so that no error message can ever echo it."""
        if secret:
            self._secrets.add(secret)

    def dashboard(self, conn: DashboardConn) -> DashboardApi:
        key = (conn.url.rstrip("/"), conn.secret, conn.insecure)
        api = self._dashboards.get(key)
        if api is None:
            api = DashboardApi(
                key[0],
                conn.secret,
                transport=self._transport,
                timeouts=self._timeouts,
                verify=not conn.insecure,
                semaphore=self._semaphore,
                retry=self._retry,
                secrets=self._secrets,
            )
            self._dashboards[key] = api
        return api

    async def aclose(self) -> None:
        await self.portal.aclose()
        for api in self._dashboards.values():
            await api.aclose()
        self._dashboards.clear()
