"""The benchmark scripts still run (CI does not time them, but a script that no longer runs is
only found the day someone needs its figures): each on a tiny estate, in its own interpreter,
printing its ratio lines. Their figures at this size mean nothing and are not checked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"

RUNS = {
    "bench_validate.py": ["--documents", "40", "--repeat", "1"],
    "bench_plan.py": ["--documents", "40", "--repeat", "1"],
    "bench_read.py": ["--objects", "60", "--latency-ms", "1", "--repeat", "1"],
    "bench_apply.py": ["--creates", "40", "--latency-ms", "1"],
    "bench_scale.py": [
        *("--objects-small", "40", "--objects-large", "80", "--creates", "40"),
        *("--read-objects", "60", "--plan-objects", "60", "--validate-documents", "40"),
        *("--latency-ms", "1"),
    ],
}
FIGURE_LINES = {
    "bench_validate.py": ["validate / bare parse (time)", "validate / bare parse (memory)"],
    "bench_plan.py": ["plan / validate (time)", "plan memory above validate, per object"],
    "bench_read.py": ["read requests / minimum", "read wall time / floor"],
    "bench_apply.py": ["apply wall time / floor"],
    "bench_scale.py": [
        "apply per object, large / small",
        "apply wall time / floor",
        "read wall time / floor",
        "plan / validate (time)",
        "plan memory above validate, per object",
        "validate peak memory / budget",
    ],
}


@pytest.mark.parametrize("script", sorted(RUNS))
def test_the_benchmark_runs_and_prints_its_ratios(script: str) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *RUNS[script]],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for label in FIGURE_LINES[script]:
        assert any(line.startswith(label) for line in lines), (label, done.stdout)
    assert any(" ratio " in line and "target <=" in line for line in lines), done.stdout
