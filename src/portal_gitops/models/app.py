"""App: a consumer's app, the container of the credentials its access requests receive."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from portal_gitops.models.common import (
    KIND_DESCRIPTION,
    SPEC_DESCRIPTION,
    Email,
    Envelope,
    Model,
)

AppVisibility = Literal["personal", "team", "organisation"]

VISIBILITY_DESCRIPTION = (
    "Who in the owner's organisation sees the app and its credentials: `personal` (only the "
    "owner), `team` (the owner's teams) or `organisation` (every member of the "
    "organisation). Defaults to `personal`, the safest for credentials (the portal's own "
    "default is `organisation`)."
)
RedirectUrl = Annotated[str, StringConstraints(min_length=1)]


class AppSpec(Model):
    owner: Email = Field(
        description=(
            "Email of the consumer who owns the app: a team member. An app is identified by "
            "its owner and its name; access requests of that consumer name it."
        )
    )
    description: str = Field(default="", description="The app's description.")
    redirectUrls: list[RedirectUrl] = Field(
        default_factory=list, description="OAuth redirect URLs of the app."
    )
    visibility: AppVisibility = Field(default="personal", description=VISIBILITY_DESCRIPTION)


class App(Envelope):
    kind: Literal["App"] = Field(description=KIND_DESCRIPTION)
    spec: AppSpec = Field(description=SPEC_DESCRIPTION)
