"""ApiDoc and Guide: a product's documentation, declared in its Product manifest.

Canonical forms:

ApiDoc        key = "<product>/<apiId>"   (one per product API given `openapi` or `oasUrl`)
              {product, apiId,
               oasUrl ("" unless the manifest gives one),
               document ("" or the OpenAPI document's address "sha256:<hex>", a
                         documents.Content carrying the bytes uploaded)}
Guide         key = "<product>/<title>"
              {product, title, path (the manifest's, else made from the title),
               status ("published" | "draft" | "review"), markdown: true,
               content (the Markdown's address "sha256:<hex>", a Content carrying it),
               position (its place among the product's guides, from 0),
               order (write-only: the titles of the product's guides, in order)}

An uploaded OpenAPI document cannot be compared with the portal's copy at no cost, so the
address of what was uploaded is kept in the managed record (a note) and read back from there:
an unchanged document is never uploaded again. A guide's Markdown is read back from the
portal and compared by its address. Plans show addresses, never documents.

Neither kind has a manifest of its own: both are written inside their Product on import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any

from portal_gitops.kinds.base import Attrs, Building, Importing, Kind, slug
from portal_gitops.models import Product
from portal_gitops.state import Key

API_DOC = "ApiDoc"
DOCUMENTS = PurePosixPath(".documents")  # where import writes the documents it downloads
GUIDE = "Guide"


def doc_key(product: str, part: str) -> str:
    return f"{product}/{part}"


def guide_path(title: str) -> str:
    return slug(title, 100)


def build_api_docs(manifests: Sequence[Product], building: Building) -> None:
    for m in manifests:
        product = m.metadata.name
        for api in m.spec.apis:
            if api.openapi is None and api.oasUrl is None:
                continue
            document: Any = ""
            if api.openapi is not None:
                document = building.documents.get((product, api.openapi), "")
            key = doc_key(product, api.apiId)
            building.add(
                API_DOC,
                key,
                {
                    "product": product,
                    "apiId": api.apiId,
                    "oasUrl": api.oasUrl or "",
                    "document": document,
                },
            )
            # what the managed record remembers: the address of the document uploaded
            building.notes[(API_DOC, key)] = {"document": str(document)}


def build_guides(manifests: Sequence[Product], building: Building) -> None:
    for m in manifests:
        product = m.metadata.name
        order = [g.title for g in m.spec.guides]
        for position, guide in enumerate(m.spec.guides):
            if guide.file is not None:
                content: Any = building.documents.get((product, guide.file), "")
            else:
                content = building.inline(guide.content or "")
            building.add(
                GUIDE,
                doc_key(product, guide.title),
                {
                    "product": product,
                    "title": guide.title,
                    "path": guide.path or guide_path(guide.title),
                    "status": guide.status,
                    "markdown": True,
                    "content": content,
                    "position": position,
                    "order": order,
                },
            )


def documented(importing: Importing, product: str) -> tuple[dict[str, Any], list[Any]]:
    """What import writes inside a product: its APIs' documents by API ID (``oasUrl``, or
    ``openapi`` naming the file written beside the manifests) and its guides in order."""
    apis: dict[str, Any] = {}
    for o in importing.objects(API_DOC):
        a = o.attrs
        if a.get("product") != product:
            continue
        if a.get("oasUrl"):
            apis[str(a.get("apiId"))] = {"oasUrl": a["oasUrl"]}
        elif isinstance(data := getattr(a.get("document"), "data", None), bytes) and _utf8(data):
            ext = "json" if data.lstrip().startswith(b"{") else "yaml"
            # a folder whose name starts with a dot: the loader never reads it as manifests
            path = DOCUMENTS / slug(product) / f"{slug(str(a['apiId']))}.{ext}"
            importing.attach(path, data)
            apis[str(a.get("apiId"))] = {"openapi": f"../{path}"}  # from products/<name>.yaml
        else:
            importing.skip(API_DOC, o.key, "the portal's copy of its OpenAPI document is not text")
    guides = []
    for o in sorted(
        (o for o in importing.objects(GUIDE) if o.attrs.get("product") == product),
        key=lambda o: (o.attrs.get("position", 0), o.key),
    ):
        a = o.attrs
        data = getattr(a.get("content"), "data", None)
        if not isinstance(data, bytes) or not a.get("markdown", True):
            importing.skip(GUIDE, o.key, "its content is HTML, not Markdown")
            continue
        guide: dict[str, Any] = {"title": a["title"], "content": data.decode("utf-8")}
        if a.get("path") and a["path"] != guide_path(str(a["title"])):
            guide["path"] = a["path"]
        if a.get("status", "published") != "published":
            guide["status"] = a["status"]
        guides.append(guide)
    return apis, guides


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\x00" not in data


def _references(attrs: Attrs) -> set[Key]:
    return {("Product", str(attrs.get("product", "")))}


def _identity(part: str) -> Any:
    def identity(name: str, attrs: Attrs) -> str:
        return doc_key(name, str(attrs.get(part, "")))

    return identity


API_DOC_KIND = Kind(
    name=API_DOC,
    level=5,
    identity_doc='"<product>/<apiId>"',
    identity=_identity("apiId"),
    source="Product",
    build=build_api_docs,
    export=None,
    references=_references,
)

GUIDE_KIND = Kind(
    name=GUIDE,
    level=5,
    identity_doc='"<product>/<title>"',
    identity=_identity("title"),
    source="Product",
    build=build_guides,
    export=None,
    references=_references,
    # every guide carries the product's order of titles, so that whichever of a product's
    # guides is written last puts them all in place (its position is what is compared)
    write_only=frozenset({"order"}),
)


def note_of(notes: Mapping[Key, Mapping[str, Any]], key: str) -> str:
    """The address of the document last uploaded for an ApiDoc, from the managed record."""
    note = notes.get((API_DOC, key)) or {}
    value = note.get("document")
    return value if isinstance(value, str) else ""
