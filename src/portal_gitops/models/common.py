"""The envelope every manifest shares, and the small value types kinds reuse."""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

API_VERSION = "portal-gitops/v1"

REQUEST_ID_ANNOTATION = "portal-gitops/request-id"
"""Set by `requests pull`: the live ID of the pending request this manifest approves."""

Name = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=200, pattern=r"^[^\s/\\][^/\\]*[^\s/\\]$|^[^\s/\\]$"
    ),
]
"""A portal object's name: no slashes (they separate team from organisation), no outer spaces."""

PositiveInt = Annotated[int, Field(gt=0, le=2**31 - 1, strict=True)]
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]
Owner = Annotated[
    str,
    StringConstraints(
        pattern=(
            r"^@[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?$"
            r"|^[^@\s]+@[^@\s]+\.[^@\s]+$"
            r"|^[A-Za-z0-9][A-Za-z0-9_.-]*$"
        )
    ),
]
"""A CODEOWNERS owner: @user, @org/team, an email address, or the name of an AdminUser
manifest (written as that admin's GitHub handle, or email, by ``codeowners``)."""

ENV_VAR = r"^[A-Za-z_][A-Za-z0-9_]*$"


_FIELDS_SET: dict[frozenset[str], frozenset[str]] = {}


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)

    def model_post_init(self, context: Any, /) -> None:
        """Share the set of fields given among the models that gave the same ones.

        pydantic keeps a ``set`` of them in every instance (216 bytes or more, a third of a
        manifest's models): a large estate held one per model, all alike. The models are
        frozen, so the set never changes; a frozenset makes sure it cannot.
        """
        given = frozenset(self.__pydantic_fields_set__)
        object.__setattr__(self, "__pydantic_fields_set__", _FIELDS_SET.setdefault(given, given))


OWN_CREDENTIALS = frozenset(
    {
        "TYK_PORTAL_TOKEN",
        "TYK_PORTAL_TOKEN_FILE",
        "TYK_PORTAL_URL",
        "PORTAL_GITOPS_APPROVED_DASHBOARDS",
        "GITHUB_TOKEN",
        "ACTIONS_RUNTIME_TOKEN",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "ACTIONS_ID_TOKEN_REQUEST_URL",
    }
)
"""Variables a manifest may not name as a Dashboard secret: the tool's and the CI runner's own
credentials (a pull request could otherwise have them sent to a Dashboard of its choosing)."""


class FromEnv(Model):
    fromEnv: Annotated[str, StringConstraints(pattern=ENV_VAR)] = Field(
        description=(
            "Name of the environment variable holding the secret. Not one of portal-gitops's "
            "own credentials (TYK_PORTAL_TOKEN and the like) nor the CI runner's."
        )
    )

    @field_validator("fromEnv")
    @classmethod
    def _not_our_own(cls, value: str) -> str:
        if value.upper() in OWN_CREDENTIALS:
            raise ValueError(
                f"{value} is a credential of portal-gitops or of the CI runner, never a "
                "Dashboard secret; name the variable that holds the Dashboard's API secret"
            )
        return value


class FromFile(Model):
    fromFile: Annotated[str, StringConstraints(min_length=1, max_length=500)] = Field(
        description=(
            "Path of a file holding the secret, relative to the working directory (the "
            "repository) and inside it; a regular file of at most 64 KiB."
        )
    )

    @field_validator("fromFile")
    @classmethod
    def _inside_the_repository(cls, value: str) -> str:
        value = repository_path(value)
        if ".." in PurePath(value.replace("\\", "/")).parts:
            raise ValueError("must stay inside the repository (no '..')")
        return value


_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


def repository_path(value: str) -> str:
    """A path written in a manifest: relative, never absolute or from a home directory, no
    control characters. Where it leads is checked when the file is read (inside the
    repository, links included)."""
    if PurePath(value).is_absolute() or value.startswith(("/", "\\", "~")) or _DRIVE.match(value):
        raise ValueError("must be a path relative to the repository, not an absolute one")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("must not hold control characters")
    return value


SecretRef = FromEnv | FromFile
"""Secrets are never literal: they are read from the environment or a file at apply time."""


def secret_ref_label(ref: SecretRef) -> str:
    return f"env:{ref.fromEnv}" if isinstance(ref, FromEnv) else f"file:{ref.fromFile}"


class Metadata(Model):
    name: Name = Field(description="The portal object's Name and its identity in manifests.")
    labels: dict[str, str] = Field(
        default_factory=dict,
        description="Free-form labels for your own tooling; not sent to the portal.",
    )
    annotations: dict[str, str] = Field(
        default_factory=dict,
        description=(
            f"Free-form annotations. `{REQUEST_ID_ANNOTATION}` links an access request to a "
            "request made in the Live Portal; other annotations are not sent to the portal."
        ),
    )


def _reject_literal_secret(value: Any) -> Any:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        raise ValueError("literal secrets are not allowed; use {fromEnv: VAR} or {fromFile: path}")
    return value


class Envelope(Model):
    """Fields common to every document."""

    apiVersion: Literal["portal-gitops/v1"] = Field(description="The manifest format version.")
    metadata: Metadata = Field(description="Name, labels and annotations.")


KIND_DESCRIPTION = "What the document describes."
SPEC_DESCRIPTION = "The object's desired state."


Visibility = Literal["public", "private"]
SLUG_RE = re.compile(r"[^a-z0-9]+")
