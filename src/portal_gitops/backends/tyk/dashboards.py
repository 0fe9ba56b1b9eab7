"""Which Dashboard serves a provider: the connection from the Provider manifests, else from
the provider's live configuration; and where the managed record and apply lock live.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from portal_gitops.backends.tyk.quirks import provider_metadata, text
from portal_gitops.errors import BackendError

if TYPE_CHECKING:
    from portal_gitops.backends.tyk.client import DashboardApi, TykApi
    from portal_gitops.backends.tyk.ids import Ids


@dataclass(frozen=True)
class DashboardConn:
    """Where a provider's Dashboard is and how to authenticate (the secret is never printed)."""

    url: str
    secret: str | None = field(default=None, repr=False)
    insecure: bool = False
    # where the secret comes from, for the message when the Dashboard refuses it (never the
    # secret): 'provider "tyk", secret from environment variable TYK_DASHBOARD_SECRET'
    source: str = field(default="", compare=False)

    def __repr__(self) -> str:  # explicit so that no dataclass change can ever show the secret
        return f"DashboardConn(url={self.url!r}, insecure={self.insecure!r})"


def live_conn(provider: Mapping[str, Any]) -> DashboardConn | None:
    """The Dashboard connection a provider's live configuration names (None: no URL).

    TLS is always verified on it: only a Provider manifest, reviewed in the repository, may
    turn verification off (SECURITY.md); the portal's own ``InsecureSkipVerify`` is what the
    portal does, not what portal-gitops may do with the secret it found there."""
    meta = provider_metadata(provider)
    url = text(meta.get("URL"))
    if not url:
        return None
    secret = text(meta.get("Secret")) or None
    name = text(provider.get("Name"))
    source = f'provider "{name}", ' if name else ""
    source += "the secret kept in the portal's provider configuration (no Provider manifest)"
    return DashboardConn(url, secret, insecure=False, source=source)


class Dashboards:
    """The Dashboard behind each provider.

    ``configured`` maps provider names (from the Provider manifests) to their connection;
    providers not listed fall back to their live configuration (kept by ``ids``).
    ``url_override`` replaces every Dashboard URL (env ``TYK_DASHBOARD_URL``: tunnels, the
    emulator). ``fixed`` sends every Dashboard request to one place (the embedded store).
    """

    def __init__(
        self,
        api: TykApi,
        ids: Ids,
        *,
        configured: Mapping[str, DashboardConn] | None,
        url_override: str | None,
        fixed: DashboardConn | None,
    ) -> None:
        self.api = api
        self.ids = ids
        self.configured = dict(configured or {})
        self.url_override = url_override.rstrip("/") if url_override else None
        self.fixed = fixed
        for conn in self.configured.values():
            api.add_secret(conn.secret)
        if fixed is not None:
            api.add_secret(fixed.secret)

    def conn(self, provider: str) -> DashboardConn | None:
        """The Dashboard behind a provider: manifests first, then its live configuration."""
        if self.fixed is not None:
            return self.fixed
        conn = self.configured.get(provider) or self.ids.ix.provider_conns.get(provider)
        if conn is None:
            return None
        if self.url_override:
            conn = replace(conn, url=self.url_override)
        return conn

    def dashboard_for(self, provider: str) -> DashboardApi:
        """The Dashboard API client for a provider's Dashboard (raises if none is known)."""
        conn = self.conn(provider)
        if conn is None:
            raise BackendError(
                f'no Dashboard connection for provider "{provider}": declare it in a Provider '
                "manifest (or set TYK_DASHBOARD_URL)",
                operation=f'reach the Dashboard of provider "{provider}"',
            )
        return self.api.dashboard(conn)

    async def record_candidates(self) -> list[Candidate]:
        """Every Dashboard the managed record may be on, one per URL: those of the Provider
        manifests first (by provider name), then those only live providers name. The first is
        where a new estate keeps its record (see records.Records.home)."""
        if self.fixed is not None:
            return [Candidate(self.fixed, ("(embedded)",), True)]
        if not self.ids.ix.provider_conns:
            await self.ids.load_providers()
        return self._candidates()

    def configured_candidates(self) -> list[Candidate]:
        """The Dashboards of the Provider manifests only (the portal could not be read)."""
        return [c for c in self._candidates() if c.configured]

    def _candidates(self) -> list[Candidate]:
        found: dict[str, Candidate] = {}
        for configured, names in (
            (True, sorted(self.configured)),
            (False, sorted(set(self.ids.ix.provider_conns) - set(self.configured))),
        ):
            for name in names:
                conn = self.conn(name)
                if conn is None:
                    continue
                url = conn.url.rstrip("/")
                if url in found:
                    have = found[url]
                    found[url] = replace(have, providers=(*have.providers, name))
                else:
                    found[url] = Candidate(conn, (name,), configured)
        if not found and self.url_override:
            found[self.url_override] = Candidate(DashboardConn(self.url_override), (), True)
        return list(found.values())


@dataclass(frozen=True)
class Candidate:
    """A Dashboard the managed record may be on, the providers naming it, and whether a
    Provider manifest names it (else only a live provider does)."""

    conn: DashboardConn
    providers: tuple[str, ...]
    configured: bool

    def describe(self) -> str:
        names = ", ".join(f'"{p}"' for p in self.providers)
        return f"the Dashboard {self.conn.url} (provider {names})" if names else self.conn.url
