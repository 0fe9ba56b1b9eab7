"""The HTTP client layer: pagination, the status -> error table, retries, transport failures
and the documented quirks, with in-memory transports built from functions (and the emulator
where a real socket matters)."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from portal_gitops.backends.emulated.server import FaultConfig, running_emulator
from portal_gitops.backends.emulated.store import PortalStore
from portal_gitops.backends.tyk.backend import PortalBackend
from portal_gitops.backends.tyk.client import Timeouts, TykApi
from portal_gitops.backends.tyk.dashboards import DashboardConn
from portal_gitops.backends.tyk.mapping import plan_limits
from portal_gitops.backends.tyk.quirks import (
    as_list,
    parse_limit,
    parse_names,
    parse_retry_after,
    parse_timestamp,
    parse_user_ref,
)
from portal_gitops.backends.tyk.transport import InProcessTransport
from portal_gitops.errors import (
    AuthError,
    BackendError,
    ConflictError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    TransportError,
    ValidationFailed,
)
from portal_gitops.retry import RetryPolicy
from tests.apis import TEST_APIS

pytestmark = pytest.mark.anyio

TOKEN = "raw-admin-token-0123456789"
SECRET = "dashboard-secret-abcdef"
Handler = Callable[[httpx.Request], httpx.Response]


class Sleeps:
    """An injected sleep: records the delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def api_over(handler: Handler, sleeps: Sleeps | None = None, **kwargs: Any) -> TykApi:
    retry = RetryPolicy(sleep=sleeps or Sleeps(), jitter=lambda: 1.0)
    return TykApi(
        "http://portal.test:3001",
        TOKEN,
        transport=httpx.MockTransport(handler),
        retry=retry,
        **kwargs,
    )


def reply(status: int, payload: Any = None, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=payload, headers=headers)


class Counter:
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    def transport(self) -> httpx.AsyncBaseTransport:
        counter = self

        class Counting(httpx.AsyncBaseTransport):
            async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
                counter.requests.append(request)
                return await counter.inner.handle_async_request(request)

        return Counting()


# ---------------------------------------------------------------------------- pagination


async def test_portal_lists_follow_pages_to_the_end(tmp_path: Any) -> None:
    store = PortalStore(str(tmp_path / "p.db"), apis=TEST_APIS, portal_page_size=5)
    for i in range(10):
        store.handle(
            "POST", "/portal-api/organisations", {}, {}, json.dumps({"Name": f"o{i}"}).encode()
        )
    counter = Counter(InProcessTransport(store))
    api = TykApi("http://embedded", None, transport=counter.transport(), per_page=4)
    try:
        orgs = await api.portal.list_organisations()
    finally:
        await api.aclose()
    assert [o["Name"] for o in orgs] == ["Default Organisation"] + [f"o{i}" for i in range(10)]
    pages = [(r.url.params["page"], r.url.params["per_page"]) for r in counter.requests]
    # 4 + 4 + 3, then the empty page that ends the list: a short page does not prove the end
    # (a server may cap per_page below what is asked; REFERENCE §2, §9 "Pagination")
    assert pages == [("1", "4"), ("2", "4"), ("3", "4"), ("4", "4")]


async def test_dashboard_lists_fetch_every_page(tmp_path: Any) -> None:
    store = PortalStore(str(tmp_path / "p.db"), apis=TEST_APIS, dashboard_page_size=3)
    for i in range(10):
        body = json.dumps({"name": f"policy-{i}"}).encode()
        store.handle("POST", "/api/portal/policies", {}, {}, body)
    counter = Counter(InProcessTransport(store))
    api = TykApi("http://embedded", None, transport=counter.transport())
    try:
        policies = await api.dashboard(DashboardConn("http://embedded")).list_policies()
    finally:
        await api.aclose()
    assert sorted(p["name"] for p in policies) == sorted(f"policy-{i}" for i in range(10))
    assert sorted(r.url.params["p"] for r in counter.requests) == ["1", "2", "3", "4"]


async def test_pagination_over_a_real_socket() -> None:
    store = PortalStore(":memory:", apis=TEST_APIS, portal_page_size=2)
    for i in range(5):
        store.handle(
            "POST", "/portal-api/organisations", {}, {}, json.dumps({"Name": f"o{i}"}).encode()
        )
    with running_emulator(store, portal_token=TOKEN, dashboard_secret=SECRET) as url:
        api = TykApi(url, TOKEN, per_page=2)
        try:
            orgs = await api.portal.list_organisations()
        finally:
            await api.aclose()
    assert len(orgs) == 6


async def test_a_server_ignoring_page_does_not_loop_forever() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return reply(200, [{"ID": i, "Name": f"o{i}"} for i in range(1, 3)])

    api = api_over(handler, per_page=2)
    try:
        assert len(await api.portal.list_organisations()) == 2
    finally:
        await api.aclose()


# ---------------------------------------------------------------------------- the error table


@pytest.mark.parametrize(
    ("status", "payload", "error", "message"),
    [
        (
            401,
            {"errors": ["Unauthorized: invalid or missing API token"]},
            AuthError,
            'create product "weather-api": 401 Unauthorized: '
            "Unauthorized: invalid or missing API token",
        ),
        (
            403,
            {"errors": ["forbidden"]},
            AuthError,
            'create product "weather-api": 403 Forbidden: forbidden',
        ),
        (
            404,
            {"errors": ["provider not found"]},
            NotFoundError,
            'create product "weather-api": 404 Not Found: provider not found',
        ),
        (
            409,
            {"errors": ["conflict"]},
            ConflictError,
            'create product "weather-api": 409 Conflict: conflict',
        ),
        (
            422,
            {"errors": ["product with name 'weather-api' already exists"]},
            ConflictError,
            'create product "weather-api": 422 Unprocessable Entity: '
            "product with name 'weather-api' already exists",
        ),
        (
            400,
            {"Status": "Error", "Message": "This policy name has already been used", "Meta": None},
            ConflictError,
            'create product "weather-api": 400 Bad Request: This policy name has already been used',
        ),
        (
            422,
            {"errors": ["missing required field(s): ProviderID"]},
            ValidationFailed,
            'create product "weather-api": 422 Unprocessable Entity: '
            "missing required field(s): ProviderID",
        ),
        (
            500,
            {"errors": ["internal error"]},
            ServerError,
            'create product "weather-api": 500 Internal Server Error: internal error',
        ),
        (
            429,
            {"errors": ["Too Many Requests"]},
            RateLimitedError,
            'create product "weather-api": 429 Too Many Requests: Too Many Requests',
        ),
    ],
)
async def test_each_status_becomes_our_error_naming_operation_and_object(
    status: int, payload: Any, error: type[BackendError], message: str
) -> None:
    api = api_over(lambda request: reply(status, payload))
    try:
        with pytest.raises(error) as caught:
            await api.portal.create(
                "/products", {"Name": "weather-api"}, what='product "weather-api"'
            )
    finally:
        await api.aclose()
    assert type(caught.value) is error
    assert str(caught.value) == message
    assert caught.value.status == status


async def test_a_non_json_error_body_is_quoted_as_text() -> None:
    api = api_over(lambda request: httpx.Response(502, text="<html>Bad gateway</html>"))
    try:
        with pytest.raises(ServerError) as caught:
            await api.portal.get("/products/1", what='product "a"')
    finally:
        await api.aclose()
    assert str(caught.value) == 'read product "a": 502 Bad Gateway: <html>Bad gateway</html>'


async def test_429_is_retried_honouring_retry_after() -> None:
    sleeps = Sleeps()
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) < 3:
            return reply(429, {"errors": ["slow down"]}, **{"Retry-After": "7"})
        return reply(200, [{"ID": 1, "Name": "Tyk"}])

    api = api_over(handler, sleeps)
    try:
        assert await api.portal.list_providers() == [{"ID": 1, "Name": "Tyk"}]
    finally:
        await api.aclose()
    assert sleeps.delays == [7.0, 7.0]


async def test_retry_after_is_capped() -> None:
    sleeps = Sleeps()
    responses = iter([reply(429, {}, **{"Retry-After": "3600"}), reply(200, [])])
    api = api_over(lambda request: next(responses), sleeps)
    try:
        await api.portal.list_providers()
    finally:
        await api.aclose()
    assert sleeps.delays == [60.0]


async def test_server_errors_on_safe_requests_back_off_exponentially_then_give_up() -> None:
    sleeps = Sleeps()
    api = api_over(lambda request: reply(503, {"errors": ["busy"]}), sleeps)
    try:
        with pytest.raises(
            ServerError, match=r"^update plan \"gold\": 503 Service Unavailable: busy$"
        ):
            await api.portal.update("/plans/1", {"Name": "gold"}, what='plan "gold"')
    finally:
        await api.aclose()
    assert sleeps.delays == [0.25, 0.5, 1.0, 2.0, 4.0]  # 6 attempts, full jitter factor 1.0


async def test_post_is_never_retried_blindly() -> None:
    sleeps = Sleeps()
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return reply(429, {"errors": ["slow down"]}, **{"Retry-After": "2"})

    api = api_over(handler, sleeps)
    try:
        with pytest.raises(RateLimitedError) as caught:
            await api.portal.create("/plans", {"Name": "gold"}, what='plan "gold"')
    finally:
        await api.aclose()
    assert len(calls) == 1 and sleeps.delays == []
    assert caught.value.retry_after == 2.0  # for the caller, who looks the object up first


async def test_a_delete_whose_retry_finds_nothing_has_succeeded() -> None:
    responses = iter([reply(503, {"errors": ["busy"]}), reply(404, {"errors": ["not found"]})])
    api = api_over(lambda request: next(responses))
    try:
        await api.portal.delete("/products/3", what='product "a"')
    finally:
        await api.aclose()


async def test_a_first_delete_404_is_reported() -> None:
    api = api_over(lambda request: reply(404, {"errors": ["product not found"]}))
    try:
        with pytest.raises(
            NotFoundError, match=r'^delete product "a": 404 Not Found: product not found$'
        ):
            await api.portal.delete("/products/3", what='product "a"')
    finally:
        await api.aclose()


# ---------------------------------------------------------------------------- transport failures


async def test_connection_refused_becomes_a_transport_error() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    api = TykApi(f"http://127.0.0.1:{port}", TOKEN, retry=RetryPolicy(attempts=1))
    try:
        with pytest.raises(TransportError) as caught:
            await api.portal.list_providers()
    finally:
        await api.aclose()
    assert str(caught.value).startswith(f"list providers: cannot connect to 127.0.0.1:{port}: ")
    assert caught.value.timed_out is False
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


async def test_a_slow_server_times_out() -> None:
    store = PortalStore(":memory:", apis=TEST_APIS)
    faults = FaultConfig(latency_ms=400)
    with running_emulator(store, faults, portal_token=TOKEN, dashboard_secret=SECRET) as url:
        api = TykApi(
            url, TOKEN, timeouts=Timeouts(connect=1, read=0.05), retry=RetryPolicy(attempts=1)
        )
        try:
            with pytest.raises(TransportError) as caught:
                await api.portal.list_organisations()
        finally:
            await api.aclose()
    assert caught.value.timed_out is True
    assert str(caught.value) == f"list organisations: timed out waiting for a reply from {url[7:]}"


def raising(exc: Exception) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


@pytest.mark.parametrize(
    ("exc", "timed_out"),
    [
        (httpx.ConnectError("refused"), False),
        (httpx.ConnectTimeout("slow connect"), True),
        (httpx.ReadTimeout("slow read"), True),
        (httpx.WriteTimeout("slow write"), True),
        (httpx.PoolTimeout("no connection"), True),
        (httpx.ReadError("connection reset by peer"), False),
        (httpx.WriteError("broken pipe"), False),
        (httpx.RemoteProtocolError("server disconnected"), False),
        (httpx.LocalProtocolError("bad request line"), False),
        (httpx.ProxyError("proxy said no"), False),
        (httpx.UnsupportedProtocol("gopher"), False),
        (httpx.DecodingError("bad gzip"), False),
        (httpx.TooManyRedirects("loop"), False),
    ],
)
async def test_no_httpx_exception_escapes(exc: Exception, timed_out: bool) -> None:
    api = api_over(raising(exc))
    try:
        with pytest.raises(BackendError) as caught:
            await api.portal.get("/users/1", what='user "a@b.c"')
    finally:
        await api.aclose()
    assert isinstance(caught.value, TransportError)
    assert caught.value.timed_out is timed_out
    assert caught.value.__cause__ is exc
    assert str(caught.value).startswith('read user "a@b.c": ')


async def test_a_2xx_reply_that_is_not_json_is_a_server_error() -> None:
    api = api_over(lambda request: httpx.Response(200, text="<html>login</html>"))
    try:
        with pytest.raises(ServerError, match=r"^list providers: 200: the reply is not JSON$"):
            await api.portal.list_providers()
    finally:
        await api.aclose()


# ---------------------------------------------------------------------------- auth and secrets


async def test_raw_tokens_are_sent_without_bearer() -> None:
    seen: list[tuple[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.host, request.headers["authorization"]))
        if request.url.path.startswith("/api/"):
            return reply(200, {"Data": [], "Pages": 1})
        return reply(200, [])

    api = api_over(handler)
    try:
        await api.portal.list_providers()
        await api.dashboard(DashboardConn("http://dash.test:3000", SECRET)).list_policies()
    finally:
        await api.aclose()
    assert seen == [("portal.test", TOKEN), ("dash.test", SECRET)]


async def test_requests_carry_what_httpx_s_client_would_send() -> None:
    """Requests are built by the client layer itself and handed to the transport (httpx's
    client is only used behind a proxy): URL, query, headers and JSON body as httpx builds
    them, and the configured timeouts."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return reply(200, {"ID": 5})

    api = api_over(handler, timeouts=Timeouts(connect=3, read=7))
    try:
        await api.portal.update("/users/5", {"Teams": [1], "First": "Zoë"}, what="user x")
        await api.portal.request(
            "GET", "/users", operation="list", params={"q": "a b/c", "page": 2}
        )
    finally:
        await api.aclose()
    put, get = seen
    assert (put.method, str(put.url)) == ("PUT", "http://portal.test:3001/portal-api/users/5")
    assert put.content == '{"Teams":[1],"First":"Zoë"}'.encode()
    assert dict(put.headers) == {
        "host": "portal.test:3001",
        "accept": "application/json",
        "accept-encoding": httpx.AsyncClient().headers["accept-encoding"],  # decoders installed
        "connection": "keep-alive",
        "user-agent": "portal-gitops",
        "authorization": TOKEN,
        "content-length": str(len(put.content)),
        "content-type": "application/json",
    }
    assert str(get.url) == "http://portal.test:3001/portal-api/users?q=a+b%2Fc&page=2"
    assert get.content == b"" and "content-type" not in get.headers
    assert put.extensions["timeout"] == {"connect": 3, "read": 7, "write": 7, "pool": 7}


async def test_secrets_never_appear_in_messages_or_reprs() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        echoed = request.headers["authorization"]
        return reply(401, {"Status": "Error", "Message": f"token {echoed} is not valid"})

    api = api_over(handler)
    conn = DashboardConn("http://dash.test:3000", SECRET)
    try:
        with pytest.raises(AuthError) as portal_error:
            await api.portal.list_providers()
        with pytest.raises(AuthError) as dash_error:
            await api.dashboard(conn).list_policies()
    finally:
        await api.aclose()
    assert str(portal_error.value) == "list providers: 401 Unauthorized: token *** is not valid"
    assert str(dash_error.value) == (
        "list Dashboard policies: 401 Unauthorized: token *** is not valid; the Dashboard "
        "http://dash.test:3000 refused the secret: set it to an API secret of a user of that "
        "Dashboard (the user's Tyk Dashboard API Access Credentials)"
    )
    for text in (repr(api), repr(conn), repr(api.portal), str(conn)):
        assert TOKEN not in text and SECRET not in text


# ---------------------------------------------------------------------------- quirks


def test_lists_are_bare_arrays_or_data_objects() -> None:
    assert as_list([{"ID": 1}]) == [{"ID": 1}]
    assert as_list({"data": [{"ID": 1}]}) == [{"ID": 1}]
    assert as_list({"Data": [{"_id": "a"}], "Pages": 1}) == [{"_id": "a"}]
    assert as_list({"data": None}) == [] and as_list(None) == []
    with pytest.raises(ServerError, match="list plans: unexpected reply"):
        as_list({"errors": []}, operation="list plans")


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        (1000, (1000, None)),
        (5.0, (5, None)),
        ("1000", (1000, None)),
        ("1000 calls / 60 second(s)", (1000, 60)),
        ("1000 calls / 1 minute(s)", (1000, 60)),
        ("10 calls / 2 hour(s)", (10, 7200)),
        ("unlimited", (None, None)),
        ("", (None, None)),
        (None, (None, None)),
        (-1, (None, None)),
        (0, (None, None)),
    ],
)
def test_limits_parse_as_integers_or_legacy_strings(value: Any, parsed: Any) -> None:
    assert parse_limit(value) == parsed


def test_plan_limits_from_legacy_and_modern_plans() -> None:
    legacy = {"RateLimit": "1000 calls / 60 second(s)", "Quota": "unlimited"}
    assert plan_limits(legacy) == ({"requests": 1000, "per": 60}, None)
    modern = {
        "RateLimit": 5,
        "Per": 10,
        "Quota": 200,
        "QuotaRenewalRate": 3600,
        "UnlimitedRateLimit": False,
        "UnlimitedQuota": False,
    }
    assert plan_limits(modern) == ({"requests": 5, "per": 10}, {"requests": 200, "renewal": 3600})
    assert plan_limits(modern | {"UnlimitedQuota": True}) == ({"requests": 5, "per": 10}, None)


def test_small_quirks() -> None:
    assert parse_user_ref("User#6") == 6 and parse_user_ref("user # 12") == 12
    assert parse_user_ref(7) == 7 and parse_user_ref("nobody") is None
    assert parse_names(None) == []  # Teams: null
    assert parse_names("Weather API") == ["Weather API"]
    assert parse_names("Maps, Weather", known={"Maps", "Weather"}) == ["Maps", "Weather"]
    assert parse_names("Maps, Weather", known={"Maps, Weather"}) == ["Maps, Weather"]
    assert parse_names([{"ID": 1, "Name": "devs"}, "ops"]) == ["devs", "ops"]
    assert parse_timestamp("") is None
    assert parse_timestamp("2023-06-25 13:37") is not None
    assert parse_timestamp("2023-06-25 13:37:05") is not None
    assert parse_retry_after("12") == 12.0 and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0


def quirky_portal(plans_shape: str) -> Handler:
    """A portal that answers with every documented quirk at once."""

    plans = [
        {"ID": 1, "Name": "gold", "RateLimit": "1000 calls / 60 second(s)", "Quota": "unlimited"}
    ]
    routes: dict[str, Any] = {
        "/portal-api/providers": [],
        "/portal-api/organisations": [
            {"ID": 1, "Name": "Default Organisation"},
            {"ID": 2, "Name": "Acme"},
        ],
        "/portal-api/organisations/1/teams": [
            {"ID": 1, "Name": "Default Organisation All users", "Default": True}
        ],
        "/portal-api/organisations/2/teams": [
            {"ID": 2, "Name": "Acme All users", "Default": True},
            {"ID": 3, "Name": "devs", "Default": False},
        ],
        "/portal-api/organisations/2/teams/2": {
            "ID": 2,
            "Name": "Acme All users",
            "Default": True,
            "Users": ["User#7"],
        },
        "/portal-api/organisations/2/teams/3": {
            "ID": 3,
            "Name": "devs",
            "Users": ["User#7"],
            "CreatedAt": "",
        },
        "/portal-api/users": [
            {
                "ID": 7,
                "Email": "alice@acme.example",
                "First": "Alice",
                "Last": "",
                "Role": "consumer-team-member",
                "OrganisationID": 2,
                "Teams": None,
            },
            {"ID": 1, "Email": "admin@portal", "Role": "super-admin", "OrganisationID": 0},
        ],
        "/portal-api/products": [],
        "/portal-api/plans": plans if plans_shape == "bare" else {"data": plans},
        "/portal-api/plans/1": {
            **plans[0],
            "DisplayName": "Gold",
            "Description": "",
            "KeyExpiresIn": 0,
            "ProviderID": 9,
            "ReferenceID": "",
            "UpdatedAt": "",
        },
        "/portal-api/catalogues": [],
        "/portal-api/access_requests": [
            {
                "ID": 5,
                "User": "User#7",
                "Client": "weather-app",
                "Plan": "gold",
                "Products": "Weather API",
                "Catalogue": "Public Catalogue",
                "Status": "pending",
                "DeletedAt": "",
            }
        ],
        "/portal-api/apps": [
            {
                "ID": 4,
                "Name": "weather-app",
                "UserID": 7,
                "Description": "",
                "RedirectURLs": "https://b.example, https://a.example",
                "CreatedAt": "2023-06-25 13:37:05",
            }
        ],
    }

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == TOKEN
        body = routes.get(request.url.path)
        if body is None:
            return reply(404, {"errors": ["not found"]})
        page = int(request.url.params.get("page", "1"))
        if isinstance(body, list) and page > 1:
            return reply(200, [])
        return reply(200, body)

    return handler


@pytest.mark.parametrize("plans_shape", ["bare", "spec"])
async def test_read_tolerates_the_documented_quirks(plans_shape: str) -> None:
    backend = PortalBackend(api_over(quirky_portal(plans_shape)), kind="tyk", target="quirky")
    try:
        state = await backend.read()
    finally:
        await backend.aclose()
    assert state.objects[("User", "alice@acme.example")].attrs == {
        "organisation": "Acme",
        "first": "Alice",
        "last": "",
        "role": "consumer-team-member",
        "teams": ["devs"],
    }
    assert state.get("User", "admin@portal") is None  # admins are never touched
    plan = state.objects[("Plan", "gold")].attrs
    assert (plan["rateLimit"], plan["quota"], plan["policy"]) == (
        {"requests": 1000, "per": 60},
        None,
        None,
    )
    request = state.objects[("AccessRequest", "request-5")].attrs
    assert request["products"] == ["Weather API"]
    assert request["app"] == {"name": request["app"]["name"]}
    [app] = [o for o in state if o.kind == "App"]
    assert app.key == f"alice@acme.example/{request['app']['name']}"
    assert app.attrs["redirectUrls"] == ["https://a.example", "https://b.example"]
    assert request["consumer"] == "alice@acme.example" and request["status"] == "pending"


def test_a_proxy_in_the_environment_hands_requests_to_httpx_which_honours_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from portal_gitops.backends.tyk.transport import KeepAliveTransport, default_transport

    for name in (
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "ALL_PROXY",
        "https_proxy",
        "http_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(default_transport(True), KeepAliveTransport)
    monkeypatch.setenv("https_proxy", "http://proxy.internal:3128")
    assert default_transport(True) is None
