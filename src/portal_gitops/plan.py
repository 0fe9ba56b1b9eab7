"""Changes -> an ordered, gated, serialisable Plan (pure).

Creates, updates, replaces and adoptions run first, level by level from providers down to
access requests; deletions run afterwards, from access requests back up to providers, so
nothing is ever deleted while something still points at it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from portal_gitops.diff import Change, DiffResult, FieldChange
from portal_gitops.errors import PlanError, StalePlanError, UnsafePlanError
from portal_gitops.kinds import BY_NAME, LEVEL
from portal_gitops.kinds.base import held_name_problem
from portal_gitops.state import (
    Content,
    Key,
    LiveObject,
    LiveState,
    Resource,
    Sensitive,
    to_jsonable,
)

FORMAT_VERSION = 2
# the versions ``show`` can still render (1: a set's members added or removed were positions)
READABLE_VERSIONS = (1, 2)
OPS = ("create", "update", "replace", "adopt", "delete")


@dataclass(frozen=True)
class Action:
    op: str
    kind: str
    key: str
    attrs: Mapping[str, Any] | None = None  # desired canonical attrs (None for delete)
    live_id: str = ""
    fields: tuple[FieldChange, ...] = ()
    reason: str = ""
    # runs after the deletions: it needs a name a deletion frees (see _defer_clashes)
    deferred: bool = False

    @property
    def phase(self) -> int:
        return 1 if self.op == "delete" else 2 if self.deferred else 0

    @property
    def level(self) -> int:
        return LEVEL[self.kind]

    @property
    def group(self) -> tuple[int, int]:
        """Actions of one group may run concurrently; groups run one after another."""
        return (self.phase, -self.level if self.phase == 1 else self.level)

    @property
    def address(self) -> str:
        return f"{self.kind}/{self.key}"


@dataclass(frozen=True)
class Unmanaged:
    kind: str
    key: str
    reason: str

    @property
    def address(self) -> str:
        return f"{self.kind}/{self.key}"


@dataclass(frozen=True)
class CredentialImpact:
    """A live credential the plan revokes (``effect`` "revoke"), revokes and issues anew
    ("reissue") or rotates ("rotate": the portal replaces its value), named by who holds it and
    through what; never its value. An access request the portal approved holds one
    (REFERENCE.md §4: approval issues it, deleting the request, its consumer or its app
    revokes it). ``credential``: the one credential concerned when the request stays (a
    revocation asked by ID); "" for all the request holds."""

    effect: str  # "revoke" | "reissue" | "rotate"
    request: str  # the access request's key
    live_id: str
    consumer: str
    organisation: str
    app: str
    products: tuple[str, ...]  # what the live credential grants
    plan: str
    cause: str  # the address of the action that revokes it
    reason: str
    credential: str = ""

    @property
    def address(self) -> str:
        return f"AccessRequest/{self.request}"


@dataclass(frozen=True, repr=False)  # short repr: see state.LiveState
class Plan:
    actions: tuple[Action, ...]
    unmanaged: tuple[Unmanaged, ...] = ()
    orphaned: tuple[Unmanaged, ...] = ()
    target: str = ""
    backend: str = ""
    manifests_hash: str = ""
    paths: tuple[str, ...] = ()
    fingerprints: Mapping[str, str] = field(default_factory=dict)
    notes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    details: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # made with --prune: a saved plan is checked against a plan made the same way
    prune: bool = False
    credentials: tuple[CredentialImpact, ...] = ()

    def __repr__(self) -> str:
        counts = ", ".join(f"{n} {op}" for op, n in self.counts().items() if n)
        return f"Plan({counts or 'no changes'}, target={self.target!r})"

    @property
    def has_changes(self) -> bool:
        return bool(self.actions)

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(OPS, 0)
        for a in self.actions:
            out[a.op] += 1
        return out

    def credential_counts(self) -> dict[str, int]:
        """How many live credentials the plan revokes, and how many it revokes and reissues."""
        out = {"revoke": 0, "reissue": 0, "rotate": 0}
        for c in self.credentials:
            out[c.effect] += 1
        return out

    @property
    def deletions(self) -> list[Action]:
        return [a for a in self.actions if a.op in ("delete", "replace")]

    def groups(self) -> Iterator[list[Action]]:
        current: list[Action] = []
        for a in self.actions:
            if current and current[0].group != a.group:
                yield current
                current = []
            current.append(a)
        if current:
            yield current

    def raise_if_unsafe(self, *, max_deletes: int, force: bool) -> None:
        """Refuse a plan that deletes more than the budget unless forced (like octoDNS)."""
        n = len(self.deletions)
        if n > max_deletes and not force:
            raise UnsafePlanError(
                f"the plan deletes {n} objects, more than --max-deletes {max_deletes}; "
                "review it, then raise --max-deletes or pass --force"
            )


def _sort_key(a: Action) -> tuple[int, int, str, str]:
    p, lvl = a.group
    return (p, lvl, a.kind, a.key)


def build_plan(
    result: DiffResult,
    live: LiveState,
    *,
    target: str = "",
    backend: str = "",
    manifests_hash: str = "",
    paths: Iterable[str] = (),
    notes: Mapping[str, Mapping[str, Any]] | None = None,
    warnings: Iterable[str] = (),
    details: Mapping[str, Mapping[str, Any]] | None = None,
    prune: bool = False,
) -> Plan:
    actions = _defer_clashes([_action(c) for c in result.changes])
    actions.sort(key=_sort_key)
    return Plan(
        actions=tuple(actions),
        unmanaged=tuple(
            Unmanaged(o.kind, o.key, "not in the manifests and not managed by portal-gitops")
            for o in sorted(result.unmanaged, key=lambda o: (LEVEL[o.kind], o.kind, o.key))
        ),
        orphaned=tuple(
            Unmanaged(o.kind, o.key, "managed but removed from the manifests (use --prune)")
            for o in sorted(result.orphaned, key=lambda o: (LEVEL[o.kind], o.kind, o.key))
        ),
        target=target,
        backend=backend,
        manifests_hash=manifests_hash,
        paths=tuple(paths),
        fingerprints=LiveFingerprints(live),
        notes=dict(notes or {}),
        warnings=(*warnings, *_held_names(actions, live)),
        details=dict(details or {}),
        prune=prune,
        credentials=credential_impact(result.changes, live),
    )


def _held_names(actions: Iterable[Action], live: LiveState) -> Iterator[str]:
    """A warning per product or plan to create whose name an unmanaged Dashboard policy holds
    on its provider's Dashboard (the create would fail; apply says so again)."""
    for a in actions:
        if a.op != "create" or not BY_NAME[a.kind].policy_backed:
            continue
        provider = str((a.attrs or {}).get("provider", ""))
        policy_id = live.held_names.get(a.key, {}).get(provider)
        if policy_id is not None:
            yield f"{a.address}: {held_name_problem(a.kind, a.key, provider, policy_id)}"


def credential_impact(changes: Iterable[Change], live: LiveState) -> tuple[CredentialImpact, ...]:
    """Every live credential the changes revoke or reissue (pure: from the live state alone).

    A live access request holds a credential when it is approved. Replacing it revokes that
    credential and, when the new request is approved, issues another ("reissue"; narrowing
    its products is a replace too); deleting it (pruned, expired) revokes it; deleting its
    app revokes those of every request on the app; deleting its consumer (a User) or the
    consumer's Organisation revokes every credential they hold.
    """
    held: dict[str, list[LiveObject]] = {}  # consumer -> their approved live requests
    for o in live:
        if o.kind == "AccessRequest" and o.attrs.get("status") == "approved":
            held.setdefault(str(o.attrs.get("consumer", "")), []).append(o)
    out: dict[str, CredentialImpact] = {}

    def add(o: LiveObject, effect: str, cause: str, reason: str, credential: str = "") -> None:
        entry = f"{o.id}/{credential}"
        if entry in out or f"{o.id}/" in out:  # one credential, one entry (the first cause)
            return
        a = o.attrs
        out[entry] = CredentialImpact(
            effect=effect,
            request=o.key,
            live_id=o.id,
            consumer=str(a.get("consumer", "")),
            organisation=str(a.get("organisation", "")),
            app=str((a.get("app") or {}).get("name", "")),
            products=tuple(a.get("products", [])),
            plan=str(a.get("plan", "")),
            cause=cause,
            reason=reason,
            credential=credential,
        )

    for c in changes:
        obj = c.live
        if c.op == "update" and c.kind == "AccessRequest" and obj is not None:
            _once(obj, c, add)
        if obj is None or c.op not in ("replace", "delete"):
            continue
        cause = f"{c.kind}/{c.key}"
        if c.kind == "AccessRequest" and obj.attrs.get("status") == "approved":
            if c.op == "delete":
                add(obj, "revoke", cause, c.reason or "deleted")
            elif (c.after or {}).get("status") == "approved":
                add(obj, "reissue", cause, c.reason or "replaced: revoked, then issued anew")
            else:
                add(obj, "revoke", cause, "replaced by a rejected request")
        elif c.kind == "App" and c.op == "delete":
            name = obj.attrs.get("name")
            for r in held.get(str(obj.attrs.get("owner", "")), []):
                if (r.attrs.get("app") or {}).get("name") == name:
                    add(r, "revoke", cause, "its app is deleted")
        elif c.kind == "User" and c.op == "delete":
            for r in held.get(obj.key, []):
                add(r, "revoke", cause, "its consumer is deleted")
        elif c.kind == "Organisation" and c.op == "delete":
            for requests in held.values():
                for r in requests:
                    if r.attrs.get("organisation") == obj.key:
                        add(r, "revoke", cause, "its consumer's organisation is deleted")
    order = {"revoke": 0, "reissue": 1, "rotate": 2}
    return tuple(
        sorted(
            out.values(),
            key=lambda i: (order[i.effect], i.consumer, i.request, i.credential),
        )
    )


def _once(obj: LiveObject, c: Change, add: Callable[..., None]) -> None:
    """An approved request kept in place whose update revokes credentials by ID or rotates
    them (kinds/access_request.py: ``revokeCredentials``, ``rotate``)."""
    after = c.after or {}
    if obj.attrs.get("status") != "approved" or after.get("status") != "approved":
        return
    cause = f"{c.kind}/{c.key}"
    before = set(obj.attrs.get("revokeCredentials") or [])
    for cid in after.get("revokeCredentials") or []:
        if cid not in before:
            add(obj, "revoke", cause, "revoked by ID; the request stays", str(cid))
    rotate = after.get("rotate")
    if rotate and rotate != obj.attrs.get("rotate"):
        add(obj, "rotate", cause, f"rotation asked ({rotate})")


def _defer_clashes(actions: list[Action]) -> list[Action]:
    """Defer creates that need a Dashboard policy name a deletion in this plan frees.

    A product and a plan each get a policy named after them, and policy names are unique:
    a plan created with the name of a product deleted in the same change must wait for that
    deletion, and so must the catalogues and access requests that point at it.
    """
    freed = {a.key for a in actions if a.op == "delete" and BY_NAME[a.kind].policy_backed}
    late = {
        (a.kind, a.key)
        for a in actions
        if a.op in ("create", "replace")
        and BY_NAME[a.kind].policy_backed
        and a.key in freed
        and any(d.op == "delete" and d.key == a.key and d.kind != a.kind for d in actions)
    }
    if not late:
        return actions

    for a in sorted(actions, key=lambda a: a.level):  # dependents come at higher levels
        if a.op != "delete" and BY_NAME[a.kind].references(a.attrs or {}) & late:
            late.add((a.kind, a.key))
    return [
        replace(a, deferred=True) if a.op != "delete" and (a.kind, a.key) in late else a
        for a in actions
    ]


def _action(c: Change) -> Action:
    # a deletion carries what it deletes, so reviewers see it (apply ignores it), with what
    # the portal recorded on it (an access request's catalogue)
    attrs = c.after if c.after is not None or c.live is None else c.live.attrs
    if c.after is None and c.live is not None and c.live.recorded:
        attrs = {**c.live.attrs, **c.live.recorded}
    return Action(
        op=c.op,
        kind=c.kind,
        key=c.key,
        attrs=attrs,
        live_id=c.live.id if c.live is not None else "",
        fields=c.fields,
        reason=c.reason,
    )


def live_fingerprints(live: LiveState) -> dict[str, str]:
    return {f"{o.kind}/{o.key}": o.fingerprint for o in live}


class LiveFingerprints(Mapping[str, str]):
    """``live_fingerprints(live)``, computed on first use: only a saved or JSON plan needs
    them, and a text plan of 16,000 live objects would spend a fifth of a second on them."""

    def __init__(self, live: LiveState) -> None:
        self._live = live
        self._computed: dict[str, str] | None = None

    def _map(self) -> dict[str, str]:
        if self._computed is None:
            self._computed = live_fingerprints(self._live)
        return self._computed

    def __getitem__(self, address: str) -> str:
        return self._map()[address]

    def __iter__(self) -> Iterator[str]:
        return iter(self._map())

    def __len__(self) -> int:
        return len(self._map())

    def __repr__(self) -> str:
        return f"LiveFingerprints({len(self._live)} objects)"


def hash_digests(digests: Iterable[tuple[str, bytes]]) -> str:
    """The manifests' hash: every file's name and the SHA-256 of its bytes."""
    h = hashlib.sha256()
    for name, digest in sorted(digests):
        h.update(name.encode() + b"\0" + digest)
    return h.hexdigest()


def check_fresh(plan: Plan, live: LiveState, manifests_hash: str | None) -> None:
    """Raise StalePlanError, saying what changed, if the plan no longer matches."""
    problems: list[str] = []
    if manifests_hash is not None and manifests_hash != plan.manifests_hash:
        problems.append("the manifests changed since the plan was made")
    now = live_fingerprints(live)
    changed = sorted(
        k for k in plan.fingerprints.keys() & now.keys() if plan.fingerprints[k] != now[k]
    )
    gone = sorted(plan.fingerprints.keys() - now.keys())
    new = sorted(now.keys() - plan.fingerprints.keys())
    for label, keys in (("changed", changed), ("deleted", gone), ("created", new)):
        if keys:
            shown = ", ".join(keys[:10]) + (f" and {len(keys) - 10} more" if len(keys) > 10 else "")
            problems.append(f"{label} in the portal since the plan was made: {shown}")
    if problems:
        raise StalePlanError(
            "the saved plan is stale: " + "; ".join(problems) + ". Run plan again."
        )


# --- serialisation -------------------------------------------------------------------------


def to_dict(plan: Plan) -> dict[str, Any]:
    """The documented, stable JSON shape of a plan (see docs/plan-format.md)."""
    data: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "backend": plan.backend,
        "target": plan.target,
        "manifests_hash": plan.manifests_hash,
        "paths": list(plan.paths),
        "summary": plan.counts()
        | {"unmanaged": len(plan.unmanaged), "orphaned": len(plan.orphaned)}
        | {f"credentials_{k}d": n for k, n in plan.credential_counts().items()},
        "credentials": [_credential_dict(c) for c in plan.credentials],
        "changes": [
            {
                "op": a.op,
                "kind": a.kind,
                "key": a.key,
                "live_id": a.live_id,
                "reason": a.reason,
                "deferred": a.deferred,
                "attrs": to_jsonable(a.attrs) if a.attrs is not None else None,
                "fields": [_field_dict(f) for f in a.fields],
            }
            for a in plan.actions
        ],
        "unmanaged": [{"kind": u.kind, "key": u.key, "reason": u.reason} for u in plan.unmanaged],
        "orphaned": [{"kind": u.kind, "key": u.key, "reason": u.reason} for u in plan.orphaned],
        "warnings": list(plan.warnings),
        "notes": {k: dict(v) for k, v in plan.notes.items()},
        "details": {k: dict(v) for k, v in plan.details.items()},
        "fingerprints": dict(sorted(plan.fingerprints.items())),
        "prune": plan.prune,
    }
    data["actions_digest"] = actions_digest(data)
    return data


def actions_digest(data: Mapping[str, Any]) -> str:
    """A digest of what applying a plan does (its changes, the notes kept with them, whether
    it prunes), as the plan's JSON form holds them: a saved plan edited after ``plan`` wrote
    it no longer matches. Secrets are references in that form, never values."""
    signed = {k: data.get(k) for k in ("changes", "notes", "prune")}
    encoded = json.dumps(signed, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


def _field_dict(f: FieldChange) -> dict[str, Any]:
    if f.sensitive:
        return {"path": f.path, "sensitive": True}
    if f.item == "added":
        return {"path": f.path, "added": to_jsonable(f.new)}
    if f.item == "removed":
        return {"path": f.path, "removed": to_jsonable(f.old)}
    return {"path": f.path, "old": to_jsonable(f.old), "new": to_jsonable(f.new)}


def _field_of(f: Mapping[str, Any]) -> FieldChange:
    if f.get("sensitive"):
        return FieldChange(f["path"], None, None, sensitive=True)
    if "added" in f:
        return FieldChange(f["path"], None, f["added"], item="added")
    if "removed" in f:
        return FieldChange(f["path"], f["removed"], None, item="removed")
    return FieldChange(f["path"], f.get("old"), f.get("new"))


def _credential_dict(c: CredentialImpact) -> dict[str, Any]:
    return {
        "effect": c.effect,
        "request": c.request,
        "live_id": c.live_id,
        "consumer": c.consumer,
        "organisation": c.organisation,
        "app": c.app,
        "products": list(c.products),
        "plan": c.plan,
        "cause": c.cause,
        "reason": c.reason,
        **({"credential": c.credential} if c.credential else {}),
    }


def _from_jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"sensitive"} and isinstance(value["sensitive"], str):
            return Sensitive(value["sensitive"])
        return {k: _from_jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_jsonable(v) for v in value]
    return value


def from_dict(data: Mapping[str, Any], *, versions: Iterable[int] = (FORMAT_VERSION,)) -> Plan:
    """The plan a JSON plan holds; refused unless its ``format_version`` is one of
    ``versions`` (apply takes the current one only: ``show`` renders older ones too)."""
    if not isinstance(data, Mapping) or "format_version" not in data:
        raise PlanError(f"not a portal-gitops plan file (format_version {FORMAT_VERSION} expected)")
    version = data.get("format_version")
    if type(version) is not int:
        raise PlanError(f"not a portal-gitops plan file (format_version {FORMAT_VERSION} expected)")
    if version not in tuple(versions):
        newer = version > FORMAT_VERSION
        raise PlanError(
            f"the plan file has format_version {version}, written by "
            f"{'a newer' if newer else 'an older'} portal-gitops; this one reads format_version "
            f"{FORMAT_VERSION}: "
            + (
                "upgrade portal-gitops, or run plan again with this one"
                if newer
                else "run plan again"
            )
        )
    if data.get("actions_digest") != actions_digest(data):
        raise PlanError(
            "the saved plan's changes are not the ones plan wrote (the file was edited after "
            "it was saved); run plan again."
        )
    try:
        actions = tuple(
            Action(
                op=c["op"],
                kind=c["kind"],
                key=c["key"],
                attrs=_from_jsonable(c["attrs"]) if c.get("attrs") is not None else None,
                live_id=c.get("live_id", ""),
                reason=c.get("reason", ""),
                deferred=bool(c.get("deferred", False)),
                fields=tuple(_field_of(f) for f in c.get("fields", [])),
            )
            for c in data["changes"]
        )
        for a in actions:
            if a.op not in OPS or a.kind not in BY_NAME:
                raise PlanError(f"plan file has an unknown change {a.op} {a.kind}")
        return Plan(
            actions=actions,
            unmanaged=tuple(Unmanaged(u["kind"], u["key"], u["reason"]) for u in data["unmanaged"]),
            orphaned=tuple(Unmanaged(u["kind"], u["key"], u["reason"]) for u in data["orphaned"]),
            target=data["target"],
            backend=data["backend"],
            manifests_hash=data["manifests_hash"],
            paths=tuple(data["paths"]),
            fingerprints=dict(data["fingerprints"]),
            notes=dict(data.get("notes", {})),
            warnings=tuple(data.get("warnings", [])),
            details=dict(data.get("details", {})),
            prune=data.get("prune") is True,
            credentials=tuple(
                CredentialImpact(**{**c, "products": tuple(c["products"])})
                for c in data.get("credentials", [])
            ),
        )
    except (KeyError, TypeError) as exc:
        raise PlanError(f"plan file is malformed: missing or bad {exc}") from None


def with_contents(saved: Plan, resources: Mapping[Key, Resource]) -> Plan:
    """A saved plan whose documents (an API's OpenAPI document, a guide) carry their bytes
    again: its JSON form holds their addresses only, ``resources`` (the desired state built
    from the manifests as they are now) the documents themselves."""
    actions = []
    for a in saved.actions:
        fresh = resources.get((a.kind, a.key))
        if a.attrs and fresh is not None:
            attrs = dict(a.attrs)
            for name, value in fresh.attrs.items():
                if isinstance(value, Content) and attrs.get(name) == value:
                    attrs[name] = value
            a = replace(a, attrs=attrs)
        actions.append(a)
    return replace(saved, actions=tuple(actions))


def dumps(plan: Plan) -> str:
    return json.dumps(to_dict(plan), indent=2, sort_keys=False, default=str) + "\n"


def loads(text: str, *, versions: Iterable[int] = (FORMAT_VERSION,)) -> Plan:
    try:
        data = json.loads(text)
        return from_dict(data, versions=versions)
    except json.JSONDecodeError as exc:
        raise PlanError(f"plan file is not JSON: {exc.msg} at line {exc.lineno}") from None
    except RecursionError:
        # a plan nests a few levels (a field's value inside a change): a file nested deeper
        # than Python can decode or walk is no plan, and refused like any other bad file
        raise PlanError("plan file is not a plan: its JSON is nested too deeply") from None


__all__ = [
    "Action",
    "CredentialImpact",
    "Plan",
    "build_plan",
    "check_fresh",
    "dumps",
    "loads",
    "replace",
    "with_contents",
]
