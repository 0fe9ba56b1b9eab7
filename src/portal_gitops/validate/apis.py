"""Products against the APIs their provider's Dashboard defines (pure): run by ``plan`` after
the live state is read, before anything is applied.

Tyk's facts (tyk-api/REFERENCE.md §9 "API ids"): a product's ``APIID`` must exist on its
provider's Dashboard ((inferred) the portal refuses a product naming an unknown API), and a
policy's ``access_rights[api].versions`` must name versions the API defines. Caught here, the
whole plan fails with one error per unknown id or version, instead of an apply failing midway.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from portal_gitops.errors import Issue
from portal_gitops.load import Source
from portal_gitops.models import Manifest, Product
from portal_gitops.source import Path, format_path
from portal_gitops.state import LiveApi

ApisOf = Callable[[str], Mapping[str, LiveApi] | None]


def check_product_apis(
    manifests: Iterable[tuple[Manifest, Source]], apis_of: ApisOf
) -> list[Issue]:
    """One error per API id a product names that its provider's Dashboard does not define,
    and per version the API does not define. Providers whose Dashboard was not read (None)
    are not checked."""
    issues: list[Issue] = []
    for model, doc in manifests:
        if not isinstance(model, Product):
            continue
        provider = model.spec.provider
        apis = apis_of(provider)
        if apis is None:
            continue

        def issue(path: Path, message: str, product: Product = model, doc: Source = doc) -> None:
            line = doc.positions.line_of(path)
            name = product.metadata.name
            issues.append(Issue(doc.file, line, message, "Product", name, format_path(path)))

        for i, api in enumerate(model.spec.apis):
            live = apis.get(api.apiId)
            if live is None:
                issue(
                    ("spec", "apis", i, "apiId"),
                    f'API "{api.apiId}" is not defined on the Dashboard of provider "{provider}"',
                )
                continue
            for j, version in enumerate(api.versions):
                if version not in live.versions:
                    issue(
                        ("spec", "apis", i, "versions", j),
                        f'API "{api.apiId}" has no version "{version}" (it defines '
                        + ", ".join(f'"{v}"' for v in live.versions)
                        + ")",
                    )
    return issues
