"""diff: given live, given desired, expect changes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from portal_gitops.desired import build_desired
from portal_gitops.diff import FieldChange, diff
from portal_gitops.models import KINDS, Manifest
from portal_gitops.state import LiveObject, LiveState, Sensitive

TODAY = dt.date(2026, 11, 25)


def manifest(kind: str, name: str, spec: dict[str, Any]) -> Manifest:
    return KINDS[kind].model_validate(
        {"apiVersion": "portal-gitops/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}
    )


PROVIDER = manifest(
    "Provider",
    "tyk",
    {
        "type": "tyk-pro",
        "dashboardUrl": "http://dash:3000",
        "secret": {"fromEnv": "DASH"},
        "orgId": "org1",
    },
)
PRODUCT = manifest(
    "Product",
    "weather",
    {"provider": "tyk", "apis": [{"apiId": "b"}, {"apiId": "a", "versions": ["v2", "v1"]}]},
)


def desired(*ms: Manifest, secret: str | None = "s3cret") -> Any:
    return build_desired(list(ms), today=TODAY, resolve_secret=lambda _ref: secret)


def live_of(d: Any, managed: bool = True) -> LiveState:
    return LiveState(
        {
            r.ref: LiveObject(r.kind, r.key, str(i), r.attrs, managed=managed)
            for i, r in enumerate(d.state)
        }
    )


def test_diff_of_a_state_with_itself_is_empty() -> None:
    d = desired(PROVIDER, PRODUCT)
    assert diff(d, live_of(d)).changes == []


def test_missing_objects_are_created_in_canonical_form() -> None:
    result = diff(desired(PRODUCT), LiveState({}))
    assert [(c.op, c.kind, c.key) for c in result.changes] == [("create", "Product", "weather")]
    after = result.changes[0].after
    assert after is not None
    assert after["apis"] == ["a", "b"]
    assert after["policy"]["accessRights"][0] == {
        "apiId": "a",
        "versions": ["v1", "v2"],
        "allowedUrls": [],
    }


def test_policy_edited_in_the_dashboard_is_drift_with_field_detail() -> None:
    d = desired(PRODUCT)
    live_attrs = dict(d.state.resources[("Product", "weather")].attrs)
    live_attrs["policy"] = {
        "partitions": {"acl": True, "quota": True, "rate_limit": False},
        "active": True,
        "state": "active",
        "accessRights": live_attrs["policy"]["accessRights"],
    }
    live = LiveState(
        {("Product", "weather"): LiveObject("Product", "weather", "1", live_attrs, managed=True)}
    )
    (change,) = diff(d, live).changes
    assert change.op == "update"
    assert change.fields == (FieldChange("policy.partitions.quota", True, False),)


def test_unmanaged_live_objects_are_reported_and_never_deleted() -> None:
    d = desired(PROVIDER)
    stranger = LiveObject("Product", "legacy", "9", {"provider": "tyk"}, managed=False)
    live = LiveState({**live_of(d).objects, stranger.ref: stranger})
    result = diff(d, live, prune=True)
    assert result.changes == []
    assert result.unmanaged == [stranger]


def test_managed_objects_removed_from_manifests_are_deleted_only_with_prune() -> None:
    d = desired(PROVIDER, PRODUCT)
    live = live_of(d)
    without = desired(PROVIDER)
    assert diff(without, live).changes == []
    assert [o.key for o in diff(without, live).orphaned] == ["weather"]
    pruned = diff(without, live, prune=True).changes
    assert [(c.op, c.key, c.reason) for c in pruned] == [
        ("delete", "weather", "removed from the manifests")
    ]


def test_builtins_are_never_deleted() -> None:
    builtin = LiveObject(
        "Organisation", "Default Organisation", "1", {}, managed=True, builtin=True
    )
    result = diff(desired(), LiveState({builtin.ref: builtin}), prune=True)
    assert result.changes == [] and result.unmanaged == [] and result.orphaned == []


def test_secret_changes_are_masked_and_unknown_secrets_not_compared() -> None:
    d = desired(PROVIDER, secret="n3w-s3cret-value")
    live_attrs = dict(d.state.resources[("Provider", "tyk")].attrs)
    live_attrs["secret"] = Sensitive("live", "0ld-s3cret-value")
    live = LiveState(
        {("Provider", "tyk"): LiveObject("Provider", "tyk", "1", live_attrs, managed=True)}
    )
    (change,) = diff(d, live).changes
    assert change.fields == (FieldChange("secret", None, None, sensitive=True),)
    assert "0ld-s3cret-value" not in repr(change) and "n3w-s3cret-value" not in repr(change)
    assert diff(desired(PROVIDER, secret=None), live).changes == []


def test_existing_unmanaged_object_matching_the_manifests_is_adopted() -> None:
    d = desired(PRODUCT)
    (change,) = diff(d, live_of(d, managed=False)).changes
    assert (change.op, change.key) == ("adopt", "weather")


def _request(decision: str = "approve", expires: str | None = None) -> Manifest:
    spec: dict[str, Any] = {
        "consumer": "dev@acme.example",
        "app": {"name": "acme-app"},
        "products": ["weather"],
        "plan": "free",
        "catalogue": "public",
        "decision": decision,
    }
    if expires:
        spec["expires"] = expires
    return manifest("AccessRequest", "acme-weather", spec)


def test_approving_a_pending_request_is_an_update_changing_it_is_a_replace() -> None:
    d = desired(_request())
    attrs = dict(d.state.resources[("AccessRequest", "acme-weather")].attrs)
    pending = LiveObject(
        "AccessRequest", "acme-weather", "7", {**attrs, "status": "pending"}, managed=True
    )
    (change,) = [
        c for c in diff(d, LiveState({pending.ref: pending})).changes if c.key == "acme-weather"
    ]
    assert change.op == "update"
    other_plan = LiveObject(
        "AccessRequest", "acme-weather", "7", {**attrs, "plan": "gold"}, managed=True
    )
    live = LiveState({other_plan.ref: other_plan})
    (change,) = [c for c in diff(d, live).changes if c.key == "acme-weather"]
    assert change.op == "replace"


def test_expired_request_is_revoked_without_prune() -> None:
    granted = desired(_request())
    live = live_of(granted)
    (change,) = diff(desired(_request(expires="2026-11-24")), live).changes
    assert (change.op, change.key, change.reason) == ("delete", "acme-weather", "expired")
    assert diff(desired(_request(expires="2026-11-25")), live).changes == []


def test_set_valued_lists_differ_by_members_gained_and_lost() -> None:
    from portal_gitops.diff import field_changes

    old = {
        "tags": ["a", "b", "c"],
        "rights": [
            {"apiId": "x", "versions": ["v1"], "allowedUrls": [{"url": "/p", "methods": ["GET"]}]},
            {"apiId": "y", "versions": ["v1"], "allowedUrls": []},
        ],
    }
    new = {
        "tags": ["a", "c", "d"],
        "rights": [
            {
                "apiId": "x",
                "versions": ["v1", "v2"],
                "allowedUrls": [{"url": "/p", "methods": ["DELETE", "GET"]}],
            },
            {"apiId": "z", "versions": [], "allowedUrls": []},
        ],
    }
    assert list(field_changes(old, new)) == [
        FieldChange(
            "rights", {"apiId": "y", "versions": ["v1"], "allowedUrls": []}, None, item="removed"
        ),
        FieldChange(
            "rights", None, {"apiId": "z", "versions": [], "allowedUrls": []}, item="added"
        ),
        FieldChange("rights[0].allowedUrls[0].methods", None, "DELETE", item="added"),
        FieldChange("rights[0].versions", None, "v2", item="added"),
        FieldChange("tags", "b", None, item="removed"),
        FieldChange("tags", None, "d", item="added"),
    ]
    # a list appearing where there was none is a value change, as any other
    assert list(field_changes({"tags": None}, {"tags": ["a"]})) == [
        FieldChange("tags", None, ["a"])
    ]
