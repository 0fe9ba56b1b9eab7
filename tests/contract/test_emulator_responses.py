"""Every emulator reply, over a real socket, validated against Tyk's OpenAPI documents.

A realistic session (provider, organisation, team, consumer, product, plan, catalogue, audience,
app, provisioning, approval, credentials, Dashboard policies, then teardown) runs through httpx
against ``running_emulator``; each response is checked by openapi-core against the documented
schema of its operation and status. The slips in the documents (see conftest.py) are patched with
their reasons. It runs once per reply shape the reconciler must accept: the spec's plans list
(``{"data": [...]}``), the bare array real portals send, and the pre-1.13 limit strings.
The emulator's own behaviour (fault injection, health, settings) is tested at the end.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from portal_gitops.backends.emulated.server import FaultConfig, running_emulator, settings_from_env
from portal_gitops.backends.emulated.store import PortalStore
from portal_gitops.errors import PortalGitopsError
from tests.apis import TEST_APIS

from .conftest import (
    PORTAL_HOST,
    Contract,
    SpecRequest,
    SpecResponse,
    _load,
    error_schemas,
    portal_openapi,
)

PORTAL_TOKEN = "portal-admin-token"
DASHBOARD_SECRET = "dashboard-secret"
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$")
META = json.dumps(
    {
        "URL": "http://localhost:3000",
        "Secret": DASHBOARD_SECRET,
        "OrgID": "5e9d9544a1dcd60001d0ed20",
        "Gateway": "http://localhost:8080",
        "PoliciesTags": ["portal"],
        "InsecureSkipVerify": False,
    }
)
MODES = [
    pytest.param(("spec", False), id="plans-data-object"),
    pytest.param(("bare", False), id="plans-bare-array"),
    pytest.param(("bare", True), id="legacy-limit-strings"),
    # the other positions of the switches where REFERENCE §9 calls Tyk unsettled
    pytest.param(
        (
            "spec",
            False,
            {
                "product_update_api_ids": "honour",
                "policy_on_delete": "keep",
                "portal_max_per_page": 2,
            },
        ),
        id="apiid-honoured-policy-kept-per-page-capped",
    ),
]


@pytest.fixture(params=MODES)
def contract(request: pytest.FixtureRequest, dashboard_openapi: Any) -> Iterator[Contract]:
    shape, legacy, *more = request.param
    options = more[0] if more else {}
    store = PortalStore(
        ":memory:",
        apis=TEST_APIS,
        plans_list_shape=shape,
        legacy_limit_strings=legacy,
        **options,
    )
    only_errors, api_response = error_schemas()
    with (
        running_emulator(
            store, portal_token=PORTAL_TOKEN, dashboard_secret=DASHBOARD_SECRET
        ) as url,
        httpx.Client(base_url=url, timeout=10) as client,
    ):
        yield Contract(
            client=client,
            portal=portal_openapi(shape, legacy),
            dashboard=dashboard_openapi,
            portal_token=PORTAL_TOKEN,
            dashboard_secret=DASHBOARD_SECRET,
            only_errors=only_errors,
            api_response=api_response,
        )
    store.close()


def test_portal_session_conforms(contract: Contract) -> None:
    c = contract.call
    # -- built-ins and auth
    c("GET", "/portal-api/organisations", expect=401, auth=False, undocumented=True)
    orgs = c("GET", "/portal-api/organisations")
    assert orgs[0]["Name"] == "Default Organisation"
    c("GET", "/portal-api/organisations/1/teams")
    c("GET", "/portal-api/catalogues")
    c("GET", "/portal-api/users")

    # -- provider
    provider = c(
        "POST",
        "/portal-api/providers",
        json_body={"Name": "Tyk Dashboard", "Type": "tyk-pro", "Configuration": {"MetaData": META}},
    )
    pid = provider["ID"]
    c("GET", f"/portal-api/providers/{pid}")
    c("GET", "/portal-api/providers")
    c(
        "PUT",
        f"/portal-api/providers/{pid}",
        json_body={"Name": "Tyk Dashboard", "Configuration": {"ID": pid, "MetaData": META}},
    )
    c("PUT", f"/portal-api/providers/{pid}/synchronize")
    c(
        "POST",
        "/portal-api/providers",
        json_body={"Name": "Tyk Dashboard"},
        expect=422,
        undocumented=True,
    )

    # -- organisation, team, users
    org = c("POST", "/portal-api/organisations", json_body={"Name": "Acme"})
    oid = org["ID"]
    c("GET", f"/portal-api/organisations/{oid}")
    c("PUT", f"/portal-api/organisations/{oid}", json_body={"Name": "Acme Corp"})
    c(
        "POST",
        "/portal-api/organisations",
        json_body={"Name": "Acme Corp"},
        expect=422,
        undocumented=True,
    )
    team = c("POST", f"/portal-api/organisations/{oid}/teams", json_body={"Name": "Partners"})
    tid = team["ID"]
    c("GET", f"/portal-api/organisations/{oid}/teams")
    user = c(
        "POST",
        "/portal-api/users",
        json_body={
            "Email": "dev@acme.io",
            "First": "Dev",
            "Last": "Eloper",
            "Role": "consumer-admin",
            "OrganisationID": oid,
            "Provider": "password",
            "ResetPassword": False,
        },
    )
    uid = user["ID"]
    shown_team = c(
        "PUT",
        f"/portal-api/organisations/{oid}/teams/{tid}",
        json_body={"Name": "Partners", "Users": [uid]},
    )
    assert shown_team["Users"] == [f"User#{uid}"]
    c("GET", f"/portal-api/organisations/{oid}/teams/{tid}")
    c("PUT", f"/portal-api/users/{uid}", json_body={"First": "Devon", "Teams": [str(tid)]})
    c("GET", f"/portal-api/users/{uid}")
    c("GET", "/portal-api/users/999", expect=404)

    # -- product and plan (+ their Dashboard policies)
    product = c(
        "POST",
        "/portal-api/products",
        json_body={
            "Name": "weather",
            "ProviderID": pid,
            "IsDocumentationOnly": False,
            "DisplayName": "Weather API",
            "Description": "Forecasts",
            "APIDetails": [
                {
                    "APIID": "3108a5fc970946ef66c1835cf73ba7a5",
                    "Description": "",
                    "OASUrl": "https://example.com/oas.json",
                }
            ],
        },
        expect=201,
    )
    prod_id = product["ID"]
    c(
        "POST",
        "/portal-api/products",
        json_body={"Name": "weather", "ProviderID": pid, "IsDocumentationOnly": False},
        expect=422,
    )
    c("GET", f"/portal-api/products/{prod_id}")
    c("GET", "/portal-api/products/999", expect=404)
    c("GET", "/portal-api/products", params={"page": "1", "per_page": "10"})
    c(
        "PUT",
        f"/portal-api/products/{prod_id}",
        json_body={"Description": "Forecasts and history", "Catalogues": [1]},
    )
    plan = c(
        "POST",
        "/portal-api/plans",
        json_body={
            "Name": "gold",
            "ProviderID": pid,
            "DisplayName": "Gold",
            "RateLimit": 100,
            "Per": 60,
            "Quota": 10000,
            "QuotaRenewalRate": 86400,
            "KeyExpiresIn": 0,
            "AutoApproveAccessRequests": False,
        },
    )
    plan_id = plan["ID"]
    c("POST", "/portal-api/plans", json_body={"Name": "gold", "ProviderID": pid}, expect=422)
    c("GET", f"/portal-api/plans/{plan_id}")
    c("GET", "/portal-api/plans/999", expect=404)
    c("GET", "/portal-api/plans")
    c(
        "PUT",
        f"/portal-api/plans/{plan_id}",
        json_body={"Name": "gold", "ProviderID": pid, "RateLimit": 50, "Per": 60},
    )
    policy = c("GET", f"/api/portal/policies/{product['ReferenceID']}")
    assert policy["partitions"]["acl"] is True

    # -- catalogue and audience
    cat = c(
        "POST",
        "/portal-api/catalogues",
        json_body={
            "Name": "Partner Catalogue",
            "VisibilityStatus": "Private",
            "Products": [prod_id],
            "Plans": [plan_id],
        },
    )
    cat_id = cat["ID"]
    c("GET", f"/portal-api/catalogues/{cat_id}")
    aud = c(
        "POST",
        f"/portal-api/catalogues/{cat_id}/audiences",
        json_body={"OrganisationID": oid, "TeamID": tid},
        expect=201,
    )
    c(
        "POST",
        f"/portal-api/catalogues/{cat_id}/audiences",
        json_body={"OrganisationID": oid, "TeamID": tid},
        expect=422,
    )
    c("GET", f"/portal-api/catalogues/{cat_id}/audiences")
    c("GET", f"/portal-api/catalogues/{cat_id}/audiences/{aud['ID']}")
    shown_cat = c(
        "PUT",
        f"/portal-api/catalogues/{cat_id}",
        json_body={"VisibilityStatus": "Private", "Products": [prod_id]},
    )
    assert shown_cat["OrgCatalogues"][0]["Organisation"] == "Acme Corp"

    # -- a consumer uses the Live Portal: app, provisioning request, approval, credentials
    app = c(
        "POST",
        "/portal-api/apps",
        json_body={
            "Name": "weather-app",
            "Description": "mine",
            "RedirectURLs": "https://app.example.com/cb",
            "UserID": uid,
            "Visibility": "organisation",
        },
    )
    app_id = app["ID"]
    c("PUT", f"/portal-api/apps/{app_id}", json_body={"Description": "still mine"})
    c("GET", "/portal-api/apps")
    c(
        "PUT",
        f"/portal-api/apps/{app_id}/provision",
        json_body={"PlanID": plan_id, "ProductIDs": [prod_id]},
    )
    c(  # REFERENCE.md §9 "Provision body": an undocumented field is refused
        "PUT",
        f"/portal-api/apps/{app_id}/provision",
        json_body={"PlanID": plan_id, "ProductIDs": [prod_id], "CatalogueID": cat_id},
        expect=422,
    )
    c(
        "PUT",
        f"/portal-api/apps/{app_id}/provision",
        json_body={"PlanID": 999, "ProductIDs": [prod_id]},
        expect=422,
    )
    requests = c("GET", f"/portal-api/apps/{app_id}/access-requests")
    ar_id = requests[0]["ID"]
    assert requests[0]["Status"] == "pending"
    c("GET", "/portal-api/access_requests")
    c("PUT", f"/portal-api/access_requests/{ar_id}/approve")
    c("PUT", "/portal-api/access_requests/999/approve", expect=422)
    c("PUT", f"/portal-api/access_requests/{ar_id}/approve", expect=422)  # already approved
    shown_ar = c("GET", f"/portal-api/access_requests/{ar_id}")
    assert shown_ar["Status"] == "approved" and len(shown_ar["Credentials"]) == 1
    c("GET", f"/portal-api/apps/{app_id}/access-requests/{ar_id}")
    shown_app = c("GET", f"/portal-api/apps/{app_id}")
    assert shown_app["AccessRequests"][0]["Products"] == ["weather"]
    creds_path = f"/portal-api/apps/{app_id}/access-requests/{ar_id}/credentials"
    creds = c("GET", creds_path)
    c("GET", f"{creds_path}/{creds[0]['ID']}")
    rotated = c("PUT", f"{creds_path}/{creds[0]['ID']}/rotate")
    assert rotated["status"] == "ok"
    after = c("GET", creds_path)
    assert [x["ID"] for x in after] == [creds[0]["ID"]]
    assert after[0]["Credential"] != creds[0]["Credential"]  # replaced in place
    c("PUT", f"{creds_path}/999/rotate", expect=422)
    c("DELETE", f"{creds_path}/{creds[0]['ID']}")
    c("DELETE", f"{creds_path}/{creds[0]['ID']}", expect=404)
    # a second request, rejected, then deleted through the app's sub-resource
    c(
        "PUT",
        f"/portal-api/apps/{app_id}/provision",
        json_body={"PlanID": plan_id, "ProductIDs": [prod_id]},
    )
    second = c("GET", f"/portal-api/apps/{app_id}/access-requests")[-1]["ID"]
    c("PUT", f"/portal-api/access_requests/{second}/reject")
    c("DELETE", f"/portal-api/apps/{app_id}/access-requests/{second}")
    c("DELETE", f"/portal-api/access_requests/{ar_id}")
    c("DELETE", f"/portal-api/access_requests/{ar_id}", expect=404)

    # -- teardown, bottom-up
    c("DELETE", f"/portal-api/apps/{app_id}")
    c("DELETE", f"/portal-api/apps/{app_id}", expect=404)
    c("DELETE", f"/portal-api/catalogues/{cat_id}/audiences/{aud['ID']}")
    c("DELETE", f"/portal-api/catalogues/{cat_id}")
    c("DELETE", f"/portal-api/plans/{plan_id}")
    c("DELETE", f"/portal-api/products/{prod_id}")
    c("DELETE", f"/portal-api/products/{prod_id}", expect=404)
    c("DELETE", f"/portal-api/users/{uid}")
    c("DELETE", f"/portal-api/organisations/{oid}/teams/{tid}")
    c("DELETE", f"/portal-api/organisations/{oid}")
    c("DELETE", f"/portal-api/providers/{pid}")
    assert len(contract.validated) > 70


def test_dashboard_policies_conform(contract: Contract) -> None:
    c = contract.call
    c("GET", "/api/portal/policies", expect=401, auth=False)
    body = {
        "name": "Gold plan",
        "org_id": "5e9d9544a1dcd60001d0ed20",
        "active": True,
        "is_inactive": False,
        "state": "active",
        "rate": 100,
        "per": 60,
        "quota_max": 10000,
        "quota_renewal_rate": 86400,
        "key_expires_in": 0,
        "tags": ["portal"],
        "meta_data": {},
        "access_rights": {
            "api1": {
                "api_id": "api1",
                "api_name": "Weather",
                "versions": ["Default"],
                "allowed_urls": [{"url": "/forecast", "methods": ["GET"]}],
                "limit": None,
            }
        },
        "partitions": {
            "acl": False,
            "quota": True,
            "rate_limit": True,
            "complexity": False,
            "per_api": False,
        },
    }
    created = c("POST", "/api/portal/policies", json_body=body)
    pid = created["Message"]
    c("POST", "/api/portal/policies", json_body=body, expect=400)
    for i in range(12):
        c("POST", "/api/portal/policies", json_body={**body, "name": f"policy-{i}"})
    first = c("GET", "/api/portal/policies", params={"p": "1"})
    assert (len(first["Data"]), first["Pages"]) == (10, 2)
    assert len(c("GET", "/api/portal/policies", params={"p": "-2"})["Data"]) == 13
    c("GET", "/api/portal/policies", params={"p": "1", "active": "true"})
    c("GET", f"/api/portal/policies/{pid}")
    c("PUT", f"/api/portal/policies/{pid}", json_body={**body, "rate": 10})
    found = c("GET", "/api/portal/policies/search", params={"q": "Gold"})
    assert [p["_id"] for p in found["Data"]] == [pid]
    c("DELETE", f"/api/portal/policies/{pid}")
    c("GET", f"/api/portal/policies/{pid}", expect=404)
    c("DELETE", f"/api/portal/policies/{pid}", expect=404)


def test_dashboard_apis_conform(contract: Contract) -> None:
    """``GET /api/apis`` (``p < 0``: every API), ``GET /api/apis/{apiId}`` (unknown: 400, the
    spec documents no 404) and ``POST /api/apis`` (duplicate ``api_id``: 409), with
    ``version_data``; a policy naming a version the API lacks is refused (REFERENCE §9)."""
    c = contract.call
    c("GET", "/api/apis", expect=401, auth=False)
    definition = {
        "api_definition": {
            "api_id": "maps-v",
            "name": "Maps",
            "version_data": {
                "not_versioned": False,
                "default_version": "v2",
                "versions": {"v1": {"name": "v1"}, "v2": {"name": "v2"}},
            },
        }
    }
    created = c("POST", "/api/apis", json_body=definition)
    assert created["Status"] == "OK" and created["ID"] == "maps-v"
    c("POST", "/api/apis", json_body=definition, expect=409)
    every = c("GET", "/api/apis", params={"p": "-1"})
    assert every["pages"] == 1
    assert {a["api_definition"]["api_id"] for a in every["apis"]} >= {"maps-v", "api1"}
    first = c("GET", "/api/apis", params={"p": "1"})
    assert len(first["apis"]) == 10 and first["pages"] == 2
    one = c("GET", "/api/apis/maps-v")
    assert sorted(one["api_definition"]["version_data"]["versions"]) == ["v1", "v2"]
    c("GET", "/api/apis/no-such-api", expect=400)
    right = {"api_id": "maps-v", "api_name": "Maps", "versions": ["v3"], "allowed_urls": []}
    policy = {"name": "maps", "access_rights": {"maps-v": right}}
    c("POST", "/api/portal/policies", json_body=policy, expect=400)
    right["versions"] = ["v1"]
    c("POST", "/api/portal/policies", json_body=policy)


def test_timestamps_use_the_spec_form(contract: Contract) -> None:
    """Real portals sometimes add seconds (REFERENCE.md §8); the emulator emits the spec's form."""
    c = contract.call
    org = c("POST", "/portal-api/organisations", json_body={"Name": "Clock"})
    stamps = [org["CreatedAt"], org["UpdatedAt"]]
    stamps += [
        t
        for u in c("GET", "/portal-api/users")
        for t in [c("GET", f"/portal-api/users/{u['ID']}")["CreatedAt"]]
    ]
    assert stamps and all(TIMESTAMP.match(s) for s in stamps), stamps


# -- the emulator's fault injection and settings -------------------------------------------------


@pytest.fixture
def store() -> Iterator[PortalStore]:
    s = PortalStore(":memory:", apis=TEST_APIS)
    yield s
    s.close()


def serve_with(store: PortalStore, faults: FaultConfig) -> Any:
    return running_emulator(store, faults, portal_token=None, dashboard_secret=None)


def org_names(store: PortalStore) -> list[str]:
    resp = store.handle("GET", "/portal-api/organisations", {}, {}, b"")
    return [o["Name"] for o in json.loads(resp.body)]


def test_reset_drops_the_connection_before_the_store(store: PortalStore) -> None:
    with serve_with(store, FaultConfig(reset_rate=1.0)) as url:
        with pytest.raises(httpx.TransportError):
            httpx.post(f"{url}/portal-api/organisations", json={"Name": "Lost"})
        assert httpx.get(f"{url}/ready").status_code == 200  # health is never faulted
        assert httpx.get(f"{url}/live").status_code == 200
    assert org_names(store) == ["Default Organisation"]


def test_lost_response_commits_the_write(store: PortalStore) -> None:
    with serve_with(store, FaultConfig(lost_response_rate=1.0)) as url:
        with pytest.raises(httpx.TransportError):
            httpx.post(f"{url}/portal-api/organisations", json={"Name": "Committed"})
        # reads are never lost
        names = [o["Name"] for o in httpx.get(f"{url}/portal-api/organisations").json()]
    assert names == ["Default Organisation", "Committed"]


def test_rate_limit_and_errors(store: PortalStore) -> None:
    with serve_with(store, FaultConfig(rate_limit_rate=1.0, retry_after_seconds=3)) as url:
        resp = httpx.get(f"{url}/portal-api/organisations")
        assert (resp.status_code, resp.headers["retry-after"]) == (429, "3")
        assert resp.json() == {"errors": ["Too Many Requests"]}
        resp = httpx.get(f"{url}/api/portal/policies")
        assert resp.json()["Status"] == "Error"
    with serve_with(store, FaultConfig(error_rate=1.0, seed=7)) as url:
        statuses = {httpx.get(f"{url}/portal-api/users").status_code for _ in range(20)}
        assert statuses == {500, 503}


def test_fault_rates_are_seeded_fractions(store: PortalStore) -> None:
    def run() -> list[int]:
        with serve_with(store, FaultConfig(error_rate=0.5, seed=42)) as url, httpx.Client() as c:
            return [c.get(f"{url}/portal-api/users").status_code for _ in range(40)]

    first, second = run(), run()
    assert first == second
    assert 5 < first.count(200) < 35


def test_latency_is_async_so_requests_overlap(store: PortalStore) -> None:
    import concurrent.futures
    import time

    # eight requests of 0.5 s each: serially 4 s; overlapping, about 0.5 s. The bound leaves
    # a wide margin for a loaded machine while still failing if requests were serialised.
    with serve_with(store, FaultConfig(latency_ms=500)) as url:
        start = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            codes = list(
                pool.map(lambda _: httpx.get(f"{url}/portal-api/users").status_code, range(8))
            )
        elapsed = time.monotonic() - start
    assert codes == [200] * 8
    assert 0.5 <= elapsed < 2.0


def test_fault_config_is_validated() -> None:
    with pytest.raises(ValueError, match="error_rate"):
        FaultConfig(error_rate=1.5)


def test_settings_from_env() -> None:
    env = {"TYK_PORTAL_TOKEN": "pt", "TYK_DASHBOARD_SECRET": "ds"}
    assert settings_from_env(env) == ("pt", "ds")
    with pytest.raises(PortalGitopsError, match="TYK_DASHBOARD_SECRET"):
        settings_from_env({"TYK_PORTAL_TOKEN": "pt"})


def test_product_documentation_conforms(contract: Contract) -> None:
    """api-details, the OpenAPI document (multipart upload, YAML download) and tutorials."""
    c = contract.call
    provider = c(
        "POST",
        "/portal-api/providers",
        json_body={"Name": "Tyk Dashboard", "Type": "tyk-pro", "Configuration": {"MetaData": META}},
    )
    api_id = "3108a5fc970946ef66c1835cf73ba7a5"
    product = c(
        "POST",
        "/portal-api/products",
        json_body={
            "Name": "weather",
            "ProviderID": provider["ID"],
            "IsDocumentationOnly": False,
            "APIDetails": [{"APIID": api_id}],
        },
        expect=201,
    )
    base = f"/portal-api/products/{product['ID']}"
    c("GET", f"{base}/api-details")
    detail = c("GET", f"{base}/api-details/{api_id}")
    assert detail["OASUrl"] == ""
    c(
        "PUT",
        f"{base}/api-details/{api_id}",
        json_body={"Description": "Forecasts", "OASUrl": "https://docs.example.com/w.yaml"},
    )
    assert c("GET", f"{base}/api-details/{api_id}")["OASUrl"] == "https://docs.example.com/w.yaml"

    # the OpenAPI document: multipart ``file`` in, the file out (application/x-yaml)
    headers = {"authorization": contract.portal_token}
    oas = b"openapi: 3.0.3\ninfo: {title: Weather, version: '1'}\npaths: {}\n"
    upload = contract.client.post(
        f"{base}/api-details/{api_id}/oas",
        files={"file": ("weather.yaml", oas, "application/x-yaml")},
        headers=headers,
    )
    assert upload.status_code == 200, upload.text
    sent = upload.request
    request = SpecRequest(PORTAL_HOST, sent.url.path, "POST", {}, dict(sent.headers), sent.read())
    contract.portal.validate_response(request, SpecResponse(upload))
    downloaded = contract.client.get(f"{base}/api-details/{api_id}/oas", headers=headers)
    assert downloaded.status_code == 200
    assert downloaded.headers["content-type"] == "application/x-yaml"
    assert downloaded.content == oas
    # get-oas documents 200 as application/x-yaml, a string (openapi-core reads the body as
    # bytes and refuses it as "not a string": checked here against the document instead)
    documented = _load("enterprise-developer-portal-swagger.yaml")["paths"][
        "/products/{product_id}/api-details/{api_id}/oas"
    ]["get"]["responses"]["200"]["content"]
    assert set(documented) == {"application/x-yaml"}
    # refused: not multipart, no file part, not an OpenAPI document
    for body, ctype in (
        (oas, "application/x-yaml"),
        (b"--x\r\nContent-Disposition: form-data; name=other\r\n\r\nx\r\n--x--\r\n", None),
    ):
        refused = contract.client.post(
            f"{base}/api-details/{api_id}/oas",
            content=body,
            headers={**headers, "content-type": ctype or "multipart/form-data; boundary=x"},
        )
        assert refused.status_code == 422, refused.text
    garbage = contract.client.post(
        f"{base}/api-details/{api_id}/oas",
        files={"file": ("x.yaml", b"just: [text", "application/x-yaml")},
        headers=headers,
    )
    assert garbage.status_code == 422
    assert (
        contract.client.delete(f"{base}/api-details/{api_id}/oas", headers=headers).status_code
        == 200
    )
    gone = contract.client.get(f"{base}/api-details/{api_id}/oas", headers=headers)
    assert gone.status_code == 422 and gone.json() == {"errors": ["no oas specified"]}

    # tutorials
    first = c(
        "POST",
        f"{base}/docs",
        json_body={
            "Title": "Start",
            "Content": "# Start",
            "MarkdownEnabled": True,
            "Path": "start",
            "Status": "published",
        },
        expect=201,
    )
    c(
        "POST",
        f"{base}/docs",
        json_body={"Title": "Limits", "Content": "Quota", "Path": "limits", "Status": "draft"},
        expect=201,
    )
    c(
        "POST",
        f"{base}/docs",
        json_body={"Title": "No path", "Content": "x", "Status": "published"},
        expect=422,
    )
    pages = c("GET", f"{base}/docs")
    assert [p["Title"] for p in pages] == ["Start", "Limits"]
    ids = [p["ID"] for p in pages]
    reorder = contract.client.post(f"{base}/docs/reorder", json=ids[::-1], headers=headers)
    assert reorder.status_code == 200
    assert [p["Title"] for p in c("GET", f"{base}/docs")] == ["Limits", "Start"]
    bad = contract.client.post(f"{base}/docs/reorder", json=ids[:1], headers=headers)
    assert bad.status_code == 400  # every page, once
    c("GET", f"{base}/docs/{ids[0]}")
    c(
        "PUT",
        f"{base}/docs/{ids[0]}",
        json_body={"Title": "Start here", "Status": "published", "Content": "# Start"},
    )
    c("PUT", f"{base}/docs/{ids[0]}", json_body={"Title": "x", "Status": "gone"}, expect=422)
    c("DELETE", f"{base}/docs/{ids[0]}")
    c("DELETE", f"{base}/docs/{ids[0]}", expect=404)
    assert first["Title"] == "Start"
    # deleting the product deletes its documentation
    c("DELETE", base)
    c("GET", f"{base}/docs", expect=404, undocumented=True)
