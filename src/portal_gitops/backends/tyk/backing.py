"""Products and plans against the Dashboard policies behind them, where a strict portal needs
more than a request: a name a policy left behind still holds (REFERENCE §9 "Deleting a product
or plan"), and a product's APIs that its update did not take (§9 "Product APIs on update").
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from portal_gitops.backends.tyk import mapping
from portal_gitops.backends.tyk.dashboards import Dashboards
from portal_gitops.backends.tyk.ids import Ids, q
from portal_gitops.backends.tyk.quirks import text
from portal_gitops.errors import (
    BackendError,
    ConflictError,
    NotFoundError,
    ServerError,
    ValidationFailed,
)
from portal_gitops.kinds.base import held_name_problem
from portal_gitops.state import MANAGED_POLICY_TAG, LiveObject

log = logging.getLogger(__name__)

Json = dict[str, Any]
Find = Callable[[str, str], Awaitable[LiveObject | None]]


def _label(kind: str) -> str:
    return kind.lower()


class Backing:
    """What the writer does around a product's or plan's create and update (see above)."""

    def __init__(self, ids: Ids, dashboards: Dashboards, find: Find) -> None:
        self.ids = ids
        self.api = ids.api
        self.dashboards = dashboards
        self.find = find

    async def create(
        self, kind: str, key: str, provider: str, path: str, body: Mapping[str, Any]
    ) -> Json:
        """POST a product or plan; when it fails because a policy left behind holds its name
        (REFERENCE §9: a killed apply, or a portal that keeps a deleted product's policy),
        remove that policy if it is ours and unused, and POST again; an unmanaged one is
        reported with what to do instead of the portal's bare refusal."""
        what = f"{_label(kind)} {q(key)}"
        try:
            return await self.api.portal.create(path, body, what=what)
        except (ConflictError, ValidationFailed, ServerError):
            if not await self.free_name(kind, key, provider):
                raise
        return await self.api.portal.create(path, body, what=what)

    async def free_name(self, kind: str, key: str, provider: str) -> bool:
        """Remove a managed policy named ``key`` that no product or plan uses (True); refuse
        an unmanaged one (ValidationFailed); False when no stray policy holds the name."""
        if self.dashboards.conn(provider) is None:
            return False
        dash = self.dashboards.dashboard_for(provider)
        held = await dash.find_policies(key)
        if not held:
            return False
        used: set[str] = set()
        for other, base in (("Product", "/products"), ("Plan", "/plans")):
            found = await self.find(other, key)
            if found is not None:
                current = await self.api.portal.get(f"{base}/{found.id}", what=key)
                used.add(text(current.get("ReferenceID")))
        stray = [p for p in held if not {text(p.get("_id")), text(p.get("id"))} & used]
        if not stray:
            return False  # the name's own object holds it: the create's caller converges
        what = f"policy left behind by {_label(kind)} {q(key)}"
        for policy in stray:
            pid = text(policy.get("_id"))
            if MANAGED_POLICY_TAG not in (policy.get("tags") or []):
                raise ValidationFailed(
                    held_name_problem(kind, key, provider, pid),
                    operation=f"create {_label(kind)} {q(key)}",
                )
            log.info("removing %s (%s), which holds its name", what, pid)
            with contextlib.suppress(NotFoundError):
                await dash.delete_policy(pid, what=what)
        return True

    async def sync_product_apis(
        self, live: LiveObject, provider: str, wanted: list[str], what: str
    ) -> None:
        """Bring a product's APIs to ``wanted`` where its update did not.

        A Product-update may ignore ``APIDetails[].APIID`` (``Product-APIDetail-edit`` has only
        ``Description`` and ``OASUrl``); the product's APIs are its policy's access rights,
        which the portal learns on ``PUT /providers/{id}/synchronize`` (REFERENCE §9 "Product
        APIs on update"). The policy is already written: synchronise, then read back."""
        portal = self.api.portal
        product = await portal.get(f"/products/{live.id}", what=what)
        if mapping.product_apis(product) == wanted:
            return
        provider_id = await self.ids.provider_id(provider)
        await portal.action(
            f"/providers/{provider_id}/synchronize",
            verb="synchronise",
            what=f"provider {q(provider)} (for the APIs of {what})",
        )
        product = await portal.get(f"/products/{live.id}", what=what)
        have = mapping.product_apis(product)
        if have != wanted:
            raise BackendError(
                f"the portal lists APIs {', '.join(have) or 'none'} after its update and a "
                f"synchronise of provider {q(provider)}, not {', '.join(wanted) or 'none'}; "
                "check that the product's Dashboard policy carries the provider's policy tags",
                operation=f"update {what}",
            )
