"""PortalStore through its single entry point, handle(): the portal's and Dashboard's rules."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from portal_gitops.backends.emulated.store import PortalStore
from tests.apis import TEST_APIS

Call = Callable[..., tuple[int, Any]]


def make_call(store: PortalStore) -> Call:
    def call(
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> tuple[int, Any]:
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        resp = store.handle(method, path, query or {}, headers or {}, data)
        assert resp.headers["content-type"] == "application/json"
        return resp.status, json.loads(resp.body)

    return call


@pytest.fixture
def store() -> PortalStore:
    return PortalStore(":memory:", apis=TEST_APIS)


@pytest.fixture
def call(store: PortalStore) -> Call:
    return make_call(store)


META = json.dumps(
    {
        "URL": "http://dashboard:3000",
        "Secret": "s3cret",
        "OrgID": "org-1",
        "Gateway": "",
        "PoliciesTags": ["portal"],
        "InsecureSkipVerify": False,
    }
)


def provider(call: Call, name: str = "Tyk") -> int:
    status, body = call(
        "POST",
        "/portal-api/providers",
        {"Name": name, "Type": "tyk-pro", "Configuration": {"MetaData": META}},
    )
    assert status == 200, body
    return int(body["ID"])


def product(
    call: Call, name: str = "weather", apis: tuple[str, ...] = ("api-1",), **extra: Any
) -> Any:
    body = {
        "Name": name,
        "ProviderID": extra.pop("ProviderID", 1),
        "IsDocumentationOnly": False,
        "APIDetails": [{"APIID": a} for a in apis],
        **extra,
    }
    status, out = call("POST", "/portal-api/products", body)
    assert status == 201, out
    return out


def plan(call: Call, name: str = "gold", **extra: Any) -> Any:
    status, out = call(
        "POST",
        "/portal-api/plans",
        {"Name": name, "ProviderID": extra.pop("ProviderID", 1), **extra},
    )
    assert status == 200, out
    return out


def policy(call: Call, pid: str) -> Any:
    status, out = call("GET", f"/api/portal/policies/{pid}")
    assert status == 200, out
    return out


def consumer(call: Call, email: str = "dev@acme.io", org: str = "Acme") -> tuple[int, int]:
    _, o = call("POST", "/portal-api/organisations", {"Name": org})
    status, u = call(
        "POST",
        "/portal-api/users",
        {
            "Email": email,
            "First": "Dev",
            "Last": "Eloper",
            "Role": "consumer-admin",
            "OrganisationID": o["ID"],
            "Provider": "password",
            "Password": "pw",
        },
    )
    assert status == 200, u
    return o["ID"], u["ID"]


def estate(call: Call, *, auto_approve: bool = False) -> dict[str, Any]:
    """A provider, product, plan in the public catalogue, a consumer with an app."""
    provider(call)
    prod = product(call, Catalogues=[1])
    pl = plan(
        call,
        RateLimit=10,
        Per=60,
        Quota=1000,
        QuotaRenewalRate=3600,
        AutoApproveAccessRequests=auto_approve,
        Catalogues=[1],
    )
    org_id, user_id = consumer(call)
    status, app = call(
        "POST",
        "/portal-api/apps",
        {"Name": "my-app", "Description": "d", "RedirectURLs": "", "UserID": user_id},
    )
    assert status == 200, app
    return {"product": prod, "plan": pl, "org": org_id, "user": user_id, "app": app}


def provision(call: Call, e: dict[str, Any]) -> Any:
    status, out = call(
        "PUT",
        f"/portal-api/apps/{e['app']['ID']}/provision",
        {"PlanID": e["plan"]["ID"], "ProductIDs": [e["product"]["ID"]]},
    )
    assert (status, out) == (
        200,
        {"status": "ok", "message": "Action Provision: Executed successfully"},
    )
    _, ars = call("GET", f"/portal-api/apps/{e['app']['ID']}/access-requests")
    return ars[-1]


# -- built-ins ---------------------------------------------------------------------------------


def test_fresh_store_holds_the_portal_builtins(call: Call) -> None:
    _, orgs = call("GET", "/portal-api/organisations")
    assert [(o["ID"], o["Name"]) for o in orgs] == [(1, "Default Organisation")]
    _, teams = call("GET", "/portal-api/organisations/1/teams")
    assert teams == [{"ID": 1, "Name": "Default Organisation All users", "Default": True}]
    _, cats = call("GET", "/portal-api/catalogues")
    assert [(c["Name"], c["VisibilityStatus"]) for c in cats] == [
        ("Public Catalogue", "Public"),
        ("Private Catalogue", "Private"),
    ]
    _, users = call("GET", "/portal-api/users")
    assert [(u["Email"], u["Role"], u["OrganisationID"]) for u in users] == [
        ("admin@portal.local", "super-admin", 0)
    ]
    assert call("GET", "/api/portal/policies")[1] == {"Data": [], "Pages": 0}


def test_builtins_survive_reopening_and_are_seeded_once(tmp_path: Any) -> None:
    path = str(tmp_path / "portal.db")
    first = PortalStore(path, apis=TEST_APIS)
    make_call(first)("POST", "/portal-api/organisations", {"Name": "Acme"})
    second = PortalStore(path, apis=TEST_APIS)  # a second process/handle on the same file
    _, orgs = make_call(second)("GET", "/portal-api/organisations")
    assert [o["Name"] for o in orgs] == ["Default Organisation", "Acme"]
    _, cats = make_call(second)("GET", "/portal-api/catalogues")
    assert len(cats) == 2
    first.close()
    second.close()


def test_an_organisation_gets_its_default_team(call: Call) -> None:
    status, org = call("POST", "/portal-api/organisations", {"Name": "Acme"})
    assert status == 200
    assert org["Teams"] == [{"ID": 2, "Name": "Acme All users", "Default": True}]
    assert org["Users"] == []


# -- products, plans and their policies --------------------------------------------------------


def test_product_creates_its_access_policy(call: Call) -> None:
    provider(call)
    prod = product(call, apis=("api-1", "api-2"))
    pol = policy(call, prod["ReferenceID"])
    assert len(prod["ReferenceID"]) == 24 and int(prod["ReferenceID"], 16) >= 0
    assert pol["_id"] == pol["id"] == prod["ReferenceID"]
    assert pol["name"] == "weather"
    assert pol["tags"] == ["portal"]
    assert pol["partitions"] == {
        "acl": True,
        "quota": False,
        "rate_limit": False,
        "complexity": False,
        "per_api": False,
    }
    # portal-made policies grant what the API defines (REFERENCE §9 "API ids"); the test APIs
    # are versioned (Default, v1, v2)
    assert pol["access_rights"] == {
        a: {
            "api_id": a,
            "api_name": a,
            "versions": ["Default", "v1", "v2"],
            "allowed_urls": [],
            "limit": None,
        }
        for a in ("api-1", "api-2")
    }
    assert (pol["rate"], pol["per"], pol["quota_max"], pol["quota_renewal_rate"]) == (
        -1,
        -1,
        -1,
        -1,
    )
    assert pol["active"] is True and pol["state"] == "active"


def test_product_update_renames_policy_and_syncs_apis() -> None:
    # a portal whose Product-update honours APIDetails[].APIID (unsettled, REFERENCE §9)
    call = make_call(PortalStore(":memory:", apis=TEST_APIS, product_update_api_ids="honour"))
    provider(call)
    prod = product(call, apis=("api-1", "api-2"))
    pol = policy(call, prod["ReferenceID"])
    pol["access_rights"]["api-1"]["versions"] = ["v1"]
    pol["access_rights"]["api-1"]["allowed_urls"] = [{"url": "/x", "methods": ["GET"]}]
    assert call("PUT", f"/api/portal/policies/{pol['_id']}", pol)[0] == 200
    status, out = call(
        "PUT",
        f"/portal-api/products/{prod['ID']}",
        {"Name": "weather-v2", "APIDetails": [{"APIID": "api-1"}, {"APIID": "api-3"}]},
    )
    assert status == 200, out
    assert [d["APIID"] for d in out["APIDetails"]] == ["api-1", "api-3"]
    pol = policy(call, prod["ReferenceID"])
    assert pol["name"] == "weather-v2"
    assert sorted(pol["access_rights"]) == ["api-1", "api-3"]
    assert pol["access_rights"]["api-1"]["versions"] == ["v1"]
    assert pol["access_rights"]["api-1"]["allowed_urls"] == [{"url": "/x", "methods": ["GET"]}]
    assert pol["access_rights"]["api-3"]["versions"] == ["Default", "v1", "v2"]


def test_product_update_ignoring_apiid_edits_only_descriptions(call: Call) -> None:
    # the default: Product-APIDetail-edit has only Description and OASUrl (REFERENCE §9)
    provider(call)
    prod = product(call, apis=("api-1", "api-2"))
    status, out = call(
        "PUT",
        f"/portal-api/products/{prod['ID']}",
        {"Name": "weather-v2", "APIDetails": [{"APIID": "api-1", "Description": "one"}]},
    )
    assert status == 200, out
    assert [(d["APIID"], d["Description"]) for d in out["APIDetails"]] == [
        ("api-1", "one"),
        ("api-2", ""),
    ]
    pol = policy(call, prod["ReferenceID"])
    assert (pol["name"], sorted(pol["access_rights"])) == ("weather-v2", ["api-1", "api-2"])


def test_plan_creates_its_limits_policy_and_updates_it(call: Call) -> None:
    provider(call)
    pl = plan(call, RateLimit=100, Per=60, Quota=5000, QuotaRenewalRate=86400, KeyExpiresIn=3600)
    assert (pl["RateLimit"], pl["Per"], pl["Quota"]) == (100, 60, 5000)
    pol = policy(call, pl["ReferenceID"])
    assert pol["partitions"] == {
        "acl": False,
        "quota": True,
        "rate_limit": True,
        "complexity": False,
        "per_api": False,
    }
    assert (pol["rate"], pol["per"], pol["quota_max"], pol["quota_renewal_rate"]) == (
        100,
        60,
        5000,
        86400,
    )
    assert pol["key_expires_in"] == 3600
    assert pol["access_rights"] == {}
    status, out = call(
        "PUT",
        f"/portal-api/plans/{pl['ID']}",
        {"Name": "gold", "ProviderID": 1, "RateLimit": 5, "UnlimitedQuota": True},
    )
    assert status == 200, out
    pol = policy(call, pl["ReferenceID"])
    assert (pol["rate"], pol["per"], pol["quota_max"], pol["quota_renewal_rate"]) == (5, 60, -1, -1)


def test_plan_without_limits_is_unlimited(call: Call) -> None:
    provider(call)
    pl = plan(call)
    assert pl["UnlimitedQuota"] is True and pl["UnlimitedRateLimit"] is True
    pol = policy(call, pl["ReferenceID"])
    assert (pol["rate"], pol["per"], pol["quota_max"], pol["quota_renewal_rate"]) == (
        -1,
        -1,
        -1,
        -1,
    )
    assert pol["key_expires_in"] == 0


def test_deleting_product_plan_and_provider_deletes_policies(call: Call) -> None:
    provider(call)
    prod = product(call, Catalogues=[1])
    pl = plan(call, Catalogues=[1])
    assert call("DELETE", f"/portal-api/products/{prod['ID']}") == (200, {"status": "ok"})
    assert call("GET", f"/api/portal/policies/{prod['ReferenceID']}")[0] == 404
    assert call("GET", "/portal-api/catalogues/1")[1]["Products"] == []
    prod2 = product(call, "other")
    assert call("DELETE", "/portal-api/providers/1") == (200, {"status": "ok"})
    assert call("GET", f"/portal-api/plans/{pl['ID']}")[0] == 404
    assert call("GET", f"/portal-api/products/{prod2['ID']}")[0] == 404
    assert call("GET", "/api/portal/policies", query={"p": "-2"})[1]["Data"] == []


def test_reads_return_names_and_writes_refuse_them(call: Call) -> None:
    provider(call)
    _, tag = call("POST", "/portal-api/tags", {"Name": "weather"})
    prod = product(call, Catalogues=[1, 2], Tags=[tag["ID"]])
    assert prod["Catalogues"] == ["Public Catalogue", "Private Catalogue"]
    assert prod["Tags"] == ["weather"]
    status, out = call(
        "PUT", f"/portal-api/products/{prod['ID']}", {"Catalogues": ["Public Catalogue"]}
    )
    assert status == 422
    assert "integer IDs" in out["errors"][0]


# -- catalogues and audiences ------------------------------------------------------------------


def test_catalogue_membership_audiences_and_clearing(call: Call) -> None:
    provider(call)
    prod = product(call)
    pl = plan(call)
    org_id, _ = consumer(call)
    status, cat = call(
        "POST",
        "/portal-api/catalogues",
        {
            "Name": "Partners",
            "VisibilityStatus": "Private",
            "Products": [prod["ID"]],
            "Plans": [pl["ID"]],
        },
    )
    assert status == 200, cat
    assert (cat["Products"], cat["Plans"]) == (["weather"], ["gold"])
    _, team = call("POST", f"/portal-api/organisations/{org_id}/teams", {"Name": "Partners"})
    status, aud = call(
        "POST",
        f"/portal-api/catalogues/{cat['ID']}/audiences",
        {"OrganisationID": org_id, "TeamID": team["ID"]},
    )
    assert status == 201
    assert (aud["OrganisationID"], aud["TeamID"]) == (org_id, team["ID"])
    _, shown = call("GET", f"/portal-api/catalogues/{cat['ID']}")
    assert [(a["Organisation"], a["Name"]) for a in shown["OrgCatalogues"]] == [
        ("Acme", "Partners")
    ]
    assert call("GET", f"/portal-api/products/{prod['ID']}")[1]["Catalogues"] == ["Partners"]
    _, cleared = call("PUT", f"/portal-api/catalogues/{cat['ID']}", {"Products": None})
    assert (cleared["Products"], cleared["Plans"]) == ([], ["gold"])
    bad = {"VisibilityStatus": "public"}
    status, _out = call("PUT", f"/portal-api/catalogues/{cat['ID']}", bad)
    assert status == 422
    assert call("DELETE", f"/portal-api/catalogues/{cat['ID']}") == (200, {"status": "ok"})
    assert call("GET", f"/portal-api/catalogues/{cat['ID']}/audiences/{aud['ID']}")[0] == 404


# -- teams and users ---------------------------------------------------------------------------


def test_users_teams_and_organisation_moves(call: Call) -> None:
    org_id, user_id = consumer(call)
    _, user = call("GET", f"/portal-api/users/{user_id}")
    assert user["Organisation"] == "Acme"
    assert [t["Name"] for t in user["Teams"]] == ["Acme All users"]
    _, team = call("POST", f"/portal-api/organisations/{org_id}/teams", {"Name": "Devs"})
    status, shown = call(
        "PUT",
        f"/portal-api/organisations/{org_id}/teams/{team['ID']}",
        {"Name": "Devs", "Users": [user_id]},
    )
    assert status == 200
    assert shown["Users"] == [f"User#{user_id}"]
    status, user = call("PUT", f"/portal-api/users/{user_id}", {"Teams": [str(team["ID"])]})
    assert status == 200
    assert [t["Name"] for t in user["Teams"]] == ["Devs"]
    status, _out = call("PUT", f"/portal-api/users/{user_id}", {"Teams": [1]})
    assert status == 422  # team 1 belongs to the Default Organisation
    assert call("DELETE", f"/portal-api/organisations/{org_id}") == (200, {"status": "ok"})
    _, user = call("GET", f"/portal-api/users/{user_id}")
    assert user["OrganisationID"] == 1
    assert [t["Name"] for t in user["Teams"]] == ["Default Organisation All users"]


def test_duplicate_user_email_is_refused(call: Call) -> None:
    consumer(call)
    status, out = call("POST", "/portal-api/users", {"Email": "DEV@acme.io", "OrganisationID": 1})
    assert status == 422
    assert out == {"errors": ["user with email 'DEV@acme.io' already exists"]}


# -- apps, access requests, credentials --------------------------------------------------------


def test_provision_then_approve_issues_a_credential(call: Call) -> None:
    e = estate(call)
    ar = provision(call, e)
    assert ar["Status"] == "pending"
    assert (ar["Client"], ar["Plan"], ar["Products"], ar["Catalogue"], ar["User"]) == (
        "my-app",
        "gold",
        ["weather"],
        "Public Catalogue",
        f"User#{e['user']}",
    )
    assert ar["Credentials"] == []
    assert call("PUT", f"/portal-api/access_requests/{ar['ID']}/approve") == (
        200,
        {"status": "ok", "message": "Action Approve: Executed successfully"},
    )
    _, shown = call("GET", f"/portal-api/access_requests/{ar['ID']}")
    assert shown["Status"] == "approved"
    [cred] = shown["Credentials"]
    assert len(cred["Credential"]) == 32
    assert cred["Policies"] == [e["product"]["ReferenceID"], e["plan"]["ReferenceID"]]
    # approving twice (a blindly retried request) is refused and issues nothing more
    assert call("PUT", f"/portal-api/access_requests/{ar['ID']}/approve")[0] == 422
    creds_path = f"/portal-api/apps/{e['app']['ID']}/access-requests/{ar['ID']}/credentials"
    assert len(call("GET", creds_path)[1]) == 1


def test_reject_issues_nothing_and_delete_revokes(call: Call) -> None:
    e = estate(call)
    first = provision(call, e)
    call("PUT", f"/portal-api/access_requests/{first['ID']}/reject")
    _, shown = call("GET", f"/portal-api/access_requests/{first['ID']}")
    assert (shown["Status"], shown["Credentials"]) == ("rejected", [])
    second = provision(call, e)
    call("PUT", f"/portal-api/access_requests/{second['ID']}/approve")
    creds_path = f"/portal-api/apps/{e['app']['ID']}/access-requests/{second['ID']}/credentials"
    [cred] = call("GET", creds_path)[1]
    assert call("DELETE", f"/portal-api/access_requests/{second['ID']}") == (200, {"status": "ok"})
    assert call("GET", f"{creds_path}/{cred['ID']}")[0] == 404
    assert call("GET", f"/portal-api/access_requests/{second['ID']}")[0] == 404


def test_auto_approve_plan_and_app_deletion(call: Call) -> None:
    e = estate(call, auto_approve=True)
    ar = provision(call, e)
    assert ar["Status"] == "approved" and ar["ProvisionImmediately"] is True
    assert len(ar["Credentials"]) == 1
    assert call("DELETE", f"/portal-api/users/{e['user']}") == (200, {"status": "ok"})
    assert call("GET", f"/portal-api/apps/{e['app']['ID']}")[0] == 404
    assert call("GET", "/portal-api/access_requests")[1] == []


def test_provision_validation_errors(call: Call) -> None:
    e = estate(call)
    status, out = call(
        "PUT",
        f"/portal-api/apps/{e['app']['ID']}/provision",
        {"PlanID": 99, "ProductIDs": [e["product"]["ID"]]},
    )
    assert (status, out) == (422, {"status": "error", "errors": ["plan 99 not found"]})
    status, out = call(
        "PUT",
        f"/portal-api/apps/{e['app']['ID']}/provision",
        {"PlanID": e["plan"]["ID"], "ProductIDs": [e["product"]["ID"]], "CatalogueID": 1},
    )
    assert status == 422  # undocumented (REFERENCE.md §9 "Provision body")
    assert "CatalogueID" in out["errors"][0]


# -- pagination --------------------------------------------------------------------------------


def test_portal_pagination(call: Call) -> None:
    for i in range(24):
        call("POST", "/portal-api/organisations", {"Name": f"org-{i:02d}"})
    _, page1 = call("GET", "/portal-api/organisations")
    _, page2 = call("GET", "/portal-api/organisations", query={"page": "2"})
    _, page3 = call("GET", "/portal-api/organisations", query={"page": "3"})
    assert (len(page1), len(page2), page3) == (20, 5, [])
    assert page2[-1]["Name"] == "org-23"
    _, small = call("GET", "/portal-api/organisations", query={"page": "3", "per_page": "4"})
    assert [o["Name"] for o in small] == ["org-07", "org-08", "org-09", "org-10"]


def test_portal_page_size_is_configurable() -> None:
    call = make_call(PortalStore(":memory:", apis=TEST_APIS, portal_page_size=1))
    assert len(call("GET", "/portal-api/catalogues")[1]) == 1
    assert (
        call("GET", "/portal-api/catalogues", query={"page": "2"})[1][0]["Name"]
        == "Private Catalogue"
    )


def test_dashboard_pagination_and_active_filter(call: Call) -> None:
    for i in range(23):
        status, _out = call(
            "POST", "/api/portal/policies", {"name": f"pol-{i:02d}", "active": i % 2 == 0}
        )
        assert status == 200
    _, p1 = call("GET", "/api/portal/policies", query={"p": "1"})
    _, p3 = call("GET", "/api/portal/policies", query={"p": "3"})
    assert (len(p1["Data"]), p1["Pages"], len(p3["Data"])) == (10, 3, 3)
    _, every = call("GET", "/api/portal/policies", query={"p": "-2"})
    assert [p["name"] for p in every["Data"]] == [f"pol-{i:02d}" for i in range(23)]
    _, active = call("GET", "/api/portal/policies", query={"p": "-1", "active": "true"})
    assert len(active["Data"]) == 12


# -- Dashboard policies ------------------------------------------------------------------------


def test_dashboard_policy_crud_keeps_client_fields(call: Call) -> None:
    body = {
        "_id": "5f0c1c1a2b3c4d5e6f708192",
        "id": "",
        "name": "managed-record",
        "is_inactive": True,
        "active": False,
        "state": "deny",
        "meta_data": {"portal-gitops": "{}"},
        "tags": ["portal-gitops-managed"],
        "partitions": {"acl": False, "quota": False, "rate_limit": False},
    }
    assert call("POST", "/api/portal/policies", body) == (
        200,
        {"Status": "OK", "Message": "5f0c1c1a2b3c4d5e6f708192", "Meta": None},
    )
    got = policy(call, "5f0c1c1a2b3c4d5e6f708192")
    assert got["id"] == got["_id"]
    for key in ("name", "is_inactive", "active", "state", "meta_data", "tags", "partitions"):
        assert got[key] == body[key]
    got["meta_data"] = {"portal-gitops": '{"objects": 1}'}
    assert call("PUT", f"/api/portal/policies/{got['_id']}", got) == (
        200,
        {"Status": "OK", "Message": "Data updated", "Meta": None},
    )
    assert policy(call, got["_id"])["meta_data"] == {"portal-gitops": '{"objects": 1}'}
    _, found = call("GET", "/api/portal/policies/search", query={"q": "MANAGED"})
    assert [p["_id"] for p in found["Data"]] == [got["_id"]]
    assert call("DELETE", f"/api/portal/policies/{got['_id']}") == (
        200,
        {"Status": "OK", "Message": "Data deleted", "Meta": None},
    )


def test_generated_policy_ids_are_24_hex(call: Call) -> None:
    _, out = call("POST", "/api/portal/policies", {"name": "p"})
    assert len(out["Message"]) == 24 and int(out["Message"], 16) >= 0


def test_synchronise_imports_tagged_policies(call: Call) -> None:
    provider(call)
    call(
        "POST",
        "/api/portal/policies",
        {
            "name": "dash-product",
            "tags": ["portal"],
            "partitions": {"acl": True},
            "access_rights": {"a1": {"api_id": "a1", "api_name": "A"}},
        },
    )
    call(
        "POST",
        "/api/portal/policies",
        {"name": "untagged", "tags": [], "partitions": {"acl": True}},
    )
    assert call("PUT", "/portal-api/providers/1/synchronize") == (
        200,
        {"status": "ok", "message": "Action Synchronize: Executed successfully"},
    )
    _, products = call("GET", "/portal-api/products")
    assert [(p["Name"], [d["APIID"] for d in p["APIDetails"]]) for p in products] == [
        ("dash-product", ["a1"])
    ]
    assert call("GET", "/portal-api/providers/1")[1]["Status"] == "Up"


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/portal-api/providers", {"Name": "Tyk"}),
        ("/portal-api/organisations", {"Name": "Default Organisation"}),
        ("/portal-api/catalogues", {"Name": "Public Catalogue"}),
        (
            "/portal-api/products",
            {"Name": "weather", "ProviderID": 1, "IsDocumentationOnly": False},
        ),
        ("/portal-api/plans", {"Name": "gold", "ProviderID": 1}),
    ],
)
def test_duplicate_names_are_422(call: Call, path: str, body: dict[str, Any]) -> None:
    provider(call)
    product(call)
    plan(call)
    status, out = call("POST", path, body)
    assert status == 422
    assert out["errors"][0].endswith(f"with name {body['Name']!r} already exists")


def test_duplicate_policy_name_is_400(call: Call) -> None:
    call("POST", "/api/portal/policies", {"name": "p"})
    assert call("POST", "/api/portal/policies", {"name": "p"}) == (
        400,
        {
            "Status": "Error",
            "Message": "This policy name has already been used, please choose another one",
            "Meta": None,
        },
    )


@pytest.mark.parametrize(
    "path",
    [
        "/portal-api/products/7",
        "/portal-api/plans/7",
        "/portal-api/users/7",
        "/portal-api/organisations/7",
        "/portal-api/catalogues/7",
        "/portal-api/apps/7",
        "/portal-api/access_requests/7",
        "/portal-api/providers/7",
        "/portal-api/organisations/1/teams/7",
    ],
)
def test_unknown_ids_are_404(call: Call, path: str) -> None:
    status, out = call("GET", path)
    assert status == 404
    assert out["errors"][0].endswith("not found")


def test_unknown_policy_is_404(call: Call) -> None:
    status, out = call("GET", "/api/portal/policies/000000000000000000000000")
    assert status == 404 and out["Status"] == "Error"


def test_malformed_json_and_missing_fields(call: Call) -> None:
    status, out = call("POST", "/portal-api/organisations", raw=b"{nope")
    assert status == 422 and out["errors"][0].startswith("malformed JSON body")
    assert call("POST", "/api/portal/policies", raw=b"[1")[0] == 400
    provider(call)
    status, out = call("POST", "/portal-api/products", {"Name": "x", "ProviderID": 1})
    assert (status, out) == (422, {"errors": ["missing required field(s): IsDocumentationOnly"]})
    assert call("POST", "/portal-api/plans", {"ProviderID": 1}) == (
        422,
        {"errors": ["missing required field(s): Name"]},
    )


def test_auth_when_tokens_are_set() -> None:
    call = make_call(
        PortalStore(":memory:", apis=TEST_APIS, portal_token="pt", dashboard_secret="ds")
    )
    status, out = call("GET", "/portal-api/organisations")
    assert status == 401 and "errors" in out
    assert (
        call("GET", "/portal-api/organisations", headers={"Authorization": "Bearer pt"})[0] == 401
    )
    assert call("GET", "/portal-api/organisations", headers={"authorization": "pt"})[0] == 200
    assert call("GET", "/api/portal/policies", headers={"Authorization": "pt"}) == (
        401,
        {"Status": "Error", "Message": "Not authorised", "Meta": None},
    )
    assert call("GET", "/api/portal/policies", headers={"Authorization": "ds"})[0] == 200


# -- plan list shapes and legacy limit strings --------------------------------------------------


@pytest.mark.parametrize("shape", ["spec", "bare"])
def test_plans_list_shapes(shape: str) -> None:
    store = PortalStore(":memory:", apis=TEST_APIS, plans_list_shape=shape)  # type: ignore[arg-type]
    call = make_call(store)
    provider(call)
    plan(call, RateLimit=5, Per=1)
    _, out = call("GET", "/portal-api/plans")
    items = out["data"] if shape == "spec" else out
    assert isinstance(items, list)
    assert [(p["Name"], p["RateLimit"]) for p in items] == [("gold", 5)]


def test_legacy_limit_strings() -> None:
    call = make_call(PortalStore(":memory:", apis=TEST_APIS, legacy_limit_strings=True))
    provider(call)
    pl = plan(call, RateLimit=1000, Per=60)
    assert (pl["RateLimit"], pl["Quota"]) == ("1000 calls / 60 second(s)", "unlimited")
    pol = policy(call, pl["ReferenceID"])
    assert (pol["rate"], pol["quota_max"]) == (1000, -1)


def test_a_new_store_file_opens_while_another_process_holds_it_briefly(tmp_path: Any) -> None:
    """Two applies starting at once on a new store both open it: switching the file to WAL
    waits for the other connection instead of failing with 'database is locked'."""
    import sqlite3
    import threading

    path = tmp_path / "shared.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    threading.Timer(0.3, lambda: holder.execute("COMMIT")).start()
    store = PortalStore(str(path), apis=TEST_APIS)
    try:
        resp = store.handle("GET", "/portal-api/organisations", {}, {}, b"")
        assert resp.status == 200
    finally:
        store.close()
        holder.close()


def test_policy_state_is_stored_and_checked(call: Call) -> None:
    # real policies carry active and state (active|draft|deny); REFERENCE §6, §9 "Policy state"
    provider(call)
    pol = policy(call, product(call)["ReferenceID"])
    assert (pol["active"], pol["is_inactive"], pol["state"]) == (True, False, "active")
    pol.update(active=False, is_inactive=True, state="deny")
    assert call("PUT", f"/api/portal/policies/{pol['_id']}", pol)[0] == 200
    assert policy(call, pol["_id"])["state"] == "deny"
    for bad in ({"state": "paused"}, {"active": "no"}):
        status, out = call("PUT", f"/api/portal/policies/{pol['_id']}", {**pol, **bad})
        assert (status, out["Status"]) == (400, "Error"), out
