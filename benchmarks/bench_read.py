"""Reading the live state over HTTP: requests made against the minimum, wall time against the floor.

    python benchmarks/bench_read.py [--objects 10000] [--latency-ms 10] [--parallelism 8]
                                    [--repeat 2] [--emulator process|thread]

A generated estate is applied once through the embedded backend, so the store holds a live
state of about ``--objects`` objects. The emulator serves that store with ``--latency-ms``
added to every request, and the tyk backend reads it (``open_tyk(...).read()``) through a
transport that counts every request.

Minimum requests (computed from the store, not from what the client did), with ``per_page`` the
client's page size and pages(n) = ceil(n / per_page) + 1: the pages holding the n items, then
the empty page that ends the list. A portal sends no total and may cap ``per_page`` below what
is asked, so a short page does not prove the end (REFERENCE §2, §9) and no reply of the portal
ever does: every list costs one empty page more than its items fill.
  lists      pages(n) for each portal list: providers, organisations, users, products, plans,
             catalogues, apps, access requests; pages(teams of o) for every organisation o;
             pages(audiences of c) for every catalogue c; pages(guides of p) for every
             product p (a product's reply names none of its guides)
  policies   1 per Dashboard: ``p=-2`` returns every policy in one reply (documented)
  apis       1 per Dashboard: ``GET /api/apis?p=-1`` returns every API definition in one
             reply ("Send number less than 0 to return all items", Dashboard spec), to check
             the products' API ids and versions
  details    1 per object whose list entry lacks fields the backend needs: provider
             (Configuration), product (Description, Content, Tags), plan (Description, limits),
             catalogue (Products, Plans), team (Users): a default team's members too, since
             a user dropped from it is drift (an organisation-wide audience no longer covers
             them; REFERENCE §9 "Team membership")
Floor time = requests made x latency / parallelism (perfect overlap, zero client cost).
Targets (issue "live state"): requests <= 1.1 x minimum, wall time <= 1.5 x floor.

The emulator runs in its own process by default (a portal is another machine; in a thread it
would share the client's interpreter lock and the benchmark would measure the emulator's CPU
on the client's clock); ``--emulator thread`` uses ``running_emulator`` in this process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from estate import plan_counts, seed_apis, write
from measure import ratio_line

from portal_gitops import commands
from portal_gitops.backends.emulated.server import FaultConfig, running_emulator
from portal_gitops.backends.emulated.store import PortalStore
from portal_gitops.backends.tyk.backend import open_tyk
from portal_gitops.backends.tyk.dashboards import DashboardConn
from portal_gitops.backends.tyk.transport import KeepAliveTransport

PORTAL_TOKEN = "bench-portal-token"
DASHBOARD_SECRET = "bench-dashboard-secret"
_POLICY_ID = re.compile(r"/[0-9a-f]{24}$")
_NUMBER = re.compile(r"/\d+")


def template(path: str) -> str:
    """A request path with its IDs replaced: /portal-api/products/{id}."""
    return _NUMBER.sub("/{id}", _POLICY_ID.sub("/{id}", path))


# ------------------------------------------------------------------------- estate and store


def live_objects(documents: int) -> int:
    """Objects a read returns for an applied estate of ``documents`` (built-ins included)."""
    c = plan_counts(documents)
    users = c["teams"] // c["orgs"] * c["orgs"] * 3
    orgs = c["orgs"] + 1  # + Default Organisation
    return (
        c["providers"]
        + orgs * 2  # each organisation has its default team
        + c["teams"] // c["orgs"] * c["orgs"]
        + users
        + c["products"]
        + c["plans"]
        + c["catalogues"]
        + 2  # built-in catalogues
        + c["requests"] * 2  # each access request and its own app
    )


def documents_for(objects: int) -> int:
    """The smallest estate whose live state has at least ``objects`` objects."""
    n = max(20, objects // 2)
    while live_objects(n) < objects:
        n += 1
    return n


def seed(directory: Path, documents: int) -> tuple[list[str], str, float]:
    """Write an estate under ``directory`` and apply it to a new embedded store there."""
    manifests = directory / "manifests"
    write(manifests, documents)
    db = str(directory / "portal.db")
    seed_apis(db, documents)  # the Dashboard has the APIs the products name
    start = time.perf_counter()
    outcome = commands.apply([str(manifests)], commands.Target(store=db, environ={}))
    seconds = time.perf_counter() - start
    if outcome.result is None or not outcome.result.ok:
        raise SystemExit(f"seeding failed: {outcome.result and outcome.result.summary()}")
    return [str(manifests)], db, seconds


def provider_names(db: str) -> list[str]:
    with contextlib.closing(sqlite3.connect(db)) as con:
        return [r[0] for r in con.execute("SELECT name FROM objects WHERE kind='provider'")]


# ------------------------------------------------------------------------- emulator


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class Served:
    url: str
    pid: int | None  # the emulator's process (None: a thread of this one)

    def cpu_seconds(self) -> float:
        """CPU time the emulator process has used so far (0 for a thread)."""
        if self.pid is None:
            return 0.0
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} / {five:.1f} on {os.cpu_count()} cores"


@contextlib.contextmanager
def emulator(db: str, latency_ms: float, mode: str = "process") -> Iterator[Served]:
    """Serve the store at ``db`` with ``latency_ms`` per request."""
    faults = FaultConfig(latency_ms=latency_ms)
    if mode == "thread":
        store = PortalStore(db)
        try:
            with running_emulator(
                store, faults, portal_token=PORTAL_TOKEN, dashboard_secret=DASHBOARD_SECRET
            ) as url:
                yield Served(url, None)
        finally:
            store.close()
        return
    port = _free_port()
    code = (
        "import sys\n"
        "from portal_gitops.backends.emulated.server import FaultConfig, serve\n"
        "faults = FaultConfig(latency_ms=float(sys.argv[3]))\n"
        "serve('127.0.0.1', int(sys.argv[1]), sys.argv[2], faults)\n"
    )
    env = {
        **os.environ,
        "TYK_PORTAL_TOKEN": PORTAL_TOKEN,
        "TYK_DASHBOARD_SECRET": DASHBOARD_SECRET,
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(port), db, str(latency_ms)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"the emulator exited with status {proc.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit("the emulator did not start within 30 s")
            time.sleep(0.05)
        yield Served(url, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class CountingTransport(KeepAliveTransport):
    """The tyk backend's own transport, counting every request by method and path template."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[tuple[str, str]] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.counts[(request.method, template(request.url.path))] += 1
        return await super().handle_async_request(request)

    async def aclose(self) -> None:  # shared by the portal and Dashboard clients: closed once
        pass

    async def really_close(self) -> None:
        await super().aclose()


# ------------------------------------------------------------------------- the minimum


def minimum_requests(db: str, per_page: int, dashboards: int) -> dict[str, int]:
    """The fewest requests a complete read needs (see the module docstring), by part."""

    def pages(n: int) -> int:
        return math.ceil(n / per_page) + 1  # then the empty page that ends the list

    with contextlib.closing(sqlite3.connect(db)) as con:

        def count(kind: str) -> int:
            row = con.execute("SELECT COUNT(*) FROM objects WHERE kind=?", (kind,)).fetchone()
            return int(row[0])

        def per_parent(kind: str, parent_kind: str) -> int:
            sizes = dict(
                con.execute(
                    "SELECT parent, COUNT(*) FROM objects WHERE kind=? GROUP BY parent", (kind,)
                ).fetchall()
            )
            parents = [
                r[0] for r in con.execute("SELECT id FROM objects WHERE kind=?", (parent_kind,))
            ]
            return sum(pages(sizes.get(p, 0)) for p in parents)

        lists = (
            "provider",
            "organisation",
            "user",
            "product",
            "plan",
            "catalogue",
            "app",
            "access_request",
        )
        return {
            "lists": sum(pages(count(k)) for k in lists),
            "teams lists (one per organisation)": per_parent("team", "organisation"),
            "audience lists (one per catalogue)": per_parent("audience", "catalogue"),
            # a product's reply names none of its guides (Product-show in the portal's
            # document), so each product's tutorial pages are a list of their own
            "guide lists (one per product)": per_parent("doc", "product"),
            "policies (p=-2, per Dashboard)": dashboards,
            "API definitions (p=-1, per Dashboard)": dashboards,
            "provider details": count("provider"),
            "product details": count("product"),
            "plan details": count("plan"),
            "catalogue details": count("catalogue"),
            "team details (every team, the default ones too)": count("team"),
        }


# ------------------------------------------------------------------------- the read


@dataclass
class Read:
    seconds: float
    requests: int
    objects: int
    per_page: int
    counts: Counter[tuple[str, str]]
    client_cpu: float = 0.0
    server_cpu: float = 0.0


async def timed_read(url: str, providers: list[str], parallelism: int) -> Read:
    """One read of the whole live state through a fresh client."""
    transport = CountingTransport()
    conn = DashboardConn(url, DASHBOARD_SECRET)
    backend = open_tyk(
        url,
        PORTAL_TOKEN,
        {name: conn for name in providers},
        dashboard_url_override=url,
        parallelism=parallelism,
        transport=transport,
    )
    try:
        start, cpu = time.perf_counter(), time.process_time()
        live = await backend.read()
        seconds = time.perf_counter() - start
        client_cpu = time.process_time() - cpu
    finally:
        await backend.aclose()
        await transport.really_close()
    counts = transport.counts
    per_page = backend.api.portal.per_page
    return Read(seconds, sum(counts.values()), len(live.objects), per_page, counts, client_cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--objects", type=int, default=10_000)
    ap.add_argument("--latency-ms", type=float, default=10.0)
    ap.add_argument("--parallelism", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=2, help="reads timed; the best is reported")
    ap.add_argument("--emulator", choices=("process", "thread"), default="process")
    ap.add_argument("--breakdown", action="store_true", help="print requests per path")
    args = ap.parse_args()

    documents = documents_for(args.objects)
    with tempfile.TemporaryDirectory() as tmp:
        _, db, seeded = seed(Path(tmp), documents)
        providers = provider_names(db)
        load_before = machine_load()
        runs = []
        with emulator(db, args.latency_ms, args.emulator) as served:
            for _ in range(max(1, args.repeat)):
                server_cpu = served.cpu_seconds()
                run = asyncio.run(timed_read(served.url, providers, args.parallelism))
                run.server_cpu = served.cpu_seconds() - server_cpu
                runs.append(run)
        best = min(runs, key=lambda r: r.seconds)
        minimum = minimum_requests(db, best.per_page, dashboards=1)
    least = sum(minimum.values())
    floor = best.requests * args.latency_ms / 1000 / args.parallelism
    print(
        f"live state: {best.objects} objects (estate of {documents} documents, seeded in "
        f"{seeded:.1f} s); emulator in a {args.emulator}, {args.latency_ms:g} ms per request, "
        f"parallelism {args.parallelism}, per_page {best.per_page}"
    )
    print("minimum requests: " + ", ".join(f"{k} {v}" for k, v in minimum.items()))
    if args.breakdown:
        for (method, path), n in sorted(best.counts.items(), key=lambda kv: -kv[1]):
            print(f"  {n:6d} {method} {path}")
    print(
        f"read: {best.requests} requests in {best.seconds:.3f} s (best of {len(runs)}: "
        + ", ".join(f"{r.seconds:.3f}" for r in runs)
        + " s)"
    )
    print(
        f"read CPU: client {best.client_cpu:.2f} s, emulator {best.server_cpu:.2f} s "
        f"({1000 * best.client_cpu / best.requests:.2f} + "
        f"{1000 * best.server_cpu / best.requests:.2f} ms per request); machine: "
        f"{load_before} before, {machine_load()} after"
    )
    print(ratio_line("read requests / minimum", best.requests, least, 1.1, "req"))
    print(ratio_line("read wall time / floor", best.seconds, floor, 1.5))


if __name__ == "__main__":
    main()
