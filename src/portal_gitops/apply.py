"""Plan + Backend -> ApplyResult: the effectful engine.

Groups run in plan order; actions within a group run concurrently up to ``parallelism``. The
first failure stops scheduling: what ran is reported done or failed, the rest skipped. Retries
are the HTTP client's, for the requests that are safe to repeat; the engine retries only
creates (a POST never is repeated blindly), and a create whose reply was lost (timeout, reset,
5xx) is looked up before it is tried again, so a retry never duplicates. The managed record
is written after every group, so a crash loses at most one group's bookkeeping, and objects
in the manifests are adopted on the next run anyway.

A ``Stop`` (SIGTERM, or the apply lock lost) ends a run in order: no action starts after it,
the actions under way finish and are recorded, the rest is reported skipped with the reason.
``holding_lock`` takes the apply lock and renews its lease while the run goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from portal_gitops.backends.base import Backend, LockInfo, ManagedRecord
from portal_gitops.errors import (
    RETRYABLE,
    BackendError,
    LockError,
    PortalGitopsError,
    ServerError,
    TransportError,
)
from portal_gitops.plan import Action, Plan
from portal_gitops.retry import RetryPolicy
from portal_gitops.state import Key, LiveObject, LiveState

Sleep = Callable[[float], Awaitable[None]]
Progress = Callable[[str, Action, str], None]  # event ("start"|"done"|"failed"), action, detail

log = logging.getLogger(__name__)


class Stop:
    """A request to stop an apply in order; ``request`` is safe to call from a signal
    handler (it only sets an attribute). The first reason given is kept."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def request(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason


@dataclass
class ApplyResult:
    done: list[Action] = field(default_factory=list)
    failed: list[tuple[Action, str]] = field(default_factory=list)
    skipped: list[Action] = field(default_factory=list)
    stopped: str | None = None  # why the run stopped before its end (a Stop's reason)
    # the managed record could not be written (the portal went down): why, and the actions
    # done since it was last written, which the record does not list yet
    record_error: str | None = None
    unrecorded: list[Action] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped and self.record_error is None

    def summary(self) -> str:
        return f"{len(self.done)} done, {len(self.failed)} failed, {len(self.skipped)} skipped"


def _lost_reply(exc: BaseException) -> bool:
    return isinstance(exc, (TransportError, ServerError))


class Applier:
    def __init__(
        self,
        backend: Backend,
        live: LiveState,
        *,
        parallelism: int = 8,
        retry: RetryPolicy | None = None,
        sleep: Sleep | None = None,
        progress: Progress | None = None,
        notes: Mapping[str, Mapping[str, Any]] | None = None,
        stop: Stop | None = None,
    ):
        self.backend = backend
        self.live = live
        self.parallelism = max(1, parallelism)
        self.retry = retry or RetryPolicy()
        self.sleep = sleep or self.retry.sleep
        self.progress = progress
        self.notes = notes or {}
        self.stop = stop or Stop()
        self._claimed: set[tuple[str, str]] = set()  # (kind, live id) created or kept this run

    async def run(self, plan: Plan) -> ApplyResult:
        result = ApplyResult()
        record = await self.backend.read_managed()
        managed: dict[Key, str] = dict(record.objects)
        notes: dict[Key, Mapping[str, Any]] = dict(record.notes)
        sem = asyncio.Semaphore(self.parallelism)
        groups = list(plan.groups())
        recorded = 0  # how many of result.done the record written last lists
        for gi, group in enumerate(groups):
            if self.stop.reason is not None:
                result.stopped = self.stop.reason
                for rest in groups[gi:]:
                    result.skipped.extend(rest)
                break
            outcomes = await asyncio.gather(*(self._guarded(sem, a) for a in group))
            for action, (ok, detail) in zip(group, outcomes, strict=True):
                key = (action.kind, action.key)
                if ok is None:  # not started: a stop came first
                    result.skipped.append(action)
                    continue
                if ok and action.op != "delete" and detail:
                    self._claimed.add((action.kind, detail))
                if ok:
                    result.done.append(action)
                    before = self._live(action)
                    if before is not None and before.ref != key:
                        # adopted or replaced under a new name: the old name is gone
                        managed.pop(before.ref, None)
                        notes.pop(before.ref, None)
                    if action.op == "delete":
                        managed.pop(key, None)
                        notes.pop(key, None)
                    else:
                        managed[key] = detail
                        # the note is what the manifests say now: a fact removed from them
                        # (a justification, a rotation asked for) leaves it too
                        note = self.notes.get(action.address)
                        if note:
                            notes[key] = note
                        else:
                            notes.pop(key, None)
                else:
                    result.failed.append((action, detail))
            try:
                await self.backend.write_managed(ManagedRecord(managed, notes))
                recorded = len(result.done)
            except PortalGitopsError as exc:  # the portal went down: report, start no more
                result.record_error = str(exc)
                result.unrecorded = result.done[recorded:]
            if result.failed or result.record_error or self.stop.reason is not None:
                result.stopped = self.stop.reason
                for rest in groups[gi + 1 :]:
                    result.skipped.extend(rest)
                break
        return result

    async def _guarded(self, sem: asyncio.Semaphore, action: Action) -> tuple[bool | None, str]:
        """(True, live id) done, (False, message) failed, (None, "") not started."""
        async with sem:
            if self.stop.reason is not None:
                return None, ""
            if self.progress:
                self.progress("start", action, "")
            try:
                live_id = await self._run(action)
            except PortalGitopsError as exc:
                if self.progress:
                    self.progress("failed", action, str(exc))
                return False, str(exc)
            if self.progress:
                self.progress("done", action, "")
            return True, live_id

    async def _run(self, action: Action) -> str:
        live = self._live(action)
        attrs = action.attrs or {}
        if action.op == "create":
            return await self._create(action, attrs)
        if action.op == "adopt":
            assert live is not None
            return live.id
        if live is None:
            if action.op == "delete":
                return ""  # already gone: deletion is idempotent
            # updated/replaced object vanished since the read: create it
            return await self._create(action, attrs)
        if action.op == "update":
            await self.backend.update(live, attrs)
            return live.id
        if action.op == "replace":
            await self.backend.delete(live)
            return await self._create(action, attrs)
        if action.op == "delete":
            if (live.kind, live.id) in self._claimed:
                # a create of this run found this very object and took it over (an access
                # request renamed in the manifests): deleting it would undo that create
                return live.id
            await self.backend.delete(live)
            return live.id
        raise BackendError(f"unknown operation {action.op}", operation=action.address)

    def _live(self, action: Action) -> LiveObject | None:
        obj = self.live.get(action.kind, action.key)
        if obj is None and action.live_id:
            obj = self._by_id().get((action.kind, action.live_id))
        return obj

    _id_index: dict[tuple[str, str], LiveObject] | None = None

    def _by_id(self) -> dict[tuple[str, str], LiveObject]:
        if self._id_index is None:
            self._id_index = {(o.kind, o.id): o for o in self.live}
        return self._id_index

    async def _create(self, action: Action, attrs: Mapping[str, Any]) -> str:
        """Create, trying again (after a look-up) when the create may not have happened.

        The only retry of the engine: the HTTP client never repeats a POST, and it has
        already retried every safe request a create makes (reads, policy updates).
        """
        attempt = 0
        while True:
            try:
                return await self.backend.create(action.kind, action.key, attrs)
            except RETRYABLE as exc:
                attempt += 1
                if attempt >= self.retry.attempts:
                    raise
                if _lost_reply(exc):
                    # the create may have happened even though we got no answer
                    found = await self.backend.find(action.kind, action.key)
                    if found is not None:
                        await self.backend.update(found, attrs)
                        return found.id
                await self.sleep(self.retry.delay(attempt, exc))


@dataclass
class LockRelease:
    """How the release of the apply lock went, once the block has ended: ``released`` is
    None before, then True, or False with ``error`` (the portal could not be reached) and
    ``expires_at`` (the end of the last lease taken: it goes by itself then)."""

    released: bool | None = None
    error: str = ""
    expires_at: float | None = None

    def advice(self) -> str:
        """What to do about a lock the portal could not be reached to release."""
        until = (
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.expires_at))
            if self.expires_at
            else "the end of its lease"
        )
        return (
            f"the apply lock could not be released ({self.error}): it goes by itself at "
            f"{until}, or remove it with `portal-gitops force-unlock` once no apply runs"
        )


@contextlib.asynccontextmanager
async def holding_lock(
    backend: Backend,
    holder: str,
    ttl_seconds: float,
    stop: Stop,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Sleep = asyncio.sleep,
    release: LockRelease | None = None,
) -> AsyncIterator[LockInfo]:
    """The apply lock for the block: taken (or LockError), its lease renewed every third of
    its length while the block runs, released at the end. When a renewal finds the lock gone
    or taken by another, or cannot renew it before the lease runs out, ``stop`` is requested
    with the reason: the run then starts nothing more.

    A release that fails (the portal went down) does not hide how the block ended: it is
    told in ``release`` and the block's result or error goes on."""
    info = await backend.acquire_lock(holder, ttl_seconds)
    outcome = release if release is not None else LockRelease()
    outcome.expires_at = info.expires_at
    keeper = asyncio.create_task(
        _keep_lease(backend, holder, ttl_seconds, outcome, stop, clock, sleep)
    )
    try:
        yield info
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper
        try:
            await backend.release_lock(holder)
            outcome.released = True
        except PortalGitopsError as exc:
            outcome.released, outcome.error = False, str(exc)
            if release is None:  # nobody to tell: the error is the caller's to see
                raise


async def _keep_lease(
    backend: Backend,
    holder: str,
    ttl_seconds: float,
    lease: LockRelease,
    stop: Stop,
    clock: Callable[[], float],
    sleep: Sleep,
) -> None:
    every = ttl_seconds / 3
    while True:
        await sleep(every)
        expires_at = lease.expires_at or 0.0
        try:
            lease.expires_at = (await backend.renew_lock(holder, ttl_seconds)).expires_at
        except LockError as exc:
            stop.request(f"{exc}; stopping: another apply may be running")
            return
        except PortalGitopsError as exc:
            if clock() + every >= expires_at:
                stop.request(
                    f"could not renew the apply lock before its lease runs out ({exc}); "
                    "stopping: another apply could take it"
                )
                return
            log.warning("could not renew the apply lock (%s); trying again", exc)


async def force_unlock(
    backend: Backend, confirm: Callable[[LockInfo], bool]
) -> tuple[LockInfo | None, bool]:
    """Remove the apply lock whoever holds it, once ``confirm`` (shown the lock) agreed:
    (the lock found, or None; whether it was removed). Closes the backend."""
    try:
        held = await backend.lock_info()
        if held is None or not confirm(held):
            return held, False
        return (await backend.force_unlock()) or held, True
    finally:
        await backend.aclose()
