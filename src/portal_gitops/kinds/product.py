"""Product: a portal API product and the access-rights-only Dashboard policy behind it.

Canonical form:

Product       key = name
              {provider, displayName, description, content, tags (sorted),
               apis (sorted API ids: the portal's APIDetails),
               policy: {partitions: {acl: true, quota: false, rate_limit: false},
                        active: true, state: "active",
                        accessRights: [{apiId, versions (sorted; none named = what the
                                                  API defines, see with_default_versions),
                                        allowedUrls: [{url, methods (sorted)}] (sorted by url)}]
                                      (sorted by apiId)}}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any

from portal_gitops.kinds.base import (
    ACTIVE,
    Attrs,
    Building,
    Importing,
    Kind,
    backing_policy,
    by_name,
    on_provider,
    slug,
)
from portal_gitops.kinds.docs import documented
from portal_gitops.models import Product
from portal_gitops.state import LiveApi, LiveObject

PARTITIONS = {"acl": True, "quota": False, "rate_limit": False}
MIXED = (
    "its Dashboard policy carries limits as well as access rights (partitions {}); "
    "split it into a product and a plan"
)


def product_attrs(spec: Any) -> dict[str, Any]:
    """A product spec (manifest) -> its canonical attrs."""
    rights = [
        {
            "apiId": api.apiId,
            "versions": sorted(set(api.versions)),
            "allowedUrls": sorted(
                ({"url": u.url, "methods": sorted(set(u.methods))} for u in api.allowedUrls),
                key=lambda u: (u["url"], u["methods"]),
            ),
        }
        for api in spec.apis
    ]
    rights.sort(key=lambda r: r["apiId"])
    return {
        "provider": spec.provider,
        "displayName": spec.displayName,
        "description": spec.description,
        "content": spec.content,
        "tags": sorted(set(spec.tags)),
        "apis": [r["apiId"] for r in rights],
        "policy": {"partitions": dict(PARTITIONS), **ACTIVE, "accessRights": rights},
    }


def with_default_versions(attrs: Attrs, apis: Mapping[str, LiveApi] | None) -> Attrs:
    """A product's attrs with every API that names no versions granted the versions the API
    defines (``LiveApi.defaults``: ``["Default"]`` when not versioned, else all its versions).

    An empty ``versions`` would be written as ``[]``, and the Gateway denies every request to
    a versioned API with it (REFERENCE §9 "API ids"). The API definitions are read from the
    provider's Dashboard, so this runs after the read (pure); ``apis`` None (not read) or an
    unknown API leaves the attrs as they are.
    """
    rights = attrs.get("policy", {}).get("accessRights", [])
    if not apis or not any(not r.get("versions") and r.get("apiId") in apis for r in rights):
        return attrs
    filled = [
        {**r, "versions": sorted(apis[r["apiId"]].defaults)}
        if not r.get("versions") and r.get("apiId") in apis
        else r
        for r in rights
    ]
    return {**attrs, "policy": {**attrs["policy"], "accessRights": filled}}


def build(manifests: Sequence[Product], building: Building) -> None:
    for m in manifests:
        building.add("Product", m.metadata.name, product_attrs(m.spec))


def file_of(name: str) -> PurePosixPath:
    return PurePosixPath("products") / f"{slug(name)}.yaml"


def export(objects: Sequence[LiveObject], importing: Importing) -> None:
    """Products whose policy grants access rights only, and to at least one API."""
    for o in objects:
        a = o.attrs
        policy = backing_policy(o, importing, PARTITIONS, MIXED)
        if policy is None:
            continue
        apis = [_api(r) for r in policy.get("accessRights", [])]
        if not apis:
            importing.skip("Product", o.key, "its policy grants access to no API")
            continue
        spec: dict[str, Any] = {"provider": a["provider"]}
        for f in ("displayName", "description", "content"):
            if a.get(f):
                spec[f] = a[f]
        documents, guides = documented(importing, o.key)
        for api in apis:
            api.update(documents.get(api["apiId"], {}))
        spec["apis"] = apis
        if a.get("tags"):
            spec["tags"] = list(a["tags"])
        if guides:
            spec["guides"] = guides
        importing.write(file_of(o.key), "Product", o.key, spec)


def _api(right: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"apiId": right["apiId"]}
    if right.get("versions"):
        out["versions"] = list(right["versions"])
    if right.get("allowedUrls"):
        out["allowedUrls"] = [
            {"url": u["url"], "methods": list(u["methods"])} for u in right["allowedUrls"]
        ]
    return out


KIND = Kind(
    name="Product",
    level=4,
    identity_doc="name",
    identity=by_name,
    source="Product",
    build=build,
    export=export,
    references=on_provider,
    # the portal cannot move a product to another provider: it is deleted and created again
    replace_on_field="provider",
    partitions=PARTITIONS,
)
