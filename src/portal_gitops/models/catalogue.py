"""Catalogue: which products and plans an audience of teams can see."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from portal_gitops.models.common import (
    KIND_DESCRIPTION,
    SPEC_DESCRIPTION,
    Envelope,
    Model,
    Name,
    Visibility,
)


class AudienceEntry(Model):
    organisation: Name = Field(description="An Organisation name.")
    team: Name | None = Field(
        default=None, description="Omitted = the organisation's default team (all its users)."
    )


class CatalogueSpec(Model):
    displayName: str = Field(
        default="", description="For readers of the manifests; the portal has no such field."
    )
    visibility: Visibility = Field(
        description="`public`: visible to every visitor; `private`: visible to the audience only."
    )
    audience: list[AudienceEntry] = Field(
        default_factory=list,
        description="Teams that see a private catalogue (Tyk ignores an audience on a public one).",
    )
    products: list[Name] = Field(
        default_factory=list, description="Products offered (Product names)."
    )
    plans: list[Name] = Field(default_factory=list, description="Plans offered (Plan names).")


class Catalogue(Envelope):
    kind: Literal["Catalogue"] = Field(description=KIND_DESCRIPTION)
    spec: CatalogueSpec = Field(description=SPEC_DESCRIPTION)
