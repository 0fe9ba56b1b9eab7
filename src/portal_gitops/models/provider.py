"""Provider: the Tyk Dashboard that issues credentials for products and plans."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, StringConstraints, field_validator

from portal_gitops.models.common import (
    KIND_DESCRIPTION,
    SPEC_DESCRIPTION,
    Envelope,
    Model,
    SecretRef,
    _reject_literal_secret,
)

Url = Annotated[str, StringConstraints(pattern=r"^https?://[^\s]+$", max_length=2048)]


class ProviderSpec(Model):
    type: Literal["tyk-pro"] = Field(
        description="The provider type. Only `tyk-pro` (a Tyk Dashboard) is supported."
    )
    dashboardUrl: Url = Field(description="Base URL of the Tyk Dashboard that issues credentials.")
    secret: SecretRef = Field(
        description="Dashboard API secret: {fromEnv: VAR} or {fromFile: path}."
    )
    orgId: Annotated[str, StringConstraints(min_length=1)] = Field(
        description="The Tyk organisation ID in that Dashboard."
    )
    gatewayUrl: Url | None = Field(
        default=None, description="URL of the Tyk Gateway, stored on the portal provider."
    )
    policyTags: list[Annotated[str, StringConstraints(min_length=1)]] = Field(
        default_factory=list,
        description=(
            "Tags that mark the Dashboard policies belonging to this provider; the portal adds "
            "them to the policies it creates for products and plans."
        ),
    )
    insecureSkipVerify: bool = Field(
        default=False,
        description=(
            "Do not verify the Dashboard's TLS certificate (self-signed certificates). "
            "Also stored on the portal provider."
        ),
    )

    @field_validator("dashboardUrl")
    @classmethod
    def _dashboard_base(cls, v: str) -> str:
        # the portal and portal-gitops both add /api: a URL ending in it asks for /api/api/...
        if urlsplit(v).path.rstrip("/").endswith("/api"):
            raise ValueError(
                "ends in /api: write the Dashboard's base URL (without /api), e.g. "
                "https://dashboard.example.com:3000; the portal and portal-gitops add /api"
            )
        return v

    @field_validator("secret", mode="before")
    @classmethod
    def _no_literal(cls, v: Any) -> Any:
        return _reject_literal_secret(v)


class Provider(Envelope):
    kind: Literal["Provider"] = Field(description=KIND_DESCRIPTION)
    spec: ProviderSpec = Field(description=SPEC_DESCRIPTION)
