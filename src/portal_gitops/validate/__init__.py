"""Loaded documents -> parsed manifests, or every problem with them at once (pure: no env, no I/O).

Two layers. Structure (structure.py): the envelope (apiVersion, kind) and the pydantic model of
each kind, with pydantic's errors translated into plain English at the offending line. Meaning
(semantics.py): the rules of DESIGN.md §4 across the whole estate, using dict indexes so that it
stays linear in the number of documents. Reading the files is load.py's: commands load, then
validate.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from portal_gitops.errors import Issue
from portal_gitops.load import Document, LoadResult, Source, read_documents
from portal_gitops.models import KINDS, Manifest
from portal_gitops.state import Content
from portal_gitops.validate.semantics import WARNING, check_semantics
from portal_gitops.validate.structure import (
    LITERAL_SECRET,
    SECRET_SHAPE,
    SUPPORTED_API_VERSIONS,
    check_structure,
    kind_and_name,
)

__all__ = [
    "LITERAL_SECRET",
    "SECRET_SHAPE",
    "SUPPORTED_API_VERSIONS",
    "WARNING",
    "ValidationResult",
    "format_issues",
    "refuse_empty",
    "validate_documents",
    "validate_loaded",
    "validate_paths",
]


@dataclass(frozen=True)
class ValidationResult:
    """Parsed manifests with where each came from, and every problem found. The documents'
    data is not kept: the models hold it."""

    manifests: list[tuple[Manifest, Source]] = field(default_factory=list)
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    digests: Mapping[str, bytes] = field(default_factory=dict)  # file -> SHA-256 of its bytes
    # the documents products name (documents.py): (product, path as written) -> content
    documents: Mapping[tuple[str, str], Content] = field(default_factory=dict)

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
            loc = issue.location
            text = f"{loc}: warning: {text[len(loc) + 2 :]}"
        lines.append(text)
    return "\n".join(lines)


def validate_loaded(
    loaded: LoadResult, today: dt.date | None = None, *, result: ValidationResult | None = None
) -> ValidationResult:
    """Validate what the loader read; the loader's problems join the errors, first in file
    order, and the files' digests pass through to the result. ``today``: see
    validate_documents. ``result``: the documents' validation, already made."""
    if result is None:
        result = validate_documents(loaded.documents, today)
    return ValidationResult(
        result.manifests,
        _sorted([*loaded.issues, *result.errors]) if loaded.issues else result.errors,
        result.warnings,
        loaded.digests,
    )


def validate_paths(paths: Iterable[str], today: dt.date | None = None) -> ValidationResult:
    """``validate_loaded(load_manifests(paths))`` in one pass over the files: each document's
    data is dropped as soon as its model is built, so a large estate is never held twice,
    as data and as models."""
    issues: list[Issue] = []
    digests: dict[str, bytes] = {}
    result = validate_documents(read_documents(paths, issues, digests), today)
    return validate_loaded(LoadResult([], issues, digests), result=result)


def validate_documents(docs: Iterable[Document], today: dt.date | None = None) -> ValidationResult:
    """Both layers of validation; with ``today`` (the caller's clock: the core reads none),
    an access request whose ``expires`` date has passed is a warning. ``docs`` is gone through
    once, in order."""
    manifests: list[tuple[Manifest, Source]] = []
    errors: list[Issue] = []
    checked: list[tuple[Manifest, Source]] = []
    invalid: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for doc in docs:
        model, envelope_ok = check_structure(doc, errors)
        if model is not None:
            checked.append((model, doc.source))
            if envelope_ok:
                manifests.append(checked[-1])
        else:
            kind, name = kind_and_name(doc.data)
            if kind:
                invalid[kind].add(name)
    warnings: list[Issue] = []
    # documents with only a wrong apiVersion still take part, so their names resolve
    check_semantics(checked, invalid, errors, warnings, today)
    return ValidationResult(manifests, _sorted(errors), _sorted(warnings))


def _sorted(issues: list[Issue]) -> list[Issue]:
    return sorted(issues, key=lambda i: (i.file, i.line))


NO_DOCUMENTS = (
    "no manifests found (no YAML document in the .yaml or .yml files there): a run with "
    "nothing desired would plan to delete every managed object with --prune; check the "
    "path, or pass --allow-empty if an empty estate is meant"
)


def refuse_empty(result: ValidationResult, paths: Sequence[str]) -> ValidationResult:
    """A valid run that found no document is refused, as an error naming the paths: an empty
    or mistyped folder must not read as "delete everything"."""
    if result.errors or result.manifests:
        return result
    where = ", ".join(paths)
    issue = Issue(file=where, line=0, message=NO_DOCUMENTS)
    return replace(result, errors=[issue])
