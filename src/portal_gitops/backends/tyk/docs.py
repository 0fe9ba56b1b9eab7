"""Writing a product's documentation: each API's OpenAPI document (uploaded, or its URL set)
and the product's guides (tutorial pages, kept in the manifest's order). Mapping in
``docs_mapping.py``; what is read back is assembled with the products (``assemble.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from portal_gitops.backends.tyk import docs_mapping as m
from portal_gitops.backends.tyk.ids import Ids, q
from portal_gitops.backends.tyk.quirks import as_int, text
from portal_gitops.errors import NotFoundError, ServerError
from portal_gitops.state import LiveObject

Attrs = Mapping[str, Any]


def _split(live_id: str) -> tuple[int, str]:
    product, _, part = live_id.partition("/")
    return int(product), part


class Docs:
    """Create, update and delete ApiDoc and Guide objects."""

    def __init__(self, ids: Ids) -> None:
        self.ids = ids
        self.api = ids.api
        self._orders: dict[int, asyncio.Lock] = {}  # one reorder of a product at a time

    async def _product(self, attrs: Attrs) -> int:
        (product_id,) = await self.ids.product_ids([text(attrs.get("product"))])
        return product_id

    # -- ApiDoc ----------------------------------------------------------------------------

    async def create_api_doc(self, key: str, attrs: Attrs) -> str:
        product_id = await self._product(attrs)
        await self._api_doc(product_id, key, attrs, None)
        return f"{product_id}/{text(attrs.get('apiId'))}"

    async def update_api_doc(self, live: LiveObject, attrs: Attrs) -> None:
        product_id, _ = _split(live.id)
        await self._api_doc(product_id, live.key, attrs, live.attrs)

    async def delete_api_doc(self, live: LiveObject) -> None:
        product_id, api_id = _split(live.id)
        what = f"OpenAPI document of {q(live.key)}"
        base = f"/products/{product_id}/api-details/{api_id}"
        try:  # the product (or its API) gone, replaced or deleted, took the document along
            await self.api.portal.get(base, what=what)
        except NotFoundError:
            return
        if live.attrs.get("document"):
            await self.api.portal.delete(f"{base}/oas", what=what)
        if live.attrs.get("oasUrl"):
            await self._set_url(base, "", what)

    async def _api_doc(self, product_id: int, key: str, attrs: Attrs, live: Attrs | None) -> None:
        api_id = text(attrs.get("apiId"))
        base = f"/products/{product_id}/api-details/{api_id}"
        what = f"OpenAPI document of {q(key)}"
        document = attrs.get("document") or ""
        if document and (live is None or live.get("document") != document):
            data = m.document_bytes(attrs, "document", f"upload {what}")
            name, ctype = m.oas_file(api_id, data)
            await self.api.portal.upload(f"{base}/oas", "file", name, data, ctype, what=what)
        elif not document and live is not None and live.get("document"):
            await self.api.portal.delete(f"{base}/oas", what=what)
        url = text(attrs.get("oasUrl"))
        if live is None or text(live.get("oasUrl")) != url:
            await self._set_url(base, url, what, skip_if_same=live is None)

    async def _set_url(self, base: str, url: str, what: str, *, skip_if_same: bool = False) -> None:
        current = await self.api.portal.get(base, what=what)
        if skip_if_same and text(current.get("OASUrl")) == url:
            return
        await self.api.portal.update(base, m.api_detail_body(current, url), what=what)

    # -- Guide -----------------------------------------------------------------------------

    def _pages_of(self, product_id: int) -> asyncio.Lock:
        """One change to a product's pages at a time: a reorder names every page, so a page
        made while it is under way would be missing from it (400)."""
        return self._orders.setdefault(product_id, asyncio.Lock())

    async def create_guide(self, key: str, attrs: Attrs) -> str:
        product_id = await self._product(attrs)
        async with self._pages_of(product_id):
            return await self._create_guide(product_id, key, attrs)

    async def _create_guide(self, product_id: int, key: str, attrs: Attrs) -> str:
        what = f"guide {q(key)}"
        body = m.post_body(attrs, m.document_bytes(attrs, "content", f"create {what}"))
        path = f"/products/{product_id}/docs"
        reply = await self.api.portal.create(path, body, what=what)
        page = as_int(reply.get("ID"))
        if page is None:  # Post-create documents no ID in its reply: find the page by title
            pages = await self.api.portal.list_all(path, what=f"guides of {q(key)}")
            page = next(
                (
                    as_int(p.get("ID"))
                    for p in reversed(pages)
                    if text(p.get("Title")) == body["Title"]
                ),
                None,
            )
            if page is None:
                raise ServerError("the created page is not listed", operation=f"create {what}")
        await self._place(product_id, attrs, key)
        return f"{product_id}/{page}"

    async def update_guide(self, live: LiveObject, attrs: Attrs) -> None:
        product_id, page = _split(live.id)
        what = f"guide {q(live.key)}"
        body = m.post_body(attrs, m.document_bytes(attrs, "content", f"update {what}"))
        async with self._pages_of(product_id):
            await self.api.portal.update(f"/products/{product_id}/docs/{page}", body, what=what)
            await self._place(product_id, attrs, live.key)

    async def delete_guide(self, live: LiveObject) -> None:
        product_id, page = _split(live.id)
        async with self._pages_of(product_id):
            await self.api.portal.delete(
                f"/products/{product_id}/docs/{page}", what=f"guide {q(live.key)}"
            )

    async def _place(self, product_id: int, attrs: Attrs, key: str) -> None:
        """Put the product's pages in the manifest's order (POST docs/reorder) when they are
        not; the caller holds the product's pages. Every guide does it after its write, so
        the last one written leaves them all in place."""
        path = f"/products/{product_id}/docs"
        listed = await self.api.portal.list_all(path, what=f"guides of {q(key)}")
        pages = [
            (i, text(p.get("Title"))) for p in listed if (i := as_int(p.get("ID"))) is not None
        ]
        order = [str(t) for t in attrs.get("order") or [attrs.get("title")]]
        wanted = m.reordered(pages, order)
        if wanted != [i for i, _ in pages]:
            await self.api.portal.request(
                "POST", f"{path}/reorder", operation=f"reorder guides of {q(key)}", body=wanted
            )
