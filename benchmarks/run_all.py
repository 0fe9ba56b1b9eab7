"""Run every benchmark with its defaults and print all their figures.

    python benchmarks/run_all.py [--only validate,read,plan,apply]

Each benchmark runs in its own interpreter, one after the other (they would disturb each
other's timings if run together). Exit status 1 if any benchmark failed to run; a figure
over its target is printed as OVER TARGET but does not fail the run.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = {
    "validate": "bench_validate.py",
    "read": "bench_read.py",
    "plan": "bench_plan.py",
    "apply": "bench_apply.py",
}


def cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated subset")
    args = ap.parse_args()
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"unknown benchmark(s): {', '.join(unknown)}")
    print(
        f"{date.today()}  Python {platform.python_version()}  {platform.machine()}  {cores()} cores"
    )
    failed = []
    for name in chosen:
        print(f"\n== {name} ({BENCHMARKS[name]})", flush=True)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, str(HERE / BENCHMARKS[name])], check=False)
        print(f"-- {name}: {time.perf_counter() - start:.0f} s in all", flush=True)
        if done.returncode != 0:
            failed.append(name)
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
