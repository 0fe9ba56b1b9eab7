"""Every error portal-gitops raises on purpose, in one tree.

    PortalGitopsError                 anything the CLI reports as "error: ..." with exit 1
    ├── ManifestError                 one or more problems in the manifests (carries Issue list)
    ├── SecretError                   a secret reference cannot be resolved (named, never shown)
    ├── PlanError
    │   ├── StalePlanError            a saved plan no longer matches the manifests or the live state
    │   └── UnsafePlanError           more deletions than --max-deletes without --force
    ├── LockError                     another apply holds the target's lock
    ├── ApplyError                    an apply finished with failures (carries the ApplyResult)
    └── BackendError                  the live portal refused or failed a request
        ├── AuthError                 401/403
        ├── NotFoundError             404
        ├── ConflictError             400/409 duplicate name
        ├── ValidationFailed          422 / 400 validation
        ├── RateLimitedError          429 (retry_after seconds, if the server said)
        ├── ServerError               5xx
        └── TransportError            connection refused, reset, timeout (``timed_out`` tells which)

Foreign exceptions (httpx, sqlite3, yaml) are translated into these at the seam that meets them,
chaining the cause; nothing above the backends ever sees them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Issue:
    """One problem (or warning) found in the manifests, located as precisely as we can."""

    file: str
    line: int
    message: str
    kind: str = ""
    name: str = ""
    field: str = ""
    severity: str = "error"  # "error" | "warning"

    @property
    def location(self) -> str:
        """``file:line``, or the file alone for a problem of no one line (line 0)."""
        return f"{self.file}:{self.line}" if self.line > 0 else self.file

    def __str__(self) -> str:
        parts = [self.location]
        if self.kind:
            parts.append(f"{self.kind}/{self.name}" if self.name else self.kind)
        if self.field:
            parts.append(self.field)
        parts.append(self.message)
        return ": ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "kind": self.kind,
            "name": self.name,
            "field": self.field,
            "message": self.message,
            "severity": self.severity,
        }


class PortalGitopsError(Exception):
    """Base of every expected failure; the CLI prints it and exits 1."""


class ManifestError(PortalGitopsError):
    def __init__(self, issues: list[Issue]):
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


class SecretError(PortalGitopsError):
    pass


class PlanError(PortalGitopsError):
    pass


class StalePlanError(PlanError):
    pass


class UnsafePlanError(PlanError):
    pass


class LockError(PortalGitopsError):
    pass


class ApplyError(PortalGitopsError):
    def __init__(self, message: str, result: Any = None):
        self.result = result
        super().__init__(message)


class BackendError(PortalGitopsError):
    """The live portal refused or failed a request. ``operation`` names what we were doing."""

    status: int | None = None

    def __init__(self, message: str, *, operation: str = "", status: int | None = None):
        self.operation = operation
        if status is not None:
            self.status = status
        super().__init__(f"{operation}: {message}" if operation else message)


class AuthError(BackendError):
    pass


class NotFoundError(BackendError):
    pass


class ConflictError(BackendError):
    pass


class ValidationFailed(BackendError):
    pass


class RateLimitedError(BackendError):
    def __init__(self, message: str, *, operation: str = "", retry_after: float | None = None):
        self.retry_after = retry_after
        super().__init__(message, operation=operation, status=429)


class ServerError(BackendError):
    pass


class TransportError(BackendError):
    def __init__(self, message: str, *, operation: str = "", timed_out: bool = False):
        self.timed_out = timed_out
        super().__init__(message, operation=operation)


class LimitError(BackendError):
    """A server's reply or pagination went past one of the client's bounds (never retried)."""


RETRYABLE = (RateLimitedError, ServerError, TransportError)
"""Errors worth retrying for an idempotent request (reads, PUT, DELETE)."""


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, RETRYABLE)
