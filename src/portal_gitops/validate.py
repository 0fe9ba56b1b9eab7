"""Documents -> parsed manifests, or every problem with them at once (pure: no env, no I/O).

Two layers. Structure: the envelope (apiVersion, kind) and the pydantic model of each kind,
with pydantic's errors translated into plain English located at the offending line. Meaning:
the rules of DESIGN.md §4 across the whole estate (references, uniqueness, providers,
audiences, memberships, built-ins), using dict indexes so that it stays linear in the number
of documents.
"""

from __future__ import annotations

import difflib
import functools
import re
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from portal_gitops.errors import Issue
from portal_gitops.heap import collector_paused
from portal_gitops.load import Document, load_paths
from portal_gitops.models import (
    API_VERSION,
    KINDS,
    AccessRequest,
    Catalogue,
    Manifest,
    Organisation,
    Plan,
    Product,
    Provider,
    Team,
)
from portal_gitops.models import common as _common
from portal_gitops.models import product as _product
from portal_gitops.models import provider as _provider
from portal_gitops.source import Path, format_path
from portal_gitops.state import DEFAULT_ORGANISATION, LOCK_POLICY, STATE_POLICY, default_team_name

SUPPORTED_API_VERSIONS = (API_VERSION,)
WARNING = "warning"
LITERAL_SECRET = "literal secrets are not allowed; use {fromEnv: VAR} or {fromFile: path}"
SECRET_SHAPE = "must be {fromEnv: VAR} or {fromFile: path}"


@dataclass(frozen=True)
class ValidationResult:
    """Parsed manifests with their source documents, and every problem found."""

    manifests: list[tuple[Manifest, Document]] = field(default_factory=list)
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    digests: Mapping[str, bytes] = field(default_factory=dict)  # file -> SHA-256 of its bytes

    @property
    def ok(self) -> bool:
        return not self.errors


def format_issues(issues: Iterable[Issue]) -> str:
    """One line per issue, ``file:line: Kind/name: field: message``; warnings say so after
    the location (``file:line: warning: ...``), the way compilers do, so CI annotators parse both.
    """
    lines = []
    for issue in issues:
        text = str(issue)
        if issue.severity == WARNING:
            loc = f"{issue.file}:{issue.line}"
            text = f"{loc}: warning: {text[len(loc) + 2 :]}"
        lines.append(text)
    return "\n".join(lines)


@collector_paused()
def validate_paths(paths: Iterable[str]) -> ValidationResult:
    """Load and validate every manifest under PATHS; loader problems come first in file order."""
    digests: dict[str, bytes] = {}
    docs, load_issues = load_paths(paths, digests)
    result = validate_documents(docs)
    return ValidationResult(
        result.manifests,
        _sorted([*load_issues, *result.errors]) if load_issues else result.errors,
        result.warnings,
        digests,
    )


def validate_documents(docs: Sequence[Document]) -> ValidationResult:
    manifests: list[tuple[Manifest, Document]] = []
    errors: list[Issue] = []
    checked: list[tuple[Manifest, Document]] = []
    invalid: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for doc in docs:
        model, envelope_ok = _validate_structure(doc, errors)
        if model is not None:
            checked.append((model, doc))
            if envelope_ok:
                manifests.append((model, doc))
        else:
            kind, name = _kind_and_name(doc.data)
            if kind:
                invalid[kind].add(name)
    warnings: list[Issue] = []
    # documents with only a wrong apiVersion still take part, so their names resolve
    _Semantics(checked, invalid, errors, warnings).check()
    return ValidationResult(manifests, _sorted(errors), _sorted(warnings))


def _sorted(issues: list[Issue]) -> list[Issue]:
    return sorted(issues, key=lambda i: (i.file, i.line))


# --- layer 1: structure --------------------------------------------------------------------

_ADAPTERS: dict[str, TypeAdapter[Any]] = {kind: TypeAdapter(cls) for kind, cls in KINDS.items()}


def _kind_and_name(data: dict[str, Any]) -> tuple[str, str]:
    """The document's kind if it is one we know, and its name if it is a string."""
    meta = data.get("metadata")
    raw_name = meta.get("name") if isinstance(meta, dict) else None
    kind = data.get("kind")
    return (
        kind if isinstance(kind, str) and kind in KINDS else "",
        raw_name if isinstance(raw_name, str) else "",
    )


def _validate_structure(doc: Document, errors: list[Issue]) -> tuple[Manifest | None, bool]:
    """The document's model (or None, with its problems added to ``errors``), and whether
    its envelope is right (a model whose only fault is its apiVersion still comes back)."""
    data = doc.data
    pos = doc.positions
    kind = data.get("kind")
    known_kind, name = _kind_and_name(data)

    def issue(path: Path, message: str, at: Path | None = None) -> None:
        line = pos.line_of(path if at is None else at)
        errors.append(Issue(doc.file, line, message, known_kind, name, format_path(path)))

    envelope_ok = True
    version = data.get("apiVersion")
    if "apiVersion" not in data:
        issue(("apiVersion",), f"is required (supported: {', '.join(SUPPORTED_API_VERSIONS)})")
        envelope_ok = False
    elif version not in SUPPORTED_API_VERSIONS:
        issue(
            ("apiVersion",),
            f"unsupported apiVersion {_show(version)}; supported: "
            + ", ".join(SUPPORTED_API_VERSIONS),
        )
        envelope_ok = False
    if not known_kind:
        supported = ", ".join(KINDS)
        if "kind" not in data:
            issue(("kind",), f"is required (one of: {supported})")
        elif kind is None or kind == "":
            issue(("kind",), f"must not be empty (one of: {supported})")
        else:
            issue(
                ("kind",),
                f"unknown kind {_show(kind)}{_suggest(str(kind), KINDS)}; one of: {supported}",
            )
        return None, False
    if not envelope_ok:  # still check the rest, so that every problem shows in one run
        data = {**data, "apiVersion": API_VERSION}
    try:
        model: Manifest = _ADAPTERS[known_kind].validate_python(data)
    except ValidationError as exc:
        errs = _collapse_unions(exc.errors(include_url=False), data)
        for err in errs:
            path, message = _translate(KINDS[known_kind], err)
            issue(path, message, at=tuple(err["loc"]))  # an unknown field's line is its key's
        if all(err["type"] == "extra_forbidden" for err in errs):
            # only misspelt fields: check the rest of it against the estate too, in this run
            return _without_unknown_fields(known_kind, data, errs), False
        return None, envelope_ok
    return model, envelope_ok


def _without_unknown_fields(kind: str, data: Any, errs: list[ErrorDetails]) -> Manifest | None:
    for err in errs:
        data = _drop(data, tuple(err["loc"]))
    try:
        model: Manifest = _ADAPTERS[kind].validate_python(data)
    except ValidationError:
        return None
    return model


def _drop(data: Any, loc: tuple[Any, ...]) -> Any:
    """A copy of ``data`` without the key at ``loc``, sharing everything not on the way."""
    head, rest = loc[0], loc[1:]
    if isinstance(data, dict):
        if not rest:
            return {k: v for k, v in data.items() if k != head}
        if head in data:
            return {**data, head: _drop(data[head], rest)}
    if isinstance(data, list) and isinstance(head, int) and 0 <= head < len(data) and rest:
        return [*data[:head], _drop(data[head], rest), *data[head + 1 :]]
    return data


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else f"{value!r} ({_type_name(value)})"


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "boolean",
        int: "number",
        float: "number",
        str: "string",
        list: "list",
        dict: "mapping",
    }.get(type(value), type(value).__name__)


def _suggest(word: str, candidates: Iterable[str]) -> str:
    match = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


_SECRET_BRANCHES = {"FromEnv": "fromEnv", "FromFile": "fromFile"}


def _collapse_unions(errors: list[ErrorDetails], data: Any) -> list[ErrorDetails]:
    """A secret that matches neither {fromEnv} nor {fromFile} makes pydantic report both
    branches; keep the branch the user evidently meant, or one error for the whole value."""
    out: list[ErrorDetails] = []
    whole: set[tuple[Any, ...]] = set()
    for err in errors:
        loc = err["loc"]
        at = next((i for i, part in enumerate(loc) if part in _SECRET_BRANCHES), None)
        if at is None:
            out.append(err)
            continue
        prefix = tuple(loc[:at])
        value = _value_at(data, prefix)
        if isinstance(value, dict) and list(value) == [_SECRET_BRANCHES[str(loc[at])]]:
            out.append({**err, "loc": (*prefix, *loc[at + 1 :])})
        elif isinstance(value, dict) and len(value) == 1 and next(iter(value)) in _SECRET_KEYS:
            continue  # the other branch's complaint about the key the user did write
        elif prefix not in whole:
            whole.add(prefix)
            out.append({**err, "loc": prefix, "type": "secret_shape", "msg": SECRET_SHAPE})
    return out


_SECRET_KEYS = frozenset(_SECRET_BRANCHES.values())


def _value_at(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


_PATTERNS: dict[str, str] = {}


def _pattern_of(annotated: Any) -> str | None:
    for meta in getattr(annotated, "__metadata__", ()):
        pattern = getattr(meta, "pattern", None)
        if pattern:
            return str(pattern)
    return None


def _register_patterns() -> None:
    named = {
        _common.Name: "must be a name without '/' or '\\' and without leading or trailing spaces",
        _common.Email: "must be an email address",
        _common.Owner: "must be a GitHub @user or @org/team, or an email address",
        _provider.Url: "must be an http:// or https:// URL",
    }
    for annotated, message in named.items():
        pattern = _pattern_of(annotated)
        if pattern:
            _PATTERNS[pattern] = message
    _PATTERNS[_common.ENV_VAR] = (
        "must be an environment variable name (letters, digits and _, not starting with a digit)"
    )
    api_id = _product.ProductApi.model_fields["apiId"]
    for meta in api_id.metadata:
        pattern = getattr(meta, "pattern", None)
        if pattern:
            _PATTERNS[str(pattern)] = "must contain only letters, digits, '.', '_', ':' and '-'"


_register_patterns()

_INT_ERRORS = {
    "int_type",
    "int_parsing",
    "int_from_float",
    "greater_than",
    "greater_than_equal",
    "int_parsing_size",
}


def _translate(model: type[BaseModel], err: ErrorDetails) -> tuple[Path, str]:
    """A pydantic error -> (path of the offending node, a plain-English message).

    For an unknown field the path is its parent's: the field itself is the problem's subject.
    """
    loc: Path = tuple(err["loc"])
    kind = err["type"]
    ctx: dict[str, Any] = dict(err.get("ctx") or {})
    value = err.get("input")
    if kind == "extra_forbidden":
        key = loc[-1]
        allowed = _fields_at(model, tuple(p for p in loc[:-1] if isinstance(p, str)))
        hint = _suggest(str(key), allowed) if allowed else ""
        return loc[:-1], f"unknown field {str(key)!r}{hint}"
    if kind == "missing":
        return loc, "is required"
    if kind in _INT_ERRORS:
        return loc, "must be a positive integer" + _got(value)
    if kind == "less_than_equal":
        return loc, f"must be at most {ctx.get('le')}"
    if kind == "literal_error":
        options = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        if len(options) == 1:
            return loc, f"must be {options[0]}" + _got(value)
        return loc, f"must be one of: {', '.join(options)}" + _got(value)
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        return loc, _PATTERNS.get(pattern, f"must match the pattern {pattern}") + _got(value)
    if kind == "string_too_short":
        return loc, "must not be empty"
    if kind == "string_too_long":
        return loc, f"must be at most {ctx.get('max_length')} characters long"
    if kind == "too_short":
        return loc, "must not be empty"
    if kind == "string_type":
        return loc, "must be a string" + _got(value)
    if kind in {"bool_type", "bool_parsing"}:
        return loc, "must be true or false" + _got(value)
    if kind == "list_type":
        return loc, "must be a list" + _got(value)
    if kind in {"dict_type", "model_type", "model_attributes_type"}:
        return loc, "must be a mapping" + _got(value)
    if kind.startswith("date"):
        return loc, "must be a date (YYYY-MM-DD)" + _got(value)
    if kind == "value_error":
        return loc, err["msg"].removeprefix("Value error, ")
    return loc, err["msg"][:1].lower() + err["msg"][1:]


def _got(value: Any) -> str:
    if isinstance(value, (dict, list)) or value is None:
        return f", not a {_type_name(value)}" if value is not None else ", not null"
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    return f", got {shown}"


@functools.cache
def _fields_at(model: type[BaseModel], path: tuple[str, ...]) -> tuple[str, ...]:
    """Field names of the model found at ``path`` (list indices skipped) below ``model``."""
    current: Any = model
    for part in path:
        models = _models_in(current)
        for m in models:
            if part in m.model_fields:
                current = m.model_fields[part].annotation
                break
        else:
            return ()
    names: list[str] = []
    for m in _models_in(current):
        names.extend(m.model_fields)
    return tuple(names)


def _models_in(tp: Any) -> list[type[BaseModel]]:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _models_in(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType, list, dict):
        out: list[type[BaseModel]] = []
        for arg in typing.get_args(tp):
            out.extend(_models_in(arg))
        return out
    return []


# --- layer 2: meaning ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Seen:
    doc: Document
    path: Path

    @property
    def where(self) -> str:
        return f"{self.doc.file}:{self.doc.positions.line_of(self.path)}"


@dataclass(frozen=True)
class _Membership:
    organisation: str
    team: str
    role: str
    first: str
    last: str
    seen: _Seen


class _Semantics:
    """The cross-document rules, each a pass over dict indexes built once."""

    def __init__(
        self,
        manifests: list[tuple[Manifest, Document]],
        invalid: dict[str, set[str]],
        errors: list[Issue],
        warnings: list[Issue],
    ):
        # names of documents that failed layer 1: references to them are not reported again
        self.invalid = invalid
        self.errors = errors
        self.warnings = warnings
        self.by_kind: dict[str, list[tuple[Any, Document]]] = {k: [] for k in KINDS}
        for model, doc in manifests:
            self.by_kind[model.kind].append((model, doc))
        self.providers: dict[str, Provider] = {}
        self.organisations: dict[str, Organisation] = {}
        self.teams: dict[tuple[str, str], Team] = {}
        self.teams_by_org: dict[str, list[str]] = {}
        self.products: dict[str, Product] = {}
        self.plans: dict[str, Plan] = {}
        self.catalogues: dict[str, Catalogue] = {}
        self.members: dict[str, _Membership] = {}  # email -> first membership seen

    def issue(
        self,
        model: Manifest,
        doc: Document,
        path: Path,
        message: str | None,
        *,
        warning: bool = False,
    ) -> None:
        if message is None:  # already reported elsewhere
            return
        target = self.warnings if warning else self.errors
        target.append(
            Issue(
                doc.file,
                doc.positions.line_of(path),
                message,
                model.kind,
                model.metadata.name,
                format_path(path),
                WARNING if warning else "error",
            )
        )

    def check(self) -> None:
        self.index_unique()
        self.check_teams()
        self.check_products_and_plans()
        self.check_catalogues()
        self.check_requests()

    # names unique per kind (teams per organisation); built-ins cannot be declared
    def index_unique(self) -> None:
        indexes: dict[str, dict[Any, Any]] = {
            "Provider": self.providers,
            "Organisation": self.organisations,
            "Team": self.teams,
            "Product": self.products,
            "Plan": self.plans,
            "Catalogue": self.catalogues,
            "AccessRequest": {},
        }
        for kind, entries in self.by_kind.items():
            index = indexes[kind]
            first: dict[Any, Document] = {}
            for model, doc in entries:
                name = model.metadata.name
                key: Any = name
                label = repr(name)
                if isinstance(model, Team):
                    key = (model.spec.organisation, name)
                    label = f"{name!r} in Organisation {model.spec.organisation!r}"
                if key in first:
                    where = _Seen(first[key], ("metadata", "name")).where
                    self.issue(
                        model,
                        doc,
                        ("metadata", "name"),
                        f"duplicate {kind} {label} (first defined at {where})",
                    )
                    continue
                first[key] = doc
                index[key] = model
                if isinstance(model, Team):
                    self.teams_by_org.setdefault(model.spec.organisation, []).append(name)
        for model, doc in self.by_kind["Organisation"]:
            if model.metadata.name == DEFAULT_ORGANISATION:
                self.issue(
                    model,
                    doc,
                    ("metadata", "name"),
                    f"{DEFAULT_ORGANISATION!r} is the portal's built-in organisation "
                    "and cannot be declared",
                )
        for model, doc in self.by_kind["Team"]:
            org = model.spec.organisation
            if model.metadata.name == default_team_name(org):
                self.issue(
                    model,
                    doc,
                    ("metadata", "name"),
                    f"{model.metadata.name!r} is the default team the portal creates for "
                    f"Organisation {org!r} and cannot be declared (a catalogue audience entry "
                    "without a team means all users of the organisation)",
                )

        # every product and plan gets a Dashboard policy named after it; policy names are
        # unique in a Dashboard, and two names belong to the tool's own policies
        policy_owner: dict[str, tuple[str, Document]] = {}
        for kind in ("Product", "Plan"):
            for model, doc in self.by_kind[kind]:
                name = model.metadata.name
                if name in (STATE_POLICY, LOCK_POLICY):
                    self.issue(
                        model,
                        doc,
                        ("metadata", "name"),
                        f"{name!r} is the name of portal-gitops's own Dashboard policy",
                    )
                elif name in policy_owner and policy_owner[name][0] != kind:
                    other_kind, other_doc = policy_owner[name]
                    where = _Seen(other_doc, ("metadata", "name")).where
                    self.issue(
                        model,
                        doc,
                        ("metadata", "name"),
                        f"{other_kind} {name!r} (at {where}) has the same name; their backing "
                        "Dashboard policies would clash, as policy names are unique",
                    )
                policy_owner.setdefault(name, (kind, doc))

    def unknown(
        self, kind: str, name: str, known: Iterable[str], *others: tuple[str, Any]
    ) -> str | None:
        """'unknown Plan 'x' (did you mean 'y'?)', or say which other kind has that name;
        None when a document of that kind and name exists but is itself invalid."""
        if name in self.invalid[kind]:
            return None
        for other_kind, other_index in others:
            if name in other_index:
                return f"unknown {kind} {name!r} ({name!r} is a {other_kind})"
        return f"unknown {kind} {name!r}{_suggest(name, known)}"

    # Team.organisation resolves; a member's email belongs to one organisation and its
    # role and names agree wherever it is listed
    def check_teams(self) -> None:
        for model, doc in self.by_kind["Team"]:
            org = model.spec.organisation
            if org not in self.organisations:
                self.issue(
                    model,
                    doc,
                    ("spec", "organisation"),
                    self.unknown("Organisation", org, self.organisations),
                )
            in_team: dict[str, int] = {}
            for i, member in enumerate(model.spec.members):
                path: Path = ("spec", "members", i)
                email = member.email
                if email in in_team:
                    line = doc.positions.line_of(("spec", "members", in_team[email]))
                    self.issue(
                        model,
                        doc,
                        (*path, "email"),
                        f"member {email!r} is listed twice in this team (first at line {line})",
                    )
                    continue
                in_team[email] = i
                seen = _Seen(doc, (*path, "email"))
                first = self.members.get(email)
                if first is None:
                    self.members[email] = _Membership(
                        org, model.metadata.name, member.role, member.first, member.last, seen
                    )
                    continue
                if first.organisation != org:
                    self.issue(
                        model,
                        doc,
                        (*path, "email"),
                        f"member {email!r} already belongs to Organisation "
                        f"{first.organisation!r} (Team {first.team!r} at {first.seen.where}); "
                        "a portal user belongs to one organisation only",
                    )
                    continue
                for attr in ("role", "first", "last"):
                    mine, theirs = getattr(member, attr), getattr(first, attr)
                    if mine != theirs:
                        self.issue(
                            model,
                            doc,
                            (*path, attr),
                            f"member {email!r} has {attr} {mine!r} here but {theirs!r} in "
                            f"Team {first.team!r} ({first.seen.where}); a portal user has one "
                            f"{attr}",
                        )

    def repeats(
        self, model: Manifest, doc: Document, path: Path, values: Iterable[str], what: str
    ) -> set[int]:
        """Report entries of a list that repeat an earlier one; returns their indices."""
        first: dict[str, int] = {}
        out: set[int] = set()
        for i, value in enumerate(values):
            if value not in first:
                first[value] = i
                continue
            out.add(i)
            line = doc.positions.line_of((*path, first[value]))
            self.issue(
                model, doc, (*path, i), f"{what} {value!r} is listed twice (first at line {line})"
            )
        return out

    def check_products_and_plans(self) -> None:
        for kind in ("Product", "Plan"):
            for model, doc in self.by_kind[kind]:
                provider = model.spec.provider
                if provider not in self.providers:
                    self.issue(
                        model,
                        doc,
                        ("spec", "provider"),
                        self.unknown("Provider", provider, self.providers),
                    )
        for model, doc in self.by_kind["Product"]:
            api_ids = [api.apiId for api in model.spec.apis]
            self.repeats(model, doc, ("spec", "apis"), api_ids, "API")
            if not model.spec.owners:
                self.issue(
                    model,
                    doc,
                    ("spec", "owners"),
                    "product has no owners; CODEOWNERS cannot route its access requests "
                    "to a reviewer",
                    warning=True,
                )

    def _provider_of(self, kind: str, name: str) -> str | None:
        index: dict[str, Any] = self.products if kind == "Product" else self.plans
        model = index.get(name)
        return str(model.spec.provider) if model is not None else None

    def check_catalogues(self) -> None:
        for model, doc in self.by_kind["Catalogue"]:
            spec = model.spec
            if spec.visibility == "public" and spec.audience:
                self.issue(
                    model,
                    doc,
                    ("spec", "audience"),
                    "an audience on a public catalogue is ignored by Tyk; every consumer sees it",
                    warning=True,
                )
            for i, entry in enumerate(spec.audience):
                org = entry.organisation
                if org not in self.organisations:
                    self.issue(
                        model,
                        doc,
                        ("spec", "audience", i, "organisation"),
                        self.unknown("Organisation", org, self.organisations),
                    )
                    continue
                team = entry.team
                if team is None or team == default_team_name(org):
                    continue
                if (org, team) not in self.teams and team not in self.invalid["Team"]:
                    self.issue(
                        model,
                        doc,
                        ("spec", "audience", i, "team"),
                        f"unknown Team {team!r} in Organisation {org!r}"
                        + _suggest(team, self.teams_by_org.get(org, ())),
                    )
            # one provider per catalogue offer: remember one product per provider, then each
            # plan conflicts with any product of another provider (linear, not products x plans)
            product_by_provider: dict[str, str] = {}
            again = self.repeats(model, doc, ("spec", "products"), spec.products, "Product")
            again_plans = self.repeats(model, doc, ("spec", "plans"), spec.plans, "Plan")
            for i, product in enumerate(spec.products):
                if i in again:
                    continue
                provider = self._provider_of("Product", product)
                if provider is None:
                    self.issue(
                        model,
                        doc,
                        ("spec", "products", i),
                        self.unknown("Product", product, self.products, ("Plan", self.plans)),
                    )
                    continue
                if provider in self.providers:  # an unknown one is reported on the product
                    product_by_provider.setdefault(provider, product)
            for i, plan in enumerate(spec.plans):
                if i in again_plans:
                    continue
                provider = self._provider_of("Plan", plan)
                if provider is None:
                    self.issue(
                        model,
                        doc,
                        ("spec", "plans", i),
                        self.unknown("Plan", plan, self.plans, ("Product", self.products)),
                    )
                    continue
                if provider not in self.providers:
                    continue
                other = next(
                    ((p, prod) for p, prod in product_by_provider.items() if p != provider), None
                )
                if other is not None:
                    self.issue(
                        model,
                        doc,
                        ("spec", "plans", i),
                        f"Plan {plan!r} (provider {provider!r}) cannot be offered with Product "
                        f"{other[1]!r} (provider {other[0]!r}): a product and its plans must "
                        "share one provider",
                    )

    def check_requests(self) -> None:
        asked: dict[tuple[str, str, str, str], tuple[str, _Seen]] = {}
        for model, doc in self.by_kind["AccessRequest"]:
            spec = model.spec
            plan_provider = self._provider_of("Plan", spec.plan)
            if plan_provider is None:
                self.issue(
                    model,
                    doc,
                    ("spec", "plan"),
                    self.unknown("Plan", spec.plan, self.plans, ("Product", self.products)),
                )
            catalogue = self.catalogues.get(spec.catalogue)
            if catalogue is None:
                self.issue(
                    model,
                    doc,
                    ("spec", "catalogue"),
                    self.unknown("Catalogue", spec.catalogue, self.catalogues),
                )
            offered_products = set(catalogue.spec.products) if catalogue else set()
            again = self.repeats(model, doc, ("spec", "products"), spec.products, "Product")
            for i, product in enumerate(spec.products):
                if i in again:
                    continue
                path: Path = ("spec", "products", i)
                key = (spec.consumer, spec.app.name, product, spec.plan)
                if key in asked:
                    other_name, other_seen = asked[key]
                    self.issue(
                        model,
                        doc,
                        path,
                        f"AccessRequest {other_name!r} ({other_seen.where}) already asks for "
                        f"Product {product!r} on Plan {spec.plan!r} for app {spec.app.name!r} "
                        f"of {spec.consumer!r}",
                    )
                else:
                    asked[key] = (model.metadata.name, _Seen(doc, path))
                product_model = self.products.get(product)
                if product_model is None:
                    self.issue(
                        model,
                        doc,
                        path,
                        self.unknown("Product", product, self.products, ("Plan", self.plans)),
                    )
                    continue
                provider = product_model.spec.provider
                if (
                    plan_provider in self.providers
                    and provider in self.providers
                    and provider != plan_provider
                ):
                    self.issue(
                        model,
                        doc,
                        path,
                        f"Product {product!r} (provider {provider!r}) and Plan {spec.plan!r} "
                        f"(provider {plan_provider!r}) must share one provider",
                    )
                if catalogue is not None and product not in offered_products:
                    self.issue(
                        model,
                        doc,
                        path,
                        f"Catalogue {spec.catalogue!r} does not offer Product {product!r}",
                    )
                if not product_model.spec.owners:
                    self.issue(
                        model,
                        doc,
                        path,
                        f"Product {product!r} has no owners; nobody is asked to review "
                        "this request",
                        warning=True,
                    )
            if catalogue and plan_provider is not None and spec.plan not in catalogue.spec.plans:
                self.issue(
                    model,
                    doc,
                    ("spec", "plan"),
                    f"Catalogue {spec.catalogue!r} does not offer Plan {spec.plan!r}",
                )
            self._check_consumer(model, doc, catalogue)

    def _check_consumer(
        self, model: AccessRequest, doc: Document, catalogue: Catalogue | None
    ) -> None:
        consumer = model.spec.consumer
        membership = self.members.get(consumer)
        if membership is None:
            if self.invalid["Team"]:  # it may be listed in a team we could not read
                return
            self.issue(
                model,
                doc,
                ("spec", "consumer"),
                f"{consumer!r} is not a member of any Team" + _suggest(consumer, self.members),
            )
            return
        if catalogue is None or catalogue.spec.visibility == "public":
            return
        teams = self._team_index.get(consumer, set())
        for entry in catalogue.spec.audience:
            if entry.organisation != membership.organisation:
                continue
            if entry.team is None or entry.team == default_team_name(entry.organisation):
                return
            if (entry.organisation, entry.team) in teams:
                return
        self.issue(
            model,
            doc,
            ("spec", "consumer"),
            f"{consumer!r} (Organisation {membership.organisation!r}) is not in the audience "
            f"of private Catalogue {model.spec.catalogue!r}",
        )

    @functools.cached_property
    def _team_index(self) -> dict[str, set[tuple[str, str]]]:
        index: dict[str, set[tuple[str, str]]] = {}
        for key, team in self.teams.items():
            for member in team.spec.members:
                index.setdefault(member.email, set()).add(key)
        return index
