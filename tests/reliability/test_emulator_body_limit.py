"""The emulator bounds what it reads from a peer as the client bounds what it reads: a body over
the limit is answered 413 without being buffered, whether it is declared or streamed."""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

from portal_gitops.backends.emulated.server import MAX_REQUEST_BYTES, running_emulator
from portal_gitops.backends.emulated.store import PortalStore

LIMIT = 64 * 1024
TOKEN, SECRET = "body-limit-token", "body-limit-secret"


def _read_reply(sock: socket.socket) -> tuple[int, object]:
    reply = b""
    while b"\r\n\r\n" not in reply:
        reply += sock.recv(65536)
    head, body = reply.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"(?im)^content-length:\s*(\d+)", head).group(1))
    while len(body) < length:
        body += sock.recv(65536)
    return int(head.split(b" ", 2)[1]), json.loads(body)


def _send(url: str, head: bytes, chunks: list[bytes]) -> tuple[int, object]:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head)
        for chunk in chunks:
            try:
                sock.sendall(chunk)
            except OSError:  # the server answered and closed before reading it all
                break
        return _read_reply(sock)


def _organisations(store: PortalStore) -> list[str]:
    reply = store.handle("GET", "/portal-api/organisations", {}, {"authorization": TOKEN}, b"")
    return [o["Name"] for o in json.loads(reply.body)]


def test_the_default_limit_is_larger_than_any_record_we_write() -> None:
    assert MAX_REQUEST_BYTES == 32 * 1024 * 1024


def test_a_declared_huge_body_is_refused_before_it_is_read(tmp_path: Path) -> None:
    store = PortalStore(str(tmp_path / "portal.db"))
    try:
        with running_emulator(
            store, portal_token=TOKEN, dashboard_secret=SECRET, max_body_bytes=LIMIT
        ) as url:
            started = time.monotonic()
            head = (
                b"POST /portal-api/organisations HTTP/1.1\r\nHost: x\r\n"
                b"Authorization: " + TOKEN.encode() + b"\r\n"
                b"Content-Type: application/json\r\nContent-Length: 400000000\r\n\r\n"
            )
            status, payload = _send(url, head, [])  # nothing of the 400 MB is ever sent
            assert time.monotonic() - started < 5
        assert status == 413
        assert payload == {"errors": [f"request body larger than {LIMIT} bytes"]}
        assert _organisations(store) == ["Default Organisation"]
    finally:
        store.close()


def test_a_streamed_body_is_cut_at_the_limit(tmp_path: Path) -> None:
    store = PortalStore(str(tmp_path / "portal.db"))
    try:
        with running_emulator(
            store, portal_token=TOKEN, dashboard_secret=SECRET, max_body_bytes=LIMIT
        ) as url:
            head = (
                b"POST /api/portal/policies HTTP/1.1\r\nHost: x\r\n"
                b"Authorization: " + SECRET.encode() + b"\r\n"
                b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            chunk = b"x" * 16384
            body = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * 64 + [b"0\r\n\r\n"]  # 1 MB
            status, payload = _send(url, head, body)
    finally:
        store.close()
    assert status == 413
    message = f"request body larger than {LIMIT} bytes"
    assert payload == {"Status": "Error", "Message": message, "Meta": None}
