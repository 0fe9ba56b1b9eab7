"""Products against the APIs their provider's Dashboard defines (pure): run by ``plan`` after
the live state is read, before anything is applied.

Tyk's facts (tyk-api/REFERENCE.md §9 "API ids"): a product's ``APIID`` must exist on its
provider's Dashboard ((inferred) the portal refuses a product naming an unknown API), and a
policy's ``access_rights[api].versions`` must name versions the API defines. Caught here, the
whole plan fails with one error per unknown id or version, instead of an apply failing midway.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from portal_gitops.errors import Issue
from portal_gitops.load import Source
from portal_gitops.models import Manifest, Product, Provider
from portal_gitops.source import Path, format_path
from portal_gitops.state import LiveApi

if TYPE_CHECKING:
    from portal_gitops.validate import ValidationResult

ApisOf = Callable[[str], Mapping[str, LiveApi] | None]


@dataclass(frozen=True, slots=True)
class ProductApis:
    """What the check needs of one product manifest, kept through a plan's read instead of
    the product's model (most of what a model holds is not needed once the desired state is
    built)."""

    name: str
    provider: str
    apis: tuple[tuple[str, tuple[str, ...]], ...]  # (apiId, versions), as the manifest lists
    doc: Source


def products_apis(manifests: Iterable[tuple[Manifest, Source]]) -> list[ProductApis]:
    """The products among ``manifests``, in order, as the check needs them."""
    return [
        ProductApis(
            model.metadata.name,
            model.spec.provider,
            tuple((api.apiId, tuple(api.versions)) for api in model.spec.apis),
            doc,
        )
        for model, doc in manifests
        if isinstance(model, Product)
    ]


def providers_only(result: ValidationResult) -> ValidationResult:
    """``result`` with only its provider manifests (their Dashboards): what a plan needs of
    the manifests once the desired state is built and ``products_apis`` taken. The rest,
    held through the read, was most of what validate keeps of a large estate."""
    kept: list[tuple[Manifest, Source]] = [
        (m, doc) for m, doc in result.manifests if isinstance(m, Provider)
    ]
    return replace(result, manifests=kept)


def check_product_apis(products: Iterable[ProductApis], apis_of: ApisOf) -> list[Issue]:
    """One error per API id a product names that its provider's Dashboard does not define,
    and per version the API does not define. Providers whose Dashboard was not read (None)
    are not checked."""
    issues: list[Issue] = []
    for product in products:
        provider = product.provider
        apis = apis_of(provider)
        if apis is None:
            continue

        def issue(path: Path, message: str, product: ProductApis = product) -> None:
            line = product.doc.positions.line_of(path)
            issues.append(
                Issue(product.doc.file, line, message, "Product", product.name, format_path(path))
            )

        for i, (api_id, versions) in enumerate(product.apis):
            live = apis.get(api_id)
            if live is None:
                issue(
                    ("spec", "apis", i, "apiId"),
                    f'API "{api_id}" is not defined on the Dashboard of provider "{provider}"',
                )
                continue
            for j, version in enumerate(versions):
                if version not in live.versions:
                    issue(
                        ("spec", "apis", i, "versions", j),
                        f'API "{api_id}" has no version "{version}" (it defines '
                        + ", ".join(f'"{v}"' for v in live.versions)
                        + ")",
                    )
    return issues
