"""The kind registry: every kind of portal object registered once, in dependency order.

``REGISTRY`` lists the kinds level by level (creates run in this order, deletes in reverse);
``lookup`` finds one by name. ``NAMES`` and ``LEVEL`` are views of it for hot loops (a plain
dict look-up, no attribute access per object).
"""

from __future__ import annotations

from collections.abc import Mapping

from portal_gitops.kinds import (
    access_request,
    admin_user,
    app,
    catalogue,
    organisation,
    plan,
    product,
    provider,
)
from portal_gitops.kinds.base import Building, Importing, Kind, Skipped, slug
from portal_gitops.kinds.docs import API_DOC_KIND, GUIDE_KIND
from portal_gitops.kinds.team import TEAM, USER

REGISTRY: tuple[Kind, ...] = (
    provider.KIND,
    organisation.KIND,
    TEAM,
    USER,
    admin_user.KIND,
    product.KIND,
    plan.KIND,
    catalogue.KIND,
    app.KIND,
    API_DOC_KIND,
    GUIDE_KIND,
    access_request.KIND,
)

BY_NAME: Mapping[str, Kind] = {k.name: k for k in REGISTRY}
NAMES: tuple[str, ...] = tuple(BY_NAME)
LEVEL: Mapping[str, int] = {k.name: k.level for k in REGISTRY}
"""Dependency level per kind: creates/updates run upwards level by level, deletes downwards."""


def lookup(name: str) -> Kind:
    """The kind called ``name`` (KeyError if there is none)."""
    return BY_NAME[name]


__all__ = [
    "BY_NAME",
    "LEVEL",
    "NAMES",
    "REGISTRY",
    "Building",
    "Importing",
    "Kind",
    "Skipped",
    "lookup",
    "slug",
]
