"""AdminUser: a portal admin user (an API owner), declared by an AdminUser manifest.

Canonical form:

AdminUser     key = email
              {role ("provider-admin" | "super-admin"), first, last,
               sso (only when set: the SSO provider name),
               password (only when set: Sensitive, write-only)}

The manifest's name is how products and plans name the admin among their ``owners``; its
``github`` handle is what ``codeowners`` writes. Neither reaches the portal. Sign-in is the
consumers' (kinds/team.py): SSO, a password from a secret, or an invitation (a reset email).
An imported admin is named after its email's local part (made unique). Admins the tool did
not create or adopt (the portal's first admin) read as built-ins: never listed, changed,
deleted or imported; one a manifest declares is adopted once it differs from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any

from portal_gitops.kinds.base import Attrs, Building, Importing, Kind, slug
from portal_gitops.models import AdminUser
from portal_gitops.models.common import secret_ref_label
from portal_gitops.state import LiveObject, Sensitive

FILE = PurePosixPath("admins.yaml")


def admin_attrs(spec: Any, building: Building) -> dict[str, Any]:
    attrs: dict[str, Any] = {"role": spec.role, "first": spec.first, "last": spec.last}
    if spec.sso is not None:
        attrs["sso"] = spec.sso
    elif spec.password is not None:
        label = secret_ref_label(spec.password)
        attrs["password"] = Sensitive(label, building.resolve_secret(label))
    return attrs


def build(manifests: Sequence[AdminUser], building: Building) -> None:
    for m in manifests:
        building.add("AdminUser", m.spec.email, admin_attrs(m.spec, building))


def export(objects: Sequence[LiveObject], importing: Importing) -> None:
    """The admin users portal-gitops manages (others are never touched: they read as
    built-ins), in one file; a document is named after the email's local part."""
    taken: set[str] = set()
    for o in objects:
        if o.builtin:
            continue
        a = o.attrs
        base = slug(o.key.partition("@")[0], 40)
        name, n = base, 2
        while name in taken:
            name, n = f"{base}-{n}", n + 1
        taken.add(name)
        spec: dict[str, Any] = {"email": o.key, "role": a.get("role", "provider-admin")}
        for f in ("first", "last", "sso"):
            if a.get(f):
                spec[f] = a[f]
        importing.write(FILE, "AdminUser", name, spec)


def identity(_: str, attrs: Attrs) -> str:
    return str(attrs.get("email", ""))


KIND = Kind(
    name="AdminUser",
    level=3,
    identity_doc="email",
    identity=identity,
    source="AdminUser",
    build=build,
    export=export,
    write_only=frozenset({"password"}),
)
