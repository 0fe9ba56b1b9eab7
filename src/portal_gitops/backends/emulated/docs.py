"""The emulated portal's product documentation: each API's details (``/api-details``), its
OpenAPI document (``/api-details/{api_id}/oas``, uploaded as the multipart ``file`` the spec
documents) and the product's tutorials (``/docs``, with ``/docs/reorder``).

Stored as objects of kind ``oas`` (one per product API holding a document) and ``doc`` (one per
tutorial page, with its position), under their product; deleting a product deletes them.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
from typing import TYPE_CHECKING, Any

import yaml

from portal_gitops.backends.emulated.db import Row, Tx, slug, timestamp
from portal_gitops.backends.emulated.replies import (
    Params,
    RawBody,
    Reply,
    Req,
    RouteTable,
    bool_field,
    need,
    need_child,
    perr,
    portal_page,
    required,
    str_field,
)

if TYPE_CHECKING:
    from portal_gitops.backends.emulated.store import PortalStore

route = RouteTable()

MAX_OAS_BYTES = 10 * 1024 * 1024
POST_STATUSES = ("published", "draft", "review")  # the spec's Post status enum


def _api_of(tx: Tx, p: Params, status: int = 404) -> tuple[Row, Row]:
    product = need(tx, "product", p["id"], "product", status)
    detail = next((d for d in product["APIDetails"] if d["APIID"] == p["api"]), None)
    if detail is None:
        raise perr(status, f"API {p['api']} is not in this product")
    return product, detail


def _oas_row(tx: Tx, product_id: int, api_id: str) -> Row | None:
    return tx.by_name("oas", api_id, parent=product_id)


def delete_product_docs(tx: Tx, product_id: int) -> None:
    """A product's documents go with it."""
    for kind in ("oas", "doc"):
        for row in tx.rows(kind, parent=product_id):
            tx.delete(kind, row["ID"])


# -- api details -----------------------------------------------------------------------------------


def _detail(row: Row) -> Row:
    """APIDetail-show."""
    return {
        "APIID": row["APIID"],
        "APIType": row.get("APIType", ""),
        "Description": row.get("Description", ""),
        "ListenPath": row.get("ListenPath", ""),
        "Name": row.get("Name") or row["APIID"],
        "OASUrl": row.get("OASUrl", ""),
        "Status": True,
        "TargetURL": row.get("TargetURL", ""),
    }


@route("GET", "/products/{id}/api-details")
def _details_list(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    product = need(tx, "product", p["id"], "product")
    off, lim = portal_page(store, req)
    rows = product["APIDetails"][off : off + lim if lim >= 0 else None]
    return 200, [{k: v for k, v in _detail(d).items() if k != "Description"} for d in rows]


@route("GET", "/products/{id}/api-details/{api}")
def _details_get(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    return 200, _detail(_api_of(tx, p)[1])


@route("PUT", "/products/{id}/api-details/{api}")
def _details_update(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    """APIDetail-update: Description, Name, OASUrl, Status (the fields a request omits stay)."""
    product, detail = _api_of(tx, p, 422)
    body = req.json()
    for field in ("Description", "Name", "OASUrl"):
        if field in body:
            detail[field] = str_field(body, field)
    if "Status" in body:
        bool_field(body, "Status")
    oas_url = detail.get("OASUrl", "")
    if oas_url and not oas_url.startswith(("http://", "https://")):
        raise perr(422, "OASUrl must be an http(s) URL")
    product["UpdatedAt"] = timestamp()
    tx.save("product", product)
    return 200, {k: v for k, v in _detail(detail).items() if k != "APIID"}


# -- the OpenAPI document --------------------------------------------------------------------------


def _uploaded_file(req: Req) -> bytes:
    """The ``file`` part of a multipart/form-data body (the spec's update-oas request)."""
    ctype = req.headers.get("content-type", "")
    if not ctype.lower().startswith("multipart/form-data") or "boundary=" not in ctype:
        raise perr(422, "the OAS file must be sent as multipart/form-data")
    if len(req.body) > MAX_OAS_BYTES:
        raise perr(422, "the OAS file is too large")
    head = f"Content-Type: {ctype}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + req.body)
    if not message.is_multipart():
        raise perr(422, "malformed multipart body")
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes) and payload:
                return payload
    raise perr(422, "no oas specified: the multipart body has no 'file' part")


def _check_oas(data: bytes) -> None:
    """The portal keeps only a valid OAS document (the spec: "must be a valid OAS document")."""
    try:
        doc: Any = yaml.safe_load(data.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError):
        raise perr(422, "the OAS file is not valid YAML or JSON") from None
    if not isinstance(doc, dict) or not (
        isinstance(doc.get("openapi"), str) or isinstance(doc.get("swagger"), str)
    ):
        raise perr(422, "the OAS file is not an OpenAPI document")
    if not isinstance(doc.get("info"), dict):
        raise perr(422, "the OAS file has no info object")


@route("GET", "/products/{id}/api-details/{api}/oas")
def _oas_get(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    product, _ = _api_of(tx, p, 422)
    row = _oas_row(tx, product["ID"], p["api"])
    if row is None:
        raise perr(422, "no oas specified")
    return 200, RawBody(row["Document"].encode("utf-8"), "application/x-yaml")


@route("POST", "/products/{id}/api-details/{api}/oas")
def _oas_upload(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    product, _ = _api_of(tx, p, 422)
    data = _uploaded_file(req)
    _check_oas(data)
    row = _oas_row(tx, product["ID"], p["api"])
    document = data.decode("utf-8")
    if row is None:
        tx.insert("oas", {"Name": p["api"], "ProductID": product["ID"], "Document": document})
    else:
        row["Document"] = document
        tx.save("oas", row)
    return 200, None


@route("DELETE", "/products/{id}/api-details/{api}/oas")
def _oas_delete(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    product, _ = _api_of(tx, p, 422)
    row = _oas_row(tx, product["ID"], p["api"])
    if row is not None:
        tx.delete("oas", row["ID"])
    return 200, None


# -- tutorials (posts) -----------------------------------------------------------------------------


def _post(row: Row) -> Row:
    """Post-index-elem."""
    return {
        "ID": row["ID"],
        "Title": row["Title"],
        "Lede": row.get("Lede", ""),
        "Content": row["Content"],
        "MarkdownEnabled": row["MarkdownEnabled"],
        "Status": row["Status"],
        "Type": "tutorial",
        "Path": row["Path"],
        "Categories": [],
        "Tags": [],
        "CreatedAt": row["CreatedAt"],
        "UpdatedAt": row["UpdatedAt"],
    }


def _ordered(tx: Tx, product_id: int) -> list[Row]:
    return sorted(tx.rows("doc", parent=product_id), key=lambda r: (r["Position"], r["ID"]))


def _post_fields(body: Row, row: Row) -> None:
    for field in ("Title", "Lede", "Content", "Path", "MarkdownContent", "PreviewContent"):
        if field in body:
            row[field] = str_field(body, field)
    if "MarkdownEnabled" in body:
        row["MarkdownEnabled"] = bool_field(body, "MarkdownEnabled")
    if "Status" in body:
        status = str_field(body, "Status")
        if status not in POST_STATUSES:
            raise perr(422, f"Status must be one of {', '.join(POST_STATUSES)}")
        row["Status"] = status
    for field in ("Categories", "Tags"):
        value = body.get(field)
        if value not in (None, []):
            raise perr(422, f"{field}: no such {field.lower()}")


@route("GET", "/products/{id}/docs")
def _docs_list(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    product = need(tx, "product", p["id"], "product")
    off, lim = portal_page(store, req)
    rows = _ordered(tx, product["ID"])[off : off + lim if lim >= 0 else None]
    return 200, [_post(r) for r in rows]


@route("POST", "/products/{id}/docs")
def _docs_create(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    product = need(tx, "product", p["id"], "product", 422)
    body = req.json()
    required(body, "Content", "Path", "Title", "Status")
    now = timestamp()
    row: Row = {
        "Name": "",
        "ProductID": product["ID"],
        "MarkdownEnabled": False,
        "Position": len(tx.rows("doc", parent=product["ID"])),
        "CreatedAt": now,
        "UpdatedAt": now,
    }
    _post_fields(body, row)
    row["Name"] = row["Title"]
    row["Path"] = slug(row["Path"]) or slug(row["Title"])
    created = tx.insert("doc", row)
    reply = _post(created)
    return 201, {k: v for k, v in reply.items() if k not in ("Type", "CreatedAt", "UpdatedAt")}


@route("POST", "/products/{id}/docs/reorder")
def _docs_reorder(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    product = need(tx, "product", p["id"], "product", 400)
    try:
        order = json.loads(req.body or b"null")
    except ValueError:
        raise perr(400, "malformed JSON body") from None
    if not isinstance(order, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in order
    ):
        raise perr(400, "the body is an array of tutorial page IDs")
    rows = {r["ID"]: r for r in tx.rows("doc", parent=product["ID"])}
    if sorted(order) != sorted(rows):
        raise perr(400, "the array must list every tutorial page of the product once")
    for position, doc_id in enumerate(order):
        rows[doc_id]["Position"] = position
        tx.save("doc", rows[doc_id])
    return 200, None


def _doc_of(tx: Tx, p: Params, status: int = 404) -> Row:
    product = need(tx, "product", p["id"], "product", status)
    return need_child(tx, "doc", p["doc"], "tutorial page", ("ProductID", product["ID"]), status)


@route("GET", "/products/{id}/docs/{doc}")
def _docs_get(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    return 200, _post(_doc_of(tx, p))


@route("PUT", "/products/{id}/docs/{doc}")
def _docs_update(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    row = _doc_of(tx, p, 422)
    body = req.json()
    required(body, "Title", "Status")
    _post_fields(body, row)
    row["Name"] = row["Title"]
    row["UpdatedAt"] = timestamp()
    return 200, _post(tx.save("doc", row))


@route("DELETE", "/products/{id}/docs/{doc}")
def _docs_delete(store: PortalStore, tx: Tx, req: Req, p: Params) -> Reply:
    row = _doc_of(tx, p)
    tx.delete("doc", row["ID"])
    rest = _ordered(tx, row["ProductID"])
    for position, other in enumerate(rest):
        if other["Position"] != position:
            other["Position"] = position
            tx.save("doc", other)
    return 200, {"status": "ok"}


def snapshot_posts(tx: Tx) -> dict[int, list[Row]]:
    """Every product's tutorial pages in order (as ``GET /products/{id}/docs`` lists them)."""
    by_product: dict[int, list[Row]] = {}
    for row in sorted(tx.rows("doc"), key=lambda r: (r["Position"], r["ID"])):
        by_product.setdefault(row["ProductID"], []).append(_post(row))
    return by_product
