"""Desired and live state in one canonical shape, so that diffing is plain data comparison.

Every portal object is a ``Resource``: a kind, a key (its identity) and ``attrs``, a JSON-like
mapping in *canonical form*. The manifests side (desired.py) and every backend (live side) must
produce exactly this form; the diff compares nothing else. Canonical form per kind:

Provider      key = name
              {type, dashboardUrl, orgId, gatewayUrl ("" = none), policyTags (sorted),
               insecureSkipVerify, secret: Sensitive}
Organisation  key = name            {}
Team          key = "<organisation>/<team>"   {organisation, name}
User          key = email (a team member; a portal user with a consumer role)
              {organisation, first, last, role ("consumer-admin" | "consumer-team-member"),
               teams (sorted team names)}
Product       key = name
              {provider, displayName, description, content, tags (sorted),
               apis (sorted API ids: the portal's APIDetails),
               policy: {partitions: {acl: true, quota: false, rate_limit: false},
                        accessRights: [{apiId, versions (sorted),
                                        allowedUrls: [{url, methods (sorted)}] (sorted by url)}]
                                      (sorted by apiId)}}
Plan          key = name
              {provider, displayName, description, autoApprove, keyExpiresIn (0 = never),
               rateLimit: {requests, per} | None, quota: {requests, renewal} | None,
               policy: {partitions: {acl: false, quota: true, rate_limit: true},
                        rate, per, quotaMax, quotaRenewalRate (-1 = unlimited),
                        keyExpiresIn (0 = never)}}
Catalogue     key = name
              {visibility ("public" | "private"),
               audience: [{organisation, team ("" = the organisation's default team)}] (sorted),
               products (sorted), plans (sorted)}
AccessRequest key = manifest name (live requests not made by us: "request-<id>")
              {consumer, organisation, app: {name, description, redirectUrls (sorted)},
               products (sorted), plan, catalogue,
               status ("approved" | "rejected" | "pending")}

A ``policy`` value of None on the live side means the backing Dashboard policy is missing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

KINDS: tuple[str, ...] = (
    "Provider",
    "Organisation",
    "Team",
    "User",
    "Product",
    "Plan",
    "Catalogue",
    "AccessRequest",
)

LEVEL: dict[str, int] = {
    "Provider": 0,
    "Organisation": 1,
    "Team": 2,
    "User": 3,
    "Product": 4,
    "Plan": 4,
    "Catalogue": 5,
    "AccessRequest": 6,
}
"""Dependency level per kind: creates/updates run upwards level by level, deletes downwards."""

PRODUCT_PARTITIONS = {"acl": True, "quota": False, "rate_limit": False}
PLAN_PARTITIONS = {"acl": False, "quota": True, "rate_limit": True}
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


@dataclass(frozen=True)
class Resource:
    kind: str
    key: str
    attrs: Mapping[str, Any]

    @property
    def ref(self) -> Key:
        return (self.kind, self.key)


@dataclass(frozen=True)
class LiveObject:
    """A live portal object in canonical form, plus what the backend needs to address it."""

    kind: str
    key: str
    id: str
    attrs: Mapping[str, Any]
    managed: bool = False
    builtin: bool = False

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


@dataclass(frozen=True, repr=False)
class LiveState:
    objects: Mapping[Key, LiveObject]

    def __iter__(self) -> Iterator[LiveObject]:
        return iter(self.objects.values())

    def __len__(self) -> int:
        return len(self.objects)

    def __repr__(self) -> str:
        return f"LiveState({len(self)} objects)"

    def get(self, kind: str, key: str) -> LiveObject | None:
        return self.objects.get((kind, key))


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


def default_team_name(organisation: str) -> str:
    return f"{organisation}{DEFAULT_TEAM_SUFFIX}"


def team_key(organisation: str, team: str) -> str:
    return f"{organisation}/{team}"
