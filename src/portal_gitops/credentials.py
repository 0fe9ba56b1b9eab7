"""Credentials: where they are read from and where they may be sent.

A pull request's manifests name a Provider's secret and its Dashboard, and they come from people
who must not hold the secret: so a value is read only from the environment or from a small
regular file inside the repository, and sent only to a Dashboard the repository's owners
approved outside the manifests (SECURITY.md).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from portal_gitops.errors import SecretError
from portal_gitops.models import Provider
from portal_gitops.urls import display_url

_INNER_SPACE = re.compile(r"[\s\x00-\x1f\x7f]")


def clean_credential(value: str | None, source: str) -> str | None:
    """A token or secret as it may be sent in a header: surrounding whitespace (the newline of
    ``$(cat file)`` or of a secrets manager) is dropped; whitespace or control characters
    inside are refused, naming where the value came from and never showing it."""
    if value is None:
        return None
    value = value.strip()
    if _INNER_SPACE.search(value):
        raise SecretError(
            f"{source} holds whitespace or a control character inside the value; a token or "
            "secret is one line with no spaces (its value is not shown)"
        )
    return value or None


MAX_SECRET_FILE_BYTES = 64 * 1024


def read_secret_file(name: str, *, inside: Path | None, source: str) -> str | None:
    """A secret file's one line. ``inside``: the folder it must resolve into (links
    included), None for a file the environment names. Only a regular file of at most 64 KiB
    is read (a FIFO would hang the run, /dev/zero exhaust its memory); None if it is missing."""
    path = Path(name)
    if inside is not None:
        root = inside.resolve()
        try:
            path = (root / path).resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if not path.is_relative_to(root):
            raise SecretError(f"{source} leads outside the repository; it is not read")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SecretError(f"cannot read {source}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise SecretError(f"{source} is not a regular file; it is not read")
        data = fh.read(MAX_SECRET_FILE_BYTES + 1)
    if len(data) > MAX_SECRET_FILE_BYTES:
        raise SecretError(f"{source} is larger than {MAX_SECRET_FILE_BYTES} bytes; not a secret")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretError(f"{source} is not UTF-8 text") from None
    return clean_credential(text, source)


def secret_resolver(
    environ: Mapping[str, str], root: Path | None = None
) -> Callable[[str], str | None]:
    """Resolves ``env:VAR`` and ``file:path`` labels; files only inside ``root`` (the working
    directory: the repository in CI)."""

    def resolve(label: str) -> str | None:
        kind, _, ref = label.partition(":")
        if kind == "env":
            return clean_credential(environ.get(ref), f"the environment variable {ref}")
        if kind == "file":
            return read_secret_file(ref, inside=root or Path.cwd(), source=f"the secret file {ref}")
        return None

    return resolve


APPROVED_DASHBOARDS = "PORTAL_GITOPS_APPROVED_DASHBOARDS"


def approved_dashboards(environ: Mapping[str, str]) -> set[str]:
    """The Dashboards a secret may be sent to, as ``scheme://host:port``: those listed in
    PORTAL_GITOPS_APPROVED_DASHBOARDS (comma- or space-separated) and TYK_DASHBOARD_URL's. Both
    come from the environment, which the repository's owners set (a pull request's manifests
    cannot approve a host)."""
    listed = re.split(r"[\s,]+", environ.get(APPROVED_DASHBOARDS, ""))
    override = environ.get("TYK_DASHBOARD_URL", "")
    return {display_url(u) for u in (*listed, override) if u.strip()}


def refuse_unapproved_dashboards(
    providers: Sequence[Provider], override: str | None, environ: Mapping[str, str]
) -> None:
    """Before anything is sent: every Dashboard a manifest's secret would go to is approved."""
    approved = approved_dashboards(environ)
    refused = [
        f"Provider/{m.metadata.name}: its Dashboard {display_url(url)} is not approved"
        for m in providers
        if display_url(url := override or m.spec.dashboardUrl) not in approved
    ]
    if refused:
        raise SecretError(
            "; ".join(refused)
            + f". Secrets are sent only to Dashboards listed in {APPROVED_DASHBOARDS} "
            "(comma-separated URLs, set outside the manifests: a repository variable in CI, "
            "which a pull request cannot change)"
        )
