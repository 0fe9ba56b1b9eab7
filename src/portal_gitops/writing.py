"""``import`` and ``init``: the commands that write manifests and repository files, each
refusing to replace a file that exists unless told (``--force``, ``--skip-existing``)."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from portal_gitops.commands import Target, load_and_validate, read_live, write_manifest
from portal_gitops.errors import PortalGitopsError
from portal_gitops.files import write_inside
from portal_gitops.models import Manifest
from portal_gitops.scaffold import LOCK_PATH

# --- import ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportOutcome:
    written: list[Path]
    documents: int
    skipped: list[str]


def import_portal(
    out: str, target: Target, paths: Sequence[str] = (), *, force: bool = False
) -> ImportOutcome:
    """Write manifests for everything live that the manifests can express; refuses to replace
    a file already in ``out`` unless ``force`` (nothing is written then)."""
    import yaml

    from portal_gitops.importer import import_state

    out_dir = Path(out)
    manifests: list[Manifest] = []
    if paths:
        result = load_and_validate(list(paths))
        manifests = [m for m, _ in result.manifests]
    store_paths = tuple(paths)
    live = asyncio.run(read_live(target, store_paths, manifests, documents=True))
    imported = import_state(live)
    existing = sorted(
        rel for rel in (*imported.files, *imported.attachments) if _exists(out_dir, rel)
    )
    if existing and not force:
        raise PortalGitopsError(
            f"{out} already has {_some(existing)}; import writes whole files and would "
            "replace them: import into an empty folder, or pass --force to overwrite"
        )
    written = []
    count = 0
    for relpath, docs in sorted(imported.files.items()):
        body = yaml.safe_dump_all(docs, sort_keys=False)
        written.append(write_manifest(out_dir, relpath, body))
        count += len(docs)
    for relpath, data in sorted(imported.attachments.items()):  # downloaded documents
        written.append(write_inside(out_dir, relpath, data.decode("utf-8")))
    return ImportOutcome(written, count, [str(s) for s in imported.skipped])


def _exists(root: Path, rel: PurePosixPath) -> bool:
    """Whether ``rel`` is taken under ``root`` (a dangling symbolic link takes it too)."""
    return os.path.lexists(root / Path(*rel.parts))


def _some(rels: Sequence[PurePosixPath]) -> str:
    shown = ", ".join(str(r) for r in rels[:5])
    return shown + (f" and {len(rels) - 5} more" if len(rels) > 5 else "")


# --- init -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class InitOutcome:
    written: list[Path]
    skipped: list[Path]  # already there, kept (--skip-existing)


def init_repository(
    directory: str, *, force: bool = False, skip_existing: bool = False, lock: str | None = None
) -> InitOutcome:
    """Lay out a new manifests repository in ``directory``; refuses to overwrite files unless
    ``force``, or keeps those that exist and writes the rest with ``skip_existing``.
    ``lock`` is the workflows' hash-pinned install (`pins.resolve_lock`), if resolved."""
    from portal_gitops.load import parse_text
    from portal_gitops.models import KINDS
    from portal_gitops.requests import codeowners_lines
    from portal_gitops.scaffold import repository_files
    from portal_gitops.schema import json_schemas

    if force and skip_existing:
        raise PortalGitopsError("--force and --skip-existing contradict each other: pass one")
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
    if lock is not None:
        files[PurePosixPath(LOCK_PATH)] = lock
    existing = sorted(rel for rel in files if _exists(root, rel))
    if existing and not force and not skip_existing:
        raise PortalGitopsError(
            f"{directory} already has {_some(existing)}; pass --force to overwrite them, or "
            "--skip-existing to write only the missing files"
        )
    keep = set(existing) if skip_existing else set()
    written = [
        write_inside(root, rel, text) for rel, text in sorted(files.items()) if rel not in keep
    ]
    return InitOutcome(written, [root / Path(*rel.parts) for rel in sorted(keep)])
