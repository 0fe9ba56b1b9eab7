"""HTTP client for the Tyk Developer Portal admin API and the Dashboard policies API.

Authentication (raw token in ``Authorization``), pagination followed to the end, bounded
concurrency, timeouts, retries with backoff for safe requests only (the one retry layer over
the wire), and the ONE table that turns HTTP statuses and transport failures into our errors
(``errors.py``). No httpx exception leaves this module: each is translated here, once, and
chained with ``from``.

    TykApi                 one portal + the Dashboards its providers point at
    ├── PortalApi          /portal-api/...  (PascalCase JSON, integer IDs, page/per_page)
    └── DashboardApi       /api/portal/policies  (snake_case JSON, ``_id``, ``p`` + ``Pages``)
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from portal_gitops.backends.tyk.dashboards import DashboardConn
from portal_gitops.backends.tyk.limits import (
    Budget,
    Limits,
    ReplyTooLarge,
    ReplyTooSlow,
    RunClock,
    decode_json,
    too_large,
    too_many_listed,
    too_many_objects,
    too_many_pages,
    too_slow,
)
from portal_gitops.backends.tyk.quirks import as_int, as_list, parse_retry_after
from portal_gitops.backends.tyk.transport import InProcessTransport, default_transport
from portal_gitops.backends.tyk.wires import _NO_BODY, HttpWire, Multipart, StoreWire
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
from portal_gitops.urls import display_url

log = logging.getLogger(__name__)

PORTAL_PREFIX = "/portal-api"
POLICIES_PATH = "/api/portal/policies"
APIS_PATH = "/api/apis"
SAFE_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})
"""Methods that may be retried blindly. POST never is: the caller looks the object up instead."""

# --------------------------------------------------------------------------------------------
# configuration


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait for a connection and for a reply (write/pool share the read timeout)."""

    connect: float = 5.0
    read: float = 30.0

    def to_httpx(self) -> httpx.Timeout:
        return httpx.Timeout(self.read, connect=self.connect)


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


def error_detail(body: bytes, limit: int = 300, scrub: Callable[[str], str] = lambda s: s) -> str:
    """The human part of an error reply: portal ``errors``, dashboard ``Message``, or text;
    secrets the server echoed are scrubbed before it is cut to ``limit`` (cut first, a secret
    across the cut would survive but for its last characters)."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text) if text else None
    except (ValueError, RecursionError):
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
    detail = scrub(detail)
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
    detail = error_detail(body, scrub=scrub)
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


_HEADER_VALUE = re.compile(r"(header (?:value|name)s?)\b.*", re.IGNORECASE | re.DOTALL)


def _short(exc: BaseException) -> str:
    # h11 names a header it refuses with its value ("Illegal header value b'<token>\\n'"):
    # the value of a header we send is a credential, so it is never repeated
    text = _HEADER_VALUE.sub(r"\1 (not shown)", str(exc).strip()) or type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"


# --------------------------------------------------------------------------------------------
# one authenticated HTTP client


class _Client:
    """One base URL + one raw token; every request takes the one path: ``request`` (retries
    of what is safe) -> ``_once`` (concurrency bound, the error table, JSON decoding) -> the
    wire chosen once, here: httpx (our keep-alive transport, or httpx's client behind a
    proxy) or the in-process store."""

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
        limits: Limits,
        run: RunClock,
        budgets: tuple[Budget, Budget],
    ) -> None:
        # appended to a 401 or 403: who refused which credential, and how to fix it
        self.refused_hint = ""
        headers = {"Accept": "application/json", "User-Agent": "portal-gitops"}
        if token:
            headers["Authorization"] = token  # raw token: no "Bearer" (REFERENCE.md §1)
        self.base_url = base_url.rstrip("/")
        self._host = httpx.URL(self.base_url).netloc.decode("ascii", "replace") or self.base_url
        self._semaphore = semaphore
        self._retry = retry
        self._secrets = secrets
        self.limits = limits
        self._run = run
        self._listed = budgets[1]  # objects held by the lists being read, together
        if token:
            secrets.add(token)
        own = transport or default_transport(verify)
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=timeouts.to_httpx(),
            verify=verify,
            transport=own,
            follow_redirects=False,
        )
        send: Callable[[httpx.Request], Awaitable[httpx.Response]] = (
            own.handle_async_request
            if own is not None
            else lambda request: self._http.send(request, stream=True)
        )
        wire: HttpWire | StoreWire = HttpWire(
            self.base_url,
            httpx.Headers(self._http.headers),  # what the client would send
            timeouts.to_httpx().as_dict(),
            send,
            limits.reply_bytes,
            budgets[0],
            proxied=own is None,
        )
        if isinstance(transport, InProcessTransport):
            prefix = httpx.URL(self.base_url).path.rstrip("/")
            wire = StoreWire(transport, {k.lower(): v for k, v in headers.items()}, prefix)
        # the wire's method (not one of ours: a client that refers to itself lives on until
        # the cycle collector runs, and with it the store behind an in-process transport)
        self._exchange = wire.exchange

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r})"

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret and len(secret) >= 4 and secret in text:
                text = text.replace(secret, "***")
        return text

    async def aclose(self) -> None:
        await self._http.aclose()

    def _held(self, count: int, operation: str) -> None:
        """``count`` more objects held by the lists being read (released by the caller)."""
        self._listed.used += count
        if self._listed.used > self._listed.limit:
            raise too_many_listed(self._host, operation, self._listed.limit)

    async def request(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        params: Mapping[str, str | int] | None = None,
        body: Any = _NO_BODY,
        idempotent: bool = True,
        raw: bool = False,
    ) -> Any:
        """Send one request (retrying only when safe); return the decoded JSON reply or None
        (``raw``: the reply's bytes, not decoded).

        A DELETE whose retry finds the object gone (404) has succeeded: the first attempt
        deleted it and only the reply was lost. ``idempotent=False`` marks a PUT that makes
        something each time (the portal's provision): never retried blindly.
        """
        safe = method in SAFE_METHODS and idempotent
        attempts = max(1, self._retry.attempts) if safe else 1
        attempt = 0
        while True:
            try:
                return await self._once(
                    method, path, operation=operation, params=params, body=body, raw=raw
                )
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

    async def _once(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        params: Mapping[str, str | int] | None,
        body: Any,
        raw: bool = False,
    ) -> Any:
        query = {k: str(v) for k, v in params.items()} if params else {}
        async with self._semaphore:
            deadline = self._run.deadline(self._host, operation)
            try:
                status, retry_after, content = await self._exchange(
                    method, path, query, body, deadline
                )
            except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
                raise error_for_transport(exc, operation=operation, host=self._host) from exc
            except ReplyTooLarge as exc:
                raise too_large(self._host, operation, exc) from None
            except ReplyTooSlow:
                raise too_slow(self._host, operation, self.limits.request_seconds) from None
        log.debug("%s %s -> %s", method, path, status)
        if status >= 400:
            error = error_for_status(
                status,
                content,
                operation=operation,
                retry_after=retry_after,
                scrub=self._scrub,
            )
            if isinstance(error, AuthError) and self.refused_hint:
                message = str(error).removeprefix(f"{operation}: ")
                raise AuthError(
                    f"{message}; {self.refused_hint}", operation=operation, status=status
                )
            raise error
        if status >= 300:
            raise BackendError(f"{status} unexpected redirect", operation=operation, status=status)
        if raw:
            return content
        if not content.strip():
            return None
        try:
            return decode_json(content, self.limits, host=self._host, operation=operation)
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
        """Every item of a paginated list: ``page``/``per_page`` until a page comes back empty.

        A short page does not prove the end: a server may cap ``per_page`` below what was
        asked, and no total is sent (REFERENCE §2, §9 "Pagination").
        """
        operation = f"list {what}"
        items: list[dict[str, Any]] = []
        seen_first: set[Any] = set()
        page = 1
        try:
            while True:
                reply = await self.request(
                    "GET",
                    path,
                    operation=operation,
                    params={"page": page, "per_page": self.per_page},
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
                self._held(len(batch), operation)
                if len(items) > self.limits.list_objects:
                    raise too_many_objects(self._host, operation, self.limits.list_objects, page)
                if page >= self.limits.pages:
                    raise too_many_pages(self._host, operation, page + 1, self.limits.pages)
                page += 1
        finally:
            self._listed.used -= len(items)
        return items

    async def get(self, path: str, *, what: str) -> dict[str, Any]:
        reply = await self.request("GET", path, operation=f"read {what}")
        return reply if isinstance(reply, dict) else {}

    async def detail(self, path: str, *, what: str, listed: dict[str, Any]) -> dict[str, Any]:
        """GET one object listed as ``listed``; if it vanished since the list, keep the entry."""
        try:
            detail = await self.get(path, what=what)
        except NotFoundError:
            return listed
        return {**listed, **detail} if detail else listed

    async def create(self, path: str, body: Mapping[str, Any], *, what: str) -> dict[str, Any]:
        """POST (never retried); 200 and 201 are both success."""
        reply = await self.request("POST", path, operation=f"create {what}", body=dict(body))
        return reply if isinstance(reply, dict) else {}

    async def upload(
        self, path: str, field: str, filename: str, data: bytes, content_type: str, *, what: str
    ) -> None:
        """POST one file as multipart/form-data (never retried)."""
        body = Multipart(field, filename, data, content_type)
        await self.request("POST", path, operation=f"upload {what}", body=body)

    async def download(self, path: str, *, what: str) -> bytes:
        """GET a file (not JSON): its bytes, within the reply-size cap."""
        content: bytes = await self.request("GET", path, operation=f"download {what}", raw=True)
        return content

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
        policy, and the portal's own synchronise asks so). That reply is complete although
        its ``Pages`` may still say more than 1: it is not fetched again (REFERENCE §2, §9).
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
        if pages and pages > self.limits.pages and not at_once:
            raise too_many_pages(self._host, operation, pages, self.limits.pages)
        if pages and pages > 1 and not at_once:
            rest = await asyncio.gather(
                *(
                    self.request("GET", path, operation=operation, params={**query, "p": p})
                    for p in range(2, pages + 1)
                )
            )
            for reply in rest:
                policies.extend(as_list(reply, operation=operation))
        if len(policies) > self.limits.list_objects:
            raise too_many_objects(self._host, operation, self.limits.list_objects, pages or 1)
        unique: dict[str, dict[str, Any]] = {}
        for policy in policies:  # pages may shift under concurrent writes: de-duplicate by _id
            key = str(policy.get("_id") or policy.get("id") or json.dumps(policy, sort_keys=True))
            unique.setdefault(key, policy)
        return list(unique.values())

    async def list_apis(self) -> list[dict[str, Any]]:
        """Every API definition in one request: ``p=-1`` ("Send number less than 0 to return
        all items", Dashboard spec ``getApis``). The reply is ``{apis: [...], pages}``."""
        operation = "list Dashboard APIs"
        reply = await self.request("GET", APIS_PATH, operation=operation, params={"p": -1})
        items = reply.get("apis") if isinstance(reply, Mapping) else None
        if items is None:
            return []
        if not isinstance(items, list):
            raise ServerError("unexpected reply: apis is not a list", operation=operation)
        return [item for item in items if isinstance(item, dict)]

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
        limits: Limits | None = None,
        token_source: str = "",
    ) -> None:
        self._transport = transport
        self.limits = limits or Limits()
        self.run = RunClock(self.limits)
        self._budgets = (Budget(self.limits.replies_bytes), Budget(self.limits.listed))
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
            limits=self.limits,
            run=self.run,
            budgets=self._budgets,
            per_page=per_page,
        )
        if token_source:
            self.portal.refused_hint = (
                f"the portal {display_url(portal_url)} refused the admin token from "
                f"{token_source}: set it to the API credential of a portal admin (the "
                "profile page of an admin user in the portal)"
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
                limits=self.limits,
                run=self.run,
                budgets=self._budgets,
            )
            source = f" ({conn.source})" if conn.source else ""
            api.refused_hint = (
                f"the Dashboard {display_url(key[0])} refused the secret{source}: set it to an "
                "API secret of a user of that Dashboard (the user's Tyk Dashboard API Access "
                "Credentials)"
            )
            self._dashboards[key] = api
        return api

    async def aclose(self) -> None:
        await self.portal.aclose()
        for api in self._dashboards.values():
            await api.aclose()
        self._dashboards.clear()
