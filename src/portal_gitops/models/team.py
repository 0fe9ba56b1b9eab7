"""Team: a team of an organisation; its members are portal users."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from portal_gitops.models.common import (
    KIND_DESCRIPTION,
    SPEC_DESCRIPTION,
    Email,
    Envelope,
    Model,
    Name,
)


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
