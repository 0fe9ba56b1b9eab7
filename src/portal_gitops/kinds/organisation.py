"""Organisation: a consumer organisation, as a kind (its default team is the portal's).

Canonical form:

Organisation  key = name            {}

An imported organisation and its teams share one file, ``organisations/<slug>.yaml``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath

from portal_gitops.kinds.base import Building, Importing, Kind, by_name, slug
from portal_gitops.models import Organisation
from portal_gitops.state import LiveObject


def file_of(organisation: str) -> PurePosixPath:
    """The file an imported organisation and its teams are written to."""
    return PurePosixPath("organisations") / f"{slug(organisation)}.yaml"


def build(manifests: Sequence[Organisation], building: Building) -> None:
    for m in manifests:
        building.add("Organisation", m.metadata.name, {})


def export(objects: Sequence[LiveObject], importing: Importing) -> None:
    for o in objects:
        if o.builtin:
            continue
        importing.write(file_of(o.key), "Organisation", o.key, {})


KIND = Kind(
    name="Organisation",
    level=1,
    identity_doc="name",
    identity=by_name,
    source="Organisation",
    build=build,
    export=export,
)
