"""Validated manifests -> DesiredState in the canonical form of state.py (pure).

This is the manifests' half of the contract with the backends: whatever a backend reads back
after applying these attrs must compare equal to them. Each kind builds its own resources
(kinds/), in dependency order; this module groups the manifests and runs them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from portal_gitops.kinds import REGISTRY
from portal_gitops.kinds.base import Building, SecretResolver, no_secret
from portal_gitops.kinds.product import with_default_versions
from portal_gitops.models import Manifest
from portal_gitops.state import Content, DesiredState, Key, LiveApi, Resource


@dataclass(frozen=True)
class Desired:
    """The desired state plus what the diff needs beyond canonical attrs."""

    state: DesiredState
    # access requests whose `expires` date has passed: the plan revokes them
    expired: frozenset[Key] = frozenset()
    # desired key -> live key, for manifests that name an existing live object (pulled requests)
    aliases: Mapping[Key, Key] = field(default_factory=dict)
    # small facts kept in the managed record (e.g. an access request's justification)
    notes: Mapping[Key, Mapping[str, Any]] = field(default_factory=dict)
    # what a reviewer needs beside an access request: the consumer's teams, the plan's limits
    details: Mapping[Key, Mapping[str, Any]] = field(default_factory=dict)


def build_desired(
    manifests: Iterable[Manifest],
    *,
    today: dt.date,
    resolve_secret: SecretResolver = no_secret,
    documents: Mapping[tuple[str, str], Content] | None = None,
) -> Desired:
    """Turn validated manifests into canonical resources. Assumes validation passed;
    ``documents`` holds the files products name (documents.py), by (product, path)."""
    by_kind: dict[str, list[Manifest]] = {}
    for m in manifests:
        docs = by_kind.get(m.kind)
        if docs is None:
            docs = by_kind[m.kind] = []
        docs.append(m)
    building = Building(today, resolve_secret, documents)
    for kind in REGISTRY:
        kind.build(by_kind.get(kind.source, ()), building)
    return Desired(
        DesiredState(building.resources),
        frozenset(building.expired),
        building.aliases,
        building.notes,
        building.details,
    )


def with_live_apis(
    desired: Desired, apis_of: Callable[[str], Mapping[str, LiveApi] | None]
) -> Desired:
    """The desired state with what depends on the providers' API definitions resolved (pure,
    after the read): a product API naming no versions gets the versions the API defines."""
    resources = dict(desired.state.resources)
    changed = False
    for ref, res in desired.state.resources.items():
        if res.kind != "Product":
            continue
        attrs = with_default_versions(res.attrs, apis_of(str(res.attrs.get("provider", ""))))
        if attrs is not res.attrs:
            resources[ref] = Resource(res.kind, res.key, attrs)
            changed = True
    return replace(desired, state=DesiredState(resources)) if changed else desired


__all__ = ["Desired", "SecretResolver", "build_desired", "with_live_apis"]
