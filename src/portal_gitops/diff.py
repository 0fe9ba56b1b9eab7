"""DesiredState + LiveState -> changes (pure).

Canonical attrs compare with ``==`` first (cheap, and the common case: nothing changed); only
objects that differ get a field-level diff, reported as (path, old, new), or as a member added
to or removed from a set-valued list.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from portal_gitops.desired import Desired
from portal_gitops.kinds import BY_NAME
from portal_gitops.source import format_path
from portal_gitops.state import Key, LiveObject, LiveState, Resource, Sensitive


@dataclass(frozen=True)
class FieldChange:
    """One field's change: ``old`` -> ``new``; or, with ``item`` "added" (in ``new``) or
    "removed" (in ``old``), a member gained or lost by the set-valued list at ``path``."""

    path: str
    old: Any
    new: Any
    sensitive: bool = False
    item: str = ""


@dataclass(frozen=True)
class Change:
    """One thing that differs. ``op``: create | update | replace | delete | adopt."""

    op: str
    kind: str
    key: str
    after: Mapping[str, Any] | None = None
    live: LiveObject | None = None
    fields: tuple[FieldChange, ...] = ()
    reason: str = ""


@dataclass(frozen=True)
class DiffResult:
    changes: list[Change]
    unmanaged: list[LiveObject] = field(default_factory=list)
    # managed objects no longer in the manifests, kept because --prune was not given
    orphaned: list[LiveObject] = field(default_factory=list)


def _strip_sensitive(attrs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    plain: dict[str, Any] = {}
    secret: dict[str, Any] = {}
    for k, v in attrs.items():
        (secret if isinstance(v, Sensitive) else plain)[k] = v
    return plain, secret


def field_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> Iterator[FieldChange]:
    """Field-level differences between two canonical attrs mappings, secrets masked."""
    old_plain, old_secret = _strip_sensitive(old)
    new_plain, new_secret = _strip_sensitive(new)
    for k in sorted(set(old_secret) | set(new_secret)):
        o, n = old_secret.get(k), new_secret.get(k)
        if isinstance(n, Sensitive) and n.value is None:
            continue  # not resolvable here (no secret set): unknown, so not compared
        if o != n:
            yield FieldChange(k, None, None, sensitive=True)
    if old_plain == new_plain:
        return
    rows = list(_walk((), old_plain, new_plain))
    yield from sorted(rows, key=_row_order)


_ITEM_ORDER = {"": 0, "removed": 1, "added": 2}
# a member of a set-valued list that is a mapping is the same member, changed, when it has the
# same value under one of these (an API's access rights, a URL's methods); else it is another
KEYED = ("apiId", "url")


def _row_order(row: FieldChange) -> tuple[str, int, str]:
    shown = row.new if row.item == "added" else row.old
    return (row.path, _ITEM_ORDER[row.item], json.dumps(shown, sort_keys=True, default=str))


def _walk(path: tuple[str | int, ...], old: Any, new: Any) -> Iterator[FieldChange]:
    """The differences between two canonical values. Every list in the canonical form is a set
    (kept sorted), so a list's difference is the members it gains and loses, never positions:
    ``methods: + "DELETE"``, not ``methods[0]: null -> "DELETE"``."""
    if old == new:
        return
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for k in sorted(set(old) | set(new), key=str):
            yield from _walk((*path, k), old.get(k), new.get(k))
        return
    if isinstance(old, list) and isinstance(new, list):
        yield from _walk_set(path, old, new)
        return
    yield FieldChange(format_path(path), old, new)


def _walk_set(path: tuple[str | int, ...], old: list[Any], new: list[Any]) -> Iterator[FieldChange]:
    removed = [o for o in old if o not in new]
    added = [n for n in new if n not in old]
    for n in list(added):
        same = next((o for o in removed if _same_member(o, n)), None)
        if same is not None:  # one member changed inside: its fields, at its place in ``new``
            removed.remove(same)
            added.remove(n)
            yield from _walk((*path, new.index(n)), same, n)
    where = format_path(path)
    for o in removed:
        yield FieldChange(where, o, None, item="removed")
    for n in added:
        yield FieldChange(where, None, n, item="added")


def _same_member(old: Any, new: Any) -> bool:
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        return False
    return any(k in old and old.get(k) == new.get(k) for k in KEYED)


def _without_mirrors(
    implied: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None,
    live: Mapping[str, Any],
    fields: tuple[FieldChange, ...],
) -> tuple[FieldChange, ...]:
    """The field changes less those of implied attrs that merely follow the others (a plan's
    ``policy.rate`` when its ``rateLimit.requests`` changes): an implied attr is listed only
    where the live object drifted from what its own other attrs imply (a policy edited in the
    Dashboard). Kept whole when nothing else is listed, so a change never shows no field."""
    if implied is None:
        return fields
    expected = implied(live)
    names = set(expected)
    drift = [f.path for f in field_changes({k: live.get(k) for k in names}, expected)]

    def mirror(f: FieldChange) -> bool:
        top = re.split(r"[.\[]", f.path, maxsplit=1)[0]
        if top not in names:
            return False
        return not any(
            d == f.path
            or d.startswith((f.path + ".", f.path + "["))
            or f.path.startswith((d + ".", d + "["))
            for d in drift
        )

    kept = tuple(f for f in fields if not mirror(f))
    return kept or fields


def diff(
    desired: Desired,
    live: LiveState,
    *,
    prune: bool = False,
) -> DiffResult:
    """Compare desired with live; ordering is left to plan.py."""
    changes: list[Change] = []
    matched: set[Key] = set()
    spare = _spare_requests(desired, live)
    for res in desired.state:
        live_key = desired.aliases.get(res.ref, res.ref)
        obj = live.objects.get(live_key) or live.objects.get(res.ref)
        if obj is None and res.kind == "AccessRequest":
            obj = _take_same_request(res, spare)
        if obj is None:
            changes.append(Change("create", res.kind, res.key, after=res.attrs))
            continue
        matched.add(obj.ref)
        want = _compared(res)
        if _equal(obj.attrs, want):
            if (not obj.managed and not obj.builtin) or obj.ref != res.ref:
                reason = "exists in the portal; will be managed"
                if obj.managed and obj.ref != res.ref:
                    reason = f"renamed from {obj.key}"
                changes.append(
                    Change("adopt", res.kind, res.key, after=res.attrs, live=obj, reason=reason)
                )
            continue
        fields = tuple(field_changes(obj.attrs, want))
        if not fields:  # only an unresolvable secret differs in shape
            if not obj.managed and not obj.builtin:
                changes.append(Change("adopt", res.kind, res.key, after=res.attrs, live=obj))
            continue
        kind = BY_NAME[res.kind]
        fields = _without_mirrors(kind.implied, obj.attrs, fields)
        op, reason = "update", ""
        if kind.replace_on_change and not _in_place(obj, fields):
            op = "replace"
        moved = kind.replace_on_field
        if moved and obj.attrs.get(moved) != res.attrs.get(moved):
            op, reason = "replace", f"{moved} changed: the portal cannot move it"
        changes.append(
            Change(op, res.kind, res.key, after=res.attrs, live=obj, fields=fields, reason=reason)
        )
    changes = _relink_dependents(desired, live, changes)
    for key in sorted(desired.expired):
        live_key = desired.aliases.get(key, key)
        obj = live.objects.get(live_key) or live.objects.get(key)
        if obj is not None:
            matched.add(obj.ref)
            changes.append(Change("delete", obj.kind, obj.key, live=obj, reason="expired"))
    unmanaged: list[LiveObject] = []
    orphaned: list[LiveObject] = []
    for obj in live:
        if obj.ref in matched or obj.builtin:
            continue
        if (obj.kind, obj.key) in desired.state.resources:
            continue
        if not obj.managed:
            unmanaged.append(obj)
        elif prune:
            changes.append(
                Change("delete", obj.kind, obj.key, live=obj, reason="removed from the manifests")
            )
        else:
            orphaned.append(obj)
    return DiffResult(changes, unmanaged, orphaned)


def _spare_requests(desired: Desired, live: LiveState) -> list[LiveObject]:
    """Live access requests that no manifest names (by key, alias or as expired)."""
    claimed: set[Key] = set(desired.state.resources) | set(desired.expired)
    claimed |= {desired.aliases.get(k, k) for k in claimed}
    return sorted(
        (o for o in live if o.kind == "AccessRequest" and o.ref not in claimed),
        key=lambda o: o.key,
    )


def _take_same_request(res: Resource, spare: list[LiveObject]) -> LiveObject | None:
    """A live request asking exactly what the manifest asks (renamed, or made in the portal).

    Creating the manifest's request would reuse that one anyway (the portal keeps one request
    per app, products and plan), so it is matched, not created next to it and then deleted.
    """
    for i, obj in enumerate(spare):
        same = _equal(obj.attrs, res.attrs) or (
            obj.attrs.get("status") == "pending"
            and {**obj.attrs, "status": res.attrs.get("status")} == dict(res.attrs)
        )
        if same:
            return spare.pop(i)
    return None


def _relink_dependents(desired: Desired, live: LiveState, changes: list[Change]) -> list[Change]:
    """A replaced product or plan comes back with a new id: what points at it must follow.

    The portal drops a deleted product or plan from its catalogues, and an access request keeps
    pointing at the old one; so a catalogue listing it is updated (re-linked) and an access
    request using it is replaced, even when their attrs are unchanged.
    """
    replaced = {
        (c.kind, c.key)
        for c in changes
        if c.op == "replace" and BY_NAME[c.kind].replace_on_field is not None
    }
    if not replaced:
        return changes
    by_ref = {(c.kind, c.key): i for i, c in enumerate(changes)}
    out = list(changes)
    for res in desired.state:
        hit = sorted(BY_NAME[res.kind].references(res.attrs) & replaced)
        if not hit:
            continue
        reason = "re-links the replaced " + ", ".join(f"{k}/{n}" for k, n in hit)
        op = "update" if res.kind == "Catalogue" else "replace"
        i = by_ref.get(res.ref)
        if i is None:
            obj = live.objects.get(desired.aliases.get(res.ref, res.ref)) or live.objects.get(
                res.ref
            )
            if obj is None:
                continue
            out.append(Change(op, res.kind, res.key, after=res.attrs, live=obj, reason=reason))
            continue
        current = out[i]
        if current.op in ("create", "replace", "delete") or current.op == op:
            continue
        out[i] = Change(
            op,
            current.kind,
            current.key,
            after=current.after,
            live=current.live,
            fields=current.fields,
            reason=reason,
        )
    return out


def _compared(res: Resource) -> Mapping[str, Any]:
    """The attrs the live side can show: a kind's write-only attrs are never read back."""
    write_only = BY_NAME[res.kind].write_only
    if not write_only or write_only.isdisjoint(res.attrs):
        return res.attrs
    return {k: v for k, v in res.attrs.items() if k not in write_only}


def _in_place(obj: LiveObject, fields: tuple[FieldChange, ...]) -> bool:
    """A pending request being approved or rejected, its app's description, redirect URLs
    or visibility, a rotation and the revocation of single credentials change in place (the
    request stays); anything else replaces it."""
    pending = obj.attrs.get("status") == "pending"
    return all(
        (f.path == "status" and pending)
        or (f.path.startswith("app.") and not f.path.startswith("app.name"))
        or f.path.split("[", 1)[0] in ("rotate", "revokeCredentials")
        for f in fields
    )


def _equal(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    if a == b:
        return True
    # an unresolved desired secret compares as "unknown": equal when everything else is
    if any(isinstance(v, Sensitive) and v.value is None for v in b.values()):
        return {k: v for k, v in a.items() if not isinstance(v, Sensitive)} == {
            k: v for k, v in b.items() if not isinstance(v, Sensitive)
        }
    return False
