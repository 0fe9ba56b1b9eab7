"""A product's documentation <-> the portal's JSON (pure): each API's details (``OASUrl``) and
its OpenAPI document's address, and the product's tutorial pages (``Post``) as guides.

The portal's ``APIDetail-update`` sets an API's ``OASUrl``; its document is uploaded as the
multipart ``file`` of ``POST /products/{id}/api-details/{api_id}/oas``. A guide is a ``Post``
(``Post-create``: ``Title``, ``Content``, ``Path``, ``Status`` required) written as Markdown
(``MarkdownEnabled``); its place is set through ``POST /products/{id}/docs/reorder``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from portal_gitops.backends.base import ManagedRecord
from portal_gitops.backends.tyk.quirks import text
from portal_gitops.errors import ValidationFailed
from portal_gitops.state import Content

Json = dict[str, Any]


def api_doc_attrs(product: str, api_id: str, detail: Mapping[str, Any], document: str) -> Json:
    """Read: an API's documentation (its details, and the recorded document's address)."""
    return {
        "product": product,
        "apiId": api_id,
        "oasUrl": text(detail.get("OASUrl")),
        "document": document,
    }


def api_detail_body(current: Mapping[str, Any], oas_url: str) -> Json:
    """Write: APIDetail-update, the current description kept, the OAS URL set ("" clears)."""
    return {"Description": text(current.get("Description")), "OASUrl": oas_url}


def document_bytes(attrs: Mapping[str, Any], field: str, operation: str) -> bytes:
    """The document an ApiDoc or Guide carries (documents.py read it with the manifests)."""
    value = attrs.get(field)
    data = getattr(value, "data", None)
    if not isinstance(data, bytes):
        raise ValidationFailed(
            f"the document ({value or 'none'}) is not available here: apply from the "
            "repository that holds the manifests",
            operation=operation,
        )
    return data


def oas_file(api_id: str, data: bytes) -> tuple[str, str]:
    """The uploaded file's name and content type (JSON or YAML)."""
    if data.lstrip().startswith(b"{"):
        return f"{api_id}.json", "application/json"
    return f"{api_id}.yaml", "application/x-yaml"


def guide_attrs(product: str, post: Mapping[str, Any], position: int) -> Json:
    """Read: a tutorial page (Post-index-elem) at its place among the product's pages."""
    return {
        "product": product,
        "title": text(post.get("Title")),
        "path": text(post.get("Path")),
        "status": text(post.get("Status")) or "published",
        "markdown": post.get("MarkdownEnabled") is True,
        "content": Content(text(post.get("Content")).encode("utf-8")),
        "position": position,
    }


def post_body(attrs: Mapping[str, Any], content: bytes) -> Json:
    """Write: Post-create / Post-update for a guide."""
    return {
        "Title": text(attrs.get("title")),
        "Content": content.decode("utf-8"),
        "MarkdownEnabled": True,
        "Path": text(attrs.get("path")),
        "Status": text(attrs.get("status")) or "published",
    }


def reordered(pages: list[tuple[int, str]], order: list[str]) -> list[int]:
    """The product's pages (ID, title) in the manifest's ``order`` of titles, the pages it
    does not name after them in their current order."""
    rank = {title: i for i, title in enumerate(order)}
    known = sorted((p for p in pages if p[1] in rank), key=lambda p: rank[p[1]])
    return [i for i, _ in known] + [i for i, title in pages if title not in rank]


def product_docs(
    product: Mapping[str, Any], posts: Mapping[int, list[Json]], record: ManagedRecord
) -> Iterator[tuple[str, str, str, Json]]:
    """Read: a product's ApiDoc and Guide objects as (kind, key, live id, attrs).

    An API has an ApiDoc when it has an ``OASUrl``, or when the managed record says a
    document was uploaded for it (its address, the record's note: the portal's copy is
    compared only by import, which downloads it)."""
    name = text(product.get("Name"))
    product_id = product["ID"]
    for detail in product.get("APIDetails") or ():
        if not isinstance(detail, Mapping) or not text(detail.get("APIID")):
            continue
        api_id = text(detail.get("APIID"))
        key = f"{name}/{api_id}"
        note = record.notes.get(("ApiDoc", key)) if ("ApiDoc", key) in record.objects else None
        document = text((note or {}).get("document"))
        if text(detail.get("OASUrl")) or document:
            yield (
                "ApiDoc",
                key,
                f"{product_id}/{api_id}",
                api_doc_attrs(name, api_id, detail, document),
            )
    for position, post in enumerate(posts.get(int(product_id), ())):
        guide = guide_attrs(name, post, position)
        yield "Guide", f"{name}/{guide['title']}", f"{product_id}/{post.get('ID')}", guide
