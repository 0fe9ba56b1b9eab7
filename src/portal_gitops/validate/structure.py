"""Layer 1 of validation: each document alone, its envelope (apiVersion, kind) and its kind's
pydantic model, with pydantic's errors translated into plain English at the offending line."""

from __future__ import annotations

import difflib
import functools
import re
import types
import typing
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from portal_gitops.errors import Issue
from portal_gitops.load import Document
from portal_gitops.models import API_VERSION, KINDS, Manifest
from portal_gitops.models import common as _common
from portal_gitops.models import product as _product
from portal_gitops.models import provider as _provider
from portal_gitops.source import Path, format_path

SUPPORTED_API_VERSIONS = (API_VERSION,)
LITERAL_SECRET = "literal secrets are not allowed; use {fromEnv: VAR} or {fromFile: path}"
SECRET_SHAPE = "must be {fromEnv: VAR} or {fromFile: path}"

_ADAPTERS: dict[str, TypeAdapter[Any]] = {kind: TypeAdapter(cls) for kind, cls in KINDS.items()}


def kind_and_name(data: dict[str, Any]) -> tuple[str, str]:
    """The document's kind if it is one we know, and its name if it is a string."""
    meta = data.get("metadata")
    raw_name = meta.get("name") if isinstance(meta, dict) else None
    kind = data.get("kind")
    return (
        kind if isinstance(kind, str) and kind in KINDS else "",
        raw_name if isinstance(raw_name, str) else "",
    )


def check_structure(doc: Document, errors: list[Issue]) -> tuple[Manifest | None, bool]:
    """The document's model (or None, with its problems added to ``errors``), and whether
    its envelope is right (a model whose only fault is its apiVersion still comes back)."""
    data = doc.data
    pos = doc.positions
    kind = data.get("kind")
    known_kind, name = kind_and_name(data)

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
                f"unknown kind {_show(kind)}{suggest(str(kind), KINDS)}; one of: {supported}",
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


def suggest(word: str, candidates: Iterable[str]) -> str:
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
        _common.Owner: (
            "must be a GitHub @user or @org/team, an email address, or an AdminUser's name"
        ),
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
        hint = suggest(str(key), allowed) if allowed else ""
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
