"""Team: a team of an organisation; its members are portal users."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from portal_gitops.models.common import Email, Envelope, Model, Name


class Member(Model):
    email: Email
    role: Literal["admin", "member"] = "member"
    first: str = ""
    last: str = ""


class TeamSpec(Model):
    organisation: Name
    members: list[Member] = Field(default_factory=list)


class Team(Envelope):
    kind: Literal["Team"]
    spec: TeamSpec
