"""Plan: a portal plan and the rate-limit/quota-only policy behind it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from portal_gitops.models.common import Envelope, Model, Name, Owner, PositiveInt


class RateLimit(Model):
    requests: PositiveInt
    per: PositiveInt = Field(description="Window in seconds.")


class Quota(Model):
    requests: PositiveInt
    renewal: PositiveInt = Field(description="Renewal period in seconds.")


class PlanSpec(Model):
    provider: Name
    displayName: str = ""
    description: str = ""
    rateLimit: RateLimit | None = Field(default=None, description="Omitted = unlimited.")
    quota: Quota | None = Field(default=None, description="Omitted = unlimited.")
    keyExpiresIn: PositiveInt | None = Field(default=None, description="Seconds; omitted = never.")
    autoApprove: bool = False
    owners: list[Owner] = Field(default_factory=list)


class Plan(Envelope):
    kind: Literal["Plan"]
    spec: PlanSpec
