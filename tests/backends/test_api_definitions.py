"""The provider's Dashboard APIs, on both transports (embedded and tyk over HTTP).

Tyk's facts (tyk-api/REFERENCE.md §9 "API ids"; Dashboard spec ``getApis``/``getApi``): a
product's ``APIID`` must exist on its provider's Dashboard ((inferred) the portal refuses an
unknown one), a policy's ``access_rights[api].versions`` must name versions the API defines, and
``GET /api/apis`` lists the definitions with their ``version_data``.
"""

from __future__ import annotations

import pytest

from portal_gitops.backends.tyk.backend import PortalBackend
from portal_gitops.errors import BackendError, ValidationFailed
from tests.apis import api_definition
from tests.backends.conftest import PROVIDER, Target
from tests.backends.test_backend_behaviour import product_attrs, provider_attrs

pytestmark = pytest.mark.anyio


async def test_read_gives_each_providers_apis_with_their_versions(
    backend: PortalBackend, target: Target
) -> None:
    await backend.create("Provider", PROVIDER, provider_attrs(target))
    dashboard = backend.dashboard_for(PROVIDER)
    await dashboard.request(
        "POST", "/api/apis", operation="create API", body=api_definition("plain-api")
    )
    await dashboard.request(
        "POST",
        "/api/apis",
        operation="create API",
        body=api_definition("versioned-api", ["v1", "v2"], default="v2"),
    )
    live = await backend.read()
    apis = live.apis_of(PROVIDER)
    assert apis is not None
    plain, versioned = apis["plain-api"], apis["versioned-api"]
    assert (plain.versioned, plain.versions, plain.defaults) == (False, ("Default",), ("Default",))
    assert (versioned.versioned, versioned.versions) == (True, ("v1", "v2"))
    assert versioned.defaults == ("v1", "v2")


async def test_portal_refuses_a_product_naming_an_unknown_api(
    backend: PortalBackend, target: Target
) -> None:
    await backend.create("Provider", PROVIDER, provider_attrs(target))
    attrs = product_attrs(apis=["no-such-api"])
    attrs["policy"]["accessRights"][0]["apiId"] = "no-such-api"
    with pytest.raises(ValidationFailed, match="no-such-api"):
        await backend.create("Product", "ghost", attrs)
    assert (await backend.read()).get("Product", "ghost") is None


async def test_dashboard_refuses_a_version_the_api_does_not_define(
    backend: PortalBackend, target: Target
) -> None:
    await backend.create("Provider", PROVIDER, provider_attrs(target))
    attrs = product_attrs()
    attrs["policy"]["accessRights"][0]["versions"] = ["v9"]
    with pytest.raises(BackendError, match="v9"):
        await backend.create("Product", "weather", attrs)
