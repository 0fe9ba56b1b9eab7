"""apply of about 2,000 creates over HTTP to the emulator, against the request-latency floor.

    python benchmarks/bench_apply.py [--creates 2000] [--latency-ms 10] [--parallelism 8]
                                     [--emulator process|thread]

A generated estate whose plan has about ``--creates`` creates is applied with ``apply`` (the
command's Python API, tyk backend) to an empty store served by the emulator with
``--latency-ms`` added to every request. Every request the apply makes is counted (lock,
read, creates, managed-record writes, unlock), and each is attributed to the kind of the
action that made it ("bookkeeping" for the rest).

Floor = requests made x latency / parallelism. Target (issue "reconcile"): wall time <=
1.5 x floor. Requests a create needs (portal >= 1.13; see the per-kind table printed):
  Provider      POST /providers
  Organisation  POST /organisations
  Team          POST /organisations/{id}/teams
  User          POST /users, PUT /users/{id} (team memberships: only the update takes Teams)
  Product       POST /products, GET + PUT its backing Dashboard policy (access rights)
  Plan          POST /plans, GET + PUT its backing Dashboard policy (limits)
  Catalogue     POST /catalogues (+ POST per audience team)
  AccessRequest POST /apps, PUT /apps/{id}/provision, GET /apps/{id}/access-requests (the
                provision reply carries no ID), PUT approve|reject (none when auto-approved)
"""

from __future__ import annotations

import argparse
import contextvars
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_read import DASHBOARD_SECRET, PORTAL_TOKEN, emulator, machine_load, template
from estate import plan_counts, seed_apis, write
from measure import ratio_line

from portal_gitops import commands
from portal_gitops.backends.tyk.transport import KeepAliveTransport
from portal_gitops.plan import Action

_KIND: contextvars.ContextVar[str] = contextvars.ContextVar("kind", default="bookkeeping")


def creates_for(documents: int) -> int:
    """Creates in the plan of a generated estate applied to an empty portal."""
    c = plan_counts(documents)
    teams = c["teams"] // c["orgs"] * c["orgs"]
    return (
        c["providers"]
        + c["orgs"]
        + teams
        + teams * 3  # users
        + c["products"]
        + c["plans"]
        + c["catalogues"]
        + c["requests"]
    )


def documents_for(creates: int) -> int:
    n = 20
    while creates_for(n) < creates:
        n += 1
    return n


class Requests:
    """Counts every request the tyk backend sends, by the kind of the action that sent it."""

    def __init__(self) -> None:
        self.by_kind: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
        self.creates: Counter[str] = Counter()

    def install(self) -> None:
        """Count in the tyk backend's transport (every request it sends goes through it)."""
        original = KeepAliveTransport.handle_async_request
        counts = self.by_kind

        async def counted(transport: KeepAliveTransport, request: httpx.Request) -> httpx.Response:
            counts[_KIND.get()][(request.method, template(request.url.path))] += 1
            return await original(transport, request)

        setattr(KeepAliveTransport, "handle_async_request", counted)  # noqa: B010

    def progress(self, event: str, action: Action, detail: str) -> None:
        # called in the task that runs the action, before its requests: they inherit the kind
        if event == "start":
            _KIND.set(action.kind)
            if action.op == "create":
                self.creates[action.kind] += 1

    @property
    def total(self) -> int:
        return sum(sum(c.values()) for c in self.by_kind.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--creates", type=int, default=2_000)
    ap.add_argument("--latency-ms", type=float, default=10.0)
    ap.add_argument("--parallelism", type=int, default=8)
    ap.add_argument("--emulator", choices=("process", "thread"), default="process")
    args = ap.parse_args()

    documents = documents_for(args.creates)
    requests = Requests()
    requests.install()
    with tempfile.TemporaryDirectory() as tmp:
        manifests = str(Path(tmp) / "manifests")
        write(Path(manifests), documents)
        db = str(Path(tmp) / "portal.db")
        seed_apis(db, documents)  # an empty portal whose Dashboard has the estate's APIs
        load_before = machine_load()
        with emulator(db, args.latency_ms, args.emulator) as served:
            url = served.url
            environ = {
                "TYK_PORTAL_TOKEN": PORTAL_TOKEN,
                "TYK_DASHBOARD_URL": url,
                **{f"TYK_DASHBOARD_SECRET_{i}": DASHBOARD_SECRET for i in range(2)},
            }
            target = commands.Target(portal_url=url, environ=environ, parallelism=args.parallelism)
            server_cpu = served.cpu_seconds()
            start, cpu = time.perf_counter(), time.process_time()
            outcome = commands.apply([manifests], target, progress=requests.progress)
            seconds = time.perf_counter() - start
            client_cpu = time.process_time() - cpu
            server_cpu = served.cpu_seconds() - server_cpu
    if outcome.result is None or not outcome.result.ok:
        raise SystemExit(f"apply failed: {outcome.result and outcome.result.summary()}")
    creates = sum(requests.creates.values())
    made = requests.total
    floor = made * args.latency_ms / 1000 / args.parallelism
    print(
        f"apply: {creates} creates ({documents} documents) over HTTP, emulator in a "
        f"{args.emulator}, {args.latency_ms:g} ms per request, parallelism {args.parallelism}"
    )
    print(f"{'kind':<14} {'creates':>7} {'requests':>8} {'per create':>10}  requests")
    for kind, counts in sorted(requests.by_kind.items(), key=lambda kv: -sum(kv[1].values())):
        n = sum(counts.values())
        per = f"{n / requests.creates[kind]:.2f}" if requests.creates[kind] else "-"
        shown = ", ".join(f"{c} {m} {p}" for (m, p), c in counts.most_common())
        print(f"{kind:<14} {requests.creates[kind]:>7} {n:>8} {per:>10}  {shown}")
    print(
        f"apply: {made} requests ({made / creates:.2f} per create, bookkeeping included) "
        f"in {seconds:.3f} s"
    )
    print(
        f"apply CPU: client {client_cpu:.2f} s (validation included), emulator "
        f"{server_cpu:.2f} s; machine: {load_before} before, {machine_load()} after"
    )
    print(ratio_line("apply wall time / floor", seconds, floor, 1.5))


if __name__ == "__main__":
    main()
