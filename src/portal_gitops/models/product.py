"""Product: a portal API product and the access-rights-only policy behind it."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from portal_gitops.models.common import (
    KIND_DESCRIPTION,
    SPEC_DESCRIPTION,
    Envelope,
    Model,
    Name,
    Owner,
)

HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


class AllowedUrl(Model):
    url: Annotated[str, StringConstraints(min_length=1)] = Field(
        description="A path (Tyk treats it as a regular expression)."
    )
    methods: list[HttpMethod] = Field(
        min_length=1, description="HTTP methods allowed on that path."
    )


class ProductApi(Model):
    apiId: Annotated[str, StringConstraints(min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")] = Field(
        description=(
            "The Tyk API ID (`api_id`); it must exist on the provider's Dashboard "
            "(checked by `plan`)."
        )
    )
    versions: list[Annotated[str, StringConstraints(min_length=1)]] = Field(
        default_factory=list,
        description=(
            "API versions granted; each must be a version the API defines on the provider's "
            "Dashboard (checked by `plan`). Omitted or empty: what the API defines, read "
            'from the Dashboard at plan time: `["Default"]` when the API is not versioned, '
            "else every version it defines (an empty list would make the Gateway deny every "
            "request to a versioned API)."
        ),
    )
    allowedUrls: list[AllowedUrl] = Field(
        default_factory=list,
        description="Restrict access to these paths and methods; empty = no restriction.",
    )


class ProductSpec(Model):
    provider: Name = Field(description="The Provider whose Dashboard holds the product's policy.")
    displayName: str = Field(default="", description="The name shown in the portal.")
    description: str = Field(default="", description="Short description shown in the catalogue.")
    content: str = Field(default="", description="Long description shown on the product's page.")
    apis: list[ProductApi] = Field(
        min_length=1,
        description=(
            "The APIs the product grants access to: the access rights of its Dashboard policy."
        ),
    )
    tags: list[Annotated[str, StringConstraints(min_length=1)]] = Field(
        default_factory=list, description="Portal tags of the product."
    )
    owners: list[Owner] = Field(
        default_factory=list,
        description="Who reviews access requests for this product (`portal-gitops codeowners`).",
    )


class Product(Envelope):
    kind: Literal["Product"] = Field(description=KIND_DESCRIPTION)
    spec: ProductSpec = Field(description=SPEC_DESCRIPTION)
