"""The documents products point at: each API's OpenAPI document and the product's guides, read
from the repository, checked, and carried as content addresses.

A path is resolved relative to the manifest that names it and must stay inside the repository
(the nearest folder above the manifest that holds ``.git``; without one, the folder of the
manifests given to the command), symbolic links included. Only a regular file is read (a FIFO
would hang the run, a device exhaust its memory), and only up to a bound. An OpenAPI document
must parse (YAML or JSON, one document, through the manifest loader's guards against alias
bombs and deep nesting) and be an OpenAPI 3.x object: ``openapi`` "3.x", ``info`` with
``title`` and ``version``. Every problem names the file and line, the product and its field.

A document travels as ``Content``: a string, its address ``sha256:<hex>``, which is what plans
show and compare, carrying the bytes that are sent to the portal. An unchanged document keeps
its address, so it is never sent again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from portal_gitops.errors import Issue, ManifestError
from portal_gitops.load import Document, Source, parse_text
from portal_gitops.models import Manifest, Product
from portal_gitops.source import format_path
from portal_gitops.state import Content
from portal_gitops.validate import ValidationResult

MAX_OPENAPI_BYTES = 5 * 1024 * 1024
MAX_GUIDE_BYTES = 1024 * 1024
DocumentKey = tuple[str, str]  # (product name, the path as the manifest writes it)

_OPENAPI_VERSION = re.compile(r"^3\.\d+(\.\d+)?(-[0-9A-Za-z.-]+)?$")


@dataclass(frozen=True)
class DocumentsRead:
    """The documents the manifests name, by (product, path as written), every problem with
    them, and the SHA-256 of each file read (by its display name, as manifests' digests)."""

    contents: Mapping[DocumentKey, Content] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    digests: Mapping[str, bytes] = field(default_factory=dict)


def repository_root(manifest_file: Path, fallback: Path) -> Path:
    """The nearest folder above ``manifest_file`` holding ``.git``; else ``fallback``."""
    start = manifest_file.resolve().parent
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return fallback.resolve()


def manifests_folder(paths: Sequence[str]) -> Path:
    """The folder the manifests were given as: the common folder of the paths."""
    folders = [Path(p).resolve() if Path(p).is_dir() else Path(p).resolve().parent for p in paths]
    if not folders:
        return Path.cwd().resolve()
    return Path(os.path.commonpath([str(f) for f in folders]))


def read_product_documents(
    manifests: Iterable[tuple[Manifest, Source]], paths: Sequence[str]
) -> DocumentsRead:
    """Read and check every document the products name."""
    fallback = manifests_folder(paths)
    contents: dict[DocumentKey, Content] = {}
    issues: list[Issue] = []
    digests: dict[str, bytes] = {}
    for model, doc in manifests:
        # most products name no file: for them nothing is resolved on the filesystem (a plan
        # of 5,000 products spent a seventh of its validation here)
        if not isinstance(model, Product) or not (
            any(api.openapi is not None for api in model.spec.apis)
            or any(guide.file is not None for guide in model.spec.guides)
        ):
            continue
        reader = _Reader(model, doc, repository_root(Path(doc.file), fallback), issues)
        for i, api in enumerate(model.spec.apis):
            if api.openapi is None:
                continue
            where = ("spec", "apis", i, "openapi")
            found = reader.read(api.openapi, where, MAX_OPENAPI_BYTES, "OpenAPI document")
            if found is not None and reader.check_openapi(found[0], found[1], where):
                contents[(model.metadata.name, api.openapi)] = Content(found[1])
                digests[found[0]] = hashlib.sha256(found[1]).digest()
        for i, guide in enumerate(model.spec.guides):
            if guide.file is None:
                continue
            where = ("spec", "guides", i, "file")
            found = reader.read(guide.file, where, MAX_GUIDE_BYTES, "guide")
            if found is not None and reader.check_text(found[0], found[1], where):
                contents[(model.metadata.name, guide.file)] = Content(found[1])
                digests[found[0]] = hashlib.sha256(found[1]).digest()
    return DocumentsRead(contents, issues, digests)


def with_product_documents(result: ValidationResult, paths: Sequence[str]) -> ValidationResult:
    """A validation's result with the documents its products name read and checked: their
    problems join the errors (in file order), their digests the manifests' (a saved plan is
    stale once a document changes)."""
    read = read_product_documents(result.manifests, paths)
    if not read.contents and not read.issues:
        return result
    return replace(
        result,
        errors=sorted([*result.errors, *read.issues], key=lambda i: (i.file, i.line)),
        digests={**result.digests, **read.digests},
        documents=read.contents,
    )


class _Reader:
    """One product's documents: where they are, whether they may be read, what they hold."""

    def __init__(self, model: Product, doc: Source, root: Path, issues: list[Issue]) -> None:
        self.model = model
        self.doc = doc
        self.root = root
        self.issues = issues

    def problem(self, where: tuple[Any, ...], message: str, file: str = "", line: int = 0) -> None:
        self.issues.append(
            Issue(
                file or self.doc.file,
                line or self.doc.positions.line_of(where),
                message,
                "Product",
                self.model.metadata.name,
                format_path(where),
            )
        )

    def read(
        self, written: str, where: tuple[Any, ...], limit: int, what: str
    ) -> tuple[str, bytes] | None:
        """(display name, bytes) of the file ``written`` names, or None with the problem."""
        base = Path(self.doc.file).parent
        display = os.path.normpath(base / written)
        try:
            real = (base / written).resolve(strict=True)
        except FileNotFoundError:
            self.problem(where, f"{what} {written!r} does not exist ({display})")
            return None
        except (OSError, RuntimeError) as exc:
            self.problem(where, f"{what} {written!r} cannot be read: {_reason(exc)}")
            return None
        if not real.is_relative_to(self.root):
            self.problem(
                where,
                f"{what} {written!r} leads outside the repository ({self.root.name}/), "
                "through '..' or a symbolic link; it is not read",
            )
            return None
        try:
            fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            self.problem(where, f"{what} {written!r} cannot be read: {_reason(exc)}")
            return None
        with os.fdopen(fd, "rb") as fh:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode):
                self.problem(where, f"{what} {written!r} is not a regular file; it is not read")
                return None
            data = fh.read(limit + 1)
        if len(data) > limit:
            self.problem(where, f"{what} {written!r} is larger than {limit} bytes")
            return None
        return display, data

    def check_text(self, display: str, data: bytes, where: tuple[Any, ...]) -> bool:
        """UTF-8 text without NUL bytes (what the portal can store and show)."""
        if b"\x00" in data:
            line = data[: data.index(b"\x00")].count(b"\n") + 1
            self.problem(where, "binary file (contains NUL bytes)", display, line)
            return False
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            self.problem(where, f"not valid UTF-8 (byte 0x{data[exc.start]:02x})", display, line)
            return False
        return True

    def check_openapi(self, display: str, data: bytes, where: tuple[Any, ...]) -> bool:
        """The document parses (one YAML or JSON document) and is an OpenAPI 3.x object."""
        if not self.check_text(display, data, where):
            return False
        text = data.decode("utf-8").removeprefix("\ufeff")
        if display.endswith(".json"):  # YAML would accept what JSON refuses ({"a": })
            problem = _json_problem(text)
            if problem is not None:
                self.problem(where, problem[0], display, problem[1])
                return False
        try:
            docs = parse_text(text, display)
        except ManifestError as exc:
            first = exc.issues[0]
            message = first.message
            if "expected a mapping" in message:
                message = "an OpenAPI document is a mapping (with openapi and info)"
            self.problem(where, message, display, first.line)
            return False
        if len(docs) != 1:
            line = docs[1].line if len(docs) > 1 else 1
            self.problem(where, "an OpenAPI document is one YAML document", display, line)
            return False
        return self._openapi_fields(docs[0], display, where)

    def _openapi_fields(self, parsed: Document, display: str, where: tuple[Any, ...]) -> bool:
        data = parsed.data
        line_of = parsed.positions.line_of
        version = data.get("openapi")
        if version is None:
            message = "not an OpenAPI 3.x document: it has no 'openapi' field"
            if "swagger" in data:
                message += " (Swagger 2.0 is not supported: convert it to OpenAPI 3)"
            self.problem(where, message, display, parsed.line)
            return False
        if not isinstance(version, str) or not _OPENAPI_VERSION.match(version):
            self.problem(
                where,
                f"openapi: {version!r} is not an OpenAPI 3.x version (such as '3.0.3')",
                display,
                line_of(("openapi",)),
            )
            return False
        info = data.get("info")
        if not isinstance(info, dict):
            missing = info is None
            self.problem(
                where,
                "info: missing (an OpenAPI document has info with title and version)"
                if missing
                else "info: must be a mapping with title and version",
                display,
                parsed.line if missing else line_of(("info",)),
            )
            return False
        for name in ("title", "version"):
            value = info.get(name)
            if not isinstance(value, str) or not value.strip():
                self.problem(
                    where,
                    f"info.{name}: {'missing' if value is None else 'must be a string'}",
                    display,
                    line_of(("info", name)) if value is not None else line_of(("info",)),
                )
                return False
        return True


def _json_problem(text: str) -> tuple[str, int] | None:
    """A JSON document's syntax error and its line (None: it parses)."""
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return f"JSON syntax error: {exc.msg} (column {exc.colno})", exc.lineno
    except RecursionError:
        return "JSON nested too deeply", 1
    return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if isinstance(exc, RuntimeError):
        return "symbolic link loop"
    return type(exc).__name__


__all__ = [
    "MAX_GUIDE_BYTES",
    "MAX_OPENAPI_BYTES",
    "Content",
    "DocumentKey",
    "DocumentsRead",
    "read_product_documents",
    "repository_root",
    "with_product_documents",
]
