"""A hostile server cannot exhaust a run's memory or hold it: each attack ends the run with exit
1 and a clear one-line message, within 60 s and under 300 MB of peak memory (the child's own,
measured by ``run_measured``), with the apply lock released and nothing written to the portal.

The hostile peer is a small HTTP/1.1 server of its own on loopback (not the emulator, which
is well behaved): it answers every portal request with the attack, and the Dashboard's
requests either with the attack too or with empty lists. The attacks are the ones found in
the adversarial review (issue 13, findings 2 and 12): a Dashboard list claiming a billion
``Pages`` (the Dashboard pages its lists with ``p`` and reports ``Pages``: REFERENCE.md §2),
a portal list that never ends (the portal sends no total; pagination ends on an empty page:
REFERENCE.md §2, §9), an 800 MB reply (declared, or streamed without a length), a body
trickled one byte every 2 s, and JSON nested 100,000 deep.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from portal_gitops.backends.emulated.server import running_emulator
from portal_gitops.backends.emulated.store import PortalStore
from tests.apis import example_apis, seed_store_file
from tests.conftest import DASHBOARD_SECRET, PORTAL_TOKEN, copy_examples

from .conftest import child_env, cli, run_measured

MAX_SECONDS = 60.0
MAX_RSS_MB = 300.0
HUGE = 800 * 1024 * 1024

Writer = asyncio.StreamWriter
Attack = Callable[[Writer, str, int], Awaitable[None]]


async def _json(writer: Writer, body: bytes) -> None:
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    await writer.drain()


async def _billion_pages(writer: Writer, path: str, page: int) -> None:
    await _json(writer, b'{"Data": [], "Pages": 1000000000}')


async def _endless(writer: Writer, path: str, page: int) -> None:
    """Always a full page of new objects (100 = the client's ``per_page``)."""
    items = [{"ID": page * 1000 + i, "Name": f"object-{page}-{i}"} for i in range(100)]
    await _json(writer, json.dumps(items).encode())


async def _huge(writer: Writer, declared: bool) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    head += b"Content-Length: %d\r\n\r\n" % HUGE if declared else b"Connection: close\r\n\r\n"
    writer.write(head + b"[")
    chunk = b'{"ID": 1, "Name": "padding"},' * 32768  # about 1 MB
    sent = 0
    while sent < HUGE:
        writer.write(chunk)
        await writer.drain()  # the client stops reading: this waits, or the peer is gone
        sent += len(chunk)


async def _huge_declared(writer: Writer, path: str, page: int) -> None:
    await _huge(writer, declared=True)


async def _huge_streamed(writer: Writer, path: str, page: int) -> None:
    await _huge(writer, declared=False)


async def _trickle(writer: Writer, path: str, page: int) -> None:
    body = b"[]" + b" " * 998
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    )
    for byte in body:
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(2)


async def _deep(writer: Writer, path: str, page: int) -> None:
    await _json(writer, b"[" * 100_000 + b"]" * 100_000)


async def _quiet_dashboard(writer: Writer, path: str, page: int) -> None:
    await _json(writer, b'{"apis": [], "pages": 1}' if path.startswith("/api/apis") else b"[]")


@dataclass
class HostilePeer:
    portal: Attack
    dashboard: Attack = _quiet_dashboard
    requests: list[str] = field(default_factory=list)
    url: str = ""

    async def handle(self, reader: asyncio.StreamReader, writer: Writer) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                method, target = head.split(" ", 2)[:2]
                length = re.search(r"(?im)^content-length:\s*(\d+)", head)
                if length:
                    await reader.readexactly(int(length.group(1)))
                self.requests.append(f"{method} {target}")
                path, _, query = target.partition("?")
                page = re.search(r"(?:^|&)(?:page|p)=(-?\d+)", query)
                attack = self.portal if path.startswith("/portal-api") else self.dashboard
                await attack(writer, path, int(page.group(1)) if page else 1)
        except (OSError, asyncio.IncompleteReadError, asyncio.CancelledError, ValueError):
            pass
        finally:
            writer.close()


@pytest.fixture
def hostile() -> Iterator[Callable[..., HostilePeer]]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    servers: list[asyncio.Server] = []

    def start(portal: Attack, dashboard: Attack = _quiet_dashboard) -> HostilePeer:
        peer = HostilePeer(portal, dashboard)
        server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(peer.handle, "127.0.0.1", 0), loop
        ).result(10)
        servers.append(server)
        peer.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        return peer

    yield start

    async def shutdown() -> None:
        for server in servers:
            server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def _run(manifests: Path, command: str, portal: str, dashboard: str) -> str:
    env = child_env(
        {
            "TYK_PORTAL_URL": portal,
            "TYK_PORTAL_TOKEN": PORTAL_TOKEN,
            "TYK_DASHBOARD_URL": dashboard,  # approved by being named here, outside the manifests
            "TYK_DASHBOARD_SECRET": DASHBOARD_SECRET,
        }
    )
    # -v and --debug too: the channels with the most detail must not carry a secret either
    argv = cli(command, str(manifests), "-v", "--debug") + (
        ["--auto-approve"] if command == "apply" else []
    )
    run = run_measured(argv, env, timeout=MAX_SECONDS + 30)
    for secret in (PORTAL_TOKEN, DASHBOARD_SECRET):
        assert secret not in run.stdout + run.stderr
    assert run.returncode == 1, (run.returncode, run.stdout[-2000:], run.stderr[-2000:])
    assert "Traceback" not in run.stderr and "this is a bug" not in run.stderr, run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, run.stderr
    assert run.seconds < MAX_SECONDS, run.seconds
    assert run.peak_rss_mb < MAX_RSS_MB, run.peak_rss_mb
    return errors[0]


HOST = r"127\.0\.0\.1:\d+"
TOO_LARGE = (
    rf"error: list [\w ]+: (?:{HOST} sent a reply of more than 64 MiB, over the limit of one "
    rf"reply|the replies being received at once reached 128 MiB, their limit together \(this "
    rf"one from {HOST}\)); stopped reading"
)
PLAN_CASES: dict[str, tuple[Attack, Attack, str]] = {
    # portal attack, Dashboard attack, the message
    "billion-pages": (
        lambda w, p, n: _json(w, b"[]"),
        _billion_pages,
        rf'error: search Dashboard policies for "portal-gitops-state": {HOST} says the list '
        r"has 1000000000 pages, over the limit of 10000 pages",
    ),
    "endless-pages": (
        _endless,
        _quiet_dashboard,
        rf"error: list [\w ]+: (?:{HOST} sent more than 200000 objects in one list, over the "
        r"limit \(\d+ pages read\)|the lists being read at once hold more than 300000 objects, "
        rf"their limit together \(this one from {HOST}\)); is (?:its|a server's) pagination "
        r"broken\?",
    ),
    "huge-reply-declared": (_huge_declared, _quiet_dashboard, TOO_LARGE),
    "huge-reply-streamed": (_huge_streamed, _quiet_dashboard, TOO_LARGE),
    "trickled-body": (
        _trickle,
        _quiet_dashboard,
        rf"error: list [\w ]+: {HOST} was still sending its reply after 30 s, the limit of one "
        r"request",
    ),
    "nested-100000-deep": (
        _deep,
        _quiet_dashboard,
        rf"error: list [\w ]+: {HOST} sent JSON nested too deeply to decode",
    ),
}


@pytest.mark.parametrize("case", list(PLAN_CASES))
def test_a_hostile_server_ends_plan_quickly_in_bounded_memory(
    tmp_path: Path, hostile: Callable[..., HostilePeer], case: str
) -> None:
    portal_attack, dashboard_attack, message = PLAN_CASES[case]
    peer = hostile(portal_attack, dashboard_attack)
    error = _run(copy_examples(tmp_path), "plan", peer.url, peer.url)
    assert re.fullmatch(message, error), error
    assert all(r.startswith("GET ") for r in peer.requests), peer.requests


@pytest.mark.parametrize("case", ["endless-pages", "huge-reply-streamed", "nested-100000-deep"])
def test_a_hostile_portal_ends_apply_with_the_lock_released_and_nothing_written(
    tmp_path: Path, hostile: Callable[..., HostilePeer], case: str
) -> None:
    portal_attack, _, message = PLAN_CASES[case]
    peer = hostile(portal_attack)
    db = tmp_path / "dashboard.db"
    seed_store_file(db, example_apis())
    store = PortalStore(str(db))
    try:
        with running_emulator(
            store, portal_token=PORTAL_TOKEN, dashboard_secret=DASHBOARD_SECRET
        ) as dashboard:
            before = store.handle(
                "GET", "/api/portal/policies", {"p": "-2"}, {"authorization": DASHBOARD_SECRET}, b""
            ).body
            error = _run(copy_examples(tmp_path), "apply", peer.url, dashboard)
            after = store.handle(
                "GET", "/api/portal/policies", {"p": "-2"}, {"authorization": DASHBOARD_SECRET}, b""
            ).body
    finally:
        store.close()
    assert re.fullmatch(message, error), error
    assert after == before  # no lock policy left behind, no policy written
    assert "portal-gitops" not in after.decode()
    assert all(r.startswith("GET ") for r in peer.requests), peer.requests
