"""AdminUser: a portal admin (an API owner), who publishes catalogues and reviews requests."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from portal_gitops.models.common import (
    KIND_DESCRIPTION,
    SPEC_DESCRIPTION,
    Email,
    Envelope,
    Model,
    SecretRef,
    _reject_literal_secret,
)
from portal_gitops.models.team import SsoProvider

GithubHandle = Annotated[
    str,
    StringConstraints(
        max_length=100,
        pattern=r"^@?[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:/[A-Za-z0-9][A-Za-z0-9_.-]*)?$",
    ),
]
"""A GitHub user (``octocat``) or team (``acme/api-owners``), with or without the ``@``."""

ADMIN_ROLES = ("provider-admin", "super-admin")


class AdminUserSpec(Model):
    email: Email = Field(description="The admin's email address, their identity in the portal.")
    role: Literal["provider-admin", "super-admin"] = Field(
        default="provider-admin",
        description=(
            "The portal admin role: `provider-admin` manages the catalogue (providers, "
            "products, plans, catalogues, consumers), `super-admin` the whole portal as well."
        ),
    )
    first: str = Field(default="", description="First name.")
    last: str = Field(default="", description="Last name.")
    github: GithubHandle | None = Field(
        default=None,
        description=(
            "The admin's GitHub user or team (`octocat`, `acme/api-owners`): `portal-gitops "
            "codeowners` writes it where a product or plan names this admin among its "
            "`owners`. Not sent to the portal. Without it, the admin's email is written."
        ),
    )
    sso: SsoProvider | None = Field(
        default=None,
        description=(
            "Sign in through this SSO identity provider (the portal user's `Provider`) "
            "instead of a password. Omit both `sso` and `password` to invite the admin: the "
            "portal emails a link to set a password (the default)."
        ),
    )
    password: SecretRef | None = Field(
        default=None,
        description=(
            "An initial password, from a secret: {fromEnv: VAR} or {fromFile: path}, never "
            "literal. Set when the admin is created and never read back, so never compared."
        ),
    )

    @field_validator("password", mode="before")
    @classmethod
    def _no_literal(cls, v: Any) -> Any:
        return _reject_literal_secret(v)

    @model_validator(mode="after")
    def _one_sign_in(self) -> AdminUserSpec:
        if self.sso is not None and self.password is not None:
            raise ValueError("give either sso or password, not both")
        return self


class AdminUser(Envelope):
    kind: Literal["AdminUser"] = Field(description=KIND_DESCRIPTION)
    spec: AdminUserSpec = Field(description=SPEC_DESCRIPTION)
