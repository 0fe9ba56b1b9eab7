"""AccessRequest: a consumer's request for products on a plan, approved by merging it."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from portal_gitops.models.app import VISIBILITY_DESCRIPTION, AppVisibility, RedirectUrl
from portal_gitops.models.common import (
    KIND_DESCRIPTION,
    REQUEST_ID_ANNOTATION,
    SPEC_DESCRIPTION,
    Email,
    Envelope,
    Model,
    Name,
)

__all__ = ["REQUEST_ID_ANNOTATION", "AccessRequest", "AccessRequestSpec", "InlineApp"]


class InlineApp(Model):
    """An app described inside its access request: the form from before App documents, still
    accepted. It declares the app when no App document does; beside an App document only its
    name may be given."""

    name: Name = Field(description="The app's name; identifies the app among the consumer's apps.")
    description: str = Field(default="", description="The app's description.")
    redirectUrls: list[RedirectUrl] = Field(
        default_factory=list, description="OAuth redirect URLs of the app."
    )
    visibility: AppVisibility = Field(default="personal", description=VISIBILITY_DESCRIPTION)


class AccessRequestSpec(Model):
    consumer: Email = Field(
        description=(
            "Email of the consumer: a team member in the catalogue's audience (any team "
            "member if the catalogue is public)."
        )
    )
    app: Name | InlineApp = Field(
        description=(
            "The consumer's app that receives the credential: the name of an App the consumer "
            "owns (declared by an App document), or, as before App documents, the app "
            "described here (`{name, description, redirectUrls, visibility}`), which declares "
            "it when no App document does. Several requests may name one app."
        )
    )
    products: list[Name] = Field(
        min_length=1, description="Products requested; the catalogue must offer them."
    )
    plan: Name = Field(description="The plan requested; the catalogue must offer it.")
    catalogue: Name = Field(description="The catalogue the request is made through.")
    justification: str = Field(
        default="",
        description=(
            "Why access is needed. The portal has no field for it on a request or an app, so "
            "it is kept in portal-gitops' managed record on the target (beside the portal), "
            "and `import` writes it back."
        ),
    )
    expires: dt.date | None = Field(
        default=None, description="From the day after this date, the plan revokes the access."
    )
    decision: Literal["approve", "reject"] = Field(
        default="approve",
        description="`approve` grants the request when applied; `reject` rejects it.",
    )
    rotate: Annotated[str, StringConstraints(max_length=200, pattern=r"^\S(.*\S)?$")] | None = (
        Field(
            default=None,
            description=(
                "Asks the portal to rotate the request's credentials: any text (a date, a "
                "ticket). Each new value rotates them once, at the next apply; the value "
                "applied is remembered on the target, so later runs rotate nothing until it "
                "changes again. The new credential reaches the consumer through the portal, "
                "never through portal-gitops."
            ),
        )
    )
    revokeCredentials: list[Annotated[str, StringConstraints(pattern=r"^[0-9]{1,18}$")]] = Field(
        default_factory=list,
        description=(
            "IDs of credentials of this request to revoke, one by one, while the request stays "
            "approved (the credential IDs the portal shows; never a credential's value). "
            "Revoked once; listing an ID the portal no longer has changes nothing."
        ),
    )

    @property
    def app_name(self) -> str:
        """The name of the app the request names, in either form."""
        return self.app if isinstance(self.app, str) else self.app.name


class AccessRequest(Envelope):
    kind: Literal["AccessRequest"] = Field(description=KIND_DESCRIPTION)
    spec: AccessRequestSpec = Field(description=SPEC_DESCRIPTION)
