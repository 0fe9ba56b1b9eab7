"""Every request the tyk backend sends, validated against Tyk's official OpenAPI documents.

A full cycle (lock, read, create every kind, updates, a decision on a pending request, the
managed record, bottom-up deletes, unlock) runs through ``open_tyk`` against the emulator over
a real socket. A wrapping transport records each request; each (method, path, query, headers,
body) is then validated by openapi-core against the portal 1.14 or Dashboard 5.13 document.

Where the documents cannot judge a request, the test says so and checks what it can:
- ``PUT /apps/{id}/provision`` lists no request body, but Tyk's own Postman collection and
  REFERENCE.md document the real one (``{PlanID, ProductIDs, ...}``): it is checked against
  that shape here.
- ``POST``/``PUT /products`` give only examples, no schema: our bodies may only use the keys the
  examples use (for PUT, also the keys of the unreferenced ``Product-update`` schema).
- The Dashboard document declares ``bearerAuth``, but the Dashboard takes the raw secret in
  ``Authorization`` (REFERENCE.md §1): the scheme is patched to an ``Authorization`` API key.
- ``Catalogue-update`` types ``Products``/``Plans`` as arrays but its own description says "to
  remove all ... use null": the schema is patched to allow null.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jsonschema
import pytest
from openapi_core import OpenAPI

from portal_gitops.backends.base import ManagedRecord
from portal_gitops.backends.emulated.server import running_emulator
from portal_gitops.backends.emulated.store import PortalStore
from portal_gitops.backends.tyk.backend import PortalBackend, open_tyk
from portal_gitops.backends.tyk.dashboards import DashboardConn
from portal_gitops.kinds import LEVEL
from portal_gitops.state import Content, Sensitive
from tests.apis import TEST_APIS
from tests.backends.conftest import DASHBOARD_SECRET, PORTAL_TOKEN, PROVIDER, FakeClock, Target
from tests.backends.test_backend_behaviour import app_attrs, estate, plan_attrs, product_attrs

from .conftest import (
    DASHBOARD_HOST,
    PORTAL_HOST,
    SpecRequest,
    _load,
    dashboard_spec,
    openapi,
    patched_portal_spec,
)

DOC_KEY = "weather-api/weather-api-1"
GUIDE_KEY = "weather-api/Getting started"
OAS = Content(b"openapi: 3.0.3\ninfo: {title: Weather, version: '1'}\npaths: {}\n")


def documented(target: Target) -> dict[str, Any]:
    return dict(next(a for k, key, a in estate(target) if (k, key) == ("ApiDoc", DOC_KEY)))


def guide(target: Target) -> dict[str, Any]:
    return dict(next(a for k, key, a in estate(target) if (k, key) == ("Guide", GUIDE_KEY)))


PROVISION_BODY = {
    "type": "object",
    "required": ["PlanID", "ProductIDs"],
    "properties": {
        "PlanID": {"type": "integer"},
        "ProductIDs": {"type": "array", "items": {"type": "integer"}, "minItems": 1},
        "DCRTemplateID": {"type": "integer"},
    },
    "additionalProperties": False,
}


@dataclass(frozen=True)
class Sent:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes | None


class Recorder(httpx.AsyncBaseTransport):
    """Passes requests to a real transport and keeps a copy of each."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.sent: list[Sent] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        self.sent.append(
            Sent(
                request.method,
                request.url.path,
                dict(request.url.params),
                dict(request.headers),
                body or None,
            )
        )
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@functools.cache
def portal_document() -> OpenAPI:
    spec = patched_portal_spec(plans_list_shape="spec", legacy_limit_strings=False)
    update = spec["components"]["schemas"]["Catalogue-update"]["properties"]
    for field in ("Products", "Plans"):  # the description says null clears the list
        update[field] = {"anyOf": [update[field], {"type": "null"}]}
    # update-oas: the multipart ``file`` is ``type: string, format: binary``, which openapi-core
    # decodes to bytes and then refuses as "not a string"; the part is checked by
    # ``check_multipart`` instead (present, named ``file``, a file with content)
    oas = spec["paths"]["/products/{product_id}/api-details/{api_id}/oas"]["post"]
    oas["requestBody"]["content"]["multipart/form-data"]["schema"] = {
        "type": "object",
        "required": ["file"],
        "properties": {"file": {}},
    }
    return openapi(spec)


def check_multipart(sent: Sent) -> None:
    """An OpenAPI upload is one multipart/form-data part named ``file``, a named file."""
    import email.parser
    import email.policy

    ctype = sent.headers["content-type"]
    head = f"Content-Type: {ctype}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        head + (sent.body or b"")
    )
    parts = list(message.iter_parts())
    assert [p.get_param("name", header="content-disposition") for p in parts] == ["file"]
    assert parts[0].get_filename()
    assert parts[0].get_payload(decode=True)


@functools.cache
def dashboard_document() -> OpenAPI:
    spec = dashboard_spec()
    # the Dashboard takes its raw API secret in Authorization, not "Bearer <secret>"
    spec["components"]["securitySchemes"]["bearerAuth"] = {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
    }
    return openapi(spec)


def templates(spec: dict[str, Any], prefix: str) -> list[tuple[str, re.Pattern[str]]]:
    out = []
    for path in spec["paths"]:
        regex = re.sub(r"\{[^}]+\}", "[^/]+", path)
        out.append((path, re.compile(f"^{prefix}{regex}$")))
    # literal segments win over parameters (/policies/search before /policies/{id})
    out.sort(key=lambda t: t[0].count("{"))
    return out


def template_of(path: str, table: list[tuple[str, re.Pattern[str]]]) -> str:
    return next(t for t, regex in table if regex.match(path))


@pytest.fixture
def recorded_cycle(tmp_path: Any) -> Iterator[list[Sent]]:
    """Run the full cycle against the emulator and return every request sent."""
    store = PortalStore(str(tmp_path / "contract.db"), apis=TEST_APIS)
    recorder = Recorder()
    try:
        with running_emulator(
            store, portal_token=PORTAL_TOKEN, dashboard_secret=DASHBOARD_SECRET
        ) as url:
            asyncio.run(full_cycle(url, recorder))
    finally:
        store.close()
    yield recorder.sent


async def full_cycle(url: str, recorder: Recorder) -> None:
    clock = FakeClock()

    def opener() -> PortalBackend:
        return open_tyk(
            url,
            PORTAL_TOKEN,
            {PROVIDER: DashboardConn(url, DASHBOARD_SECRET)},
            transport=recorder,
            clock=clock,
        )

    target = Target("tyk", url, clock, opener)
    backend = target.open()
    try:
        await backend.acquire_lock("contract-run", 600)
        await backend.read()
        ids: dict[tuple[str, str], str] = {}
        for kind, key, attrs in estate(target):
            ids[(kind, key)] = await backend.create(kind, key, attrs)
        live = await backend.read()
        pending = copy.deepcopy(estate(target)[-1][2]) | {"status": "pending"}
        pending["app"]["name"] = "second-app"
        second_app = app_attrs("second-app")
        await backend.create("App", "alice@acme.example/second-app", second_app)
        await backend.create("AccessRequest", "second", pending)
        live = await backend.read()
        changes = [
            (
                "Provider",
                PROVIDER,
                {
                    **estate(target)[0][2],
                    "gatewayUrl": "https://gw.example",
                    "secret": Sensitive("env:S", DASHBOARD_SECRET),
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
                    "teams": ["devs"],
                },
            ),
            ("Product", "weather-api", product_attrs(tags=["maps"])),
            ("Plan", "gold", plan_attrs(rate=None, quota=(10, 60))),
            (
                "Catalogue",
                "partners",
                {"visibility": "public", "audience": [], "products": [], "plans": []},
            ),
            ("AccessRequest", "second", pending | {"status": "approved"}),
            (
                "App",
                "alice@acme.example/second-app",
                second_app | {"description": "renamed nothing", "visibility": "organisation"},
            ),
            # the API's URL gives way to an uploaded document (multipart), a guide is edited
            ("ApiDoc", DOC_KEY, {**documented(target), "oasUrl": "", "document": OAS}),
            ("Guide", GUIDE_KEY, {**guide(target), "content": Content(b"# Begin here\n")}),
        ]
        for kind, key, attrs in changes:
            await backend.update(live.objects[(kind, key)], attrs)
        live = await backend.read()
        # the credential lifecycle: a rotation (list the credentials, rotate each), then a
        # revocation by ID (one the portal no longer has: its 404 is tolerated)
        second = live.objects[("AccessRequest", "second")]
        await backend.update(second, {**second.attrs, "rotate": "r1"})
        await backend.update(second, {**second.attrs, "revokeCredentials": ["999999"]})
        # a second guide, placed first: the product's pages are reordered
        limits = {**guide(target), "title": "Limits", "path": "limits", "position": 0}
        ids[("Guide", "weather-api/Limits")] = await backend.create(
            "Guide", "weather-api/Limits", limits
        )
        notes = {("ApiDoc", DOC_KEY): {"document": str(OAS)}}  # as an apply records the upload
        await backend.write_managed(ManagedRecord(ids, notes))  # creates the record policy
        await backend.write_managed(ManagedRecord(ids, notes))  # updates it
        await backend.read_managed()
        live = await backend.read()
        assert live.objects[("ApiDoc", DOC_KEY)].attrs["document"] == OAS
        for obj in sorted((o for o in live if not o.builtin), key=lambda o: -LEVEL[o.kind]):
            await backend.delete(obj)
        await backend.release_lock("contract-run")
    finally:
        await backend.aclose()


def check_requests(
    sent_requests: list[Sent], tokens: dict[str, str] | None = None
) -> set[tuple[str, str]]:
    """Validate each request against the documents; returns the (method, template) covered.

    ``tokens`` (``portal``/``dashboard``), when given, are the exact Authorization values."""
    portal_api, dashboard_api = portal_document(), dashboard_document()
    portal_paths = templates(_load("enterprise-developer-portal-swagger.yaml"), "/portal-api")
    dashboard_paths = templates(dashboard_spec(), "")
    portal_spec = _load("enterprise-developer-portal-swagger.yaml")
    product_keys = {
        # POST: the example's keys; PUT: also the (unreferenced) Product-update schema's
        "/products": set(
            portal_spec["paths"]["/products"]["post"]["requestBody"]["content"]["application/json"][
                "examples"
            ]["regular-product"]["value"]
        ),
        "/products/{product_id}": set(
            portal_spec["paths"]["/products/{product_id}"]["put"]["requestBody"]["content"][
                "application/json"
            ]["examples"]["regular-product"]["value"]
        )
        | set(portal_spec["components"]["schemas"]["Product-update"]["properties"]),
    }
    covered: set[tuple[str, str]] = set()
    for sent in sent_requests:
        dashboard = sent.path.startswith("/api/")
        template = template_of(sent.path, dashboard_paths if dashboard else portal_paths)
        covered.add((sent.method, template))
        if tokens is not None:
            expected_token = tokens["dashboard" if dashboard else "portal"]
            assert sent.headers["authorization"] == expected_token
        request = SpecRequest(
            DASHBOARD_HOST if dashboard else PORTAL_HOST,
            sent.path,
            sent.method,
            sent.query,
            sent.headers,
            sent.body,
        )
        (dashboard_api if dashboard else portal_api).validate_request(request)
        multipart = sent.headers.get("content-type", "").startswith("multipart/form-data")
        if multipart:
            check_multipart(sent)
        body = json.loads(sent.body) if sent.body and not multipart else None
        if template == "/apps/{app_id}/provision":
            jsonschema.validate(body, PROVISION_BODY)  # undocumented in the spec: see docstring
        if template in product_keys and body is not None:
            assert set(body) <= product_keys[template], set(body) - product_keys[template]
    return covered


def test_every_request_conforms_to_the_documents(recorded_cycle: list[Sent]) -> None:
    covered = check_requests(
        recorded_cycle, {"portal": PORTAL_TOKEN, "dashboard": DASHBOARD_SECRET}
    )
    expected = {
        ("GET", "/providers"),
        ("POST", "/providers"),
        ("GET", "/providers/{provider_id}"),
        ("PUT", "/providers/{provider_id}"),
        ("DELETE", "/providers/{provider_id}"),
        ("POST", "/organisations"),
        ("DELETE", "/organisations/{organisation_id}"),
        ("GET", "/organisations/{organisation_id}/teams"),
        ("POST", "/organisations/{organisation_id}/teams"),
        ("GET", "/organisations/{organisation_id}/teams/{team_id}"),
        ("DELETE", "/organisations/{organisation_id}/teams/{team_id}"),
        ("POST", "/users"),
        ("PUT", "/users/{user_id}"),
        ("DELETE", "/users/{user_id}"),
        ("GET", "/tags"),
        ("POST", "/tags"),
        ("POST", "/products"),
        ("PUT", "/products/{product_id}"),
        ("DELETE", "/products/{product_id}"),
        ("POST", "/plans"),
        ("PUT", "/plans/{plan_id}"),
        ("DELETE", "/plans/{plan_id}"),
        ("POST", "/catalogues"),
        ("PUT", "/catalogues/{catalogue_id}"),
        ("DELETE", "/catalogues/{catalogue_id}"),
        ("GET", "/catalogues/{catalogue_id}/audiences"),
        ("POST", "/catalogues/{catalogue_id}/audiences"),
        ("DELETE", "/catalogues/{catalogue_id}/audiences/{audience_id}"),
        ("POST", "/apps"),
        ("PUT", "/apps/{app_id}/provision"),
        ("GET", "/apps/{app_id}/access-requests"),
        ("GET", "/access_requests"),
        ("PUT", "/access_requests/{access_request_id}/approve"),
        ("DELETE", "/access_requests/{access_request_id}"),
        ("GET", "/api/portal/policies"),
        ("POST", "/api/portal/policies"),
        ("GET", "/api/portal/policies/{id}"),
        ("PUT", "/api/portal/policies/{id}"),
        ("DELETE", "/api/portal/policies/{id}"),
        # a product's documentation
        ("GET", "/products/{product_id}/api-details/{api-id}"),
        ("PUT", "/products/{product_id}/api-details/{api-id}"),
        ("POST", "/products/{product_id}/api-details/{api_id}/oas"),
        ("DELETE", "/products/{product_id}/api-details/{api_id}/oas"),
        ("GET", "/products/{product_id}/docs"),
        ("POST", "/products/{product_id}/docs"),
        ("POST", "/products/{product_id}/docs/reorder"),
        ("PUT", "/products/{product_id}/docs/{doc_id}"),
        ("DELETE", "/products/{product_id}/docs/{doc_id}"),
    }
    assert expected - covered == set()


def test_spec_validation_catches_a_bad_request() -> None:
    """The check above can fail: a wrongly typed body is refused by the same validator."""
    from openapi_core.validation.request.exceptions import RequestBodyValidationError

    bad = SpecRequest(
        PORTAL_HOST,
        "/portal-api/plans",
        "POST",
        {},
        {"authorization": PORTAL_TOKEN, "content-type": "application/json"},
        json.dumps({"Name": "gold", "ProviderID": "one"}).encode(),
    )
    with pytest.raises(RequestBodyValidationError):
        portal_document().validate_request(bad)
