"""Apps on the live portal (REFERENCE.md §4 "Apps"): found by owner and name, created,
updated in place, deleted (which removes the app's access requests and revokes their
credentials). Access requests find their app here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from portal_gitops.backends.tyk import mapping
from portal_gitops.backends.tyk.ids import Ids, new_id, q
from portal_gitops.backends.tyk.quirks import as_int, name_of, text
from portal_gitops.errors import NotFoundError
from portal_gitops.state import LiveObject

Json = dict[str, Any]
Attrs = Mapping[str, Any]


class Apps:
    """Apps by (owner's user id, name), from the index of the last read (kept current by
    creates), listed instead when there was no read or a create of it had no answer."""

    def __init__(self, ids: Ids) -> None:
        self.ids = ids
        self.api = ids.api
        self._attempts: set[tuple[int, str]] = set()  # app creates whose outcome is unknown
        self.fresh: set[int] = set()  # apps created by this process, nothing provisioned yet

    async def find(self, user_id: int, app_name: str, *, listed: bool = False) -> Json | None:
        """``listed``: ask the portal even when the index has no such app (an index rebuilt
        by a concurrent read may predate an app created meanwhile)."""
        key = (user_id, app_name)
        apps_index = self.ids.ix.apps
        if apps_index is not None and key not in self._attempts:
            found = apps_index.get(key)
            if found is not None or not listed:
                return found
        apps = [
            a
            for a in await self.api.portal.list_apps()
            if as_int(a.get("UserID")) == user_id and name_of(a) == app_name
        ]
        found = min(apps, key=lambda a: int(a["ID"])) if apps else None
        if found is not None and self.ids.ix.apps is not None:
            self.ids.ix.apps[key] = found
            self._attempts.discard(key)
        return found

    async def app_id(self, owner: str, app_name: str, what: str) -> int:
        """The ID of an app that must exist (its App is created before its requests)."""
        found = await self.find(await self.ids.user_id(owner), app_name, listed=True)
        if found is None:
            raise NotFoundError(f"the app {q(app_name)} of {owner} does not exist", operation=what)
        return int(found["ID"])

    async def ensure(self, attrs: Attrs) -> int:
        """The owner's app by name: created if missing, else brought to the attrs (a create
        that finds it converges instead of making a second app of that name)."""
        owner = text(attrs.get("owner"))
        name = text(attrs.get("name"))
        user_id = await self.ids.user_id(owner)
        what = f"app {q(name)} of {owner}"
        body = mapping.app_body(attrs, user_id)
        current = await self.find(user_id, name)
        if current is None:
            self._attempts.add((user_id, name))
            reply = await self.api.portal.create("/apps", body, what=what)
            app_id = new_id(reply, what)
            self.fresh.add(app_id)
            if self.ids.ix.apps is not None:
                self.ids.ix.apps[(user_id, name)] = {**body, "ID": app_id}
                self._attempts.discard((user_id, name))
            return app_id
        app_id = int(current["ID"])
        if mapping.app_differs(current, attrs):
            await self.api.portal.update(f"/apps/{app_id}", body, what=what)
            current.update(
                Description=body["Description"],
                RedirectURLs=body["RedirectURLs"],
                Visibility=body["Visibility"],
            )
        return app_id

    async def create(self, key: str, attrs: Attrs) -> str:
        return str(await self.ensure(attrs))

    async def update(self, live: LiveObject, attrs: Attrs) -> None:
        """Description, redirect URLs and visibility, in place (its credentials stay)."""
        owner = text(attrs.get("owner"))
        name = text(attrs.get("name"))
        body = mapping.app_body(attrs, await self.ids.user_id(owner))
        await self.api.portal.update(f"/apps/{live.id}", body, what=f"app {q(name)} of {owner}")
        found = (self.ids.ix.apps or {}).get((int(body["UserID"]), name))
        if found is not None and str(found.get("ID")) == live.id:
            found.update(
                Description=body["Description"],
                RedirectURLs=body["RedirectURLs"],
                Visibility=body["Visibility"],
            )

    async def delete(self, live: LiveObject, what: str) -> None:
        """Deleting an app removes its requests and revokes their credentials (the plan
        says so before)."""
        await self.api.portal.delete(f"/apps/{live.id}", what=what)
        apps_index = self.ids.ix.apps
        if apps_index is not None:
            for key, item in list(apps_index.items()):
                if str(item.get("ID")) == live.id:
                    del apps_index[key]
