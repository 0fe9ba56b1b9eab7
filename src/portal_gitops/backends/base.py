"""The backend seam: what the reconciler needs from wherever the live portal is.

A backend reads the whole live state in canonical form (see state.py) and creates, updates
and deletes one object at a time, translating canonical attrs to the portal's own API. It also
keeps the two records the reconciler needs on the target itself: which objects the tool
manages, and the apply lock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from portal_gitops.state import Key, LiveObject, LiveState


@dataclass(frozen=True)
class ManagedRecord:
    """What the tool remembers about the objects it manages, kept on the target itself.

    ``objects`` maps (kind, key) to the live id; ``notes`` holds small per-object facts the
    portal has no field for (an access request's justification, for example).
    """

    objects: Mapping[Key, str] = field(default_factory=dict)
    notes: Mapping[Key, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class LockInfo:
    holder: str
    expires_at: float  # epoch seconds
    acquired_at: float | None = None  # epoch seconds; None when the lock does not say


class Backend(Protocol):
    """Implemented by backends/tyk/backend.py over an in-process store or HTTP."""

    kind: str  # "embedded" | "tyk"
    target: str  # a description of the target (store path, portal URL), never a secret

    async def read(self) -> LiveState:
        """Read every live object, including policies, in canonical form."""
        ...

    async def with_documents(self, live: LiveState) -> LiveState:
        """``live`` with the portal's copy of each uploaded OpenAPI document (for import)."""
        ...

    async def find(self, kind: str, key: str) -> LiveObject | None:
        """Look one object up by identity (used after a create whose reply was lost)."""
        ...

    async def create(self, kind: str, key: str, attrs: Mapping[str, Any]) -> str:
        """Create an object from canonical attrs; returns its live id."""
        ...

    async def update(self, live: LiveObject, attrs: Mapping[str, Any]) -> None:
        """Bring a live object to the canonical attrs given."""
        ...

    async def delete(self, live: LiveObject) -> None:
        """Delete a live object (idempotent: a missing object is not an error)."""
        ...

    async def read_managed(self) -> ManagedRecord: ...

    async def write_managed(self, record: ManagedRecord) -> None: ...

    async def acquire_lock(self, holder: str, ttl_seconds: float) -> LockInfo:
        """Take the apply lock or raise LockError naming the holder and when it expires."""
        ...

    async def release_lock(self, holder: str) -> None: ...

    async def renew_lock(self, holder: str, ttl_seconds: float) -> LockInfo:
        """Extend the lease of the lock ``holder`` holds, or raise LockError when it no
        longer holds it."""
        ...

    async def lock_info(self) -> LockInfo | None:
        """Who holds the apply lock (None: nobody)."""
        ...

    async def force_unlock(self) -> LockInfo | None:
        """Remove the apply lock whoever holds it; returns what it was (None: none)."""
        ...

    async def record_move(self) -> str:
        """What would move the managed record and lock to another Dashboard ("" = nothing);
        the record never moves unless ``confirm_record_move`` was called."""
        ...

    def confirm_record_move(self) -> None: ...

    async def aclose(self) -> None: ...
