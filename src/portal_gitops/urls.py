"""How a URL is shown (scheme, host and port only) and checked (pure).

The portal URL is a secret in CI (it may carry credentials: ``https://user:token@host``, or a
token in its query), and what the tool prints (plan targets, lock messages) reaches job logs and
pull-request comments. Only the part that says which portal it is gets shown.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from portal_gitops.errors import PortalGitopsError


def display_url(url: str) -> str:
    """``https://user:pw@portal.example:3001/x?token=y`` -> ``https://portal.example:3001``."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "(a malformed URL)"
    if not parts.scheme or not host:
        return "(a URL without a scheme or host)"
    shown = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{shown}" + (f":{port}" if port is not None else "")


_HOST_PORT = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]+)?/?")


def check_portal_url(url: str) -> None:
    """A portal URL must say http:// or https:// and a host: without them the request went to
    a host named like the whole text ("Name or service not known"). The URL may carry a
    credential, so it is repeated only when it is a bare host[:port]."""
    parts = urlsplit(url.strip())
    if parts.scheme in ("http", "https") and parts.netloc:
        return
    where = "--portal-url (or TYK_PORTAL_URL)"
    if _HOST_PORT.fullmatch(url.strip()):
        bare = url.strip().rstrip("/")
        raise PortalGitopsError(
            f"{where} {bare!r} has no scheme: write http://{bare} or https://{bare}"
        )
    raise PortalGitopsError(
        f"{where} is not an http:// or https:// URL with a host: write the portal's base "
        "URL, e.g. https://portal.example.com:3001"
    )


def check_dashboard_url(url: str, where: str) -> None:
    """A Dashboard URL is the Dashboard's base: portal-gitops (and the portal) add /api."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PortalGitopsError(
            f"{where} is not an http:// or https:// URL with a host: write the Dashboard's "
            "base URL, e.g. https://dashboard.example.com:3000"
        )
    if parts.path.rstrip("/").endswith("/api"):
        base = display_url(url)
        raise PortalGitopsError(
            f"{where} ends in /api: write the Dashboard's base URL ({base}); portal-gitops "
            "adds /api itself (requests went to /api/api/...)"
        )
