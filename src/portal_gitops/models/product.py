"""Product: a portal API product and the access-rights-only policy behind it."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from portal_gitops.models.common import (
    KIND_DESCRIPTION,
    SPEC_DESCRIPTION,
    Envelope,
    Model,
    Name,
    Owner,
    repository_path,
)
from portal_gitops.models.provider import Url

DocumentPath = Annotated[str, StringConstraints(min_length=1, max_length=500)]


def _check_path(value: str | None) -> str | None:
    return None if value is None else repository_path(value)


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
    openapi: DocumentPath | None = Field(
        default=None,
        description=(
            "The API's OpenAPI 3.x document (YAML or JSON, at most 5 MiB), a path relative "
            "to this manifest's file inside the repository; uploaded to the portal, and "
            "again only when its content changes. Checked by `validate`."
        ),
    )
    oasUrl: Url | None = Field(
        default=None,
        description=(
            "Instead of `openapi`: the URL of the API's OpenAPI document, which the portal "
            "shows consumers (`OASUrl`)."
        ),
    )

    _openapi_path = field_validator("openapi")(_check_path)

    @model_validator(mode="after")
    def _one_document(self) -> ProductApi:
        if self.openapi is not None and self.oasUrl is not None:
            raise ValueError("give either openapi or oasUrl, not both")
        return self


class Guide(Model):
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        description="The guide's title; unique within the product."
    )
    file: DocumentPath | None = Field(
        default=None,
        description=(
            "A Markdown file holding the guide (at most 1 MiB), a path relative to this "
            "manifest's file inside the repository."
        ),
    )
    content: Annotated[str, StringConstraints(min_length=1, max_length=1024 * 1024)] | None = Field(
        default=None, description="Instead of `file`: the guide's Markdown, inline."
    )
    path: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=100)] = (
        Field(
            default="",
            description="The guide's URL path in the portal; default: made from the title.",
        )
    )
    status: Literal["published", "draft", "review"] = Field(
        default="published", description="Whether consumers see the guide (`published`)."
    )

    _file_path = field_validator("file")(_check_path)

    @model_validator(mode="after")
    def _one_source(self) -> Guide:
        if (self.file is None) == (self.content is None):
            raise ValueError("give either file or content")
        return self


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
    guides: list[Guide] = Field(
        default_factory=list,
        description=(
            "The product's guides (the portal's tutorials, on its Get started tab), in the "
            "order consumers see them."
        ),
    )
    owners: list[Owner] = Field(
        default_factory=list,
        description=(
            "Who reviews access requests for this product (`portal-gitops codeowners`): "
            "`@user`, `@org/team`, an email, or the name of an AdminUser (an API owner)."
        ),
    )


class Product(Envelope):
    kind: Literal["Product"] = Field(description=KIND_DESCRIPTION)
    spec: ProductSpec = Field(description=SPEC_DESCRIPTION)
