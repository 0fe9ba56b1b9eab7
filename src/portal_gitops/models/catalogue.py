"""Catalogue: which products and plans an audience of teams can see."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from portal_gitops.models.common import Envelope, Model, Name, Visibility


class AudienceEntry(Model):
    organisation: Name
    team: Name | None = Field(
        default=None, description="Omitted = the organisation's default team (all its users)."
    )


class CatalogueSpec(Model):
    displayName: str = Field(
        default="", description="For readers of the manifests; the portal has no such field."
    )
    visibility: Visibility
    audience: list[AudienceEntry] = Field(default_factory=list)
    products: list[Name] = Field(default_factory=list)
    plans: list[Name] = Field(default_factory=list)


class Catalogue(Envelope):
    kind: Literal["Catalogue"]
    spec: CatalogueSpec
