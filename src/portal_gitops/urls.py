"""How a URL is shown: scheme, host and port only (pure).

The portal URL is a secret in CI (it may carry credentials: ``https://user:token@host``, or a
token in its query), and what the tool prints (plan targets, lock messages) reaches job logs and
pull-request comments. Only the part that says which portal it is gets shown.
"""

from __future__ import annotations

from urllib.parse import urlsplit


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
