"""The manifest kinds: frozen pydantic models, one module per kind, all sharing the envelope."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from portal_gitops.models.access_request import REQUEST_ID_ANNOTATION, AccessRequest, InlineApp
from portal_gitops.models.admin_user import AdminUser
from portal_gitops.models.app import App
from portal_gitops.models.catalogue import Catalogue
from portal_gitops.models.common import API_VERSION, FromEnv, FromFile, SecretRef
from portal_gitops.models.organisation import Organisation
from portal_gitops.models.plan import Plan
from portal_gitops.models.product import Product
from portal_gitops.models.provider import Provider
from portal_gitops.models.team import Team

Manifest = (
    Provider | Organisation | Team | AdminUser | Product | Plan | Catalogue | App | AccessRequest
)
AnyManifest = Annotated[Manifest, Field(discriminator="kind")]

KINDS: dict[str, type[Manifest]] = {
    "Provider": Provider,
    "Organisation": Organisation,
    "Team": Team,
    "AdminUser": AdminUser,
    "Product": Product,
    "Plan": Plan,
    "Catalogue": Catalogue,
    "App": App,
    "AccessRequest": AccessRequest,
}

__all__ = [
    "API_VERSION",
    "KINDS",
    "REQUEST_ID_ANNOTATION",
    "AccessRequest",
    "AdminUser",
    "AnyManifest",
    "App",
    "Catalogue",
    "FromEnv",
    "FromFile",
    "InlineApp",
    "Manifest",
    "Organisation",
    "Plan",
    "Product",
    "Provider",
    "SecretRef",
    "Team",
]
