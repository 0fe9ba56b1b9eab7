"""Organisation: a consumer organisation (its default team is the portal's, never managed)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from portal_gitops.models.common import KIND_DESCRIPTION, SPEC_DESCRIPTION, Envelope, Model


class OrganisationSpec(Model):
    pass


class Organisation(Envelope):
    kind: Literal["Organisation"] = Field(description=KIND_DESCRIPTION)
    spec: OrganisationSpec = Field(default_factory=OrganisationSpec, description=SPEC_DESCRIPTION)
