"""What a server can make a run spend: the bounds on replies, lists, requests and runs.

A portal or Dashboard is trusted to answer, not to be reasonable: a hostile or broken server
could otherwise claim a billion pages, page forever, send gigabytes, trickle a reply one byte
at a time (the read timeout is per read) or nest JSON deeper than Python can decode, while the
apply lock is held. Each bound is sized for estates of 100,000 objects with room to spare, and
ends the run with a ``LimitError`` (never retried) naming the host, the operation and the limit.

    MAX_REPLY_BYTES   64 MiB  the largest legitimate reply is a Dashboard's all-at-once list
                              of policies or API definitions (1-8 KB each: thousands fit);
                              a portal page of 100 objects is well under 1 MB. Checked against
                              Content-Length before reading, and while reading.
    MAX_REPLY_VALUES  2 M     JSON values in one reply (counted as commas, before decoding: a
                              C-speed scan): 64 MB of ``{},`` would decode to 1.4 GB of objects.
    MAX_REPLIES_BYTES 128 MiB replies being received at once, together (up to 8 overlap:
                              eight replies of 64 MiB would need 512 MiB).
    MAX_LIST_OBJECTS  200,000 objects in one list, all pages together (twice the largest
                              estate we size for, in a single kind).
    MAX_LISTED        300,000 objects held by the lists being read at once, together (a read
                              runs up to 8 lists side by side).
    MAX_PAGES         10,000  pages in one list: 1,000,000 objects at 100 per page, 200,000
                              even when a server caps ``per_page`` to 20 (REFERENCE §2).
    REQUEST_SECONDS   30 s    from sending a request to the last byte of its reply: a reply
                              still arriving then is refused, not retried. A server silent for
                              the read timeout is a timeout as before (retried when safe).
    RUN_SECONDS       2 h     all requests of one run: an apply of 100,000 objects over a slow
                              link takes about 30 minutes. Past it no request is started, except
                              during ``CLEANUP_SECONDS`` (60 s) granted to release the lock.

JSON nested deeper than the interpreter's recursion limit (about 1,000) cannot be decoded and
is refused the same way.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from portal_gitops.errors import LimitError

MAX_REPLY_BYTES = 64 * 1024 * 1024
MAX_REPLY_VALUES = 2_000_000
MAX_REPLIES_BYTES = 128 * 1024 * 1024
MAX_LIST_OBJECTS = 200_000
MAX_LISTED = 300_000
MAX_PAGES = 10_000
REQUEST_SECONDS = 30.0
RUN_SECONDS = 2 * 3600.0
CLEANUP_SECONDS = 60.0


@dataclass(frozen=True)
class Limits:
    """The bounds of one ``TykApi`` (the defaults above; tests may make them smaller)."""

    reply_bytes: int = MAX_REPLY_BYTES
    reply_values: int = MAX_REPLY_VALUES
    replies_bytes: int = MAX_REPLIES_BYTES
    list_objects: int = MAX_LIST_OBJECTS
    listed: int = MAX_LISTED
    pages: int = MAX_PAGES
    request_seconds: float = REQUEST_SECONDS
    run_seconds: float = RUN_SECONDS
    cleanup_seconds: float = CLEANUP_SECONDS


class Budget:
    """A bound shared by concurrent requests of one ``TykApi``: what they hold together."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0


ReplyBudget = Budget  # bytes of the replies being received


class ReplyTooLarge(Exception):
    """Raised by the transport: the reply is (or says it will be) over ``limit`` bytes, or
    (``together``) the replies being received at once are."""

    def __init__(self, limit: int, *, together: bool = False) -> None:
        self.limit = limit
        self.together = together
        super().__init__(f"reply over {limit} bytes")


class ReplyTooSlow(Exception):
    """Raised by the transport: the reply was still arriving when the request's time was up."""


async def read_capped(
    sending: Awaitable[httpx.Response], cap: int, deadline: float
) -> tuple[int, str | None, bytes]:
    """A streamed reply (httpx's own transport, behind a proxy) read whole, by ``deadline`` and
    to at most ``cap`` bytes once decompressed: (status, Retry-After, body)."""
    try:
        async with asyncio.timeout_at(
            asyncio.get_running_loop().time() + deadline - time.monotonic()
        ):
            response = await sending
            try:
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > cap:
                    raise ReplyTooLarge(cap)
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > cap:
                        raise ReplyTooLarge(cap)
                    chunks.append(chunk)
            finally:
                await response.aclose()
    except TimeoutError:
        raise ReplyTooSlow from None
    return response.status_code, response.headers.get("Retry-After"), b"".join(chunks)


def _size(n: int) -> str:
    return (
        f"{n // (1024 * 1024)} MiB" if n >= 1024 * 1024 and n % (1024 * 1024) == 0 else f"{n} bytes"
    )


def too_large(host: str, operation: str, exc: ReplyTooLarge) -> LimitError:
    if exc.together:
        return LimitError(
            f"the replies being received at once reached {_size(exc.limit)}, their limit "
            f"together (this one from {host}); stopped reading",
            operation=operation,
        )
    return LimitError(
        f"{host} sent a reply of more than {_size(exc.limit)}, over the limit of one reply; "
        "stopped reading",
        operation=operation,
    )


def too_many_listed(host: str, operation: str, limit: int) -> LimitError:
    return LimitError(
        f"the lists being read at once hold more than {limit} objects, their limit together "
        f"(this one from {host}); is a server's pagination broken?",
        operation=operation,
    )


def too_slow(host: str, operation: str, seconds: float) -> LimitError:
    return LimitError(
        f"{host} was still sending its reply after {seconds:g} s, the limit of one request",
        operation=operation,
    )


def too_many_pages(host: str, operation: str, pages: int, limit: int) -> LimitError:
    return LimitError(
        f"{host} says the list has {pages} pages, over the limit of {limit} pages",
        operation=operation,
    )


def too_many_objects(host: str, operation: str, limit: int, pages: int) -> LimitError:
    return LimitError(
        f"{host} sent more than {limit} objects in one list, over the limit "
        f"({pages} pages read); is its pagination broken?",
        operation=operation,
    )


def decode_json(content: bytes, limits: Limits, *, host: str, operation: str) -> Any:
    """A reply's JSON, refused (``LimitError``) if it holds too many values or nests too deeply
    to decode; ``ValueError`` if it is not JSON."""
    if len(content) > 65536 and content.count(b",") > limits.reply_values:
        raise LimitError(
            f"{host} sent a reply of more than {limits.reply_values} JSON values, over the "
            "limit of one reply; not decoded",
            operation=operation,
        )
    try:
        return json.loads(content)
    except RecursionError:
        raise LimitError(
            f"{host} sent JSON nested too deeply to decode", operation=operation
        ) from None


class RunClock:
    """The time left to one run (``Limits.run_seconds``), and the grace to clean up after."""

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._limits = limits
        self.ends = clock() + limits.run_seconds

    def deadline(self, host: str, operation: str) -> float:
        """When the request starting now must be done (``time.monotonic`` seconds), or raise
        ``LimitError`` if the run has no time left."""
        now = self._clock()
        if now >= self.ends:
            raise LimitError(
                f"the run has spent {self._limits.run_seconds:g} s, the limit of one run; "
                f"no more requests to {host}",
                operation=operation,
            )
        return min(now + self._limits.request_seconds, self.ends)

    def grant_cleanup(self) -> None:
        """Past the run's limit, allow ``cleanup_seconds`` more (to release the apply lock)."""
        self.ends = max(self.ends, self._clock() + self._limits.cleanup_seconds)
