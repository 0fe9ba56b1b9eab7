"""``requests pull``: pending Live Portal requests -> request manifests, a burst capped per
consumer and per run (a consumer filing hundreds of requests cannot flood the repository)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from portal_gitops.commands import Target, read_live, schema_comment
from portal_gitops.errors import ManifestError
from portal_gitops.files import write_inside
from portal_gitops.load import Document, load_manifests, parse_text
from portal_gitops.validate import validate_documents, validate_loaded


@dataclass(frozen=True)
class PullResult:
    written: list[Path]
    already: list[str]  # live ids already in the repository
    deferred: list[str] = field(default_factory=list)  # what the caps held back, said plainly
    # requests whose manifest would not validate (a name the manifests cannot hold, a
    # consumer outside every catalogue offering the plan): never written, each with its reason
    skipped: list[str] = field(default_factory=list)


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
    cannot flood the repository or its pull requests. The rest wait for a later run.

    Every manifest is validated with the repository's before it is written: one that would
    not validate (so could be neither approved nor rejected through Git) is not written, and
    the request is reported in ``skipped`` with the reason, left pending in the portal."""
    import yaml

    from portal_gitops.requests import (
        known_request_ids,
        pending_requests,
        request_manifest,
    )

    out_dir = Path(out)
    scan = [p for p in (*paths, out) if Path(p).exists()]
    loaded = load_manifests(scan) if scan else None
    manifests = [m for m, _ in validate_loaded(loaded).manifests] if loaded else []
    known = known_request_ids(manifests)
    live = asyncio.run(read_live(target, tuple(paths), manifests))
    candidates: list[tuple[str, str, PurePosixPath, str]] = []  # id, consumer, path, text
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
        if len(candidates) >= max_requests:
            over_run += 1
            continue
        per_consumer[consumer] = per_consumer.get(consumer, 0) + 1
        pulled = request_manifest(obj, live)
        body = yaml.safe_dump(pulled.document, sort_keys=False)
        dest = out_dir / Path(*pulled.relpath.parts)
        candidates.append((obj.id, consumer, pulled.relpath, schema_comment(dest) + body))
    written: list[Path] = []
    skipped: list[str] = []
    problems = _problems(loaded.documents if loaded else [], out_dir, candidates)
    for request_id, consumer, relpath, text in candidates:
        reasons = problems.get(relpath)
        if reasons:
            skipped.append(
                f"request {request_id} ({consumer}) skipped: its manifest does not validate: "
                + "; ".join(reasons[:3])
            )
        else:
            written.append(write_inside(out_dir, relpath, text))
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
    return PullResult(written, already, deferred, skipped)


def _problems(
    existing: Sequence[Document],
    out_dir: Path,
    candidates: Sequence[tuple[str, str, PurePosixPath, str]],
) -> dict[PurePosixPath, list[str]]:
    """Validate every candidate with the repository's manifests, in one pass; the problems
    found in each candidate's own file (what the repository already has wrong is not the
    request's fault, and `validate` reports it)."""
    docs = list(existing)
    problems: dict[PurePosixPath, list[str]] = {}
    by_file: dict[str, PurePosixPath] = {}
    for _, _, relpath, text in candidates:
        name = str(out_dir / Path(*relpath.parts))
        by_file[name] = relpath
        try:
            docs.extend(parse_text(text, name))
        except ManifestError as e:
            problems[relpath] = [i.message for i in e.issues]
    for issue in validate_documents(docs).errors:
        if issue.file in by_file:
            problems.setdefault(by_file[issue.file], []).append(
                f"{issue.field}: {issue.message}" if issue.field else issue.message
            )
    return problems
