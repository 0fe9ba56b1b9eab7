"""Reconcile-test helpers: estates -> desired state, fresh portals on both backends, one
reconcile run the way the CLI does it, and ways to compare live states up to IDs.

A ``Portal`` is an empty live portal: an embedded store file, or the same store served by the
emulator and reached as the tyk backend over a loopback socket. Every run opens its own
backend on it, as separate CI runs would.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from portal_gitops.apply import Applier, ApplyResult
from portal_gitops.backends.base import Backend
from portal_gitops.backends.embedded import open_embedded
from portal_gitops.backends.emulated.server import FaultConfig, running_emulator
from portal_gitops.backends.emulated.store import PortalStore
from portal_gitops.backends.tyk.backend import PortalBackend, open_tyk
from portal_gitops.backends.tyk.dashboards import DashboardConn
from portal_gitops.desired import Desired, build_desired, with_live_apis
from portal_gitops.diff import diff
from portal_gitops.kinds import BY_NAME, LEVEL
from portal_gitops.load import parse_text
from portal_gitops.plan import Plan, build_plan
from portal_gitops.retry import RetryPolicy
from portal_gitops.state import DesiredState, Key, LiveObject, LiveState, Resource
from portal_gitops.validate import format_issues, validate_documents
from tests.apis import definitions_of_state
from tests.strategies import documents_of

PORTAL_TOKEN = "reconcile-portal-token-77d0"
DASHBOARD_SECRET = "reconcile-dashboard-secret-4be1"
TODAY = dt.date(2030, 1, 1)  # fixed, so that generated `expires` dates expire deterministically
BACKENDS = ("embedded", "emulator")


def distinct_policy_names(estate: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rename every plan ``x`` to ``x~plan`` (and the references to it).

    The portal names a product's and a plan's backing Dashboard policy after them, and policy
    names are unique, so a product and a plan may not share a name. Validation does not catch
    that yet (reported); "~" is outside the strategies' name alphabet, so no product collides.
    """
    out = []
    for doc in copy.deepcopy(list(estate)):
        spec = doc.get("spec") or {}
        if doc["kind"] == "Plan":
            doc["metadata"]["name"] += "~plan"
        elif doc["kind"] == "Catalogue" and "plans" in spec:
            spec["plans"] = [f"{p}~plan" for p in spec["plans"]]
        elif doc["kind"] == "AccessRequest":
            spec["plan"] += "~plan"
        out.append(doc)
    return out


def desired_of(docs: Sequence[Mapping[str, Any]]) -> Desired:
    """Manifest documents -> Desired, through the real loader and validator."""
    text = yaml.safe_dump_all(list(docs), sort_keys=False, allow_unicode=True)
    result = validate_documents(parse_text(text, "estate.yaml"))
    assert result.ok, format_issues(result.errors)
    return build_desired(
        [m for m, _ in result.manifests],
        today=TODAY,
        resolve_secret=lambda _ref: DASHBOARD_SECRET,
        documents=documents_of(docs),  # the OpenAPI documents, as read with the manifests
    )


def notes_of(desired: Desired) -> dict[str, Mapping[str, Any]]:
    return {f"{k}/{n}": v for (k, n), v in desired.notes.items()}


@dataclass
class Portal:
    """One empty live portal; ``store`` is a second handle on it (to act as the portal would)."""

    kind: str  # "embedded" | "emulator"
    path: Path
    store: PortalStore
    url: str | None = None
    # PortalStore switches (quirks where Tyk is unsettled), for every handle on this portal
    store_kwargs: Mapping[str, Any] = field(default_factory=dict)

    def open(self, desired: Desired | None = None) -> PortalBackend:
        """A backend on this portal, configured as the CLI would from the manifests; the
        Dashboard holds the APIs the desired products name (as a real one would)."""
        if desired is not None:
            self.store.seed_apis(definitions_of_state(desired.state))
        if self.url is None:
            return open_embedded(str(self.path), **self.store_kwargs)
        dashboards = {}
        for res in desired.state if desired is not None else ():
            if res.kind == "Provider":
                dashboards[res.key] = DashboardConn(
                    res.attrs["dashboardUrl"], DASHBOARD_SECRET, res.attrs["insecureSkipVerify"]
                )
        return open_tyk(self.url, PORTAL_TOKEN, dashboards, dashboard_url_override=self.url)


@contextmanager
def fresh_portal(
    kind: str, directory: Path, faults: FaultConfig | None = None, **store_kwargs: Any
) -> Iterator[Portal]:
    """An empty portal; ``store_kwargs`` are PortalStore switches, ``faults`` the emulator's
    injected faults (emulator only)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "portal.db"
    with ExitStack() as stack:
        store = PortalStore(str(path), **store_kwargs)
        stack.callback(store.close)
        if kind == "embedded":
            yield Portal(kind, path, store, store_kwargs=store_kwargs)
            return
        url = stack.enter_context(
            running_emulator(
                store, faults, portal_token=PORTAL_TOKEN, dashboard_secret=DASHBOARD_SECRET
            )
        )
        yield Portal(kind, path, store, url, store_kwargs=store_kwargs)


async def no_sleep(_seconds: float) -> None:
    return None


async def plan_on(backend: Backend, desired: Desired, *, prune: bool = False) -> Plan:
    live = await backend.read()
    return build_plan(diff(with_live_apis(desired, live.apis_of), live, prune=prune), live)


async def reconcile(
    portal: Portal,
    desired: Desired,
    *,
    prune: bool = False,
    wrap: Any = None,
) -> tuple[Plan, ApplyResult]:
    """One run: read, diff, plan, apply (as `apply --auto-approve` does, minus the lock).

    ``wrap`` turns the real backend into another (a fault-injecting proxy, say).
    """
    real = portal.open(desired)
    backend = wrap(real) if wrap is not None else real
    try:
        live = await backend.read()
        resolved = with_live_apis(desired, live.apis_of)  # as commands.compute_plan does
        plan = build_plan(diff(resolved, live, prune=prune), live, notes=notes_of(desired))
        applier = Applier(
            backend, live, retry=RetryPolicy(attempts=2), sleep=no_sleep, notes=plan.notes
        )
        return plan, await applier.run(plan)
    finally:
        await real.aclose()


async def plan_again(portal: Portal, desired: Desired, *, prune: bool = False) -> Plan:
    backend = portal.open(desired)
    try:
        return await plan_on(backend, desired, prune=prune)
    finally:
        await backend.aclose()


async def read_live(portal: Portal, desired: Desired | None = None) -> LiveState:
    backend = portal.open(desired)
    try:
        return await backend.read()
    finally:
        await backend.aclose()


def live_of(desired: Desired, *, managed: bool = True) -> LiveState:
    """A live state holding exactly the desired objects (as if applied), with made-up IDs;
    what is written but never read back (a kind's write-only attrs) is not there."""

    def read_back(r: Resource) -> Mapping[str, Any]:
        hidden = BY_NAME[r.kind].write_only
        return {k: v for k, v in r.attrs.items() if k not in hidden} if hidden else r.attrs

    return LiveState(
        {
            r.ref: LiveObject(r.kind, r.key, str(i), read_back(r), managed=managed)
            for i, r in enumerate(desired.state)
        }
    )


def up_to_ids(live: LiveState) -> dict[Key, tuple[str, bool, bool]]:
    """A live state without its IDs: (kind, key) -> (canonical attrs, managed, builtin)."""
    return {
        o.ref: (json.dumps(o.attrs, sort_keys=True, default=repr), o.managed, o.builtin)
        for o in live
    }


def as_desired(live: LiveState) -> Desired:
    """The live state itself as the desired state (every object but the built-ins)."""
    return Desired(
        DesiredState({o.ref: Resource(o.kind, o.key, o.attrs) for o in live if not o.builtin})
    )


def actions(plan: Plan) -> list[tuple[str, str]]:
    return [(a.op, a.address) for a in plan.actions]


# --- the raw store: what is really there, duplicates included --------------------------------


def _get(store: PortalStore, path: str, **query: str) -> Any:
    secret = store.dashboard_secret if path.startswith("/api/") else store.portal_token
    headers = {"Authorization": secret} if secret else {}
    resp = store.handle("GET", path, query, headers, b"")
    assert resp.status == 200, (path, resp.status, resp.body[:200])
    return json.loads(resp.body)


def _portal_list(store: PortalStore, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    page = 1
    while True:
        batch = _get(store, f"/portal-api{path}", page=str(page), per_page="100")
        if isinstance(batch, dict):
            batch = batch.get("data") or []
        items.extend(batch)
        if len(batch) < 100:
            return items
        page += 1


def raw_inventory(store: PortalStore) -> Counter[tuple[str, str]]:
    """Every object in the store by kind and name, counted (a duplicate counts twice).

    Access requests have no name: they count by what they ask for and their status.
    """
    seen: Counter[tuple[str, str]] = Counter()
    for kind, path in (
        ("provider", "/providers"),
        ("organisation", "/organisations"),
        ("user", "/users"),
        ("product", "/products"),
        ("plan", "/plans"),
        ("catalogue", "/catalogues"),
    ):
        for item in _portal_list(store, path):
            seen[(kind, str(item.get("Name") or item.get("Email")))] += 1
    for org in _portal_list(store, "/organisations"):
        for team in _portal_list(store, f"/organisations/{org['ID']}/teams"):
            seen[("team", f"{org['Name']}/{team['Name']}")] += 1
    emails = {u["ID"]: u["Email"] for u in _portal_list(store, "/users")}
    for app in _portal_list(store, "/apps"):
        seen[("app", f"{emails.get(app.get('UserID'))}/{app['Name']}")] += 1
    for request in _portal_list(store, "/access_requests"):
        products = request.get("Products") or []
        seen[
            ("access_request", json.dumps([products, request.get("Plan"), request["Status"]]))
        ] += 1
    policies = _get(store, "/api/portal/policies", p="-1")["Data"]
    for policy in policies:
        seen[("policy", str(policy["name"]))] += 1
    return seen


def duplicates(inventory: Counter[tuple[str, str]]) -> list[tuple[str, str]]:
    return sorted(key for key, n in inventory.items() if n > 1 and key[0] != "access_request")


def without_apps(inventory: Counter[tuple[str, str]]) -> Counter[tuple[str, str]]:
    """Apps are the consumers' own: revoking a request (prune) leaves its app in place."""
    return Counter({k: n for k, n in inventory.items() if k[0] != "app"})


# --- dependencies ---------------------------------------------------------------------------


def references(kind: str, attrs: Mapping[str, Any]) -> set[Key]:
    """What an object in canonical form points at (it cannot exist before those do)."""
    refs: set[Key] = set()
    if kind in ("Team", "User"):
        refs.add(("Organisation", attrs["organisation"]))
    if kind == "User":
        refs |= {("Team", f"{attrs['organisation']}/{t}") for t in attrs["teams"]}
    if kind in ("Product", "Plan"):
        refs.add(("Provider", attrs["provider"]))
    if kind == "Catalogue":
        refs |= {("Product", p) for p in attrs["products"]}
        refs |= {("Plan", p) for p in attrs["plans"]}
        for entry in attrs["audience"]:
            refs.add(("Organisation", entry["organisation"]))
            if entry["team"]:
                refs.add(("Team", f"{entry['organisation']}/{entry['team']}"))
    if kind == "AccessRequest":
        refs.add(("User", attrs["consumer"]))
        refs |= {("Product", p) for p in attrs["products"]}
        refs.add(("Plan", attrs["plan"]))
    return refs


def level_of(key: Key) -> int:
    return LEVEL[key[0]]


# --- a small estate touching every level ----------------------------------------------------


def doc(kind: str, name: str, spec: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "apiVersion": "portal-gitops/v1",
        "kind": kind,
        "metadata": {"name": name},
    }
    if spec is not None:
        out["spec"] = spec
    return out


def provider(name: str) -> dict[str, Any]:
    return doc(
        "Provider",
        name,
        {
            "type": "tyk-pro",
            "dashboardUrl": "http://dashboard.example:3000",
            "secret": {"fromEnv": "TYK_DASHBOARD_SECRET"},
            "orgId": "5e9d9544a1dcd60001d0ed20",
        },
    )


def small_estate(
    *, provider_of_weather: str = "tyk", request: str = "acme-storm"
) -> list[dict[str, Any]]:
    """Provider -> Organisation -> Team (+2 members) -> Product, Plan -> Catalogue -> request."""
    return [
        provider("tyk"),
        provider("tyk-eu"),
        doc("Organisation", "Acme"),
        doc(
            "Team",
            "Developers",
            {
                "organisation": "Acme",
                "members": [
                    {"email": "ana@acme.example", "role": "admin", "first": "Ana"},
                    {"email": "bo@acme.example"},
                ],
            },
        ),
        doc(
            "Product",
            "Weather",
            {"provider": provider_of_weather, "apis": [{"apiId": "weather-1", "versions": ["v1"]}]},
        ),
        doc(
            "Plan",
            "Gold",
            {"provider": provider_of_weather, "rateLimit": {"requests": 100, "per": 60}},
        ),
        doc(
            "Catalogue",
            "Partners",
            {
                "visibility": "private",
                "audience": [{"organisation": "Acme"}],
                "products": ["Weather"],
                "plans": ["Gold"],
            },
        ),
        doc(
            "AccessRequest",
            request,
            {
                "consumer": "ana@acme.example",
                "app": {"name": "Storm tracker"},
                "products": ["Weather"],
                "plan": "Gold",
                "catalogue": "Partners",
            },
        ),
    ]
