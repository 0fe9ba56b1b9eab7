"""Team: a team of an organisation; its members are portal users."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from portal_gitops.models.common import (
    KIND_DESCRIPTION,
    SPEC_DESCRIPTION,
    Email,
    Envelope,
    Model,
    Name,
    SecretRef,
    _reject_literal_secret,
)

SsoProvider = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
]


class Member(Model):
    email: Email = Field(
        description=(
            "The user's email address, their identity in the portal. A user belongs to the "
            "teams of one organisation only."
        )
    )
    role: Literal["admin", "member"] = Field(
        default="member",
        description=(
            "`admin`: a consumer admin of the organisation; `member`: a team member. A user "
            "who is `admin` in any team is an admin."
        ),
    )
    first: str = Field(default="", description="First name.")
    last: str = Field(default="", description="Last name.")
    sso: SsoProvider | None = Field(
        default=None,
        description=(
            "Sign in through this SSO identity provider (the portal user's `Provider`, as "
            "configured in the portal) instead of a password. Compared with the portal on "
            "every plan. Omit both `sso` and `password` to invite the user: the portal emails "
            "a link to set a password (the default)."
        ),
    )
    password: SecretRef | None = Field(
        default=None,
        description=(
            "An initial password, from a secret: {fromEnv: VAR} or {fromFile: path}, never "
            "literal. Set when the user is created and never read back, so it is not "
            "compared: changing the secret later changes nothing (users change their own "
            "password in the portal). A user switched to password sign-in later gets a reset "
            "email instead."
        ),
    )

    @field_validator("password", mode="before")
    @classmethod
    def _no_literal(cls, v: Any) -> Any:
        return _reject_literal_secret(v)

    @model_validator(mode="after")
    def _one_sign_in(self) -> Member:
        if self.sso is not None and self.password is not None:
            raise ValueError("give either sso or password, not both")
        return self


class TeamSpec(Model):
    organisation: Name = Field(
        description="The Organisation the team belongs to (its `metadata.name`)."
    )
    members: list[Member] = Field(
        default_factory=list,
        description="The team's members; each is a portal user with a consumer role.",
    )


class Team(Envelope):
    kind: Literal["Team"] = Field(description=KIND_DESCRIPTION)
    spec: TeamSpec = Field(description=SPEC_DESCRIPTION)
