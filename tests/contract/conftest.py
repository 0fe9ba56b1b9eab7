"""Contract-test plumbing: the official OpenAPI documents (with their known slips patched, each
with its reason) and a checker that validates every emulator response against them.

The documents are Tyk's own (portal 1.14 ``enterprise-developer-portal-swagger.yaml``, Dashboard
5.13 ``dashboard-swagger.yml``), committed unmodified in ``tests/contract/specs/``.
"""

from __future__ import annotations

import copy
import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.responses.exceptions import ResponseNotFound
from werkzeug.datastructures import Headers, ImmutableMultiDict

PORTAL_SPEC = "enterprise-developer-portal-swagger.yaml"
DASHBOARD_SPEC = "dashboard-swagger.yml"
PORTAL_HOST = (
    "http://localhost:3001"  # the portal spec's server is http://localhost:3001/portal-api
)
DASHBOARD_HOST = "https://localhost:3000"  # the Dashboard spec's server is https://{tenant}


def spec_dir() -> Path:
    """The official documents are committed beside these tests (see specs/README.md)."""
    return Path(__file__).parent / "specs"


@functools.cache
def _load(name: str) -> dict[str, Any]:
    directory = spec_dir()
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(directory / name, encoding="utf-8") as fh:
        data: dict[str, Any] = yaml.load(fh, Loader=loader)
    return data


def patched_portal_spec(*, plans_list_shape: str, legacy_limit_strings: bool) -> dict[str, Any]:
    """The portal document with its self-contradictions resolved (REFERENCE.md §8)."""
    spec = copy.deepcopy(_load(PORTAL_SPEC))
    schemas = spec["components"]["schemas"]
    paths = spec["paths"]
    # 1. An access request's ``Products`` is a string in AccessRequest-basic-elem, -index-elem and
    #    -show, but an array of names in Client-AccessRequest-elem: the same object both ways.
    #    Real replies carry both; the emulator sends the array (it keeps every name intact).
    products = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
    for name in ("AccessRequest-basic-elem", "AccessRequest-index-elem", "AccessRequest-show"):
        schemas[name]["allOf"][1]["properties"]["Products"] = products
    # 2. Client-show.AccessRequests' items point at an index (array) schema: an array of arrays.
    #    Real replies are an array of access-request objects.
    schemas["Client-show"]["allOf"][2]["properties"]["AccessRequests"]["items"] = {
        "$ref": "#/components/schemas/Client-AccessRequest-elem"
    }
    # 3. GET .../credentials/{id}: the 200 and 422 schemas are swapped (200 = Status).
    cred = paths["/apps/{app_id}/access-requests/{access-request_id}/credentials/{credential_id}"]
    ok = cred["get"]["responses"]["200"]["content"]["application/json"]
    ok["schema"] = {"$ref": "#/components/schemas/Credential-index-elem"}
    # 4. GET /plans is documented as {"data": [...]}; real portals answer a bare array.
    if plans_list_shape == "bare":
        schemas["Plan-index"] = {
            "type": "array",
            "items": {"$ref": "#/components/schemas/PlanSummary"},
        }
    # 5. Portals before 1.13 rendered RateLimit/Quota as strings ("1000 calls / 60 second(s)",
    #    "unlimited") and answered plans with the (still defined, now unused) Plan-show schema.
    if legacy_limit_strings:
        for limit in ("RateLimit", "Quota"):
            schemas["PlanSummary"]["properties"][limit] = {"type": "string"}
        for path, method in (
            ("/plans", "post"),
            ("/plans/{plan_id}", "get"),
            ("/plans/{plan_id}", "put"),
        ):
            media = paths[path][method]["responses"]["200"]["content"]["application/json"]
            media["schema"] = {"$ref": "#/components/schemas/Plan-show"}
    return spec


def dashboard_spec() -> dict[str, Any]:
    spec = copy.deepcopy(_load(DASHBOARD_SPEC))
    # Only the policy and API-definition endpoints are served; the rest of the (large)
    # document is irrelevant.
    spec["paths"] = {
        k: v
        for k, v in spec["paths"].items()
        if k.startswith("/api/portal/policies") or k in ("/api/apis", "/api/apis/{apiId}")
    }
    return spec


def openapi(spec: dict[str, Any]) -> OpenAPI:
    # The documents are Tyk's, not ours: the Dashboard one does not even pass the OpenAPI
    # meta-schema ('default: "false"' on a boolean), so they are used without being checked.
    return OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))


# -- the Request/Response protocols openapi-core validates ----------------------------------


class SpecRequest:
    def __init__(
        self,
        host_url: str,
        path: str,
        method: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes | None,
    ):
        self.host_url = host_url
        self.path = path
        self.method = method.lower()
        self.body = body
        # a JSON body unless the request says otherwise (an OpenAPI upload is multipart)
        lower = {k.lower(): v for k, v in headers.items()}
        self.content_type = lower.get("content-type", "application/json")
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(query),
            header=Headers(headers),
            cookie=ImmutableMultiDict(),
            path={},
        )


class SpecResponse:
    def __init__(self, response: httpx.Response):
        self.status_code = response.status_code
        self.data = response.content
        self.headers = Headers(dict(response.headers))
        self.content_type = response.headers.get("content-type", "")


@dataclass
class Contract:
    """Sends requests to the emulator and validates each reply against the documents."""

    client: httpx.Client
    portal: OpenAPI
    dashboard: OpenAPI
    portal_token: str
    dashboard_secret: str
    only_errors: dict[str, Any]
    api_response: dict[str, Any]
    validated: list[tuple[str, str, int]] = field(default_factory=list)
    undocumented: list[tuple[str, str, int]] = field(default_factory=list)

    def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, str] | None = None,
        expect: int = 200,
        auth: bool = True,
        undocumented: bool = False,
    ) -> Any:
        """One request; asserts ``expect`` and validates the reply against its documented schema.

        ``undocumented=True`` marks a status the document does not list for the operation
        (e.g. 422 on POST /organisations, 401 anywhere on the portal): the test then asserts the
        document really lacks it and checks the body against the API's generic error schema.
        """
        dashboard = path.startswith("/api/")
        headers = {"content-type": "application/json"}
        if auth:
            headers["authorization"] = self.dashboard_secret if dashboard else self.portal_token
        body = None if json_body is None else json.dumps(json_body).encode()
        resp = self.client.request(method, path, params=params, content=body, headers=headers)
        assert resp.status_code == expect, (method, path, resp.status_code, resp.text)
        assert resp.headers["content-type"].startswith("application/json")
        host = DASHBOARD_HOST if dashboard else PORTAL_HOST
        request = SpecRequest(host, path, method, params or {}, headers, body)
        api = self.dashboard if dashboard else self.portal
        if undocumented:
            with pytest.raises(ResponseNotFound):
                api.validate_response(request, SpecResponse(resp))
            schema = self.api_response if dashboard else self.only_errors
            jsonschema.validate(resp.json(), schema)
            self.undocumented.append((method, path, resp.status_code))
        else:
            api.validate_response(request, SpecResponse(resp))
            self.validated.append((method, path, resp.status_code))
        return resp.json()


@pytest.fixture(scope="session")
def dashboard_openapi() -> OpenAPI:
    return openapi(dashboard_spec())


@functools.cache
def portal_openapi(plans_list_shape: str, legacy_limit_strings: bool) -> OpenAPI:
    return openapi(
        patched_portal_spec(
            plans_list_shape=plans_list_shape, legacy_limit_strings=legacy_limit_strings
        )
    )


def error_schemas() -> tuple[dict[str, Any], dict[str, Any]]:
    """(portal OnlyErrors, Dashboard ApiResponse) as plain JSON Schemas."""
    only_errors = copy.deepcopy(_load(PORTAL_SPEC)["components"]["schemas"]["OnlyErrors"])
    only_errors["required"] = ["errors"]
    api_response = copy.deepcopy(_load(DASHBOARD_SPEC)["components"]["schemas"]["ApiResponse"])
    api_response["required"] = ["Status", "Message"]
    return only_errors, api_response
