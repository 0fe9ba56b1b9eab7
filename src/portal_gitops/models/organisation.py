"""Organisation: a consumer organisation (its default team is the portal's, never managed)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from portal_gitops.models.common import Envelope, Model


class OrganisationSpec(Model):
    pass


class Organisation(Envelope):
    kind: Literal["Organisation"]
    spec: OrganisationSpec = Field(default_factory=OrganisationSpec)
