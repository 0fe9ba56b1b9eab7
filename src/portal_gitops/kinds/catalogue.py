"""Catalogue: which products and plans an audience of teams can see, as a kind.

Canonical form:

Catalogue     key = name
              {visibility ("public" | "private"),
               audience: [{organisation, team ("" = the organisation's default team)}] (sorted),
               products (sorted), plans (sorted)}

The manifest's ``displayName`` is for readers only: the portal has no such field.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any

from portal_gitops.kinds.base import Attrs, Building, Importing, Kind, by_name
from portal_gitops.models import Catalogue
from portal_gitops.state import Key, LiveObject, team_key

FILE = PurePosixPath("catalogues.yaml")


def build(manifests: Sequence[Catalogue], building: Building) -> None:
    for m in manifests:
        cs = m.spec
        audience = sorted({(a.organisation, a.team or "") for a in cs.audience})
        building.add(
            "Catalogue",
            m.metadata.name,
            {
                "visibility": cs.visibility,
                "audience": [{"organisation": o, "team": t} for o, t in audience],
                "products": sorted(set(cs.products)),
                "plans": sorted(set(cs.plans)),
            },
        )


def export(objects: Sequence[LiveObject], importing: Importing) -> None:
    """Catalogues offering only products and plans that were imported; an empty built-in
    catalogue says nothing worth declaring."""
    products = importing.written["Product"]
    plans = importing.written["Plan"]
    for o in objects:
        a = o.attrs
        if o.builtin and not (a.get("products") or a.get("plans") or a.get("audience")):
            continue
        missing = [p for p in a.get("products", []) if p not in products] + [
            p for p in a.get("plans", []) if p not in plans
        ]
        if missing:
            importing.skip(
                "Catalogue",
                o.key,
                f"it offers objects that could not be imported: {', '.join(missing)}",
            )
            continue
        spec: dict[str, Any] = {"visibility": a.get("visibility", "private")}
        audience = []
        for entry in a.get("audience", []):
            e = {"organisation": entry["organisation"]}
            if entry.get("team"):
                e["team"] = entry["team"]
            audience.append(e)
        if audience:
            spec["audience"] = audience
        if a.get("products"):
            spec["products"] = list(a["products"])
        if a.get("plans"):
            spec["plans"] = list(a["plans"])
        importing.write(FILE, "Catalogue", o.key, spec)


def references(attrs: Attrs) -> set[Key]:
    """Its products, plans, and the organisations and teams of its audience (a default team
    is the portal's own: its organisation stands for it)."""
    out: set[Key] = {("Product", p) for p in attrs.get("products", [])}
    out |= {("Plan", p) for p in attrs.get("plans", [])}
    for entry in attrs.get("audience", []):
        out.add(("Organisation", entry["organisation"]))
        if entry.get("team"):
            out.add(("Team", team_key(entry["organisation"], entry["team"])))
    return out


KIND = Kind(
    name="Catalogue",
    level=5,
    identity_doc="name",
    identity=by_name,
    source="Catalogue",
    build=build,
    export=export,
    references=references,
)
