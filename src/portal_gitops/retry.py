"""When and how long to wait before trying again: one policy for the HTTP client and the engine.

Exponential backoff with jitter, honouring a server's ``Retry-After`` (capped). Only callers
know whether a request is safe to repeat; this module only says how long to wait.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from portal_gitops.errors import RateLimitedError


def _default_jitter() -> float:
    return random.random()  # jitter, not cryptography


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries in all; ``sleep`` and ``jitter`` are injectable so tests never wait.

    Six attempts ride out a burst of 5xx or resets on a large read: with one request in five
    failing, four attempts still lost about one 500-request read in two.
    """

    attempts: int = 6
    base_delay: float = 0.25
    max_delay: float = 8.0
    max_retry_after: float = 60.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    jitter: Callable[[], float] = _default_jitter

    def delay(self, attempt: int, exc: BaseException) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based) after ``exc``."""
        if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
            wait: float = exc.retry_after
            return max(0.0, min(wait, self.max_retry_after))
        backoff = min(self.max_delay, self.base_delay * (2.0**attempt))
        return backoff * (0.5 + 0.5 * self.jitter())


NO_RETRY = RetryPolicy(attempts=1)
