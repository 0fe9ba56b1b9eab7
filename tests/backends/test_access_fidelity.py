"""The emulated portal's consumer side is as strict as Tyk (REFERENCE.md §9), on the store.

- "Provision body": ``PUT /apps/{id}/provision`` documents no body; clients send
  ``{PlanID, ProductIDs}``. ``CatalogueID`` is in no documented request: refused (422), never
  honoured. Which catalogue the portal records is unsettled: one visible to the consumer
  that offers the plan with those products; ``provision_catalogue`` picks the first or the
  last by ID, and both are tested.
- "Decisions": approve and reject act on pending requests; on a decided one, 422.
- "Access-request replies carry no ``AppID``" (recorded real replies).
- "Apps": ``Visibility`` is one of personal, team, organisation (the spec's ``Client-basic``).
"""

from __future__ import annotations

from typing import Any

import pytest

from portal_gitops.backends.emulated.store import PortalStore
from tests.apis import TEST_APIS
from tests.backends.test_store import Call, estate, make_call


def _private_catalogue(call: Call, e: dict[str, Any], name: str, *, audience: bool) -> int:
    _, teams = call("GET", f"/portal-api/organisations/{e['org']}/teams")
    default_team = next(t["ID"] for t in teams if t["Default"])
    body: dict[str, Any] = {
        "Name": name,
        "VisibilityStatus": "Private",
        "Products": [e["product"]["ID"]],
        "Plans": [e["plan"]["ID"]],
    }
    if audience:
        body["OrgCatalogues"] = [{"OrganisationID": e["org"], "TeamID": default_team}]
    status, out = call("POST", "/portal-api/catalogues", body)
    assert status == 200, out
    return int(out["ID"])


def _provision(call: Call, e: dict[str, Any], **extra: Any) -> tuple[int, Any]:
    body = {"PlanID": e["plan"]["ID"], "ProductIDs": [e["product"]["ID"]], **extra}
    return call("PUT", f"/portal-api/apps/{e['app']['ID']}/provision", body)


def test_provision_refuses_the_undocumented_catalogue_id() -> None:
    call = make_call(PortalStore(":memory:", apis=TEST_APIS))
    e = estate(call)
    status, out = _provision(call, e, CatalogueID=1)
    assert status == 422, out
    assert out["status"] == "error" and "CatalogueID" in out["errors"][0]
    assert call("GET", f"/portal-api/apps/{e['app']['ID']}/access-requests")[1] == []


@pytest.mark.parametrize(
    ("choice", "recorded"), [("first", "Public Catalogue"), ("last", "partner")]
)
def test_the_portal_records_a_catalogue_the_consumer_sees(choice: str, recorded: str) -> None:
    """Public Catalogue (ID 1) and ``partner`` (the consumer's organisation in its audience)
    both offer the plan with the product; ``hidden`` does too, but the consumer cannot see it."""
    call = make_call(
        PortalStore(":memory:", apis=TEST_APIS, provision_catalogue=choice)  # type: ignore[arg-type]
    )
    e = estate(call)
    _private_catalogue(call, e, "partner", audience=True)
    _private_catalogue(call, e, "hidden", audience=False)
    assert _provision(call, e)[0] == 200
    [ar] = call("GET", f"/portal-api/apps/{e['app']['ID']}/access-requests")[1]
    assert ar["Catalogue"] == recorded


def test_access_request_replies_carry_no_app_id() -> None:
    call = make_call(PortalStore(":memory:", apis=TEST_APIS))
    e = estate(call)
    _provision(call, e)
    [listed] = call("GET", "/portal-api/access_requests")[1]
    shown = call("GET", f"/portal-api/access_requests/{listed['ID']}")[1]
    [on_app] = call("GET", f"/portal-api/apps/{e['app']['ID']}/access-requests")[1]
    for reply in (listed, shown, on_app):
        assert "AppID" not in reply and reply["Client"] == "my-app"


@pytest.mark.parametrize(
    ("first", "then"),
    [("approve", "approve"), ("approve", "reject"), ("reject", "reject"), ("reject", "approve")],
)
def test_a_decision_on_a_decided_request_is_422(first: str, then: str) -> None:
    call = make_call(PortalStore(":memory:", apis=TEST_APIS))
    e = estate(call)
    _provision(call, e)
    [ar] = call("GET", f"/portal-api/apps/{e['app']['ID']}/access-requests")[1]
    assert call("PUT", f"/portal-api/access_requests/{ar['ID']}/{first}")[0] == 200
    status, out = call("PUT", f"/portal-api/access_requests/{ar['ID']}/{then}")
    assert status == 422, out
    creds = call("GET", f"/portal-api/access_requests/{ar['ID']}")[1]["Credentials"]
    assert len(creds) == (1 if first == "approve" else 0)


def test_an_auto_approved_request_cannot_be_rejected() -> None:
    call = make_call(PortalStore(":memory:", apis=TEST_APIS))
    e = estate(call, auto_approve=True)
    _provision(call, e)
    [ar] = call("GET", f"/portal-api/apps/{e['app']['ID']}/access-requests")[1]
    assert ar["Status"] == "approved"
    assert call("PUT", f"/portal-api/access_requests/{ar['ID']}/reject")[0] == 422


@pytest.mark.parametrize("visibility", ["personal", "team", "organisation"])
def test_app_visibility_is_stored_and_returned(visibility: str) -> None:
    call = make_call(PortalStore(":memory:", apis=TEST_APIS))
    e = estate(call)
    app_id = e["app"]["ID"]
    status, out = call(
        "PUT", f"/portal-api/apps/{app_id}", {"Name": "my-app", "Visibility": visibility}
    )
    assert status == 200, out
    assert call("GET", f"/portal-api/apps/{app_id}")[1]["Visibility"] == visibility
    assert call("PUT", f"/portal-api/apps/{app_id}", {"Visibility": "everyone"})[0] == 422
