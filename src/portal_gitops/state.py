"""Desired and live state in one canonical shape, so that diffing is plain data comparison.

Every portal object is a ``Resource``: a kind, a key (its identity) and ``attrs``, a JSON-like
mapping in *canonical form*. The manifests side (desired.py) and every backend (live side) must
produce exactly this form; the diff compares nothing else. The canonical form of each kind
is documented in its module under kinds/ (provider, organisation, team (+ users), product,
plan, catalogue, access_request), beside the code that builds it from manifests.

A ``policy`` value of None on the live side means the backing Dashboard policy is missing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

MANAGED_POLICY_TAG = "portal-gitops-managed"
STATE_POLICY = "portal-gitops-state"  # the Dashboard policy holding the managed-objects record
LOCK_POLICY = "portal-gitops-lock"  # the Dashboard policy whose existence is the apply lock
DEFAULT_TEAM_SUFFIX = " All users"
DEFAULT_ORGANISATION = "Default Organisation"

Key = tuple[str, str]  # (kind, key)


@dataclass(frozen=True)
class Sensitive:
    """A secret value held in memory only. ``ref`` says where it came from (``env:VAR``).

    It compares by value, prints as ``(sensitive)`` and serialises as its reference only.
    ``value`` is None when the reference could not be resolved (validation, plan without it).
    """

    ref: str = field(compare=False)
    value: str | None = field(default=None, repr=False)

    def __str__(self) -> str:
        return "(sensitive)"

    def __repr__(self) -> str:
        return f"Sensitive({self.ref!r})"


# slots: a large estate holds one of each per object, desired and live (a __dict__ each)
@dataclass(frozen=True, slots=True)
class Resource:
    kind: str
    key: str
    attrs: Mapping[str, Any]

    @property
    def ref(self) -> Key:
        return (self.kind, self.key)


@dataclass(frozen=True, slots=True)
class LiveObject:
    """A live portal object in canonical form, plus what the backend needs to address it."""

    kind: str
    key: str
    id: str
    attrs: Mapping[str, Any]
    managed: bool = False
    builtin: bool = False
    # facts the portal records that are not ours to set, so not compared by the diff (the
    # catalogue the portal recorded on an access request); shown to reviewers and importers
    recorded: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def ref(self) -> Key:
        return (self.kind, self.key)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.attrs)


# The states have short reprs: asyncio.run formats the repr of its coroutine's result
# (CPython 3.11, checking its SIGINT handler), and a full repr of 10,000 objects takes 0.1 s.


@dataclass(frozen=True, repr=False)
class DesiredState:
    resources: Mapping[Key, Resource]

    def __iter__(self) -> Iterator[Resource]:
        return iter(self.resources.values())

    def __len__(self) -> int:
        return len(self.resources)

    def __repr__(self) -> str:
        return f"DesiredState({len(self)} resources)"


@dataclass(frozen=True)
class LiveApi:
    """An API defined on a provider's Dashboard, as far as products care: its versions.

    ``versions``: the names it defines (``("Default",)`` when not versioned); ``defaults``:
    what a product grants when its manifest names no versions (``("Default",)`` when not
    versioned, else every version).
    """

    api_id: str
    name: str
    versioned: bool
    versions: tuple[str, ...]
    defaults: tuple[str, ...]


ALL_PROVIDERS = "*"  # key of LiveState.apis: the one Dashboard behind every provider


@dataclass(frozen=True, repr=False)
class LiveState:
    objects: Mapping[Key, LiveObject]
    # Dashboard policies no portal object references and portal-gitops does not manage, which
    # hold their names (Dashboard names are unique): name -> provider -> the policy's _id
    held_names: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # provider name (or ALL_PROVIDERS) -> the APIs on its Dashboard; a provider absent here
    # had no Dashboard to read, so its products' APIs are not checked
    apis: Mapping[str, Mapping[str, LiveApi]] = field(default_factory=dict)

    def __iter__(self) -> Iterator[LiveObject]:
        return iter(self.objects.values())

    def __len__(self) -> int:
        return len(self.objects)

    def __repr__(self) -> str:
        return f"LiveState({len(self)} objects)"

    def get(self, kind: str, key: str) -> LiveObject | None:
        return self.objects.get((kind, key))

    def apis_of(self, provider: str) -> Mapping[str, LiveApi] | None:
        """The APIs on a provider's Dashboard (None: not read)."""
        found = self.apis.get(provider)
        return found if found is not None else self.apis.get(ALL_PROVIDERS)


def to_jsonable(value: Any) -> Any:
    """Canonical attrs -> plain JSON data; a Sensitive becomes its reference, never its value."""
    if isinstance(value, Sensitive):
        return {"sensitive": value.ref}
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


def _jsonable_leaf(value: Any) -> Any:
    """What json.dumps cannot encode itself, as to_jsonable turns it (keys are strings)."""
    if isinstance(value, Sensitive):
        return {"sensitive": value.ref}
    if isinstance(value, Mapping):
        return dict(value)
    return str(value)


def canonical_json(value: Any) -> str:
    """``json.dumps(to_jsonable(value))`` with sorted keys, without building the copy first
    (a plan fingerprints every live object: three times faster this way)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_jsonable_leaf)


def fingerprint(attrs: Mapping[str, Any]) -> str:
    """A short stable hash of an object's canonical attrs (secrets excluded by to_jsonable)."""
    return hashlib.sha256(canonical_json(attrs).encode()).hexdigest()[:16]


class Content(str):
    """A document's content address (``sha256:<hex>``) that carries its bytes (``data``): an
    OpenAPI document or a guide (kinds/docs.py, documents.py).

    Being a string, it compares, hashes and serialises as its address: plans, fingerprints and
    the managed record hold the address only, never the document.
    """

    data: bytes

    def __new__(cls, data: bytes) -> Content:
        self = super().__new__(cls, content_address(data))
        self.data = data
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (Content, (self.data,))

    def __repr__(self) -> str:
        return f"Content({str(self)!r})"


def content_address(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def default_team_name(organisation: str) -> str:
    return f"{organisation}{DEFAULT_TEAM_SUFFIX}"


def team_key(organisation: str, team: str) -> str:
    return f"{organisation}/{team}"
