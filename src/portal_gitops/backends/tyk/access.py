"""Access requests on the live portal: the consumer's app (found or created), the request
provisioned and decided, and, in place, its credentials rotated or revoked one by one
(REFERENCE.md §4 "Apps, access (provisioning) requests, credentials")."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from portal_gitops.backends.tyk import mapping
from portal_gitops.backends.tyk.apps import Apps
from portal_gitops.backends.tyk.ids import Ids, q
from portal_gitops.backends.tyk.quirks import as_int, text
from portal_gitops.errors import (
    BackendError,
    ConflictError,
    NotFoundError,
    ServerError,
    ValidationFailed,
    is_retryable,
)
from portal_gitops.state import LiveObject

log = logging.getLogger(__name__)

Json = dict[str, Any]
Attrs = Mapping[str, Any]


class AccessRequests:
    """Access requests: on the consumer's app (an App, created before its requests),
    provisioned, then decided; in place, credentials rotated or revoked one by one."""

    def __init__(self, ids: Ids, apps: Apps) -> None:
        self.ids = ids
        self.api = ids.api
        self.apps = apps

    async def create(self, key: str, attrs: Attrs) -> str:
        """App (found or created) -> provision -> find the new request -> approve/reject.

        Re-running converges: a matching request already on the app (pending, or already
        decided as wanted) is reused instead of provisioning a duplicate.
        """
        what = f"access request {q(key)}"
        portal = self.api.portal
        consumer = text(attrs.get("consumer"))
        app_label = text((attrs.get("app") or {}).get("name"))
        app_id = await self.apps.app_id(consumer, app_label, f"provision {what}")
        wanted = set(attrs.get("products") or [])
        status = text(attrs.get("status")) or "approved"
        # an app this process just created has no requests yet (a retry lists them again)
        fresh = app_id in self.apps.fresh
        self.apps.fresh.discard(app_id)
        before = [] if fresh else await portal.list_app_access_requests(app_id, app_label)
        # a request for a plan that auto-approves is approved as it is filed: one meant to be
        # rejected and interrupted before the rejection is found approved, and is rejected
        # now (filing another would leave that approval, and its credential, behind)
        usable = {"pending", status} | ({"approved"} if status == "rejected" else set())
        reusable = [
            r
            for r in before
            if mapping.request_matches(r, attrs, wanted) and text(r.get("Status")) in usable
        ]
        if reusable:
            request = max(reusable, key=lambda r: (text(r.get("Status")) == status, int(r["ID"])))
        else:
            body = mapping.provision_body(
                (await self.ids.plan_ids([text(attrs.get("plan"))]))[0],
                await self.ids.product_ids(wanted),
            )
            # never retried blindly: a provision whose reply is lost has filed a request, and
            # a second would file another; the engine's retry lists the app's requests first
            await portal.action(
                f"/apps/{app_id}/provision",
                verb="provision",
                what=what,
                body=body,
                idempotent=False,
            )
            # the provision reply carries no id: the new request is the one that was not there
            seen = {as_int(r.get("ID")) for r in before}
            after = await portal.list_app_access_requests(app_id, app_label)
            new = [r for r in after if as_int(r.get("ID")) not in seen]
            matching = [r for r in new if mapping.request_matches(r, attrs, wanted)] or new
            if not matching:
                raise ServerError(
                    "the portal accepted the request but it is not on the app",
                    operation=f"provision {what}",
                )
            request = max(matching, key=lambda r: int(r["ID"]))
        request_id = str(request["ID"])
        self.ids.session_requests[request_id] = key
        await self._decide(request_id, text(request.get("Status")), status, what)
        return request_id

    async def _decide(self, request_id: str, current: str, wanted: str, what: str) -> None:
        """Approve or reject a pending request. Never repeated blindly: the portal refuses a
        decision on a decided request (422, REFERENCE.md §9 "Decisions"), so after a failure
        that may have reached it (a lost reply) the request's status is read first."""
        if wanted == current or wanted not in ("approved", "rejected"):
            return
        verb = "approve" if wanted == "approved" else "reject"
        portal = self.api.portal
        retry = self.api.retry
        attempt = 0
        while True:
            try:
                await portal.action(
                    f"/access_requests/{request_id}/{verb}", verb=verb, what=what, idempotent=False
                )
                return
            except BackendError as exc:
                if attempt + 1 >= max(1, retry.attempts) or not is_retryable(exc):
                    raise
                await retry.sleep(retry.delay(attempt, exc))
                attempt += 1
            request = await portal.get(f"/access_requests/{request_id}", what=what)
            status = mapping.request_status(request)
            if status == wanted:
                return  # the lost reply's decision was made
            if status != "pending":
                raise ConflictError(
                    f"the request is {status}, not pending: it cannot be {wanted} now",
                    operation=f"{verb} {what}",
                )

    async def update(self, live: LiveObject, attrs: Attrs) -> None:
        """A decision on a live request, a rotation, revocations by ID (other changes are
        replaced by the plan)."""
        what = f"access request {q(live.key)}"
        current = text(live.attrs.get("status"))
        wanted = text(attrs.get("status"))
        if current != "pending" and wanted != current and wanted == "pending":
            raise ValidationFailed(
                f"a {current} request cannot become pending again", operation=f"update {what}"
            )
        await self._decide(live.id, current, wanted, what)
        if current == "approved" == wanted:
            await self._credentials_once(live, attrs, what)

    async def _credentials_once(self, live: LiveObject, attrs: Attrs, what: str) -> None:
        """Revoke the credentials newly listed in ``revokeCredentials`` (the request stays),
        then, when ``rotate`` has a new value, rotate every credential left: once, never
        retried blindly (a rotation whose reply was lost has happened; the next apply, not
        having recorded it, rotates again rather than never)."""
        revoke = sorted(
            set(attrs.get("revokeCredentials") or [])
            - set(live.attrs.get("revokeCredentials") or [])
        )
        rotate = text(attrs.get("rotate"))
        rotating = bool(rotate) and rotate != text(live.attrs.get("rotate"))
        if not revoke and not rotating:
            return
        consumer = text(live.attrs.get("consumer"))
        app_name = text((live.attrs.get("app") or {}).get("name"))
        app_id = await self.apps.app_id(consumer, app_name, f"update {what}")
        base = f"/apps/{app_id}/access-requests/{live.id}/credentials"
        portal = self.api.portal
        for cid in revoke:
            try:
                await portal.delete(f"{base}/{cid}", what=f"credential {cid} of {what}")
            except NotFoundError:
                log.info("credential %s of %s is already gone", cid, what)
        if not rotating:
            return
        for cid in await self._credential_ids(base, what):
            if cid in revoke:
                continue
            await portal.action(
                f"{base}/{cid}/rotate",
                verb="rotate",
                what=f"credential {cid} of {what}",
                idempotent=False,
            )

    async def _credential_ids(self, base: str, what: str) -> list[str]:
        """The IDs of a request's credentials. The reply carries their values: each is
        registered as a secret (no message can ever echo it) and dropped here."""
        items = await self.api.portal.list_all(base, what=f"credentials of {what}")
        out: list[str] = []
        for item in items:
            for k in mapping.CREDENTIAL_SECRETS:
                self.api.add_secret(text(item.get(k)))
            cid = as_int(item.get("ID"))
            if cid is not None:
                out.append(str(cid))
        return out
