"""The managed record and the apply lock: two inactive, unpartitioned Dashboard policies the
tool owns, so every run on every machine sees them.

Their home is where the record is found (``Records.home``): every provider's Dashboard is
searched for it, so adding a provider never moves it. A new estate keeps it on the Dashboard
of the first Provider manifest by name, and there it stays. It moves only when the user says
so (``confirm_move``): when the Dashboard holding it is named by no Provider manifest any more,
or records are found on several Dashboards (they are then merged). The lock lives beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from portal_gitops.backends.base import LockInfo, ManagedRecord
from portal_gitops.backends.tyk.quirks import as_int, text
from portal_gitops.errors import (
    BackendError,
    ConflictError,
    LockError,
    NotFoundError,
    PortalGitopsError,
    RateLimitedError,
    ServerError,
    TransportError,
    ValidationFailed,
)
from portal_gitops.state import LOCK_POLICY, STATE_POLICY, Key

if TYPE_CHECKING:
    from portal_gitops.backends.tyk.client import DashboardApi, TykApi
    from portal_gitops.backends.tyk.dashboards import Candidate, DashboardConn, Dashboards
    from portal_gitops.backends.tyk.ids import Ids

log = logging.getLogger(__name__)

RECORD_FORMAT = "portal-gitops/managed-record-v1"

Json = dict[str, Any]


def encode_record(record: ManagedRecord) -> str:
    """The managed record as compact JSON grouped by kind (small enough for ``meta_data``)."""
    objects: dict[str, dict[str, str]] = {}
    for (kind, key), live_id in sorted(record.objects.items()):
        objects.setdefault(kind, {})[key] = str(live_id)
    notes: dict[str, dict[str, Any]] = {}
    for (kind, key), note in sorted(record.notes.items()):
        notes.setdefault(kind, {})[key] = dict(note)
    payload: Json = {"objects": objects}
    if notes:
        payload["notes"] = notes
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def merge_records(records: list[ManagedRecord]) -> ManagedRecord:
    """Several records as one; where two know the same object, the first one wins."""
    if len(records) == 1:
        return records[0]
    objects: dict[Key, str] = {}
    notes: dict[Key, Mapping[str, Any]] = {}
    for record in reversed(records):
        objects.update(record.objects)
        notes.update(record.notes)
    return ManagedRecord(objects, notes)


@dataclass(frozen=True)
class RecordHome:
    """Where the managed record is read from and the lock taken (``conn``), where it is
    written (``target``: another Dashboard only when it moves), the other Dashboards holding a
    record (merged on read), and ``move``: what would move, in words ("" = nothing)."""

    conn: DashboardConn | None
    target: DashboardConn | None
    others: tuple[DashboardConn, ...] = ()
    move: str = ""


def choose_home(candidates: list[Candidate], holders: list[Candidate]) -> RecordHome:
    """Where the record lives, given the Dashboards it may be on (first = a new estate's home)
    and those it was found on. Pure: the same Dashboards give the same home on every run."""
    if not candidates:
        return RecordHome(None, None)
    default = next((c for c in candidates if c.configured), candidates[0])
    if not holders:
        return RecordHome(default.conn, default.conn)
    if len(holders) == 1:
        held = holders[0]
        if held.configured or not default.configured:
            return RecordHome(held.conn, held.conn)
        return RecordHome(
            held.conn,
            default.conn,
            move=(
                f"the managed record ({STATE_POLICY} policy) is on {held.describe()}, which no "
                f"Provider manifest names any more; it would move to {default.describe()}"
            ),
        )
    target = next((h for h in holders if h.configured), default)
    others = tuple(h.conn for h in holders if h.conn != target.conn)
    shown = "; ".join(h.describe() for h in holders)
    return RecordHome(
        target.conn,
        target.conn,
        others,
        move=(
            f"managed records ({STATE_POLICY} policy) were found on several Dashboards: "
            f"{shown}; they would be merged into the one on {target.describe()}"
        ),
    )


def decode_record(policy: Mapping[str, Any] | None) -> ManagedRecord:
    if not policy:
        return ManagedRecord()
    meta = policy.get("meta_data")
    raw = meta.get("record") if isinstance(meta, Mapping) else None
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        log.warning("the managed record in policy %s is not valid JSON; ignoring it", STATE_POLICY)
        return ManagedRecord()
    if not isinstance(data, Mapping):
        return ManagedRecord()
    objects: dict[Key, str] = {}
    for kind, entries in (data.get("objects") or {}).items():
        for key, live_id in (entries or {}).items():
            objects[(str(kind), str(key))] = str(live_id)
    notes: dict[Key, Mapping[str, Any]] = {}
    for kind, entries in (data.get("notes") or {}).items():
        for key, note in (entries or {}).items():
            if isinstance(note, Mapping):
                notes[(str(kind), str(key))] = dict(note)
    return ManagedRecord(objects, notes)


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_epoch(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and value:
        try:
            return float(value)
        except ValueError:
            pass
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return 0.0
    return 0.0


def _bookkeeping_policy(name: str, meta: Mapping[str, Any]) -> Json:
    """An inactive, unpartitioned policy the tool owns: it grants nothing and is never synced."""
    return {
        "name": name,
        "active": False,
        "is_inactive": True,
        "state": "deny",
        "tags": [name],
        "meta_data": dict(meta),
        "partitions": {
            "acl": False,
            "quota": False,
            "rate_limit": False,
            "complexity": False,
            "per_api": False,
        },
        "access_rights": {},
    }


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks since boot) of process ``pid`` from Linux ``/proc``;
    None where that cannot be read (not Linux, or hidden)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            fields = fh.read().rpartition(")")[2].split()
    except OSError:
        return None
    return (fields[0], fields[19]) if len(fields) >= 20 else None


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def _process() -> dict[str, Any]:
    """Who takes the lock, so that a re-run on the same machine can tell a dead holder."""
    pid = os.getpid()
    stat = _proc_stat(pid)
    return {
        "host": socket.gethostname(),
        "pid": pid,
        "pid_namespace": _pid_namespace(),
        "started": stat[1] if stat else "",
    }


def _lock_body(holder: str, acquired_at: float, expires_at: float) -> Json:
    meta = {
        "holder": holder,
        "acquired_at": _utc(acquired_at),
        "expires_at": _utc(expires_at),
        **_process(),
    }
    return _bookkeeping_policy(LOCK_POLICY, meta)


def _lock_info(policy: Mapping[str, Any]) -> LockInfo:
    meta = policy.get("meta_data") or {}
    since = _parse_epoch(meta.get("acquired_at"))
    return LockInfo(
        text(meta.get("holder")) or "an unknown holder",
        _parse_epoch(meta.get("expires_at")),
        since or None,
    )


def _holder_is_dead(meta: Mapping[str, Any]) -> bool:
    """True only when the lock was taken on this host, in this PID namespace, by a process
    that no longer runs (gone, a zombie, or its PID reused by a process started later).

    A killed apply leaves its lock behind; a re-run on the same machine (a developer's
    laptop, a CI runner re-trying a job) takes it over at once instead of waiting for the
    lease to expire. Locks taken elsewhere are only ever taken over when the lease expires.
    """
    pid = as_int(meta.get("pid"))
    if not pid or pid <= 0 or pid == os.getpid() or meta.get("host") != socket.gethostname():
        return False
    if text(meta.get("pid_namespace")) != _pid_namespace():
        return False  # another container with the same host name: its PIDs are not ours
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists, owned by another user
        pass
    stat = _proc_stat(pid)
    if stat is None:
        return False  # cannot tell: assume it still runs
    state, started = stat
    recorded = text(meta.get("started"))
    return state in ("Z", "X") or bool(recorded and started != recorded)


class Records:
    """The managed record and the apply lock on the target (``target`` names it in errors)."""

    def __init__(
        self,
        api: TykApi,
        dashboards: Dashboards,
        ids: Ids,
        *,
        target: str,
        clock: Callable[[], float],
    ) -> None:
        self.api = api
        self.dashboards = dashboards
        self.ids = ids
        self.target = target
        self.clock = clock
        self.state_policy_id: str | None = None
        self._home: RecordHome | None = None
        self._move_confirmed = False
        self._lock_dash: DashboardApi | None = None

    async def home(self) -> RecordHome:
        """Where the record is (searched for once per backend: every Dashboard a provider of
        the manifests or of the portal names, one search request each)."""
        if self._home is not None:
            return self._home
        if self.dashboards.fixed is not None:
            self._home = RecordHome(self.dashboards.fixed, self.dashboards.fixed)
            return self._home
        complete = True
        try:
            candidates = await self.dashboards.record_candidates()
        except PortalGitopsError as exc:
            # the live providers are unknown: the manifests' Dashboards only, for now (a
            # record this starts next to one elsewhere is found by the next run: two records
            # are reported and merged only with the user's consent, never silently)
            log.warning("cannot list the portal's providers to find the managed record: %s", exc)
            candidates, complete = self.dashboards.configured_candidates(), False
        found = await asyncio.gather(*(self._search(c) for c in candidates))
        holders = [c for c, hit in zip(candidates, found, strict=True) if hit]
        home = choose_home(candidates, holders)
        if complete:
            self._home = home
        return home

    async def _search(self, candidate: Candidate) -> bool:
        try:
            return (
                await self.find_policy(self.api.dashboard(candidate.conn), STATE_POLICY) is not None
            )
        except PortalGitopsError as exc:
            if candidate.configured:
                raise
            # a Dashboard only a live provider names (one being removed, say): unreachable
            log.warning("cannot search %s for the managed record: %s", candidate.describe(), exc)
            return False

    async def pending_move(self) -> str:
        """What would move ("" = nothing): a move happens only after ``confirm_move``."""
        return (await self.home()).move

    def confirm_move(self) -> None:
        """The user agreed that the record moves (or records merge) on the next write."""
        self._move_confirmed = True

    async def dashboard(self) -> DashboardApi:
        """The Dashboard the record is read from and the lock lives on (raises if none)."""
        conn = (await self.home()).conn
        if conn is None:
            raise BackendError(
                "no Dashboard to keep the managed record and apply lock on: declare a Provider",
                operation=f"reach the Dashboard of {self.target}",
            )
        return self.api.dashboard(conn)

    async def find_policy(self, dash: DashboardApi, name: str) -> Json | None:
        """A policy by exact name: one search, not a listing of every policy (a Dashboard
        without the search endpoint gets the full listing)."""
        try:
            found = await dash.find_policies(name)
        except (NotFoundError, ValidationFailed):
            found = [p for p in await dash.list_policies(at_once=True) if p.get("name") == name]
        return found[0] if found else None

    async def read_managed(self) -> ManagedRecord:
        home = await self.home()
        if home.conn is None:
            return ManagedRecord()
        policies = await asyncio.gather(
            *(
                self.find_policy(self.api.dashboard(c), STATE_POLICY)
                for c in (home.conn, *home.others)
            )
        )
        policy = policies[0]
        self.state_policy_id = text(policy.get("_id")) if policy else None
        return merge_records([decode_record(p) for p in policies])

    async def write_managed(self, record: ManagedRecord) -> None:
        home = await self.home()
        if home.move and not self._move_confirmed:
            raise BackendError(
                f"{home.move}; refusing to move it without confirmation",
                operation="write the managed record",
            )
        if home.target != home.conn:
            self.state_policy_id = None  # an id on the Dashboard it leaves
        await self._write_record(record, home)
        if home.move:
            await self._retire(home)

    async def _retire(self, home: RecordHome) -> None:
        """After a confirmed move: the old records go, and the target is the home from now on."""
        what = f"managed record ({STATE_POLICY} policy)"
        for conn in (home.conn, *home.others):
            if conn is None or conn == home.target:
                continue
            dash = self.api.dashboard(conn)
            old = await self.find_policy(dash, STATE_POLICY)
            if old is not None:
                with contextlib.suppress(NotFoundError):
                    await dash.delete_policy(text(old.get("_id")), what=what)
        self._home = RecordHome(home.target, home.target)
        log.info("the managed record moved to %s", home.target)

    async def _write_record(self, record: ManagedRecord, home: RecordHome) -> None:
        assert home.target is not None
        dash = self.api.dashboard(home.target)
        what = f"managed record ({STATE_POLICY} policy)"
        body = _bookkeeping_policy(
            STATE_POLICY, {"format": RECORD_FORMAT, "record": encode_record(record)}
        )
        if self.state_policy_id is None:
            existing = await self.find_policy(dash, STATE_POLICY)
            self.state_policy_id = text(existing.get("_id")) if existing else None
        if self.state_policy_id:
            try:
                await dash.update_policy(self.state_policy_id, body, what=what)
                return
            except NotFoundError:
                self.state_policy_id = None
        retry = self.api.retry
        for attempt in range(max(1, retry.attempts)):
            try:
                self.state_policy_id = await dash.create_policy(body, what=what)
                break
            except (ConflictError, TransportError, ServerError, RateLimitedError) as exc:
                # created concurrently, or by this very POST whose reply was lost
                existing = await self.find_policy(dash, STATE_POLICY)
                if existing is not None:
                    self.state_policy_id = text(existing.get("_id"))
                    await dash.update_policy(self.state_policy_id, body, what=what)
                    break
                if isinstance(exc, ConflictError) or attempt + 1 >= retry.attempts:
                    raise
                await retry.sleep(retry.delay(attempt, exc))
        self.ids.remember_requests(record.objects)

    async def acquire_lock(self, holder: str, ttl_seconds: float) -> LockInfo:
        """Create the lock policy; Dashboard policy names are unique, so creation is the mutex.

        An expired lease is taken over: the stale policy is deleted by ``_id`` and the create
        is tried again (a race between two takers is settled by uniqueness once more).
        """
        dash = self._lock_dash = await self.dashboard()  # released there, even after a move
        what = f"apply lock ({LOCK_POLICY} policy)"
        retry = self.api.retry
        attempts = max(3, retry.attempts)
        for attempt in range(attempts):
            now = self.clock()
            expires_at = now + ttl_seconds
            body = _lock_body(holder, now, expires_at)
            try:
                await dash.create_policy(body, what=what)
                return LockInfo(holder, expires_at, now)
            except ConflictError:
                pass
            except (TransportError, ServerError, RateLimitedError) as exc:
                # no (clear) answer: the lock may be ours now; look before trying again
                if attempt + 1 >= attempts:
                    raise
                await retry.sleep(retry.delay(attempt, exc))
            current = await self.find_policy(dash, LOCK_POLICY)
            if current is None:
                continue  # released meanwhile: try again
            meta = current.get("meta_data") or {}
            owner = text(meta.get("holder")) or "an unknown holder"
            until = _parse_epoch(meta.get("expires_at"))
            if owner == holder and until > self.clock():
                # ours already (a re-run in the same process): extend the lease
                await dash.update_policy(text(current.get("_id")), body, what=what)
                return LockInfo(holder, expires_at, now)
            if until > self.clock() and not _holder_is_dead(meta):
                raise LockError(
                    f"the apply lock on {self.target} is held by {owner} until {_utc(until)}; "
                    "wait for that apply to finish, or retry after the lease expires"
                )
            log.info("taking over the stale apply lock of %s on %s", owner, self.target)
            with contextlib.suppress(NotFoundError):
                await dash.delete_policy(text(current.get("_id")), what=what)
        raise LockError(
            f"the apply lock on {self.target} is contended; another apply keeps taking it"
        )

    async def release_lock(self, holder: str) -> None:
        self.api.run.grant_cleanup()  # past the run's time limit, still time to release
        dash = self._lock_dash or await self.dashboard()
        current = await self.find_policy(dash, LOCK_POLICY)
        if current is None:
            return
        meta = current.get("meta_data") or {}
        if text(meta.get("holder")) != holder:
            return  # not ours (taken over after our lease expired): leave it alone
        with contextlib.suppress(NotFoundError):
            await dash.delete_policy(
                text(current.get("_id")), what=f"apply lock ({LOCK_POLICY} policy)"
            )

    async def renew_lock(self, holder: str, ttl_seconds: float) -> LockInfo:
        """Extend the lease of a lock ``holder`` holds; LockError when it no longer holds it
        (removed by force-unlock, or taken over after its lease ran out)."""
        dash = self._lock_dash or await self.dashboard()
        what = f"apply lock ({LOCK_POLICY} policy)"
        current = await self.find_policy(dash, LOCK_POLICY)
        if current is not None and _lock_info(current).holder == holder:
            held = _lock_info(current)
            now = self.clock()
            body = _lock_body(holder, held.acquired_at or now, now + ttl_seconds)
            try:
                await dash.update_policy(text(current.get("_id")), body, what=what)
                return LockInfo(holder, now + ttl_seconds, held.acquired_at)
            except NotFoundError:
                current = None
        how = "was removed" if current is None else f"was taken by {_lock_info(current).holder}"
        raise LockError(f"the apply lock on {self.target} {how}: {holder} no longer holds it")

    async def lock_info(self) -> LockInfo | None:
        """Who holds the apply lock, since when and until when (None: nobody)."""
        current = await self.find_policy(await self.dashboard(), LOCK_POLICY)
        return None if current is None else _lock_info(current)

    async def force_unlock(self) -> LockInfo | None:
        """Remove the apply lock whoever holds it; what it was (None: there was none)."""
        dash = await self.dashboard()
        current = await self.find_policy(dash, LOCK_POLICY)
        if current is None:
            return None
        with contextlib.suppress(NotFoundError):
            await dash.delete_policy(
                text(current.get("_id")), what=f"apply lock ({LOCK_POLICY} policy)"
            )
        return _lock_info(current)
