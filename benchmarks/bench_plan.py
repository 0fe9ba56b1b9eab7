"""plan of an unchanged estate on the embedded store, against validate of the same manifests.

    python benchmarks/bench_plan.py [--documents 10000] [--repeat 3]

The estate is applied once to a new embedded store (setup, timed and printed but not the
figure), then ``plan`` runs with nothing to change. Each figure is the best of ``--repeat``
runs, each in a fresh interpreter (benchmarks/measure.py).

Target (issue "reconcile"): plan <= 1.5 x validate at 10,000 documents. Memory (issue "scale"):
plan's peak at most 3 KB per live object above validate's peak. plan is validate plus
building the desired state, hashing the manifests, reading the store (one read transaction,
every object rendered as the portal API would answer it, then translated as over HTTP), the
diff and the plan: the split is printed so that a miss shows where the time goes. Imports made
before the timed part are not counted, for either; the backend, imported by plan on first use,
is. Both timed parts end with what they built freed, as the commands' processes free it
(plan frees the manifests it validated before it returns; validate's result is freed too,
about 30 ms for 10,000 documents).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from estate import seed_apis, write
from measure import measure, ratio_line

from portal_gitops import commands

PARTS = """
import asyncio, datetime as dt, time
from portal_gitops import commands
from portal_gitops.desired import build_desired
from portal_gitops.heap import collector_paused
from portal_gitops.plan import hash_digests
from portal_gitops.validate.apis import products_apis, providers_only
"""

PARTS_BODY = """
paths, target = [{manifests!r}], commands.Target(store={db!r}, environ={{}})
marks = [time.perf_counter()]
with collector_paused():  # as commands.plan
    result = commands.load_and_validate(paths)
    marks.append(time.perf_counter())
    desired = build_desired([m for m, _ in result.manifests], today=dt.date.today(),
                            resolve_secret=commands.secret_resolver({{}}))
    marks.append(time.perf_counter())
    digest = hash_digests(result.digests.items())
    marks.append(time.perf_counter())
    products = tuple(products_apis(result.manifests))
    loaded = commands.Loaded(tuple(paths), providers_only(result), desired, digest, products)
    del result  # as commands.plan: only the providers' manifests are kept through the read

    async def read():
        backend = commands.open_backend(target, loaded.paths, loaded.manifests)
        try:
            return await backend.read()
        finally:
            await backend.aclose()

    live = asyncio.run(read())
    marks.append(time.perf_counter())
    the_plan = commands.compute_plan(loaded, live, "x", "embedded", prune=False)
    marks.append(time.perf_counter())
assert not the_plan.has_changes
names = ["validate", "desired state", "manifests hash", "read", "diff + plan"]
extra = {{"parts": dict(zip(names, (b - a for a, b in zip(marks, marks[1:])))),
          "objects": len(live.objects)}}
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--documents", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        manifests = str(Path(tmp) / "manifests")
        db = str(Path(tmp) / "portal.db")
        n = write(Path(manifests), args.documents)
        seed_apis(db, args.documents)
        start = time.perf_counter()
        outcome = commands.apply([manifests], commands.Target(store=db, environ={}))
        applied = time.perf_counter() - start
        if outcome.result is None or not outcome.result.ok:
            raise SystemExit(f"setup apply failed: {outcome.result and outcome.result.summary()}")
        val = measure(
            # commands.load_and_validate, composed here so that the child imports only the
            # loader and the validator (importing commands would add the backends to its peak)
            setup="""
                from portal_gitops.heap import collector_paused
                from portal_gitops.validate import validate_paths
            """,
            body=f"""
                with collector_paused():
                    result = validate_paths([{manifests!r}])
                assert result.ok, result.errors[:3]
                del result
            """,
            repeat=args.repeat,
        )
        plan = measure(
            setup="from portal_gitops import commands",
            body=f"""
                target = commands.Target(store={db!r}, environ={{}})
                the_plan = commands.plan([{manifests!r}], target)
                assert not the_plan.has_changes, the_plan.actions[:3]
                del the_plan
            """,
            repeat=args.repeat,
        )
        parts = measure(setup=PARTS, body=PARTS_BODY.format(manifests=manifests, db=db), repeat=1)
    split = parts.extra["parts"]
    assert isinstance(split, dict)
    print(
        f"estate: {n} documents, {parts.extra['objects']} live objects "
        f"(setup: applied to the embedded store in {applied:.1f} s)"
    )
    print(f"validate:                           {val.seconds:.3f} s, peak {val.peak_mb:.0f} MB")
    print(f"plan (no changes):                  {plan.seconds:.3f} s, peak {plan.peak_mb:.0f} MB")
    print("plan split (one run): " + ", ".join(f"{k} {v:.2f} s" for k, v in split.items()))
    print(ratio_line("plan / validate (time)", plan.seconds, val.seconds, 1.5))
    objects = parts.extra["objects"]
    assert isinstance(objects, int)
    above = (plan.peak_mb - val.peak_mb) * 1024 / max(1, objects)  # KB per live object
    print(ratio_line("plan memory above validate, per object", above, 3.0, 1.0, "KB"))


if __name__ == "__main__":
    main()
