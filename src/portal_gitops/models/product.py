"""Product: a portal API product and the access-rights-only policy behind it."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from portal_gitops.models.common import Envelope, Model, Name, Owner

HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


class AllowedUrl(Model):
    url: Annotated[str, StringConstraints(min_length=1)]
    methods: list[HttpMethod] = Field(min_length=1)


class ProductApi(Model):
    apiId: Annotated[str, StringConstraints(min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")]
    versions: list[Annotated[str, StringConstraints(min_length=1)]] = Field(default_factory=list)
    allowedUrls: list[AllowedUrl] = Field(default_factory=list)


class ProductSpec(Model):
    provider: Name
    displayName: str = ""
    description: str = ""
    content: str = ""
    apis: list[ProductApi] = Field(min_length=1)
    tags: list[Annotated[str, StringConstraints(min_length=1)]] = Field(default_factory=list)
    owners: list[Owner] = Field(default_factory=list)


class Product(Envelope):
    kind: Literal["Product"]
    spec: ProductSpec
