"""Provider: the Tyk Dashboard that issues credentials for products and plans."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator

from portal_gitops.models.common import Envelope, Model, SecretRef, _reject_literal_secret

Url = Annotated[str, StringConstraints(pattern=r"^https?://[^\s]+$", max_length=2048)]


class ProviderSpec(Model):
    type: Literal["tyk-pro"]
    dashboardUrl: Url
    secret: SecretRef = Field(
        description="Dashboard API secret: {fromEnv: VAR} or {fromFile: path}."
    )
    orgId: Annotated[str, StringConstraints(min_length=1)]
    gatewayUrl: Url | None = None
    policyTags: list[Annotated[str, StringConstraints(min_length=1)]] = Field(default_factory=list)
    insecureSkipVerify: bool = False

    @field_validator("secret", mode="before")
    @classmethod
    def _no_literal(cls, v: Any) -> Any:
        return _reject_literal_secret(v)


class Provider(Envelope):
    kind: Literal["Provider"]
    spec: ProviderSpec
