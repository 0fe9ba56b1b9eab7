"""Provider: the Tyk Dashboard that issues credentials for products and plans, as a kind.

Canonical form:

Provider      key = name
              {type, dashboardUrl, orgId, gatewayUrl ("" = none), policyTags (sorted),
               insecureSkipVerify, secret: Sensitive}

Secrets are never imported: an imported provider's secret is a ``fromEnv`` reference the user
fills in (``secret_env_name``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any

from portal_gitops.kinds.base import Building, Importing, Kind, by_name, slug
from portal_gitops.models import Provider
from portal_gitops.models.common import secret_ref_label
from portal_gitops.state import LiveObject, Sensitive

FILE = PurePosixPath("providers.yaml")


def build(manifests: Sequence[Provider], building: Building) -> None:
    resolve = building.resolve_secret
    for m in manifests:
        ps = m.spec
        label = secret_ref_label(ps.secret)
        building.add(
            "Provider",
            m.metadata.name,
            {
                "type": ps.type,
                "dashboardUrl": ps.dashboardUrl,
                "orgId": ps.orgId,
                "gatewayUrl": ps.gatewayUrl or "",
                "policyTags": sorted(set(ps.policyTags)),
                "insecureSkipVerify": ps.insecureSkipVerify,
                "secret": Sensitive(label, resolve(label)),
            },
        )


def secret_env_name(provider: str, index: int) -> str:
    """The variable an imported provider's secret is read from (the first: the plain name)."""
    return (
        "TYK_DASHBOARD_SECRET"
        if index == 0
        else f"TYK_DASHBOARD_SECRET_{slug(provider).upper().replace('-', '_')}"
    )


def export(objects: Sequence[LiveObject], importing: Importing) -> None:
    for i, o in enumerate(objects):
        a = o.attrs
        spec: dict[str, Any] = {
            "type": a.get("type", "tyk-pro"),
            "dashboardUrl": a.get("dashboardUrl", ""),
            "secret": {"fromEnv": secret_env_name(o.key, i)},
            "orgId": a.get("orgId", ""),
        }
        if a.get("gatewayUrl"):
            spec["gatewayUrl"] = a["gatewayUrl"]
        if a.get("policyTags"):
            spec["policyTags"] = list(a["policyTags"])
        if a.get("insecureSkipVerify"):
            spec["insecureSkipVerify"] = True
        importing.write(FILE, "Provider", o.key, spec)


KIND = Kind(
    name="Provider",
    level=0,
    identity_doc="name",
    identity=by_name,
    source="Provider",
    build=build,
    export=export,
)
