"""The Python API behind every command: returns data and exit codes, never prints.

This is the effectful edge above the pure core: it loads the manifests and then validates
them, reads the environment for secrets and targets, opens backends, takes the apply lock and
runs the engine. cli.py only parses arguments, prints what these functions return, and exits.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import getpass
import os
import re
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from portal_gitops import plan as planmod
from portal_gitops.apply import (
    Applier,
    ApplyResult,
    LockRelease,
    Progress,
    Stop,
    force_unlock,
    holding_lock,
)
from portal_gitops.backends.base import Backend, LockInfo
from portal_gitops.credentials import (
    clean_credential,
    read_secret_file,
    refuse_unapproved_dashboards,
    secret_resolver,
)
from portal_gitops.desired import Desired, build_desired, with_live_apis
from portal_gitops.diff import diff
from portal_gitops.documents import with_product_documents
from portal_gitops.errors import (
    Issue,
    ManifestError,
    PortalGitopsError,
    SecretError,
    StalePlanError,
)
from portal_gitops.files import write_inside
from portal_gitops.heap import collector_paused
from portal_gitops.models import Manifest, Provider
from portal_gitops.models.common import secret_ref_label
from portal_gitops.plan import Plan, build_plan, check_fresh
from portal_gitops.scaffold import SCHEMA_COMMENT, schema_line
from portal_gitops.state import LiveState, Sensitive
from portal_gitops.urls import check_dashboard_url, check_portal_url, display_url
from portal_gitops.validate import ValidationResult, format_issues, refuse_empty, validate_paths
from portal_gitops.validate import apis as api_check

DEFAULT_STORE = Path(".portal-gitops") / "portal.db"
STORE_ENV = "PORTAL_GITOPS_STORE"  # the embedded store's file, when --store is not given
APIS_ENV = "PORTAL_GITOPS_APIS"  # what --apis defaults to (paths separated by whitespace)
LOCK_TTL_SECONDS = 30 * 60  # the lease; an apply renews it every third of that while it runs


@dataclass(frozen=True)
class Target:
    """Where the live portal is: the embedded store (default) or a real Tyk portal."""

    store: str | None = None
    portal_url: str | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    parallelism: int = 8
    # files of Tyk API definitions that seed the embedded store's Dashboard (--apis); never
    # sent to a real Dashboard
    apis: tuple[str, ...] = ()

    def describe(self, paths: Sequence[str]) -> str:
        if self.portal_url:
            return display_url(self.portal_url)
        return f"embedded store {self.store_path(paths)}"

    def store_path(self, paths: Sequence[str]) -> str:
        """The embedded store's file, by one rule (see ``default_store``): however the
        manifests' path is spelt (``apply .``, ``plan manifests``), the same store."""
        return self.store or self.environ.get(STORE_ENV) or str(default_store(paths))


def repository_root(path: str) -> Path | None:
    """The repository holding ``path``: the nearest folder at or above it with ``.git``."""
    start = Path(path).resolve()
    return next((d for d in (start, *start.parents) if (d / ".git").exists()), None)


def default_store(paths: Sequence[str]) -> Path:
    """``.portal-gitops/portal.db`` at the root of the repository holding the first manifest
    path, or in the working directory when that path is in no repository; shown relative to
    the working directory when inside it."""
    cwd = Path.cwd()
    root = repository_root(paths[0] if paths else ".") or cwd
    store = root / DEFAULT_STORE
    return store.relative_to(cwd) if store.is_relative_to(cwd) else store


@dataclass(frozen=True)
class Loaded:
    """Validated manifests and the desired state built from them."""

    paths: tuple[str, ...]
    validation: ValidationResult
    desired: Desired
    manifests_hash: str
    products: tuple[api_check.ProductApis, ...] = ()  # what the API check needs of the products

    @property
    def manifests(self) -> list[Manifest]:
        return [m for m, _ in self.validation.manifests]

    @property
    def warnings(self) -> list[Issue]:
        return list(self.validation.warnings)


@collector_paused()
def load_and_validate(paths: Iterable[str], today: dt.date | None = None) -> ValidationResult:
    """Read the manifests under PATHS, then validate them: the loader's problems come first
    in file order among the errors; ``expires`` dates are read against ``today`` (default:
    the local date); then the documents products name are read and checked."""
    paths = list(paths)
    return with_product_documents(validate_paths(paths, today or dt.date.today()), paths)


def load(
    paths: Sequence[str],
    environ: Mapping[str, str] | None = None,
    *,
    today: dt.date | None = None,
    allow_empty: bool = False,
) -> Loaded:
    """Load and validate manifests; raises ManifestError carrying every problem (and refuses
    to find no document at all unless ``allow_empty``)."""
    paths = tuple(paths) or (".",)
    today = today or dt.date.today()
    result = load_and_validate(list(paths), today)
    if not allow_empty:
        result = refuse_empty(result, paths)
    if result.errors:
        raise ManifestError(list(result.errors))
    desired = build_desired(
        [m for m, _ in result.manifests],
        today=today,
        resolve_secret=secret_resolver(environ if environ is not None else os.environ),
        documents=result.documents,
    )
    products = tuple(api_check.products_apis(result.manifests))
    return Loaded(paths, result, desired, planmod.hash_digests(result.digests.items()), products)


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

    apis = target.apis or tuple(target.environ.get(APIS_ENV, "").split())
    if not target.portal_url:
        definitions = api_definitions(apis)
        store = Path(target.store_path(paths))
        store.parent.mkdir(parents=True, exist_ok=True)
        return open_embedded(str(store), apis=definitions)
    if apis:
        raise PortalGitopsError(
            "--apis seeds the embedded store's Dashboard only: portal-gitops never creates "
            "APIs in a real Dashboard (create them there, then plan)"
        )
    check_portal_url(target.portal_url)
    token = clean_credential(target.environ.get("TYK_PORTAL_TOKEN"), "TYK_PORTAL_TOKEN")
    token_file = target.environ.get("TYK_PORTAL_TOKEN_FILE")
    token_source = "environment variable TYK_PORTAL_TOKEN"
    if not token and token_file:
        token_source = "the file TYK_PORTAL_TOKEN_FILE names"
        token = read_secret_file(
            token_file, inside=None, source="the file TYK_PORTAL_TOKEN_FILE names"
        )
        if token is None:
            raise SecretError("cannot read TYK_PORTAL_TOKEN_FILE: No such file or directory")
    if not token:
        raise SecretError(
            "TYK_PORTAL_TOKEN (or TYK_PORTAL_TOKEN_FILE) must be set to talk to "
            f"{display_url(target.portal_url)}"
        )
    providers = [m for m in manifests if isinstance(m, Provider)]
    override = target.environ.get("TYK_DASHBOARD_URL") or None
    if override:
        check_dashboard_url(override, "TYK_DASHBOARD_URL")
    refuse_unapproved_dashboards(providers, override, target.environ)
    resolve = secret_resolver(target.environ)
    dashboards = {
        m.metadata.name: DashboardConn(
            url=m.spec.dashboardUrl,
            secret=resolve(secret_ref_label(m.spec.secret)),
            insecure=m.spec.insecureSkipVerify,
            source=f'provider "{m.metadata.name}", secret from '
            + _ref_source(secret_ref_label(m.spec.secret)),
        )
        for m in providers
    }
    return open_tyk(
        target.portal_url,
        token,
        dashboards,
        dashboard_url_override=override,
        parallelism=target.parallelism,
        token_source=token_source,
    )


def _ref_source(ref: str) -> str:
    kind, _, name = ref.partition(":")
    return f"environment variable {name}" if kind == "env" else f"file {name}"


def api_definitions(paths: Sequence[str]) -> list[dict[str, Any]]:
    """The Tyk API definitions in the files under ``paths`` (``--apis``)."""
    from portal_gitops.load import load_api_definitions

    return load_api_definitions(paths) if paths else []


def _notes(desired: Desired) -> dict[str, Mapping[str, Any]]:
    return {f"{k}/{n}": v for (k, n), v in desired.notes.items()}


MOVE_RECORD_HINT = "apply refuses to move it unless given --move-record"


def compute_plan(
    loaded: Loaded,
    live: LiveState,
    target_desc: str,
    backend_kind: str,
    *,
    prune: bool,
    record_move: str = "",
) -> Plan:
    """The plan, after checking the products' APIs against their providers' Dashboards (a
    ManifestError, one issue per unknown API id or version, before anything is applied)."""
    problems = api_check.check_product_apis(loaded.products, live.apis_of)
    if problems:
        raise ManifestError(problems)
    desired = with_live_apis(loaded.desired, live.apis_of)
    result = diff(desired, live, prune=prune)
    moving = [f"{record_move} ({MOVE_RECORD_HINT})"] if record_move else []
    return build_plan(
        result,
        live,
        target=target_desc,
        backend=backend_kind,
        manifests_hash=loaded.manifests_hash,
        paths=loaded.paths,
        notes=_notes(desired),
        warnings=[*moving, *(format_issues([w]) for w in loaded.warnings)],
        details={f"{k}/{n}": v for (k, n), v in desired.details.items()},
        prune=prune,
    )


async def _plan(loaded: Loaded, target: Target, *, prune: bool) -> Plan:
    backend = open_backend(target, loaded.paths, loaded.manifests)
    try:
        live = await backend.read()
        return compute_plan(
            loaded,
            live,
            target.describe(loaded.paths),
            backend.kind,
            prune=prune,
            record_move=await backend.record_move(),
        )
    finally:
        await backend.aclose()


def plan(
    paths: Sequence[str],
    target: Target,
    *,
    prune: bool = False,
    today: dt.date | None = None,
    max_deletes: int | None = None,
    allow_empty: bool = False,
) -> Plan:
    """The plan; with ``max_deletes``, one more warning when apply would refuse it."""
    # manifests, live state and plan all live until the command ends (see heap.py)
    with collector_paused():
        loaded = load(paths, target.environ, today=today, allow_empty=allow_empty)
        if target.portal_url:
            require_secrets(loaded)
        # what a plan no longer needs of the manifests is freed before the read
        loaded = replace(loaded, validation=api_check.providers_only(loaded.validation))
        p = asyncio.run(_plan(loaded, target, prune=prune))
    n = len(p.deletions)
    if max_deletes is not None and n > max_deletes:
        p = planmod.replace(p, warnings=(*p.warnings, over_budget(n, max_deletes)))
    return p


def over_budget(deletes: int, max_deletes: int) -> str:
    return (
        f"warning: this plan deletes {deletes} objects, more than the deletion budget "
        f"(--max-deletes {max_deletes}): apply will refuse it unless run with a higher "
        "--max-deletes or --force"
    )


def is_saved_plan(path: str) -> bool:
    """A file `plan --out` wrote, whatever its name: recognised by its content (a JSON object
    whose first key is ``format_version``), never by a suffix."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            head = fh.read(256)
    except OSError:  # a folder, or not there: manifests
        return False
    return re.match(r'\s*\{\s*"format_version"\s*:', head) is not None


# A plan file can come from a pull request's own run (the workflows' artifact): it is read
# only up to this size (a saved plan of a 100,000-object estate is far smaller)
MAX_PLAN_BYTES = 256 << 20


def _plan_text(plan_file: str) -> str:
    try:
        with open(plan_file, "rb") as fh:
            data = fh.read(MAX_PLAN_BYTES + 1)
    except OSError as exc:
        raise PortalGitopsError(f"cannot read plan file {plan_file}: {exc.strerror}") from None
    if len(data) > MAX_PLAN_BYTES:
        raise PortalGitopsError(
            f"plan file {plan_file} is larger than {MAX_PLAN_BYTES >> 20} MiB; refused"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PortalGitopsError(f"cannot read plan file {plan_file}: {exc}") from None


def read_saved_plan(plan_file: str) -> Plan:
    """The plan saved in ``plan_file`` (any format version ``show`` can render), refused
    unless the file is one `plan --out` wrote (known by its content, not its name)."""
    if not Path(plan_file).is_file():
        raise PortalGitopsError(f"cannot read plan file {plan_file}: no such file")
    if not is_saved_plan(plan_file):
        raise PortalGitopsError(
            f"{plan_file} is not a saved plan: a plan is the JSON file `plan --out FILE` "
            'writes, an object whose first key is "format_version"'
        )
    return planmod.loads(_plan_text(plan_file), versions=planmod.READABLE_VERSIONS)


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
    lock: LockRelease = field(default_factory=LockRelease)  # filled once the lock is let go


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
    move_record: bool = False,
    select: Callable[[planmod.Action], bool] | None = None,
    stop: Stop | None = None,
) -> ApplyOutcome:
    stop = stop or Stop()
    if loaded is None and saved is not None:
        loaded = _saved_plan_inputs(paths, target.environ)
    manifests = loaded.manifests if loaded is not None else []
    current_hash = loaded.manifests_hash if loaded is not None else None
    backend = open_backend(target, paths, manifests)
    holder = lock_holder()
    release = LockRelease()
    try:
        async with holding_lock(backend, holder, LOCK_TTL_SECONDS, stop, release=release):
            moving = await backend.record_move()
            if moving and not move_record:
                raise PortalGitopsError(
                    f"{moving}; nothing was applied. Check that this is meant (like a Terraform "
                    "backend migration), then apply again with --move-record"
                )
            if moving:  # confirmed: move (or merge) the record first, then plan from it
                backend.confirm_record_move()
                await backend.write_managed(await backend.read_managed())
            with collector_paused():  # the engine, which makes garbage as it goes, runs after
                live = await backend.read()
                if saved is not None:
                    if saved.target != target.describe(paths):
                        raise StalePlanError(
                            f"the saved plan was made for {saved.target}, "
                            f"not for {target.describe(paths)}"
                        )
                    check_fresh(saved, live, current_hash)
                    if loaded is not None:
                        _check_reproduced(saved, loaded, live, target.describe(paths), backend)
                    the_plan = _resolve_plan_secrets(
                        saved, target.environ, required=bool(target.portal_url)
                    )
                    if loaded is not None:
                        the_plan = planmod.with_contents(the_plan, loaded.desired.state.resources)
                else:
                    assert loaded is not None
                    the_plan = compute_plan(
                        loaded, live, target.describe(paths), backend.kind, prune=prune
                    )
            if select is not None:  # e.g. only the expiries, on a schedule
                the_plan = planmod.replace(
                    the_plan, actions=tuple(a for a in the_plan.actions if select(a))
                )
            if not the_plan.has_changes:
                return ApplyOutcome(the_plan, None, release)
            the_plan.raise_if_unsafe(max_deletes=max_deletes, force=force)
            if not confirm(the_plan):
                return ApplyOutcome(the_plan, None, release)
            applier = Applier(
                backend,
                live,
                parallelism=target.parallelism,
                progress=progress,
                notes=the_plan.notes,
                stop=stop,
            )
            return ApplyOutcome(the_plan, await applier.run(the_plan), release)
    except PortalGitopsError as exc:
        if release.released is False and not isinstance(exc, ManifestError):
            raise PortalGitopsError(f"{exc}\n{release.advice()}") from exc
        raise
    finally:
        await backend.aclose()


def unlock(
    paths: Sequence[str], target: Target, confirm: Callable[[LockInfo], bool]
) -> tuple[LockInfo | None, bool]:
    """Remove the apply lock whoever holds it (like ``terraform force-unlock``), once
    ``confirm`` agreed: (the lock found, or None; whether it was removed)."""
    paths = tuple(paths) or (".",)
    manifests = [m for m, _ in load_and_validate(list(paths)).manifests]  # the Dashboards
    return asyncio.run(force_unlock(open_backend(target, paths, manifests), confirm))


def _paths_exist(paths: Sequence[str]) -> bool:
    return bool(paths) and all(Path(p).exists() for p in paths)


def _saved_plan_inputs(paths: Sequence[str], environ: Mapping[str, str]) -> Loaded:
    """A saved plan's manifests as they are now: the Provider manifests give Dashboard
    connections, the hash tells whether they changed, and they must plan the same changes.
    Manifests that are gone have changed: the plan is refused (its digest is no signature,
    so a plan file naming paths that do not exist would otherwise go unchecked)."""
    if not _paths_exist(paths):
        raise StalePlanError(
            "the saved plan is stale: the manifests it was made from "
            f"({', '.join(paths) or 'none named'}) are not here. Run plan again."
        )
    return load(paths, environ, allow_empty=True)  # the plan was checked when it was made


def _check_reproduced(
    saved: Plan, loaded: Loaded, live: LiveState, target_desc: str, backend: Backend
) -> None:
    """A fresh saved plan must be exactly the plan its manifests and the portal give now: its
    digest only proves it is what some ``plan`` wrote, this proves it is what plan writes."""
    again = compute_plan(loaded, live, target_desc, backend.kind, prune=saved.prune)
    if planmod.to_dict(again)["actions_digest"] != planmod.to_dict(saved)["actions_digest"]:
        raise StalePlanError(
            "the saved plan's changes are not what its manifests and the portal give now "
            "(the file was edited after it was saved, or a secret or the date changed since); "
            "run plan again."
        )


def _resolve_plan_secrets(saved: Plan, environ: Mapping[str, str], *, required: bool) -> Plan:
    """The saved plan with its secrets' values; a missing one is refused when ``required``
    (a real portal), and stays unset on the embedded store, as with apply from manifests."""
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
    if missing and required:
        raise SecretError("secrets not available: " + "; ".join(missing))
    return planmod.replace(saved, actions=tuple(actions))


def apply(
    paths: Sequence[str],
    target: Target,
    *,
    prune: bool = False,
    max_deletes: int = 10,
    force: bool = False,
    move_record: bool = False,
    confirm: Confirm = lambda _plan: True,
    progress: Progress | None = None,
    today: dt.date | None = None,
    select: Callable[[planmod.Action], bool] | None = None,
    stop: Stop | None = None,
    allow_empty: bool = False,
) -> ApplyOutcome:
    """Apply the manifests; ``select`` keeps only the actions it accepts (the rest wait);
    ``stop`` ends the run in order when requested (SIGTERM)."""
    with collector_paused():
        loaded = load(paths, target.environ, today=today, allow_empty=allow_empty)
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
            move_record=move_record,
            select=select,
            stop=stop,
        )
    )


def apply_saved(
    plan_file: str,
    target: Target,
    *,
    max_deletes: int = 10,
    force: bool = False,
    move_record: bool = False,
    confirm: Confirm = lambda _plan: True,
    progress: Progress | None = None,
    stop: Stop | None = None,
    paths: Sequence[str] | None = None,
) -> ApplyOutcome:
    """Apply a saved plan, refused unless the manifests it names plan the same changes now.
    With ``paths`` (the manifests a workflow plans, when the plan file came from a run of
    unreviewed code), the plan must name exactly those."""
    saved = planmod.loads(_plan_text(plan_file))
    loaded = None
    if paths is not None:
        if list(saved.paths) != list(paths):
            raise StalePlanError(
                f"the saved plan was made from {', '.join(saved.paths) or 'no manifests'}, "
                f"not from {', '.join(paths)}; run plan again."
            )
        loaded = load(paths, target.environ)
    return asyncio.run(
        _apply(
            loaded,
            target,
            prune=False,
            max_deletes=max_deletes,
            force=force,
            confirm=confirm,
            progress=progress,
            saved=saved,
            paths=saved.paths,
            move_record=move_record,
            stop=stop,
        )
    )


def validate(paths: Sequence[str], *, allow_empty: bool = False) -> ValidationResult:
    paths = list(paths) or ["."]
    result = load_and_validate(paths)
    return result if allow_empty else refuse_empty(result, paths)


# --- access requests: pull and CODEOWNERS ----------------------------------------------------


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


async def read_live(
    target: Target, paths: Sequence[str], manifests: Sequence[Manifest], *, documents: bool = False
) -> LiveState:
    """The live state (``documents``: with the uploaded OpenAPI documents downloaded)."""
    backend = open_backend(target, paths, manifests)
    try:
        with collector_paused():
            live = await backend.read()
            return await backend.with_documents(live) if documents else live
    finally:
        await backend.aclose()


def _requests_folder(top: Path, result: ValidationResult) -> str:
    """``top/requests``; else, when ``top`` holds the manifests further down (``codeowners``
    run at the repository root), the one ``requests`` folder the request files are in
    (``requests/<product>/<name>.yaml``)."""
    folder = top / "requests"
    if not folder.is_dir():
        found = {
            Path(doc.file).parent.parent
            for m, doc in result.manifests
            if m.kind == "AccessRequest" and Path(doc.file).parent.parent.name == "requests"
        }
        if len(found) == 1:
            folder = found.pop()
    return folder.as_posix()


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
        requests_dir = _requests_folder(Path(paths[0]), result)
    # CODEOWNERS paths are relative to the repository root: the nearest folder above the
    # manifests that holds .git, else the working directory
    root = repository_root(paths[0]) or Path.cwd()

    def rel(path: str) -> str:
        return Path(os.path.relpath(Path(path).resolve(), root)).as_posix()

    return codeowners_lines(
        [(m, rel(doc.file)) for m, doc in result.manifests],
        rel(requests_dir) if requests_dir else None,
    )
