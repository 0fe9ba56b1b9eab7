"""App: a consumer's app, the container of the credentials its access requests receive
(several products per app: several requests may name one app).

Canonical form:

App           key = "<owner email>/<app name>"
              {owner, name, description, redirectUrls (sorted), visibility}

An app is declared by an App document, or implicitly by an access request that describes
its app inline (``app: {name, description, ...}``, the form from before App documents), which
kinds/access_request.py adds when no App document declares it. An app that no manifest
declares or describes any more is deleted only with ``--prune``; deleting it revokes the
credentials of every request on it (REFERENCE.md §4: ``DELETE /apps/{id}`` removes its
requests and revokes their credentials), which the plan lists.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath
from typing import Any

from portal_gitops.kinds.base import Attrs, Building, Importing, Kind, slug
from portal_gitops.models import App
from portal_gitops.state import Key, LiveObject

DEFAULT_VISIBILITY = "personal"


def app_key(owner: str, name: str) -> str:
    """An app's identity: its owner and its name (the portal keeps names per user)."""
    return f"{owner}/{name}"


def app_identity(name: str, attrs: Attrs) -> str:
    return app_key(str(attrs.get("owner", "")), name)


def app_attrs(
    owner: str, name: str, description: str, redirect_urls: Iterable[str], visibility: str
) -> dict[str, Any]:
    return {
        "owner": owner,
        "name": name,
        "description": description,
        "redirectUrls": sorted(set(redirect_urls)),
        "visibility": visibility,
    }


def build(manifests: Sequence[App], building: Building) -> None:
    for m in manifests:
        s = m.spec
        name = m.metadata.name
        building.add(
            "App",
            app_key(s.owner, name),
            app_attrs(s.owner, name, s.description, s.redirectUrls, s.visibility),
        )


def export(objects: Sequence[LiveObject], importing: Importing) -> None:
    """One file per owner under ``apps/<organisation>/``; an app whose owner the manifests
    cannot declare (not a consumer) is reported, never written."""
    for o in objects:
        a = o.attrs
        owner = str(a.get("owner", ""))
        name = str(a.get("name", ""))
        user = importing.live.get("User", owner)
        if user is None:
            importing.skip("App", o.key, f"its owner {owner!r} is not a consumer (team member)")
            continue
        if o.key != app_key(owner, name):
            importing.skip("App", o.key, f"{owner!r} has another app named {name!r}")
            continue
        spec: dict[str, Any] = {"owner": owner}
        if a.get("description"):
            spec["description"] = a["description"]
        if a.get("redirectUrls"):
            spec["redirectUrls"] = list(a["redirectUrls"])
        if a.get("visibility", DEFAULT_VISIBILITY) != DEFAULT_VISIBILITY:
            spec["visibility"] = a["visibility"]
        org = slug(str(user.attrs.get("organisation") or "no-organisation"))
        path = PurePosixPath("apps") / org / f"{slug(owner)}.yaml"
        importing.write(path, "App", name, spec)


def references(attrs: Attrs) -> set[Key]:
    """Its owner."""
    return {("User", str(attrs.get("owner", "")))}


KIND = Kind(
    name="App",
    level=5,
    identity_doc='owner email "/" app name',
    identity=app_identity,
    source="App",
    build=build,
    export=export,
    references=references,
)
