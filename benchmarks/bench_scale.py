"""Cost that grows linearly with the estate: the figures of a large estate against a small one.

    python benchmarks/bench_scale.py [--only apply,http,plan,validate]
        [--objects-small 10000] [--objects-large 100000]        # apply on the embedded store
        [--creates 20000] [--read-objects 100000]               # over HTTP
        [--latency-ms 10] [--parallelism 8]
        [--plan-objects 100000]                                 # plan (bench_plan)
        [--validate-documents 50000]                            # validate's memory

Targets (issue "scale"):
  apply     apply of a generated estate to a new embedded store, time per object created at
            --objects-large live objects within 1.3x of the time per object at --objects-small
            (same generator, one run each, each in a fresh interpreter)
  http      over HTTP to the emulator (--latency-ms per request, --parallelism): apply of
            --creates creates and a read of --read-objects objects, each within 1.5x of its
            floor as bench_apply.py and bench_read.py define it (they are run as they are)
  plan      plan of an unchanged estate of --plan-objects live objects (bench_plan.py): time
            at most 1.5x validate's, peak memory at most 3 KB per live object above
            validate's peak
  validate  validate of --validate-documents documents: peak memory under 250 MB

Objects are the live objects a read returns (bench_read.py's count: built-ins included);
an estate of them is the smallest generated estate that has that many. Every part prints
the machine's load average: on a shared machine the wall times are shared too, and the
figures are to be measured again on a quiet one.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_read import documents_for, live_objects, machine_load
from estate import write
from measure import measure, ratio_line

HERE = Path(__file__).resolve().parent
PARTS = ("apply", "http", "plan", "validate")
VALIDATE_BUDGET_MB = 250.0

APPLY_SETUP = """
import sys, tempfile, time
sys.path.insert(0, {here!r})
from estate import seed_apis
from portal_gitops import commands
import portal_gitops.backends.embedded  # compiled and imported before the timer
db = tempfile.mkdtemp(dir={tmp!r}) + "/portal.db"
seed_apis(db, {documents})
"""
APPLY_BODY = """
_cpu = time.process_time()
outcome = commands.apply([{manifests!r}], commands.Target(store=db, environ={{}}))
assert outcome.result is not None and outcome.result.ok, outcome.result and outcome.result.summary()
extra = {{"done": len(outcome.result.done), "cpu": time.process_time() - _cpu}}
"""


def apply_part(small: int, large: int) -> list[str]:
    """Apply on the embedded store at two sizes: time per object created."""
    rows = []
    for objects in (small, large):
        documents = documents_for(objects)
        with tempfile.TemporaryDirectory() as tmp:
            manifests = str(Path(tmp) / "manifests")
            write(Path(manifests), documents)
            load = machine_load()
            m = measure(
                setup=APPLY_SETUP.format(here=str(HERE), tmp=tmp, documents=documents),
                body=APPLY_BODY.format(manifests=manifests),
                repeat=1,
                warmup=False,
            )
        done, cpu = m.extra["done"], m.extra["cpu"]
        assert isinstance(done, int) and isinstance(cpu, float)
        rows.append((objects, documents, done, m.seconds, cpu, m.peak_mb))
        print(
            f"apply, embedded: {live_objects(documents)} live objects ({documents} documents, "
            f"{done} created) in {m.seconds:.1f} s, CPU {cpu:.1f} s, peak {m.peak_mb:.0f} MB: "
            f"{1000 * m.seconds / done:.3f} ms per object ({1000 * cpu / done:.3f} ms CPU); "
            f"machine: {load} before, {machine_load()} after",
            flush=True,
        )
    (_, _, done_s, secs_s, cpu_s, _), (_, _, done_l, secs_l, cpu_l, _) = rows
    per_small, per_large = 1000 * secs_s / done_s, 1000 * secs_l / done_l
    cpu_growth = (cpu_l / done_l) / (cpu_s / done_s)
    print(
        f"apply growth: {done_l / done_s:.1f}x the objects took {secs_l / secs_s:.1f}x the "
        f"time ({cpu_l / cpu_s:.1f}x the CPU: {cpu_growth:.2f}x per object)"
    )
    return [ratio_line("apply per object, large / small", per_large, per_small, 1.3, "ms")]


def run_script(script: str, *args: str) -> list[str]:
    """Run another benchmark as it is, in its own interpreter; its ratio lines."""
    print(f"-- {script} {' '.join(args)} ({machine_load()})", flush=True)
    done = subprocess.run(
        [sys.executable, str(HERE / script), *args], capture_output=True, text=True, check=False
    )
    print(done.stdout, end="", flush=True)
    if done.returncode != 0:
        raise SystemExit(f"{script} failed:\n{done.stderr}")
    return [line for line in done.stdout.splitlines() if " ratio " in line and "target <=" in line]


def validate_part(documents: int) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        n = write(Path(tmp), documents)
        load = machine_load()
        val = measure(
            # commands.load_and_validate, composed so that the child imports only the
            # loader and the validator
            setup="""
                from portal_gitops.heap import collector_paused
                from portal_gitops.validate import validate_paths
            """,
            body=f"""
                with collector_paused():
                    result = validate_paths([{tmp!r}])
                assert result.ok, result.errors[:3]
                del result
            """,
            repeat=1,
        )
    print(
        f"validate: {n} documents in {val.seconds:.1f} s, peak {val.peak_mb:.0f} MB "
        f"({1024 * val.peak_mb / n:.1f} KB per document); machine: {load}"
    )
    return [ratio_line("validate peak memory / budget", val.peak_mb, VALIDATE_BUDGET_MB, 1.0, "MB")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--only", default=",".join(PARTS), help="a comma-separated subset")
    ap.add_argument("--objects-small", type=int, default=10_000)
    ap.add_argument("--objects-large", type=int, default=100_000)
    ap.add_argument("--creates", type=int, default=20_000)
    ap.add_argument("--read-objects", type=int, default=100_000)
    ap.add_argument("--latency-ms", type=float, default=10.0)
    ap.add_argument("--parallelism", type=int, default=8)
    ap.add_argument("--plan-objects", type=int, default=100_000)
    ap.add_argument("--validate-documents", type=int, default=50_000)
    args = ap.parse_args()
    chosen = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = [p for p in chosen if p not in PARTS]
    if unknown:
        raise SystemExit(f"unknown part(s): {', '.join(unknown)} (one of {', '.join(PARTS)})")
    http = ("--latency-ms", f"{args.latency_ms:g}", "--parallelism", str(args.parallelism))
    figures: list[str] = []
    for part in chosen:
        print(f"\n== {part}", flush=True)
        if part == "apply":
            figures += apply_part(args.objects_small, args.objects_large)
        elif part == "http":
            figures += run_script("bench_apply.py", "--creates", str(args.creates), *http)
            figures += run_script(
                "bench_read.py", "--objects", str(args.read_objects), "--repeat", "1", *http
            )
        elif part == "plan":
            documents = documents_for(args.plan_objects)
            figures += run_script("bench_plan.py", "--documents", str(documents), "--repeat", "1")
        else:
            figures += validate_part(args.validate_documents)
    print("\n== figures")
    for line in figures:
        print(line)


if __name__ == "__main__":
    main()
