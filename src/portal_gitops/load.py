"""Files -> YAML documents that remember the file and line of every node.

The loader is deliberately strict: duplicate keys, alias expansion bombs, deep nesting,
non-UTF-8 or binary content, oversize files and non-mapping documents are refused with a
message naming the file and line, never a traceback. It reads files but holds no other I/O.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path as FsPath
from sys import intern
from typing import Any

import yaml

from portal_gitops.errors import Issue, ManifestError
from portal_gitops.source import Lines, Path, PositionIndex, Shapes

try:  # the C parser is several times faster; fall back to pure Python where libyaml is absent
    _BaseLoader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _BaseLoader = yaml.SafeLoader

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_NODES_PER_DOCUMENT = 200_000
MAX_DOCUMENTS_PER_FILE = 10_000
MAX_ALIASED_NODES = 100_000  # per file: what aliases may add; real manifests need a handful
MAX_NODES_PER_FILE = 200_000  # many small bombs, or many large documents, in one file
MAX_DEPTH = 64
YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class Source:
    """Where a document came from: its file, its place in the file and the line of each node
    (what validation keeps of a document once its model holds the data)."""

    file: str
    index: int  # position of the document in its file, 0-based
    positions: PositionIndex

    @property
    def line(self) -> int:
        return self.positions.line_of(())


@dataclass(frozen=True, slots=True)
class Document(Source):
    """One YAML document: its data, where it came from, and the line of each node."""

    data: dict[str, Any]

    @property
    def source(self) -> Source:
        return Source(self.file, self.index, self.positions)


class _Limits(Exception):
    def __init__(self, message: str, line: int):
        self.message = message
        self.line = line


_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Builder:
    """Turns a composed node tree into plain data plus a position index, enforcing limits.

    It replaces PyYAML's constructor (and is faster than it): scalars are built directly, and
    every node counts towards the limit, so an alias expanded a million times is caught.
    """

    def __init__(
        self,
        loader: yaml.SafeLoader,
        paths: dict[Path, Path] | None = None,
        *,
        budget: int = MAX_NODES_PER_FILE,  # nodes this file may still build
        flatten: bool = True,  # whether a mapping may hold merge (<<) or value (=) keys
    ):
        self.loader = loader
        self.flatten = flatten
        self.limit = min(MAX_NODES_PER_DOCUMENT, budget)
        self.limit_message = (
            f"document expands to more than {MAX_NODES_PER_DOCUMENT} nodes "
            "(alias/anchor expansion bomb?)"
            if budget > MAX_NODES_PER_DOCUMENT
            else _file_nodes_message()
        )
        # documents of one kind share their paths: one tuple per distinct path, not per node
        self.paths: dict[Path, Path] = {} if paths is None else paths
        self.constructors: dict[Any, Any] = loader.yaml_constructors
        self.nodes = 0
        self.lines: dict[Path, int] = {}
        self.merged: dict[int, int] = {}  # id(mapping node) -> how many pairs came from `<<`

    def scalar(self, node: yaml.Node) -> Any:
        if node.tag == _STR_TAG:
            # one object per distinct text (keys, kinds, roles, names met again in other
            # documents): the parser makes a new one for every node
            return intern(node.value)
        construct = self.constructors.get(node.tag) or self.constructors[None]
        try:
            return construct(self.loader, node)
        except (ValueError, OverflowError):
            # a plain scalar that only looks like a date or a number (2026-13-45, an integer
            # of 5,000 digits): kept as the text it is, so validation names the field it is in
            return node.value

    def build(self, node: yaml.Node, path: Path = (), depth: int = 0) -> Any:
        self.nodes += 1
        if self.nodes > self.limit:
            raise _Limits(self.limit_message, node.start_mark.line + 1)
        if depth > MAX_DEPTH:
            raise _Limits(f"nesting deeper than {MAX_DEPTH} levels", node.start_mark.line + 1)
        if path not in self.lines:
            self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node)
        if isinstance(node, yaml.SequenceNode):
            share = self.paths.setdefault
            return [
                self.build(item, share((*path, i), (*path, i)), depth + 1)
                for i, item in enumerate(node.value)
            ]
        if not isinstance(node, yaml.MappingNode):  # pragma: no cover - composer yields no others
            raise _Limits("unsupported YAML node", node.start_mark.line + 1)
        merged = self.merged.get(id(node)) if self.flatten else 0
        if merged is None:  # flatten_mapping rewrites the node: do it once, remember the split
            own = sum(1 for k, _ in node.value if k.tag != _MERGE_TAG)
            self.loader.flatten_mapping(node)
            merged = self.merged[id(node)] = len(node.value) - own
        out: dict[Any, Any] = {}
        own_keys: set[Any] = set()
        for n, (key_node, value_node) in enumerate(node.value):
            key_line = key_node.start_mark.line + 1
            if isinstance(key_node, yaml.ScalarNode):
                self.nodes += 1
                key = self.scalar(key_node)
            else:
                key = self.build(key_node, (*path, "<key>"), depth + 1)
                self.lines.pop((*path, "<key>"), None)
            if not _is_scalar(key):
                raise _Limits("mapping keys must be scalars", key_line)
            if n >= merged:  # an explicit key may override a merged one, not another explicit
                if key in own_keys:
                    raise _Limits(
                        f"duplicate key {key!r} (first at line "
                        f"{self.lines.get((*path, key), key_line)})",
                        key_line,
                    )
                own_keys.add(key)
            child = (*path, key)
            child = self.paths.setdefault(child, child)
            self.lines[child] = key_line
            out[key] = self.build(value_node, child, depth + 1)
        return out


def _check_expansion(root: yaml.Node) -> tuple[int, int]:
    """Refuse an alias bomb before building anything: the size the document would expand to,
    counted over its node graph with each shared (anchored) node sized once, so a billion
    laughs is caught in microseconds instead of after building the first 200,000 nodes.

    Returns (nodes it expands to, nodes among them that come from aliases)."""
    sizes: dict[int, int] = {}
    distinct = 0

    def size(node: yaml.Node, depth: int) -> int:
        nonlocal distinct
        known = sizes.get(id(node))
        if known is not None:
            return known
        distinct += 1
        if depth > MAX_DEPTH:
            raise _Limits(f"nesting deeper than {MAX_DEPTH} levels", node.start_mark.line + 1)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(item, depth + 1) for item in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k, depth + 1) + size(v, depth + 1) for k, v in node.value)
        if total > MAX_NODES_PER_DOCUMENT:
            raise _Limits(
                f"document expands to more than {MAX_NODES_PER_DOCUMENT} nodes "
                "(alias/anchor expansion bomb?)",
                node.start_mark.line + 1,
            )
        sizes[id(node)] = total
        return total

    total = size(root, 0)
    return total, total - distinct


PRESCAN_BYTES = 256 * 1024
_NODE_EVENTS = (yaml.ScalarEvent, yaml.AliasEvent, yaml.SequenceStartEvent, yaml.MappingStartEvent)


def _prescan(text: str) -> None:
    """Count a large file's nodes from the parser's events before anything is composed.

    Composing a document holds every node of it in memory at once: a 5 MB file of one flow
    list would be millions of node objects before any limit is checked. Events are counted
    and dropped, so an oversize, over-deep or over-long file is refused in bounded memory.
    """
    loader = _BaseLoader(text)
    try:
        nodes = in_document = documents = depth = 0
        while loader.check_event():
            event = loader.get_event()  # type: ignore[no-untyped-call]
            if isinstance(event, _NODE_EVENTS):
                nodes += 1
                in_document += 1
                line = event.start_mark.line + 1 if event.start_mark else 1
                if in_document > MAX_NODES_PER_DOCUMENT:
                    raise _Limits(f"document has more than {MAX_NODES_PER_DOCUMENT} nodes", line)
                if nodes > MAX_NODES_PER_FILE:
                    raise _Limits(_file_nodes_message(), line)
                if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                    depth += 1
                    if depth > MAX_DEPTH + 1:
                        raise _Limits(f"nesting deeper than {MAX_DEPTH} levels", line)
            elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                depth -= 1
            elif isinstance(event, yaml.DocumentStartEvent):
                in_document = 0
                documents += 1
                if documents > MAX_DOCUMENTS_PER_FILE:
                    raise _Limits(
                        f"more than {MAX_DOCUMENTS_PER_FILE} documents in one file; split it",
                        event.start_mark.line + 1 if event.start_mark else 1,
                    )
    finally:
        loader.dispose()


def _file_nodes_message() -> str:
    return (
        f"the documents of this file expand to more than {MAX_NODES_PER_FILE} nodes in all; "
        "split the file"
    )


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def parse_text(
    text: str,
    file: str,
    paths: dict[Path, Path] | None = None,
    shapes: Shapes | None = None,
) -> list[Document]:
    """Parse YAML text into documents; raises ManifestError with every problem found.

    ``paths`` and ``shapes``, shared by the files of one load, hold one copy of each path and
    of each document shape (see ``Lines``) for all of them."""
    shapes = {} if shapes is None else shapes
    loader = _BaseLoader(text)
    docs: list[Document] = []
    aliases = "&" in text and "*" in text  # no anchor, no alias: nothing can expand
    # merge keys (<<) and value keys (=) are what flatten_mapping rewrites: a file with
    # neither character has nothing to rewrite, and skips it for every mapping
    flatten = "<<" in text or "=" in text
    nodes = 0  # built so far in this file
    aliased = 0  # of which reached through aliases
    try:
        if len(text) > PRESCAN_BYTES:
            _prescan(text)
        index = 0
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                break
            line = node.start_mark.line + 1
            if index >= MAX_DOCUMENTS_PER_FILE:
                raise _Limits(
                    f"more than {MAX_DOCUMENTS_PER_FILE} documents in one file; split it", line
                )
            if aliases:
                expands_to, from_aliases = _check_expansion(node)
                aliased += from_aliases
                if aliased > MAX_ALIASED_NODES:
                    raise _Limits(
                        f"aliases in this file expand to more than {MAX_ALIASED_NODES} nodes "
                        "(alias/anchor expansion bomb?)",
                        line,
                    )
                if nodes + expands_to > MAX_NODES_PER_FILE:
                    raise _Limits(_file_nodes_message(), line)
            builder = _Builder(loader, paths, budget=MAX_NODES_PER_FILE - nodes, flatten=flatten)
            data = builder.build(node)
            nodes += builder.nodes
            pos = PositionIndex(file, Lines.of(builder.lines, shapes))
            if data is None:  # an empty document between '---' markers
                index += 1
                continue
            if not isinstance(data, dict):
                raise ManifestError(
                    [
                        Issue(
                            file,
                            node.start_mark.line + 1,
                            f"document {index + 1} is a {_type_name(data)}, "
                            "expected a mapping with apiVersion, kind, metadata and spec",
                        )
                    ]
                )
            docs.append(Document(file=file, index=index, positions=pos, data=data))
            index += 1
    except _Limits as exc:
        raise ManifestError([Issue(file, exc.line, exc.message)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = exc.problem or exc.context or "invalid YAML"
        if isinstance(exc, yaml.constructor.ConstructorError):  # valid YAML, but not plain data
            tag = re.search(r"tag '([^']*)'", problem)
            problem = f"unsupported tag {tag.group(1)!r}" if tag else problem
            message = f"YAML error: {problem} (manifests are plain data)"
        else:
            message = f"YAML syntax error: {problem}"
        raise ManifestError([Issue(file, line, message)]) from None
    except yaml.YAMLError as exc:
        raise ManifestError([Issue(file, 1, f"YAML error: {exc}")]) from None
    except RecursionError:
        raise ManifestError([Issue(file, 1, f"nesting deeper than {MAX_DEPTH} levels")]) from None
    finally:
        loader.dispose()
    return docs


def _type_name(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), type(value).__name__
    )


def read_text(
    path: FsPath,
    display: str,
    max_bytes: int = MAX_FILE_BYTES,
    digests: dict[str, bytes] | None = None,
) -> str:
    """Read a manifest file as UTF-8 text, refusing oversize, binary and non-UTF-8 files.

    ``digests``, when given, receives the SHA-256 of the file's bytes under its display name
    (a saved plan records them, so the files need not be read twice)."""
    try:
        info = path.stat()
    except OSError as exc:
        raise ManifestError([Issue(display, 1, f"cannot read file: {exc.strerror}")]) from None
    if not stat.S_ISREG(info.st_mode):  # a FIFO would block the read forever
        raise ManifestError([Issue(display, 1, "not a regular file; it is not read")])
    size = info.st_size
    if size > max_bytes:
        raise ManifestError(
            [Issue(display, 1, f"file is {size} bytes, over the {max_bytes}-byte limit")]
        )
    with open(path, "rb") as fh:
        raw = fh.read(max_bytes + 1)
    if digests is not None:
        digests[display] = hashlib.sha256(raw).digest()
    if b"\x00" in raw:
        line = raw[: raw.index(b"\x00")].count(b"\n") + 1
        raise ManifestError([Issue(display, line, "binary file (contains NUL bytes)")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ManifestError(
            [Issue(display, line, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})")]
        ) from None
    return text.removeprefix("\ufeff")


def discover(paths: Iterable[str]) -> tuple[list[tuple[FsPath, str]], list[Issue]]:
    """Expand PATHS into manifest files (sorted, deterministic) and problems with the paths.

    Symbolic links that lead outside the directory being walked are refused: a manifest
    tree must not read files it does not contain.
    """
    files: list[tuple[FsPath, str]] = []
    issues: list[Issue] = []
    seen: set[FsPath] = set()
    for given in paths:
        p = FsPath(given)
        if not p.exists():
            issues.append(Issue(given, 1, "no such file or directory"))
            continue
        if p.is_file():
            real = p.resolve()
            if real not in seen:
                seen.add(real)
                files.append((p, str(p)))
            continue
        root = p.resolve()
        for dirpath, dirnames, filenames in os.walk(p, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if not name.endswith(YAML_SUFFIXES) or name.startswith("."):
                    continue
                fp = FsPath(dirpath) / name
                real = fp.resolve()
                if fp.is_symlink() and not real.is_relative_to(root):
                    issues.append(
                        Issue(str(fp), 1, "symbolic link leads outside the manifest directory")
                    )
                    continue
                if real in seen:
                    continue
                seen.add(real)
                files.append((fp, str(fp)))
            for d in list(dirnames):
                dp = FsPath(dirpath) / d
                if dp.is_symlink():  # os.walk does not descend; say so rather than skip silently
                    issues.append(Issue(str(dp), 1, "symbolic link to a directory is not followed"))
    return files, issues


@dataclass(frozen=True)
class LoadResult:
    """What loading the manifests under some paths gave: every document read, every problem
    with the paths and files (in file order), and the SHA-256 of each file read."""

    documents: list[Document]
    issues: list[Issue]
    digests: dict[str, bytes]


def load_manifests(paths: Iterable[str]) -> LoadResult:
    """Load every manifest under PATHS, keeping each file's digest (validate comes next)."""
    digests: dict[str, bytes] = {}
    docs, issues = load_paths(paths, digests)
    return LoadResult(docs, issues, digests)


def load_paths(
    paths: Iterable[str], digests: dict[str, bytes] | None = None
) -> tuple[list[Document], list[Issue]]:
    """Load every manifest under PATHS. Returns the documents and every problem found;
    ``digests`` (optional) receives each file's SHA-256."""
    issues: list[Issue] = []
    docs = list(read_documents(paths, issues, digests))
    return docs, issues


def read_documents(
    paths: Iterable[str], issues: list[Issue], digests: dict[str, bytes] | None = None
) -> Iterator[Document]:
    """Every document under PATHS, file by file as each is read, so that a caller that keeps
    less than the documents (validation keeps models) never holds them all. Every problem
    with the paths and files goes to ``issues``, in file order; ``digests`` (optional)
    receives each file's SHA-256."""
    files, found = discover(paths)
    issues.extend(found)
    shared: dict[Path, Path] = {}  # one tuple per distinct path across all files (memory)
    shapes: Shapes = {}  # one map of path to slot per document shape across all files
    for fp, display in files:
        try:
            text = read_text(fp, display, digests=digests)
            docs = parse_text(text, display, shared, shapes)
        except ManifestError as exc:
            issues.extend(exc.issues)
            continue
        yield from docs


def iter_documents(paths: Iterable[str]) -> Iterator[Document]:
    docs, issues = load_paths(paths)
    if issues:
        raise ManifestError(issues)
    yield from docs


API_SUFFIXES = (".json", *YAML_SUFFIXES)


def load_api_definitions(paths: Iterable[str]) -> list[dict[str, Any]]:
    """Tyk API definitions from files (``*.json``, ``*.yaml``, ``*.yml``; directories walked,
    sorted), each document as a Dashboard exports an API: ``{"api_definition": {...}}``, the
    bare definition, or a ``GET /api/apis`` reply ``{"apis": [...]}``. They seed the embedded
    store's Dashboard (``--apis``). Raises ManifestError naming every bad file."""
    files: list[FsPath] = []
    issues: list[Issue] = []
    for given in paths:
        p = FsPath(given)
        if p.is_file():
            files.append(p)
        elif p.is_dir():
            for dirpath, dirnames, filenames in os.walk(p, followlinks=False):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                files.extend(
                    FsPath(dirpath) / n
                    for n in sorted(filenames)
                    if n.endswith(API_SUFFIXES) and not n.startswith(".")
                )
        else:
            issues.append(Issue(given, 1, "no such file or directory"))
    out: list[dict[str, Any]] = []
    for fp in files:
        try:
            docs = parse_text(read_text(fp, str(fp)), str(fp))
        except ManifestError as exc:
            issues.extend(exc.issues)
            continue
        for doc in docs:
            items = doc.data["apis"] if isinstance(doc.data.get("apis"), list) else [doc.data]
            for item in items:
                inner = item.get("api_definition", item) if isinstance(item, dict) else None
                api_id = inner.get("api_id") if isinstance(inner, dict) else None
                if not isinstance(api_id, str) or not api_id:
                    issues.append(Issue(str(fp), doc.line, "not a Tyk API definition: no api_id"))
                    continue
                out.append(item)
    if issues:
        raise ManifestError(issues)
    return out
