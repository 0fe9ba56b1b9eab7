"""The catalogue ``import`` and ``requests pull`` write for a live access request: one that
validation accepts (it offers the plan and products, its audience covers the consumer), the
one the portal recorded when it qualifies (REFERENCE.md §9 "Provision body": the portal
records a catalogue of its own choosing)."""

from __future__ import annotations

from typing import Any

from portal_gitops.kinds.access_request import valid_catalogue
from portal_gitops.requests import request_manifest
from portal_gitops.state import LiveObject, LiveState


def catalogue(name: str, visibility: str, audience: list[dict[str, str]], **offer: Any) -> Any:
    attrs = {
        "visibility": visibility,
        "audience": audience,
        "products": offer.get("products", ["weather"]),
        "plans": offer.get("plans", ["basic"]),
    }
    return LiveObject("Catalogue", name, name, attrs)


def live_with(recorded: str) -> tuple[LiveObject, LiveState]:
    request = LiveObject(
        "AccessRequest",
        "request-5",
        "5",
        {
            "consumer": "ann@acme.example",
            "organisation": "Acme",
            "app": {"name": "a"},
            "products": ["weather"],
            "plan": "basic",
            "status": "pending",
        },
        recorded={"catalogue": recorded},
    )
    app = {
        "owner": "ann@acme.example",
        "name": "a",
        "description": "",
        "redirectUrls": [],
        "visibility": "team",
    }
    objects = [
        request,
        LiveObject("App", "ann@acme.example/a", "9", app),  # the consumer's own, unmanaged
        LiveObject("User", "ann@acme.example", "1", {"organisation": "Acme", "teams": ["ops"]}),
        catalogue("zz-partner", "private", [{"organisation": "Acme", "team": "ops"}]),
        catalogue("other-team", "private", [{"organisation": "Acme", "team": "dev"}]),
        catalogue("no-plan", "public", [], plans=["gold"]),
        catalogue("whole-org", "private", [{"organisation": "Acme", "team": ""}]),
    ]
    return request, LiveState({o.ref: o for o in objects})


def test_the_recorded_catalogue_is_kept_when_it_validates() -> None:
    request, live = live_with("zz-partner")
    assert valid_catalogue(request, live) == "zz-partner"
    assert request_manifest(request, live).document["spec"]["catalogue"] == "zz-partner"


def test_another_is_named_when_the_recorded_one_would_not_validate() -> None:
    for recorded in ("other-team", "no-plan", ""):
        request, live = live_with(recorded)
        assert valid_catalogue(request, live) == "whole-org"  # the first that qualifies
    request, live = live_with("other-team")
    assert valid_catalogue(request, live, written={"zz-partner"}) == "zz-partner"
    spec = request_manifest(request, live).document["spec"]
    assert (spec["catalogue"], spec["app"]["visibility"]) == ("whole-org", "team")


def test_a_pulled_request_names_a_declared_app_and_describes_the_consumers_own() -> None:
    """The app of a pending request made in the portal: named only when portal-gitops
    manages it (an App document declares it, so describing it again would not validate),
    described as the consumer made it otherwise (the request then declares it)."""
    request, live = live_with("zz-partner")
    assert request_manifest(request, live).document["spec"]["app"] == {
        "name": "a",
        "visibility": "team",
    }
    objects = dict(live.objects)
    own = objects[("App", "ann@acme.example/a")]
    objects[own.ref] = LiveObject(own.kind, own.key, own.id, own.attrs, managed=True)
    assert request_manifest(request, LiveState(objects)).document["spec"]["app"] == "a"
