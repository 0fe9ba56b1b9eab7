"""``requests pull``: pending Live Portal requests -> request manifests, a burst capped per
consumer and per run (a consumer filing hundreds of requests cannot flood the repository)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from portal_gitops.commands import Target, load_and_validate, read_live, write_manifest


@dataclass(frozen=True)
class PullResult:
    written: list[Path]
    already: list[str]  # live ids already in the repository
    deferred: list[str] = field(default_factory=list)  # what the caps held back, said plainly


MAX_PULL_PER_RUN = 50
MAX_PULL_PER_CONSUMER = 3


def requests_pull(
    paths: Sequence[str],
    out: str,
    target: Target,
    *,
    max_requests: int = MAX_PULL_PER_RUN,
    max_per_consumer: int = MAX_PULL_PER_CONSUMER,
) -> PullResult:
    """Write a manifest for every pending Live Portal request not yet in the repository,
    oldest first, at most ``max_requests`` a run and never more than ``max_per_consumer``
    pending per consumer (those already in the repository count): a consumer filing a burst
    cannot flood the repository or its pull requests. The rest wait for a later run."""
    import yaml

    from portal_gitops.requests import (
        known_request_ids,
        pending_requests,
        request_manifest,
    )

    out_dir = Path(out)
    scan = [p for p in (*paths, out) if Path(p).exists()]
    result = load_and_validate(scan) if scan else None
    manifests = [m for m, _ in result.manifests] if result else []
    known = known_request_ids(manifests)
    live = asyncio.run(read_live(target, tuple(paths), manifests))
    written: list[Path] = []
    already: list[str] = []
    pending = pending_requests(live)
    per_consumer: dict[str, int] = {}
    for obj in pending:
        if obj.id in known:
            consumer = str(obj.attrs.get("consumer", ""))
            per_consumer[consumer] = per_consumer.get(consumer, 0) + 1
    over_consumer: dict[str, int] = {}
    over_run = 0
    for obj in pending:
        if obj.id in known:
            already.append(obj.id)
            continue
        consumer = str(obj.attrs.get("consumer", ""))
        if per_consumer.get(consumer, 0) >= max_per_consumer:
            over_consumer[consumer] = over_consumer.get(consumer, 0) + 1
            continue
        if len(written) >= max_requests:
            over_run += 1
            continue
        per_consumer[consumer] = per_consumer.get(consumer, 0) + 1
        pulled = request_manifest(obj, live)
        body = yaml.safe_dump(pulled.document, sort_keys=False)
        written.append(write_manifest(out_dir, pulled.relpath, body))
    deferred = [
        f"{n} request(s) not pulled this run: {consumer} has {per_consumer[consumer]} pending "
        f"in the repository or this run (at most {max_per_consumer} per consumer); they are "
        "pulled once those are decided"
        for consumer, n in sorted(over_consumer.items())
    ]
    if over_run:
        deferred.append(
            f"{over_run} request(s) not pulled this run (at most {max_requests} per run); "
            "the next run pulls them"
        )
    return PullResult(written, already, deferred)
