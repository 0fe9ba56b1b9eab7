"""The Python API behind every command: returns data and exit codes, never prints.

This is the effectful edge above the pure core: it loads the manifests and then validates
them, reads the environment for secrets and targets, opens backends, takes the apply lock and
runs the engine. cli.py only parses arguments, prints what these functions return, and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import getpass
import json
import os
import socket
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from portal_gitops import plan as planmod
from portal_gitops.apply import Applier, ApplyResult, Progress
from portal_gitops.backends.base import Backend
from portal_gitops.desired import Desired, build_desired
from portal_gitops.diff import diff
from portal_gitops.errors import (
    Issue,
    ManifestError,
    PortalGitopsError,
    SecretError,
    StalePlanError,
)
from portal_gitops.heap import collector_paused
from portal_gitops.load import load_manifests
from portal_gitops.models import Manifest, Provider
from portal_gitops.models.common import secret_ref_label
from portal_gitops.plan import Plan, build_plan, check_fresh
from portal_gitops.scaffold import SCHEMA_COMMENT, schema_line
from portal_gitops.state import LiveState, Sensitive
from portal_gitops.validate import ValidationResult, format_issues, validate_loaded

DEFAULT_STORE = Path(".portal-gitops") / "portal.db"
LOCK_TTL_SECONDS = 30 * 60


@dataclass(frozen=True)
class Target:
    """Where the live portal is: the embedded store (default) or a real Tyk portal."""

    store: str | None = None
    portal_url: str | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    parallelism: int = 8

    def describe(self, paths: Sequence[str]) -> str:
        return self.portal_url or f"embedded store {self.store_path(paths)}"

    def store_path(self, paths: Sequence[str]) -> str:
        if self.store:
            return self.store
        first = Path(paths[0]) if paths else Path(".")
        base = first if first.is_dir() else first.parent
        return str(base / DEFAULT_STORE)


@dataclass(frozen=True)
class Loaded:
    """Validated manifests and the desired state built from them."""

    paths: tuple[str, ...]
    validation: ValidationResult
    desired: Desired
    manifests_hash: str

    @property
    def manifests(self) -> list[Manifest]:
        return [m for m, _ in self.validation.manifests]

    @property
    def warnings(self) -> list[Issue]:
        return list(self.validation.warnings)


def secret_resolver(environ: Mapping[str, str]) -> Callable[[str], str | None]:
    def resolve(label: str) -> str | None:
        kind, _, ref = label.partition(":")
        if kind == "env":
            return environ.get(ref) or None
        if kind == "file":
            try:
                return Path(ref).read_text(encoding="utf-8").strip() or None
            except OSError:
                return None
        return None

    return resolve


@collector_paused()
def load_and_validate(paths: Iterable[str]) -> ValidationResult:
    """Read the manifests under PATHS, then validate them: the loader's problems come first
    in file order among the errors."""
    return validate_loaded(load_manifests(paths))


def load(
    paths: Sequence[str],
    environ: Mapping[str, str] | None = None,
    *,
    today: dt.date | None = None,
) -> Loaded:
    """Load and validate manifests; raises ManifestError carrying every problem."""
    paths = tuple(paths) or (".",)
    result = load_and_validate(list(paths))
    if result.errors:
        raise ManifestError(list(result.errors))
    desired = build_desired(
        [m for m, _ in result.manifests],
        today=today or dt.date.today(),
        resolve_secret=secret_resolver(environ if environ is not None else os.environ),
    )
    return Loaded(paths, result, desired, planmod.hash_digests(result.digests.items()))


def require_secrets(loaded: Loaded) -> None:
    """Everything that talks to a portal needs the secrets the manifests reference."""
    missing = []
    for res in loaded.desired.state:
        for value in res.attrs.values():
            if isinstance(value, Sensitive) and value.value is None:
                missing.append(f"{res.kind}/{res.key}: {_describe_ref(value.ref)}")
    if missing:
        raise SecretError("secrets not available: " + "; ".join(sorted(missing)))


def _describe_ref(ref: str) -> str:
    kind, _, name = ref.partition(":")
    if kind == "env":
        return f"environment variable {name} is not set"
    return f"file {name} is missing or empty"


def open_backend(target: Target, paths: Sequence[str], manifests: Sequence[Manifest]) -> Backend:
    from portal_gitops.backends.embedded import open_embedded
    from portal_gitops.backends.tyk.backend import DashboardConn, open_tyk

    if not target.portal_url:
        store = Path(target.store_path(paths))
        store.parent.mkdir(parents=True, exist_ok=True)
        return open_embedded(str(store))
    token = target.environ.get("TYK_PORTAL_TOKEN")
    token_file = target.environ.get("TYK_PORTAL_TOKEN_FILE")
    if not token and token_file:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SecretError(f"cannot read TYK_PORTAL_TOKEN_FILE: {exc.strerror}") from None
    if not token:
        raise SecretError(
            "TYK_PORTAL_TOKEN (or TYK_PORTAL_TOKEN_FILE) must be set to talk to "
            f"{target.portal_url}"
        )
    resolve = secret_resolver(target.environ)
    dashboards = {
        m.metadata.name: DashboardConn(
            url=m.spec.dashboardUrl,
            secret=resolve(secret_ref_label(m.spec.secret)),
            insecure=m.spec.insecureSkipVerify,
        )
        for m in manifests
        if isinstance(m, Provider)
    }
    return open_tyk(
        target.portal_url,
        token,
        dashboards,
        dashboard_url_override=target.environ.get("TYK_DASHBOARD_URL") or None,
        parallelism=target.parallelism,
    )


def _notes(desired: Desired) -> dict[str, Mapping[str, Any]]:
    return {f"{k}/{n}": v for (k, n), v in desired.notes.items()}


def compute_plan(
    loaded: Loaded, live: LiveState, target_desc: str, backend_kind: str, *, prune: bool
) -> Plan:
    result = diff(loaded.desired, live, prune=prune)
    return build_plan(
        result,
        live,
        target=target_desc,
        backend=backend_kind,
        manifests_hash=loaded.manifests_hash,
        paths=loaded.paths,
        notes=_notes(loaded.desired),
        warnings=[format_issues([w]) for w in loaded.warnings],
        details={f"{k}/{n}": v for (k, n), v in loaded.desired.details.items()},
    )


async def _plan(loaded: Loaded, target: Target, *, prune: bool) -> Plan:
    backend = open_backend(target, loaded.paths, loaded.manifests)
    try:
        live = await backend.read()
        return compute_plan(loaded, live, target.describe(loaded.paths), backend.kind, prune=prune)
    finally:
        await backend.aclose()


def plan(
    paths: Sequence[str], target: Target, *, prune: bool = False, today: dt.date | None = None
) -> Plan:
    # manifests, live state and plan all live until the command ends (see heap.py)
    with collector_paused():
        loaded = load(paths, target.environ, today=today)
        if target.portal_url:
            require_secrets(loaded)
        return asyncio.run(_plan(loaded, target, prune=prune))


def lock_holder() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


@dataclass
class ApplyOutcome:
    plan: Plan
    result: ApplyResult | None  # None when there was nothing to do or it was declined


Confirm = Callable[[Plan], bool]


async def _apply(
    loaded: Loaded | None,
    target: Target,
    *,
    prune: bool,
    max_deletes: int,
    force: bool,
    confirm: Confirm,
    progress: Progress | None,
    saved: Plan | None,
    paths: Sequence[str],
) -> ApplyOutcome:
    current_hash: str | None
    if loaded is not None:
        manifests, current_hash = loaded.manifests, loaded.manifests_hash
    else:
        manifests, current_hash = _saved_plan_inputs(paths)
    backend = open_backend(target, paths, manifests)
    holder = lock_holder()
    try:
        await backend.acquire_lock(holder, LOCK_TTL_SECONDS)
        try:
            with collector_paused():  # the engine, which makes garbage as it goes, runs after
                live = await backend.read()
                if saved is not None:
                    if saved.target != target.describe(paths):
                        raise StalePlanError(
                            f"the saved plan was made for {saved.target}, "
                            f"not for {target.describe(paths)}"
                        )
                    check_fresh(saved, live, current_hash)
                    the_plan = _resolve_plan_secrets(saved, target.environ)
                else:
                    assert loaded is not None
                    the_plan = compute_plan(
                        loaded, live, target.describe(paths), backend.kind, prune=prune
                    )
            if not the_plan.has_changes:
                return ApplyOutcome(the_plan, None)
            the_plan.raise_if_unsafe(max_deletes=max_deletes, force=force)
            if not confirm(the_plan):
                return ApplyOutcome(the_plan, None)
            applier = Applier(
                backend,
                live,
                parallelism=target.parallelism,
                progress=progress,
                notes=the_plan.notes,
            )
            return ApplyOutcome(the_plan, await applier.run(the_plan))
        finally:
            await backend.release_lock(holder)
    finally:
        await backend.aclose()


def _paths_exist(paths: Sequence[str]) -> bool:
    return bool(paths) and all(Path(p).exists() for p in paths)


def _saved_plan_inputs(paths: Sequence[str]) -> tuple[list[Manifest], str | None]:
    """A saved plan's manifests as they are now: the Provider manifests give Dashboard
    connections, the hash tells whether they changed. (None, [] when the paths are gone.)"""
    if not _paths_exist(paths):
        return [], None
    result = load_and_validate(list(paths))
    return [m for m, _ in result.manifests], planmod.hash_digests(result.digests.items())


def _resolve_plan_secrets(saved: Plan, environ: Mapping[str, str]) -> Plan:
    resolve = secret_resolver(environ)
    actions = []
    missing = []
    for a in saved.actions:
        if a.op == "delete":
            actions.append(a)  # a deletion needs no secret
            continue
        if a.attrs and any(isinstance(v, Sensitive) for v in a.attrs.values()):
            attrs = dict(a.attrs)
            for k, v in attrs.items():
                if isinstance(v, Sensitive):
                    value = resolve(v.ref)
                    if value is None:
                        missing.append(f"{a.address}: {_describe_ref(v.ref)}")
                    attrs[k] = Sensitive(v.ref, value)
            a = planmod.replace(a, attrs=attrs)
        actions.append(a)
    if missing:
        raise SecretError("secrets not available: " + "; ".join(missing))
    return planmod.replace(saved, actions=tuple(actions))


def apply(
    paths: Sequence[str],
    target: Target,
    *,
    prune: bool = False,
    max_deletes: int = 10,
    force: bool = False,
    confirm: Confirm = lambda _plan: True,
    progress: Progress | None = None,
    today: dt.date | None = None,
) -> ApplyOutcome:
    with collector_paused():
        loaded = load(paths, target.environ, today=today)
    if target.portal_url:
        require_secrets(loaded)
    return asyncio.run(
        _apply(
            loaded,
            target,
            prune=prune,
            max_deletes=max_deletes,
            force=force,
            confirm=confirm,
            progress=progress,
            saved=None,
            paths=loaded.paths,
        )
    )


def apply_saved(
    plan_file: str,
    target: Target,
    *,
    max_deletes: int = 10,
    force: bool = False,
    confirm: Confirm = lambda _plan: True,
    progress: Progress | None = None,
) -> ApplyOutcome:
    try:
        text = Path(plan_file).read_text(encoding="utf-8")
    except OSError as exc:
        raise PortalGitopsError(f"cannot read plan file {plan_file}: {exc.strerror}") from None
    saved = planmod.loads(text)
    return asyncio.run(
        _apply(
            None,
            target,
            prune=False,
            max_deletes=max_deletes,
            force=force,
            confirm=confirm,
            progress=progress,
            saved=saved,
            paths=saved.paths,
        )
    )


def validate(paths: Sequence[str]) -> ValidationResult:
    return load_and_validate(list(paths) or ["."])


# --- access requests: pull and CODEOWNERS ----------------------------------------------------


@dataclass(frozen=True)
class PullResult:
    written: list[Path]
    already: list[str]  # live ids already in the repository


def schema_comment(dest: Path) -> str:
    """The editor schema line for a manifest written at ``dest``: points at the nearest
    ``schemas/manifest.schema.json`` above it (the repository's), else at the usual place."""
    start = dest.resolve().parent
    for folder in (start, *start.parents):
        candidate = folder / "schemas" / "manifest.schema.json"
        if candidate.is_file():
            rel = os.path.relpath(candidate, start)
            return SCHEMA_COMMENT.format(schema=Path(rel).as_posix())
    return schema_line(0)


def write_manifest(out: Path, relpath: PurePosixPath, body: str) -> Path:
    """Write a manifest file inside ``out`` with its schema line first."""
    dest = out / Path(*relpath.parts)
    return write_inside(out, relpath, schema_comment(dest) + body)


def write_inside(out: Path, relpath: PurePosixPath, text: str) -> Path:
    """Write ``text`` to ``out/relpath``, refusing anything that would land outside ``out``."""
    root = out.resolve()
    dest = (out / Path(*relpath.parts)).resolve()
    if not dest.is_relative_to(root) or any(part in ("..", "") for part in relpath.parts):
        raise PortalGitopsError(f"refusing to write {relpath}: it would leave {out}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_symlink():
        raise PortalGitopsError(f"refusing to write {dest}: it is a symbolic link")
    # a fresh temporary file (O_EXCL: never through a link planted under a predictable name)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return dest


async def _read_live(
    target: Target, paths: Sequence[str], manifests: Sequence[Manifest]
) -> LiveState:
    backend = open_backend(target, paths, manifests)
    try:
        with collector_paused():
            return await backend.read()
    finally:
        await backend.aclose()


def requests_pull(paths: Sequence[str], out: str, target: Target) -> PullResult:
    """Write a manifest for every pending Live Portal request not yet in the repository."""
    import yaml

    from portal_gitops.requests import (
        known_request_ids,
        pending_requests,
        request_manifest,
    )

    out_dir = Path(out)
    scan = [p for p in (*paths, out) if Path(p).exists()]
    result = load_and_validate(scan) if scan else None
    manifests = [m for m, _ in result.manifests] if result else []
    known = known_request_ids(manifests)
    live = asyncio.run(_read_live(target, tuple(paths), manifests))
    written: list[Path] = []
    already: list[str] = []
    for obj in pending_requests(live):
        if obj.id in known:
            already.append(obj.id)
            continue
        pulled = request_manifest(obj, live)
        body = yaml.safe_dump(pulled.document, sort_keys=False)
        written.append(write_manifest(out_dir, pulled.relpath, body))
    return PullResult(written, already)


def codeowners(
    paths: Sequence[str], requests_dir: str | None = None
) -> tuple[list[str], list[str]]:
    """CODEOWNERS lines; ``requests_dir`` defaults to ``<first path>/requests``."""
    from portal_gitops.requests import codeowners_lines

    paths = list(paths) or ["."]
    result = load_and_validate(paths)
    if result.errors:
        raise ManifestError(list(result.errors))
    if requests_dir is None and Path(paths[0]).is_dir():
        requests_dir = (Path(paths[0]) / "requests").as_posix()
    # CODEOWNERS paths are relative to the repository root: the nearest folder above the
    # manifests that holds .git, else the working directory
    start = Path(paths[0]).resolve()
    root = next((d for d in (start, *start.parents) if (d / ".git").exists()), Path.cwd())

    def rel(path: str) -> str:
        return Path(os.path.relpath(Path(path).resolve(), root)).as_posix()

    return codeowners_lines(
        [(m, rel(doc.file)) for m, doc in result.manifests],
        rel(requests_dir) if requests_dir else None,
    )


# --- import ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportOutcome:
    written: list[Path]
    documents: int
    skipped: list[str]


def import_portal(out: str, target: Target, paths: Sequence[str] = ()) -> ImportOutcome:
    """Write manifests for everything live that the manifests can express."""
    import yaml

    from portal_gitops.importer import import_state

    out_dir = Path(out)
    manifests: list[Manifest] = []
    if paths:
        result = load_and_validate(list(paths))
        manifests = [m for m, _ in result.manifests]
    store_paths = tuple(paths)
    live = asyncio.run(_read_live(target, store_paths, manifests))
    imported = import_state(live)
    written = []
    count = 0
    for relpath, docs in sorted(imported.files.items()):
        body = yaml.safe_dump_all(docs, sort_keys=False)
        written.append(write_manifest(out_dir, relpath, body))
        count += len(docs)
    return ImportOutcome(written, count, [str(s) for s in imported.skipped])


# --- init -----------------------------------------------------------------------------------


def init_repository(directory: str, *, force: bool = False) -> list[Path]:
    """Lay out a new manifests repository in ``directory``; refuses to overwrite files."""
    from portal_gitops.load import parse_text
    from portal_gitops.models import KINDS
    from portal_gitops.requests import codeowners_lines
    from portal_gitops.scaffold import repository_files
    from portal_gitops.schema import json_schemas

    root = Path(directory)
    placeholder = repository_files("")
    manifests: list[tuple[Manifest, str]] = []
    for rel, text in placeholder.items():
        if rel.parts[0] == "manifests":
            for doc in parse_text(text, str(rel)):
                manifests.append((KINDS[doc.data["kind"]].model_validate(doc.data), str(rel)))
    lines, _ = codeowners_lines(manifests, "manifests/requests")
    files = repository_files("\n".join(lines) + "\n")
    for name, schema in json_schemas().items():
        files[PurePosixPath("schemas") / name] = json.dumps(schema, indent=2) + "\n"
    existing = [rel for rel in files if (root / Path(*rel.parts)).exists()]
    if existing and not force:
        shown = ", ".join(str(r) for r in sorted(existing)[:5])
        raise PortalGitopsError(
            f"{directory} already has {shown}{' ...' if len(existing) > 5 else ''}; "
            "pass --force to overwrite"
        )
    return [write_inside(root, rel, text) for rel, text in sorted(files.items())]
