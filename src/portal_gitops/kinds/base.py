"""What every kind is made of: the ``Kind`` record, and the two workspaces its functions fill
(manifests -> canonical resources, live objects -> manifest documents). Pure, no I/O.

A kind module defines one ``Kind`` (team.py two: teams and their users) and the pair of
functions that carry its objects between manifests and the canonical form of state.py.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from portal_gitops.models import API_VERSION
from portal_gitops.state import Content, Key, LiveObject, LiveState, Resource

Attrs = Mapping[str, Any]

SecretResolver = Callable[[str], str | None]
"""Maps a secret reference label (``env:VAR`` / ``file:path``) to its value, or None if unset."""

_SLUG = re.compile(r"[^a-z0-9]+")


def slug(text: str, limit: int = 60) -> str:
    """A file-name-safe slug: lower-case letters, digits and dashes only (never a path)."""
    s = _SLUG.sub("-", text.lower()).strip("-")[:limit].strip("-")
    return s or "x"


def no_secret(_: str) -> str | None:
    return None


class Building:
    """The desired state being built from validated manifests, kind by kind in level order.

    A kind's ``build`` adds its resources here and may read those of lower levels (an access
    request reads its consumer's User and its Plan). ``expired``, ``aliases``, ``notes`` and
    ``details`` are what the diff needs beyond canonical attrs (see desired.Desired).
    """

    def __init__(
        self,
        today: dt.date,
        resolve_secret: SecretResolver = no_secret,
        documents: Mapping[tuple[str, str], Content] | None = None,
    ) -> None:
        self.today = today
        self.resolve_secret = resolve_secret
        # the files products name, read and checked by documents.py: (product, path) -> content
        self.documents: Mapping[tuple[str, str], Content] = documents or {}
        self.resources: dict[Key, Resource] = {}
        self.expired: set[Key] = set()
        self.aliases: dict[Key, Key] = {}
        self.notes: dict[Key, Mapping[str, Any]] = {}
        self.details: dict[Key, Mapping[str, Any]] = {}

    def add(self, kind: str, key: str, attrs: dict[str, Any]) -> None:
        self.resources[(kind, key)] = Resource(kind, key, attrs)

    @staticmethod
    def inline(text: str) -> Content:
        """A document written in a manifest (a guide's Markdown), as content."""
        return Content(text.encode("utf-8"))


@dataclass(frozen=True)
class Skipped:
    """A live object the manifests cannot express, and why."""

    kind: str
    key: str
    reason: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.key}: {self.reason}"


class Importing:
    """Manifest documents being written from a live state, kind by kind in level order.

    ``objects(kind)`` lists a kind's live objects sorted by key; ``write`` files a document
    under a path relative to the output directory; ``skip`` reports an object by name.
    """

    def __init__(self, live: LiveState) -> None:
        self.live = live
        by_kind: dict[str, list[LiveObject]] = defaultdict(list)
        for o in live:
            by_kind[o.kind].append(o)
        for objs in by_kind.values():
            objs.sort(key=lambda o: o.key)
        self._by_kind = by_kind
        self.files: dict[PurePosixPath, list[dict[str, Any]]] = defaultdict(list)
        self.skipped: list[Skipped] = []
        self.written: dict[str, set[str]] = defaultdict(set)  # kind -> names of documents
        # files other than manifests (downloaded OpenAPI documents), by path
        self.attachments: dict[PurePosixPath, bytes] = {}
        self._keys: dict[str, set[str]] = {}

    def objects(self, kind: str) -> list[LiveObject]:
        return self._by_kind.get(kind, [])

    def keys(self, kind: str) -> set[str]:
        """The keys of a kind's live objects (built once)."""
        if kind not in self._keys:
            self._keys[kind] = {o.key for o in self.objects(kind)}
        return self._keys[kind]

    def write(
        self,
        path: PurePosixPath,
        kind: str,
        name: str,
        spec: dict[str, Any],
        annotations: dict[str, str] | None = None,
    ) -> None:
        meta: dict[str, Any] = {"name": name}
        if annotations:
            meta["annotations"] = annotations
        doc = {"apiVersion": API_VERSION, "kind": kind, "metadata": meta, "spec": spec}
        self.files[path].append(doc)
        self.written[kind].add(name)

    def attach(self, path: PurePosixPath, data: bytes) -> None:
        """A file to write beside the manifests (under a folder the loader does not read)."""
        self.attachments[path] = data

    def skip(self, kind: str, key: str, reason: str) -> None:
        self.skipped.append(Skipped(kind, key, reason))


def _no_references(_: Attrs) -> set[Key]:
    return set()


@dataclass(frozen=True)
class Kind:
    """One kind of portal object: its place in the dependency order, its identity, what it
    points at, how changes to it are made, and its two conversions.

    ``build(manifests, building)`` turns the validated manifests of kind ``source`` (a User is
    built from Team manifests: users are team members) into canonical resources.
    ``export(objects, importing)`` turns live objects of this kind into manifest documents, or
    reports why it cannot; None when another kind writes them (users, inside their teams).
    """

    name: str
    # creates and updates run upwards level by level, deletes downwards
    level: int
    # what the key is, in words; ``identity(name, attrs)`` computes it from the document name
    # (a user's: its email) and the canonical attrs
    identity_doc: str
    identity: Callable[[str, Attrs], str]
    source: str
    build: Callable[[Sequence[Any], Building], None]
    export: Callable[[Sequence[LiveObject], Importing], None] | None
    # what its canonical attrs point at: (kind, key) pairs that must exist before it
    references: Callable[[Attrs], set[Key]] = _no_references
    # any change replaces it (delete, then create) instead of updating it in place
    replace_on_change: bool = False
    # a change of this field replaces it: the portal cannot move it
    replace_on_field: str | None = None
    # the partitions of its backing Dashboard policy; None = no backing policy
    partitions: Mapping[str, bool] | None = field(default=None)
    # attrs sent to the portal but never read back (a user's password): not compared
    write_only: frozenset[str] = frozenset()
    # the attrs its other attrs imply (a plan's backing policy from its limits): a change of
    # one of them that only follows the others is not listed (a mirror); one that differs
    # from what the live object's other attrs imply is drift, and is listed
    implied: Callable[[Attrs], Attrs] | None = None

    @property
    def policy_backed(self) -> bool:
        """Whether its live object is backed by a Dashboard policy named after it."""
        return self.partitions is not None


def on_provider(attrs: Attrs) -> set[Key]:
    """What a product or plan points at: its provider."""
    return {("Provider", attrs.get("provider", ""))}


def by_name(name: str, _: Attrs) -> str:
    """The identity of most kinds: the document's name."""
    return name


def held_name_problem(kind: str, key: str, provider: str, policy_id: str) -> str:
    """Why a product or plan cannot be created: an unmanaged Dashboard policy holds its name
    (REFERENCE §9: a policy left behind keeps its name, and policy names are unique)."""
    what = kind.lower()
    return (
        f'the Dashboard of provider "{provider}" has a policy named "{key}" (id {policy_id}) '
        f"that portal-gitops does not manage and no portal object uses; policy names are "
        f"unique, so the portal cannot create this {what}'s policy: delete or rename that "
        f"policy in the Dashboard, or rename the {what}"
    )


ACTIVE: Mapping[str, Any] = {"active": True, "state": "active"}
"""The state every backing policy is wanted in (REFERENCE §6, §9 "Policy state": keys under an
inactive, draft or deny policy stop working), part of the canonical policy of both kinds."""


def backing_policy(
    o: LiveObject, importing: Importing, partitions: Mapping[str, bool], mixed: str
) -> Mapping[str, Any] | None:
    """The policy behind a product or plan if the manifests can express it, else None with
    the reason recorded (``mixed`` explains a policy with the wrong partitions: ``{}`` is
    replaced by the partitions it has)."""
    a = o.attrs
    policy: Mapping[str, Any] | None = a.get("policy")
    if a.get("provider") not in importing.keys("Provider"):
        reason = f"its provider {a.get('provider')!r} does not exist"
    elif policy is None:
        reason = "it has no backing Dashboard policy"
    elif dict(policy.get("partitions", {})) != partitions:
        reason = mixed.format(_partitions(policy))
    else:
        return policy
    importing.skip(o.kind, o.key, reason)
    return None


def _partitions(policy: Mapping[str, Any]) -> str:
    on = [k for k, v in sorted(dict(policy.get("partitions", {})).items()) if v]
    return ", ".join(on) or "none"
