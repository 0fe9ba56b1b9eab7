"""Writing files the tool produces (plans, schemas, manifests) without following links.

The places written to can come from a pull request (a link committed as ``plan.json`` or as
``schemas/``), so a file is written beside its destination and renamed over it: a link there is
replaced, never written through.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path, PurePosixPath

from portal_gitops.errors import PortalGitopsError


def refuse_link(path: Path) -> None:
    """A clear error if ``path`` is a symbolic link (dangling ones included)."""
    if path.is_symlink():
        raise PortalGitopsError(f"refusing to write {path}: it is a symbolic link")


def write_file(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically: a fresh temporary file beside it (O_EXCL, so never
    through a link planted under a predictable name), then renamed over it."""
    refuse_link(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except FileNotFoundError:
        raise PortalGitopsError(
            f"cannot write {path}: the folder {path.parent} does not exist"
        ) from None
    except OSError as exc:
        raise PortalGitopsError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def write_inside(out: Path, relpath: PurePosixPath, text: str) -> Path:
    """Write ``text`` to ``out/relpath``, refusing anything that would land outside ``out``
    and any symbolic link on the way below it (a link planted in the output folder is never
    written through, wherever it points)."""
    root = out.resolve()
    dest = (out / Path(*relpath.parts)).resolve()
    if not dest.is_relative_to(root) or any(part in ("..", "") for part in relpath.parts):
        raise PortalGitopsError(f"refusing to write {relpath}: it would leave {out}")
    step = root
    for part in relpath.parts:
        step = step / part
        if step.is_symlink():
            raise PortalGitopsError(f"refusing to write {relpath}: {step} is a symbolic link")
    dest.parent.mkdir(parents=True, exist_ok=True)
    write_file(dest, text)
    return dest
