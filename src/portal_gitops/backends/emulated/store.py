"""The emulated portal: one SQLite-backed implementation of the Tyk portal's and Dashboard's
behaviour, used as the embedded store and as the test oracle.

``PortalStore.handle`` answers HTTP-shaped requests (method, path, query, headers, body) with the
real Tyk paths, status codes and JSON shapes (portal admin API under ``/portal-api``, Dashboard
policies under ``/api/portal/policies``). The embedded backend calls it in-process; the server
(``server.py``) serves it over a socket. Facts and quirks come from tyk-api/REFERENCE.md and the
OpenAPI documents. This module is the facade: lifecycle, schema and seed, dispatch, transactions
and ``snapshot``; storage is in ``db``, what handlers share in ``replies``, and the handlers by
family in ``identity``, ``catalogue``, ``access`` and ``dashboard``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from portal_gitops.backends.emulated import access, apis, catalogue, dashboard, docs, identity
from portal_gitops.backends.emulated.db import (
    INDEXES,
    SCHEMA,
    SCHEMA_VERSION,
    Row,
    Tx,
    new_cid,
    slug,
    timestamp,
)
from portal_gitops.backends.emulated.identity import insert_default_team
from portal_gitops.backends.emulated.replies import (
    DASHBOARD_PREFIX,
    PORTAL_PREFIX,
    Api,
    ApiError,
    Params,
    RawBody,
    Reply,
    Req,
    Route,
    r_access_request,
    r_app,
    r_audience,
    r_catalogue,
    r_org_elem,
    r_plan,
    r_product,
    r_provider,
    r_team_elem,
    r_user_elem,
)

__all__ = [
    "ADMIN_EMAIL",
    "DASHBOARD_PREFIX",
    "PORTAL_PREFIX",
    "SCHEMA_VERSION",
    "PortalStore",
    "Row",
    "StoreResponse",
    "StoreSnapshot",
]

log = logging.getLogger(__name__)

ADMIN_EMAIL = "admin@portal.local"

# Every family's routes, in the order they are tried (the first matching pattern answers).
_ROUTES: tuple[Route, ...] = (
    *identity.route.routes,
    *catalogue.route.routes,
    *access.route.routes,
    *dashboard.route.routes,
    *apis.route.routes,
    *docs.route.routes,
)
_BY_METHOD: dict[tuple[Api, str], list[Route]] = {}


def _routes_for(api: Api, method: str) -> list[Route]:
    """The routes of one API and method, in registration order (built once)."""
    routes = _BY_METHOD.get((api, method))
    if routes is None:
        routes = _BY_METHOD[(api, method)] = [
            r for r in _ROUTES if r.api == api and r.method == method
        ]
    return routes


@dataclass(frozen=True)
class StoreResponse:
    status: int
    body: bytes  # JSON
    headers: dict[str, str]  # at least content-type


@dataclass(frozen=True)
class StoreSnapshot:
    """The whole portal as a read sees it (``PortalStore.snapshot``): portal objects in the
    shapes of their list entries merged with their detail replies, and every policy."""

    providers: list[Row]
    orgs: list[Row]
    teams: dict[int, list[Row]]  # organisation ID -> its teams' list entries
    team_users: dict[int, list[int]]  # team ID -> its members' user IDs
    users: list[Row]
    products: list[Row]
    plans: list[Row]
    catalogues: list[Row]
    audiences: dict[int, list[Row]]  # catalogue ID -> its audiences' list entries
    requests: list[Row]
    apps: list[Row]
    policies: list[str]  # every policy's JSON text (as a Dashboard sends it), in order
    apis: Iterable[Row]  # the Dashboard's API definitions, decoded as taken (once)
    posts: dict[int, list[Row]]  # product ID -> its tutorial pages, in order (docs.py)


class PortalStore:
    """The portal (+ Dashboard policies) in one SQLite file. Thread-safe; see ``handle``.

    ``portal_token`` / ``dashboard_secret``: required ``Authorization`` values (None = no check).
    ``portal_page_size`` / ``dashboard_page_size``: default page sizes (``per_page`` / ``p``).
    ``plans_list_shape``: ``GET /plans`` as the spec's ``{"data": [...]}`` or a bare array.
    ``legacy_limit_strings``: answer plans as pre-1.13 portals did (``Plan-show``: RateLimit and
    Quota as "1000 calls / 60 second(s)" / "unlimited", Catalogues as names).
    ``product_update_api_ids``: whether a Product-update adds and removes APIs by
    ``APIDetails[].APIID`` ("honour") or only edits the listed APIs' Description and OASUrl
    ("ignore", the documented ``Product-APIDetail-edit``; then the APIs follow the linked
    policy's access rights on a provider's synchronise). Unsettled (REFERENCE §9).
    ``policy_on_delete``: deleting a product or plan deletes its Dashboard policy ("delete")
    or leaves it behind, name and all ("keep"). Unsettled (REFERENCE §9).
    ``portal_max_per_page``: a cap on the portal's ``per_page`` (None = what is asked is
    served), as a server may cap it below what a client asks (REFERENCE §2, §9).
    ``apis``: Tyk API definitions (as a Dashboard exports them) stored in the emulated
    Dashboard on opening, replacing those of the same ``api_id``; products and policies may
    name only these APIs and their versions (apis.py).
    ``provision_catalogue``: which catalogue a provisioned request records among those the
    consumer sees that offer its plan and products, the ``first`` or the ``last`` by ID
    (unsettled, REFERENCE.md §9 "Provision body").
    """

    def __init__(
        self,
        path: str,
        *,
        portal_token: str | None = None,
        dashboard_secret: str | None = None,
        portal_page_size: int = 20,
        dashboard_page_size: int = 10,
        plans_list_shape: Literal["spec", "bare"] = "spec",
        legacy_limit_strings: bool = False,
        product_update_api_ids: Literal["ignore", "honour"] = "ignore",
        policy_on_delete: Literal["delete", "keep"] = "delete",
        portal_max_per_page: int | None = None,
        apis: Iterable[Mapping[str, Any]] = (),
        provision_catalogue: Literal["first", "last"] = "first",
    ):
        self.path = path
        self.portal_token = portal_token
        self.dashboard_secret = dashboard_secret
        self.portal_page_size = portal_page_size
        self.dashboard_page_size = dashboard_page_size
        self.plans_list_shape = plans_list_shape
        self.legacy_limit_strings = legacy_limit_strings
        self.product_update_api_ids = product_update_api_ids
        self.policy_on_delete = policy_on_delete
        self.portal_max_per_page = portal_max_per_page
        self.provision_catalogue = provision_catalogue
        self._lock = threading.Lock()
        self._memo: dict[str, tuple[frozenset[str], Any]] = {}  # name -> (kinds, derived)
        self._memo_version: int | None = None
        self._conn = sqlite3.connect(
            path, timeout=30.0, isolation_level=None, check_same_thread=False
        )
        self._conn.execute("PRAGMA busy_timeout=30000")
        if path != ":memory:":
            self._enable_wal()
            self._conn.execute("PRAGMA synchronous=NORMAL")
        self._init_schema()
        definitions = list(apis)
        if definitions:
            self.seed_apis(definitions)

    def seed_apis(self, definitions: Iterable[Mapping[str, Any]]) -> None:
        """Store API definitions in the emulated Dashboard (``apis``; ValueError if one is
        not a definition)."""
        with self._transaction(write=True) as tx:
            apis.seed(tx, definitions)

    def _enable_wal(self) -> None:
        """Switch a file to WAL. The switch needs the file to itself and SQLite does not
        wait for it (no busy handler), so two processes opening a new store at once retry."""
        deadline = time.monotonic() + 30.0
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    # -- lifecycle --------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> PortalStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _init_schema(self) -> None:
        with self._lock:
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            try:
                c.execute("CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT)")
                r = c.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
                if r is None:
                    for statement in SCHEMA:
                        c.execute(statement)
                    c.execute(
                        "INSERT INTO meta(key, value) VALUES('schema_version', ?)",
                        (str(SCHEMA_VERSION),),
                    )
                    self._seed(Tx(c))
                elif int(r[0]) != SCHEMA_VERSION:
                    raise RuntimeError(
                        f"{self.path}: store schema version {r[0]} is not {SCHEMA_VERSION}"
                    )
                for statement in INDEXES:
                    c.execute(statement)
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise

    def _seed(self, tx: Tx) -> None:
        """The portal's built-ins: default organisation and team, two catalogues, an admin."""
        now = timestamp()
        stamp = {"CreatedAt": now, "UpdatedAt": now}
        org = tx.insert("organisation", {"Name": "Default Organisation", "CID": new_cid(), **stamp})
        insert_default_team(tx, org)
        for name, visibility in (("Public Catalogue", "Public"), ("Private Catalogue", "Private")):
            tx.insert(
                "catalogue",
                {
                    "Name": name,
                    "NameWithSlug": slug(name),
                    "VisibilityStatus": visibility,
                    "Products": [],
                    "Plans": [],
                    **stamp,
                },
            )
        tx.insert(
            "user",
            {
                "Email": ADMIN_EMAIL,
                "First": "Portal",
                "Last": "Admin",
                "Role": "super-admin",
                "OrganisationID": 0,
                "Provider": "password",
                "Active": True,
                "ResetPassword": False,
                "Teams": [],
                "JWTToken": self.portal_token or secrets.token_hex(16),
                "APITokenCreatedAt": now[:10],
                **stamp,
            },
        )

    # -- the entry point --------------------------------------------------------------------
    def handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> StoreResponse:
        """Answer one request as the portal (``/portal-api``) or Dashboard (``/api``) would."""
        method = method.upper()
        if len(path) > 1:
            path = path.rstrip("/")
        lower = {k.lower(): v for k, v in headers.items()}
        if path == PORTAL_PREFIX or path.startswith(PORTAL_PREFIX + "/"):
            api: Api = "portal"
            sub = path[len(PORTAL_PREFIX) :]
            if self.portal_token is not None and lower.get("authorization") != self.portal_token:
                return self._respond(
                    401, {"errors": ["Unauthorized: invalid or missing API token"]}
                )
        elif path.startswith(DASHBOARD_PREFIX + "/"):
            api = "dashboard"
            sub = path
            if (
                self.dashboard_secret is not None
                and lower.get("authorization") != self.dashboard_secret
            ):
                return self._respond(
                    401, {"Status": "Error", "Message": "Not authorised", "Meta": None}
                )
        else:
            return self._respond(404, {"errors": [f"{path} not found"]})
        req = Req(api, method, sub, query, body, lower)
        chosen = next(
            ((r, m) for r in _routes_for(api, method) if (m := r.pattern.match(sub))), None
        )
        if chosen is None:
            if not any(r.api == api and r.pattern.match(sub) for r in _ROUTES):
                return self._respond(404, req.error(404, 404, f"{path} not found").payload)
            return self._respond(405, req.error(405, 405, f"method {method} not allowed").payload)
        route, match = chosen
        try:
            status, payload = self._run(route, req, match.groupdict())
        except ApiError as exc:
            status, payload = exc.status, exc.payload
        except Exception:
            log.exception("store failed on %s %s", method, path)
            status, payload = 500, req.error(500, 500, "internal error").payload
        return self._respond(status, payload)

    def _run(self, route: Route, req: Req, params: Params) -> Reply:
        with self._transaction(write=route.write) as tx:
            return route.handler(self, tx, req, params)

    @contextlib.contextmanager
    def _transaction(self, *, write: bool) -> Iterator[Tx]:
        """One transaction on the store, holding its lock (one request, or one snapshot)."""
        with self._lock:
            c = self._conn
            c.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield Tx(c, self._forget)
                c.execute("COMMIT")
            except BaseException:
                # what was derived inside the transaction may hold what it undoes
                self._memo.clear()
                if c.in_transaction:
                    c.execute("ROLLBACK")
                raise

    def snapshot(self) -> StoreSnapshot:
        """Everything a read of the portal asks for, in one read transaction.

        The embedded backend reads through this instead of one request per list page and per
        object (about 7,700 for 10,000 objects). Every object is rendered by the same functions
        that answer the list and detail requests, so it carries exactly what the list entry
        merged with the detail reply would; a test holds the two reads equal.
        """
        with self._transaction(write=False) as tx:

            def take(kind: str) -> list[Row]:
                """One kind's rows, decoded now: each kind is rendered, and its rows
                dropped, before the next is decoded (decoded all at once, the rows of a
                large store were more than what a read keeps of them)."""
                of_kind = tx.all_rows((kind,))[kind]
                # what name_of would look up, one query per name, while rendering the kinds
                # that come after (the order below has every name read before it is needed)
                tx.remember_names(kind, of_kind)
                return of_kind

            take("tag")
            providers = [r_provider(r) for r in take("provider")]
            org_rows, team_rows = take("organisation"), take("team")
            by_org: dict[int, list[Row]] = {}
            for team in team_rows:
                by_org.setdefault(team["OrganisationID"], []).append(team)
            orgs = [r_org_elem(r) for r in org_rows]
            teams = {
                org["ID"]: [r_team_elem(t) for t in by_org.get(org["ID"], [])] for org in org_rows
            }
            del org_rows, by_org
            user_rows = take("user")
            # a team's members: its organisation's users whose Teams list it (as r_team)
            members: dict[tuple[int, int], list[int]] = {}
            for user in user_rows:
                for team_id in dict.fromkeys(user["Teams"]):
                    members.setdefault((user["OrganisationID"], team_id), []).append(user["ID"])
            team_users = {
                t["ID"]: members.get((t["OrganisationID"], t["ID"]), []) for t in team_rows
            }
            del team_rows, members
            users = [r_user_elem(u) for u in user_rows]
            del user_rows
            products = [r_product(self, tx, r) for r in take("product")]
            plans = [r_plan(self, tx, r) for r in take("plan")]
            cat_rows = take("catalogue")
            catalogues = [r_catalogue(tx, r) for r in cat_rows]
            by_catalogue: dict[int, list[Row]] = {}
            for aud in take("audience"):
                by_catalogue.setdefault(aud["CatalogueID"], []).append(aud)
            audiences = {
                cat["ID"]: [r_audience(a, full=False) for a in by_catalogue.get(cat["ID"], [])]
                for cat in cat_rows
            }
            del cat_rows, by_catalogue
            apps_ = [r_app(tx, a, full=False) for a in take("app")]
            requests = [r_access_request(tx, r, credentials=False) for r in take("access_request")]
            return StoreSnapshot(
                providers=providers,
                orgs=orgs,
                teams=teams,
                team_users=team_users,
                users=users,
                products=products,
                plans=plans,
                catalogues=catalogues,
                audiences=audiences,
                requests=requests,
                apps=apps_,
                policies=tx.policy_texts(),
                apis=apis.every_lazily(tx),
                posts=docs.snapshot_posts(tx),
            )

    def memoised(self, tx: Tx, name: str, kinds: Iterable[str], build: Callable[[], Any]) -> Any:
        """Data derived from the objects of ``kinds``, kept until one of them is written.

        A write through ``Tx`` drops what was derived from its kind at once, inside the
        writing transaction too (``_forget``); a transaction that fails drops everything;
        ``PRAGMA data_version`` tells of commits by other connections (another process
        sharing the file), looked at once per transaction. What ``build`` returns is shared:
        callers only read it.
        """
        if not tx.memo_checked:  # a transaction sees one version of the file throughout
            version = tx.c.execute("PRAGMA data_version").fetchone()[0]
            if version != self._memo_version:
                self._memo.clear()
                self._memo_version = version
            tx.memo_checked = True
        kept = self._memo.get(name)
        if kept is None:
            kept = self._memo[name] = (frozenset(kinds), build())
        return kept[1]

    def _forget(self, kind: str) -> None:
        """Drop what was derived from objects of ``kind`` (one is being written)."""
        for name in [n for n, (kinds, _) in self._memo.items() if kind in kinds]:
            del self._memo[name]

    @staticmethod
    def _respond(status: int, payload: Any) -> StoreResponse:
        if isinstance(payload, RawBody):
            return StoreResponse(status, payload.body, {"content-type": payload.content_type})
        body = json.dumps(payload, separators=(",", ":")).encode()
        return StoreResponse(status, body, {"content-type": "application/json"})
