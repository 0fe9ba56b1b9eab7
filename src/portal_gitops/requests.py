"""The access-request workflow's pure parts: pending live requests -> manifests, and CODEOWNERS.

Portal -> Git: every pending request made in the Live Portal becomes an AccessRequest manifest
carrying its live ID (annotation ``portal-gitops/request-id``), so that merging it approves
that very request. Git -> reviewers: CODEOWNERS lines route each request file to the owners
of the products and plan it asks for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from portal_gitops.kinds.access_request import request_file, valid_catalogue
from portal_gitops.kinds.app import app_key
from portal_gitops.kinds.base import slug
from portal_gitops.models import (
    API_VERSION,
    REQUEST_ID_ANNOTATION,
    AccessRequest,
    AdminUser,
    Manifest,
    Plan,
    Product,
)
from portal_gitops.state import LiveObject, LiveState


@dataclass(frozen=True)
class PulledRequest:
    request_id: str
    relpath: PurePosixPath  # relative to the output directory, always inside it
    document: dict[str, Any]


def pending_requests(live: Iterable[LiveObject]) -> list[LiveObject]:
    """Pending requests not yet managed: those made in the Live Portal and not yet decided."""
    return sorted(
        (
            o
            for o in live
            if o.kind == "AccessRequest" and o.attrs.get("status") == "pending" and not o.managed
        ),
        key=lambda o: int(o.id) if o.id.isdigit() else 0,
    )


def request_manifest(obj: LiveObject, live: LiveState | None = None) -> PulledRequest:
    """The manifest deciding a pending live request; its catalogue is one that validates
    (offers the plan and products, its audience covers the consumer), the one the portal
    recorded when it does (see kinds.access_request.valid_catalogue)."""
    a = obj.attrs
    app = a.get("app") or {}
    consumer = str(a.get("consumer", ""))
    name = f"{slug(consumer.split('@')[0], 30)}-{slug(str(app.get('name', 'app')), 30)}-{obj.id}"
    spec: dict[str, Any] = {
        "consumer": consumer,
        "app": {"name": app.get("name", "")},
        "products": list(a.get("products", [])),
        "plan": a.get("plan", ""),
        "catalogue": valid_catalogue(obj, live)
        if live is not None
        else str(obj.recorded.get("catalogue", "")),
        "justification": "",
        "decision": "approve",
    }
    app_ref = app_key(consumer, str(app.get("name", "")))
    live_app = live.get("App", app_ref) if live is not None else None
    if live_app is not None and live_app.managed:
        spec["app"] = app.get("name", "")  # an App the manifests declare: named only
    elif live_app is not None:  # the consumer's own app, described as they made it
        details = live_app.attrs
        if details.get("description"):
            spec["app"]["description"] = details["description"]
        if details.get("redirectUrls"):
            spec["app"]["redirectUrls"] = list(details["redirectUrls"])
        if details.get("visibility", "personal") != "personal":
            spec["app"]["visibility"] = details["visibility"]
    doc = {
        "apiVersion": API_VERSION,
        "kind": "AccessRequest",
        "metadata": {"name": name, "annotations": {REQUEST_ID_ANNOTATION: obj.id}},
        "spec": spec,
    }
    # one folder per product, so CODEOWNERS can route new files to the product's owners
    return PulledRequest(obj.id, request_file(a.get("products", []), name), doc)


def known_request_ids(manifests: Iterable[Manifest]) -> set[str]:
    return {
        m.metadata.annotations[REQUEST_ID_ANNOTATION]
        for m in manifests
        if isinstance(m, AccessRequest) and REQUEST_ID_ANNOTATION in m.metadata.annotations
    }


def codeowners_lines(
    manifests: Sequence[tuple[Manifest, str]],
    requests_dir: str | None = None,
) -> tuple[list[str], list[str]]:
    """CODEOWNERS lines (``/path @owner ...``) for request, product and plan files.

    GitHub reads CODEOWNERS from a pull request's base branch, so a brand-new request file
    has no line of its own yet: ``requests_dir/<product>/`` folder lines route it to the
    product's owners (that is where ``requests pull`` writes), and the per-file lines that
    follow (and take precedence) add the plan's owners once the file exists.
    Returns the lines and warnings (a request nobody owns routes to no one).
    """
    admins = {m.metadata.name: m.spec for m, _ in manifests if isinstance(m, AdminUser)}

    def handle(owner: str) -> str:
        """An owner as CODEOWNERS names it: an AdminUser's GitHub handle (else its email)."""
        admin = admins.get(owner)
        if admin is None:
            return owner
        if admin.github:
            return "@" + admin.github.removeprefix("@")
        return str(admin.email)

    owners: dict[tuple[str, str], list[str]] = {}
    for m, _ in manifests:
        if isinstance(m, (Product, Plan)):
            owners[(m.kind, m.metadata.name)] = _unique(handle(o) for o in m.spec.owners)
    per_file: dict[str, list[str]] = {}
    warnings: list[str] = []
    for m, path in manifests:
        if isinstance(m, AccessRequest):
            wanted = [*(("Product", p) for p in m.spec.products), ("Plan", m.spec.plan)]
            names = _unique(o for ref in wanted for o in owners.get(ref, []))
            if not names:
                warnings.append(
                    f"{path}: AccessRequest/{m.metadata.name}: nobody owns "
                    f"{', '.join(m.spec.products)} or plan {m.spec.plan}; add owners"
                )
        elif isinstance(m, (Product, Plan)):
            names = owners[(m.kind, m.metadata.name)]
        else:
            continue
        if names and _CONTROL.search(path):
            # a line break would end the file's line and start one of the file name's choosing
            warnings.append(
                f"{path!r}: {m.kind}/{m.metadata.name}: its file name holds a line break or "
                "another control character, so it gets no CODEOWNERS line; rename the file"
            )
        elif names:
            per_file[path] = _unique([*per_file.get(path, []), *names])
    lines = [
        "# Generated by `portal-gitops codeowners`: access requests route to the owners",
        "# of the products and plans they ask for.",
    ]
    if requests_dir is not None:
        for (kind, name), names in sorted(owners.items()):
            if kind == "Product" and names:
                folder = f"{requests_dir.rstrip('/')}/{slug(name)}/"
                lines.append(f"{_codeowners_path(folder)} {' '.join(names)}")
    for path in sorted(per_file):
        lines.append(f"{_codeowners_path(path)} {' '.join(per_file[path])}")
    return lines, warnings


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _codeowners_path(path: str) -> str:
    text = path.replace("\\", "/").removeprefix("./")
    # CODEOWNERS patterns: escape spaces, anchor at the repository root
    return "/" + text.replace(" ", "\\ ")


def _unique(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for i in items:
        seen.setdefault(i, None)
    return list(seen)


__all__ = [
    "PulledRequest",
    "codeowners_lines",
    "known_request_ids",
    "pending_requests",
    "request_manifest",
    "slug",
]
