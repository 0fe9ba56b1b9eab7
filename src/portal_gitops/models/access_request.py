"""AccessRequest: a consumer's request for products on a plan, approved by merging it."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from portal_gitops.models.common import Email, Envelope, Model, Name

REQUEST_ID_ANNOTATION = "portal-gitops/request-id"
"""Set by `requests pull`: the live ID of the pending request this manifest approves."""


class App(Model):
    name: Name
    description: str = ""
    redirectUrls: list[Annotated[str, StringConstraints(min_length=1)]] = Field(
        default_factory=list
    )


class AccessRequestSpec(Model):
    consumer: Email
    app: App
    products: list[Name] = Field(min_length=1)
    plan: Name
    catalogue: Name
    justification: str = ""
    expires: dt.date | None = None
    decision: Literal["approve", "reject"] = "approve"


class AccessRequest(Envelope):
    kind: Literal["AccessRequest"]
    spec: AccessRequestSpec
