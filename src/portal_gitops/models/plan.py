"""Plan: a portal plan and the rate-limit/quota-only policy behind it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from portal_gitops.models.common import (
    KIND_DESCRIPTION,
    SPEC_DESCRIPTION,
    Envelope,
    Model,
    Name,
    Owner,
    PositiveInt,
)


class RateLimit(Model):
    requests: PositiveInt = Field(description="Requests allowed per window.")
    per: PositiveInt = Field(description="Window in seconds.")


class Quota(Model):
    requests: PositiveInt = Field(description="Requests allowed per renewal period.")
    renewal: PositiveInt = Field(description="Renewal period in seconds.")


class PlanSpec(Model):
    provider: Name = Field(
        description=(
            "The Provider whose Dashboard holds the plan's policy; the same as the products "
            "the plan is offered with."
        )
    )
    displayName: str = Field(default="", description="The name shown in the portal.")
    description: str = Field(default="", description="Description shown in the portal.")
    rateLimit: RateLimit | None = Field(default=None, description="Omitted = unlimited.")
    quota: Quota | None = Field(default=None, description="Omitted = unlimited.")
    keyExpiresIn: PositiveInt | None = Field(default=None, description="Seconds; omitted = never.")
    autoApprove: bool = Field(
        default=False, description="The portal approves requests for this plan without review."
    )
    owners: list[Owner] = Field(
        default_factory=list,
        description=(
            "Who reviews access requests for this plan (`portal-gitops codeowners`): "
            "`@user`, `@org/team`, an email, or the name of an AdminUser (an API owner)."
        ),
    )


class Plan(Envelope):
    kind: Literal["Plan"] = Field(description=KIND_DESCRIPTION)
    spec: PlanSpec = Field(description=SPEC_DESCRIPTION)
