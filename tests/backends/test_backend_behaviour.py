"""One behavioural suite for the backend, run on both transports (embedded and tyk).

Given canonical attrs, a backend creates the portal objects; reading them back gives exactly
the same canonical attrs (the contract with desired.py that keeps plans free of phantom diffs).
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from portal_gitops.backends.base import ManagedRecord
from portal_gitops.backends.tyk.backend import PortalBackend
from portal_gitops.errors import LockError, NotFoundError, ValidationFailed
from portal_gitops.kinds.base import ACTIVE
from portal_gitops.kinds.plan import PARTITIONS as PLAN_PARTITIONS
from portal_gitops.kinds.product import PARTITIONS as PRODUCT_PARTITIONS
from portal_gitops.state import (
    LOCK_POLICY,
    MANAGED_POLICY_TAG,
    STATE_POLICY,
    Content,
    Key,
    LiveState,
    Sensitive,
)
from tests.backends.conftest import DASHBOARD_SECRET, PROVIDER, Target

pytestmark = pytest.mark.anyio

Attrs = dict[str, Any]


def provider_attrs(target: Target) -> Attrs:
    return {
        "type": "tyk-pro",
        "dashboardUrl": target.dashboard_url,
        "orgId": "5e9d9544a1dcd60001d0ed20",
        "gatewayUrl": "",
        "policyTags": ["portal"],
        "insecureSkipVerify": False,
        "secret": Sensitive("env:TYK_DASHBOARD_SECRET", DASHBOARD_SECRET),
    }


def product_attrs(**changes: Any) -> Attrs:
    attrs: Attrs = {
        "provider": PROVIDER,
        "displayName": "Weather API",
        "description": "Forecasts",
        "content": "<p>Forecasts for everywhere</p>",
        "tags": ["forecast", "weather"],
        "apis": ["weather-api-1"],
        "policy": {
            "partitions": dict(PRODUCT_PARTITIONS),
            **ACTIVE,
            "accessRights": [
                {
                    "apiId": "weather-api-1",
                    "versions": ["Default"],
                    "allowedUrls": [
                        {"url": "/forecast", "methods": ["GET"]},
                        {"url": "/stations", "methods": ["GET", "POST"]},
                    ],
                }
            ],
        },
    }
    attrs.update(changes)
    return attrs


def plan_attrs(
    *, rate: tuple[int, int] | None = (100, 60), quota: tuple[int, int] | None = None, **more: Any
) -> Attrs:
    expires = more.pop("keyExpiresIn", 0)
    attrs: Attrs = {
        "provider": PROVIDER,
        "displayName": "Gold",
        "description": "For serious users",
        "autoApprove": False,
        "keyExpiresIn": expires,
        "rateLimit": {"requests": rate[0], "per": rate[1]} if rate else None,
        "quota": {"requests": quota[0], "renewal": quota[1]} if quota else None,
        "policy": {
            "partitions": dict(PLAN_PARTITIONS),
            **ACTIVE,
            "rate": rate[0] if rate else -1,
            "per": rate[1] if rate else -1,
            "quotaMax": quota[0] if quota else -1,
            "quotaRenewalRate": quota[1] if quota else -1,
            "keyExpiresIn": expires,
        },
    }
    attrs.update(more)
    return attrs


def app_attrs(name: str, owner: str = "alice@acme.example") -> dict[str, Any]:
    return {
        "owner": owner,
        "name": name,
        "description": "Alice's dashboard",
        "redirectUrls": ["https://a.example/cb", "https://b.example/cb"],
        "visibility": "team",
    }


def estate(target: Target) -> list[tuple[str, str, Attrs]]:
    """A small estate touching every kind, in dependency order."""
    return [
        ("Provider", PROVIDER, provider_attrs(target)),
        ("Organisation", "Acme", {}),
        ("Team", "Acme/devs", {"organisation": "Acme", "name": "devs"}),
        ("Team", "Acme/ops", {"organisation": "Acme", "name": "ops"}),
        (
            "User",
            "alice@acme.example",
            {
                "organisation": "Acme",
                "first": "Alice",
                "last": "Smith",
                "role": "consumer-admin",
                "teams": ["devs", "ops"],
            },
        ),
        (
            "User",
            "bob@acme.example",
            {
                "organisation": "Acme",
                "first": "Bob",
                "last": "",
                "role": "consumer-team-member",
                "teams": [],
            },
        ),
        ("Product", "weather-api", product_attrs()),
        ("Plan", "gold", plan_attrs(quota=(10000, 3600), keyExpiresIn=86400)),
        (
            "Catalogue",
            "partners",
            {
                "visibility": "private",
                "audience": [
                    {"organisation": "Acme", "team": ""},
                    {"organisation": "Acme", "team": "devs"},
                ],
                "products": ["weather-api"],
                "plans": ["gold"],
            },
        ),
        ("App", "alice@acme.example/weather-app", app_attrs("weather-app")),
        (
            "AdminUser",
            "grace@provider.example",
            {"role": "provider-admin", "first": "Grace", "last": "Hopper"},
        ),
        (
            "ApiDoc",
            "weather-api/weather-api-1",
            {
                "product": "weather-api",
                "apiId": "weather-api-1",
                "oasUrl": "https://docs.example.com/weather.yaml",
                "document": "",
            },
        ),
        (
            "Guide",
            "weather-api/Getting started",
            {
                "product": "weather-api",
                "title": "Getting started",
                "path": "getting-started",
                "status": "published",
                "markdown": True,
                "content": Content(b"# Start\n"),
                "position": 0,
            },
        ),
        (
            "AccessRequest",
            "alice-weather",
            {
                "consumer": "alice@acme.example",
                "organisation": "Acme",
                "app": {"name": "weather-app"},
                "products": ["weather-api"],
                "plan": "gold",
                "status": "approved",
            },
        ),
    ]


async def create_all(backend: PortalBackend, target: Target) -> dict[Key, str]:
    ids: dict[Key, str] = {}
    for kind, key, attrs in estate(target):
        ids[(kind, key)] = await backend.create(kind, key, attrs)
    # recorded as an apply records them (an admin user is the tool's once recorded)
    await backend.write_managed(ManagedRecord(ids))
    return ids


def plain(attrs: Any) -> Any:
    """Canonical attrs with secrets replaced by their values (Sensitive compares its ref too)."""
    if isinstance(attrs, Sensitive):
        return ("sensitive", attrs.value)
    if isinstance(attrs, dict):
        return {k: plain(v) for k, v in attrs.items()}
    if isinstance(attrs, list):
        return [plain(v) for v in attrs]
    return attrs


def attrs_of(state: LiveState, kind: str, key: str) -> Any:
    obj = state.get(kind, key)
    assert obj is not None, f"{kind}/{key} not in live state"
    return plain(dict(obj.attrs))


async def test_a_fresh_portal_has_only_flagged_builtins(backend: PortalBackend) -> None:
    state = await backend.read()
    assert sorted(o.ref for o in state) == [
        ("AdminUser", "admin@portal.local"),  # the portal's first admin: not the tool's
        ("Catalogue", "Private Catalogue"),
        ("Catalogue", "Public Catalogue"),
        ("Organisation", "Default Organisation"),
        ("Team", "Default Organisation/Default Organisation All users"),
    ]
    assert all(o.builtin and not o.managed for o in state)
    assert attrs_of(state, "Catalogue", "Public Catalogue") == {
        "visibility": "public",
        "audience": [],
        "products": [],
        "plans": [],
    }


async def test_every_kind_reads_back_exactly_as_created(
    backend: PortalBackend, target: Target
) -> None:
    ids = await create_all(backend, target)
    state = await backend.read()
    for kind, key, attrs in estate(target):
        obj = state.get(kind, key)
        assert obj is not None, (kind, key)
        assert plain(dict(obj.attrs)) == plain(attrs), (kind, key)
        assert obj.id == ids[(kind, key)]
        assert not obj.builtin
    secret = state.objects[("Provider", PROVIDER)].attrs["secret"]
    assert isinstance(secret, Sensitive)
    assert (secret.ref, secret.value) == ("live", DASHBOARD_SECRET)
    # creating an organisation brought its default team, flagged built-in
    default_team = state.get("Team", "Acme/Acme All users")
    assert default_team is not None and default_team.builtin


async def test_backing_policies_carry_the_managed_tag(
    backend: PortalBackend, target: Target
) -> None:
    ids = await create_all(backend, target)
    product = await backend.api.portal.get(f"/products/{ids[('Product', 'weather-api')]}", what="p")
    policy = await backend.dashboard_for(PROVIDER).get_policy(product["ReferenceID"], what="p")
    assert MANAGED_POLICY_TAG in policy["tags"]
    assert "portal" in policy["tags"]  # the provider's PoliciesTags, added by the portal


async def test_updates_bring_each_kind_to_the_new_attrs(
    backend: PortalBackend, target: Target
) -> None:
    await create_all(backend, target)
    provider = provider_attrs(target) | {
        "gatewayUrl": "https://gateway.example",
        "policyTags": ["partners", "portal"],
    }
    changes: list[tuple[str, str, Attrs]] = [
        ("Provider", PROVIDER, provider),
        (
            "User",
            "alice@acme.example",
            {
                "organisation": "Acme",
                "first": "Alicia",
                "last": "Smith",
                "role": "consumer-team-member",
                "teams": ["ops"],
            },
        ),
        (
            "User",
            "bob@acme.example",
            {
                "organisation": "Acme",
                "first": "Bob",
                "last": "Jones",
                "role": "consumer-team-member",
                "teams": ["devs", "ops"],
            },
        ),
        (
            "Product",
            "weather-api",
            product_attrs(
                description="Forecasts and history",
                tags=["maps"],
                apis=["history-api", "weather-api-1"],
                policy={
                    "partitions": dict(PRODUCT_PARTITIONS),
                    **ACTIVE,
                    "accessRights": [
                        {"apiId": "history-api", "versions": [], "allowedUrls": []},
                        {
                            "apiId": "weather-api-1",
                            "versions": ["Default", "v2"],
                            "allowedUrls": [{"url": "/forecast", "methods": ["GET", "HEAD"]}],
                        },
                    ],
                },
            ),
        ),
        ("Plan", "gold", plan_attrs(rate=None, quota=(500, 60), autoApprove=True)),
        (
            "Catalogue",
            "partners",
            {
                "visibility": "public",
                "audience": [{"organisation": "Acme", "team": "ops"}],
                "products": [],
                "plans": [],
            },
        ),
    ]
    before = await backend.read()
    for kind, key, attrs in changes:
        live = before.get(kind, key)
        assert live is not None
        await backend.update(live, attrs)
    after = await backend.read()
    for kind, key, attrs in changes:
        assert attrs_of(after, kind, key) == plain(attrs), (kind, key)
        assert after.objects[(kind, key)].id == before.objects[(kind, key)].id


async def test_a_pending_request_is_approved_by_update(
    backend: PortalBackend, target: Target
) -> None:
    await create_all(backend, target)
    request = copy.deepcopy(estate(target)[-1][2]) | {"status": "pending"}
    request["app"]["name"] = "second-app"
    await backend.create("App", "alice@acme.example/second-app", app_attrs("second-app"))
    request_id = await backend.create("AccessRequest", "alice-second", request)
    live = (await backend.read()).get("AccessRequest", "alice-second")
    assert live is not None and live.attrs["status"] == "pending" and live.id == request_id
    await backend.update(live, request | {"status": "approved"})
    assert attrs_of(await backend.read(), "AccessRequest", "alice-second")["status"] == "approved"


async def test_a_rejected_request_reads_back_rejected(
    backend: PortalBackend, target: Target
) -> None:
    await create_all(backend, target)
    request = copy.deepcopy(estate(target)[-1][2]) | {"status": "rejected"}
    request["app"]["name"] = "rejected-app"
    await backend.create("App", "alice@acme.example/rejected-app", app_attrs("rejected-app"))
    await backend.create("AccessRequest", "alice-rejected", request)
    assert attrs_of(await backend.read(), "AccessRequest", "alice-rejected") == plain(request)


async def test_creating_a_request_again_reuses_it(backend: PortalBackend, target: Target) -> None:
    ids = await create_all(backend, target)
    _, key, attrs = estate(target)[-1]
    again = await backend.create("AccessRequest", key, attrs)
    assert again == ids[("AccessRequest", key)]
    requests = [o for o in await backend.read() if o.kind == "AccessRequest"]
    assert [r.id for r in requests] == [again]


async def test_a_create_that_finds_its_object_existing_converges(
    backend: PortalBackend, target: Target
) -> None:
    """A retried create (its first attempt's reply lost) updates what the first one made."""
    ids = await create_all(backend, target)
    changed = product_attrs(description="second attempt", tags=["again"])
    assert (
        await backend.create("Product", "weather-api", changed) == ids[("Product", "weather-api")]
    )
    user = dict(estate(target)[5][2]) | {"teams": ["ops"]}
    assert (
        await backend.create("User", "bob@acme.example", user) == ids[("User", "bob@acme.example")]
    )
    state = await backend.read()
    assert attrs_of(state, "Product", "weather-api") == plain(changed)
    assert attrs_of(state, "User", "bob@acme.example") == plain(user)
    assert len([o for o in state if o.kind == "Product"]) == 1


async def test_deletes_run_bottom_up_and_are_idempotent(
    backend: PortalBackend, target: Target
) -> None:
    await create_all(backend, target)
    state = await backend.read()
    created = [state.objects[(kind, key)] for kind, key, _ in estate(target)]
    for live in reversed(created):
        await backend.delete(live)
    after = await backend.read()
    for live in created:
        assert after.get(live.kind, live.key) is None, live.ref
    for live in reversed(created):  # deleting what is gone is not an error
        await backend.delete(live)
    # the products' and plans' policies went with them
    policies = await backend.dashboard_for(PROVIDER).list_policies()
    assert [p for p in policies if MANAGED_POLICY_TAG in (p.get("tags") or [])] == []


async def test_builtins_are_never_deleted(backend: PortalBackend) -> None:
    state = await backend.read()
    public = state.get("Catalogue", "Public Catalogue")
    assert public is not None
    with pytest.raises(ValidationFailed, match="built-in portal objects are never deleted"):
        await backend.delete(public)
    assert (await backend.read()).get("Catalogue", "Public Catalogue") is not None


async def test_policy_edited_in_the_dashboard_is_visible_and_repaired(
    backend: PortalBackend, target: Target
) -> None:
    ids = await create_all(backend, target)
    dash = backend.dashboard_for(PROVIDER)
    product = await backend.api.portal.get(f"/products/{ids[('Product', 'weather-api')]}", what="p")
    reference = product["ReferenceID"]
    policy = await dash.get_policy(reference, what="policy")
    policy["partitions"]["quota"] = True
    policy["access_rights"]["sneaky-api"] = {
        "api_id": "sneaky-api",
        "versions": ["Default"],
        "allowed_urls": [],
    }
    await dash.update_policy(reference, policy, what="policy")

    drifted = await backend.read()
    live = drifted.objects[("Product", "weather-api")]
    assert live.attrs["policy"]["partitions"] == {"acl": True, "quota": True, "rate_limit": False}
    assert [r["apiId"] for r in live.attrs["policy"]["accessRights"]] == [
        "sneaky-api",
        "weather-api-1",
    ]
    await backend.update(live, product_attrs())
    assert attrs_of(await backend.read(), "Product", "weather-api") == plain(product_attrs())

    # a policy deleted in the Dashboard reads as None, and an update recreates it
    await dash.delete_policy(reference, what="policy")
    missing = await backend.read()
    assert missing.objects[("Product", "weather-api")].attrs["policy"] is None
    await backend.update(missing.objects[("Product", "weather-api")], product_attrs())
    assert attrs_of(await backend.read(), "Product", "weather-api") == plain(product_attrs())


async def test_plan_limits_edited_in_the_dashboard_are_visible(
    backend: PortalBackend, target: Target
) -> None:
    ids = await create_all(backend, target)
    dash = backend.dashboard_for(PROVIDER)
    plan = await backend.api.portal.get(f"/plans/{ids[('Plan', 'gold')]}", what="plan")
    policy = await dash.get_policy(plan["ReferenceID"], what="policy")
    policy["rate"] = 5000
    await dash.update_policy(plan["ReferenceID"], policy, what="policy")
    live = (await backend.read()).objects[("Plan", "gold")]
    assert live.attrs["policy"]["rate"] == 5000
    assert live.attrs["rateLimit"] == {"requests": 100, "per": 60}  # the portal's side is unchanged


async def test_unknown_references_are_named(backend: PortalBackend, target: Target) -> None:
    with pytest.raises(NotFoundError) as caught:
        await backend.create("Product", "orphan", product_attrs(provider="nowhere"))
    assert str(caught.value) == 'resolve provider: provider "nowhere" does not exist'
    await backend.create("Organisation", "Acme", {})
    with pytest.raises(NotFoundError) as caught:
        await backend.create(
            "User",
            "carol@acme.example",
            {
                "organisation": "Acme",
                "first": "",
                "last": "",
                "role": "consumer-team-member",
                "teams": ["ghosts"],
            },
        )
    assert str(caught.value) == 'resolve team: team "Acme/ghosts" does not exist'


async def test_find_looks_an_object_up_after_create(backend: PortalBackend, target: Target) -> None:
    ids = await create_all(backend, target)
    for ref in [
        ("Team", "Acme/devs"),
        ("Product", "weather-api"),
        ("AccessRequest", "alice-weather"),
    ]:
        found = await backend.find(*ref)
        assert found is not None and found.id == ids[ref]
    assert await backend.find("Product", "no-such-product") is None


async def test_managed_record_round_trips_on_the_target(
    backend: PortalBackend, target: Target
) -> None:
    ids = await create_all(backend, target)
    assert await backend.read_managed() == ManagedRecord(ids)  # as create_all recorded it
    record = ManagedRecord(
        {
            ("Organisation", "Acme"): ids[("Organisation", "Acme")],
            ("Product", "weather-api"): ids[("Product", "weather-api")],
            # a pulled request adopted under its manifest's name
            ("AccessRequest", "alice-gets-weather"): ids[("AccessRequest", "alice-weather")],
        },
        {("AccessRequest", "alice-gets-weather"): {"justification": "dashboards for ops"}},
    )
    await backend.write_managed(record)
    await backend.write_managed(record)  # the second write updates the same policy

    other = target.open()  # another machine, another run
    try:
        assert await other.read_managed() == record
        state = await other.read()
    finally:
        await other.aclose()
    assert state.objects[("Organisation", "Acme")].managed
    assert state.objects[("Product", "weather-api")].managed
    assert not state.objects[("Plan", "gold")].managed
    request = state.get("AccessRequest", "alice-gets-weather")
    assert request is not None and request.managed
    assert state.get("AccessRequest", "alice-weather") is None

    policies = await backend.dashboard_for(PROVIDER).list_policies()
    holder = [p for p in policies if p["name"] == STATE_POLICY]
    assert len(holder) == 1
    assert holder[0]["active"] is False and holder[0]["is_inactive"] is True
    assert not any(holder[0]["partitions"].values())


async def test_apply_lock_is_a_lease_on_the_target(backend: PortalBackend, target: Target) -> None:
    clock = target.clock
    info = await backend.acquire_lock("ci-run-1", 600)
    assert (info.holder, info.expires_at) == ("ci-run-1", clock.now + 600)
    until = datetime.fromtimestamp(clock.now + 600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    other = target.open()
    try:
        with pytest.raises(LockError) as refused:
            await other.acquire_lock("ci-run-2", 600)
        assert str(refused.value) == (
            f"the apply lock on {backend.target} is held by ci-run-1 until {until}; "
            "wait for that apply to finish, or retry after the lease expires"
        )
        await other.release_lock("ci-run-2")  # not the holder: changes nothing
        with pytest.raises(LockError):
            await other.acquire_lock("ci-run-2", 600)

        clock.advance(601)  # the first run was killed: its lease expires
        taken = await other.acquire_lock("ci-run-2", 600)
        assert taken.holder == "ci-run-2"
        await backend.release_lock("ci-run-1")  # too late: no longer ours, left alone
        with pytest.raises(LockError, match="held by ci-run-2"):
            await backend.acquire_lock("ci-run-1", 600)

        await other.release_lock("ci-run-2")
        assert (await backend.acquire_lock("ci-run-1", 600)).holder == "ci-run-1"
        await backend.release_lock("ci-run-1")
    finally:
        await other.aclose()
    names = [p["name"] for p in await backend.dashboard_for(PROVIDER).list_policies()]
    assert LOCK_POLICY not in names
