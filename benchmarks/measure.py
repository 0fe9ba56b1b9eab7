"""Run a piece of Python in a fresh interpreter and report its wall time and peak memory.

Each measurement runs in its own process so peak RSS (ru_maxrss of the child) belongs to
that work alone. The snippet sets ``elapsed`` (seconds) for the part being timed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass

RUNNER = """
import json, resource, sys, time
{setup}
_t0 = time.perf_counter()
{body}
elapsed = time.perf_counter() - _t0
print(json.dumps({{"seconds": elapsed,
                   "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                   "extra": globals().get("extra", {{}})}}))
"""


@dataclass(frozen=True)
class Measurement:
    seconds: float
    peak_mb: float
    extra: dict[str, object]


def measure(body: str, setup: str = "", repeat: int = 3) -> Measurement:
    """Best of ``repeat`` runs (least disturbed by the rest of the machine)."""
    best: Measurement | None = None
    for _ in range(repeat):
        code = RUNNER.format(setup=textwrap.dedent(setup), body=textwrap.dedent(body))
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=False
        )
        if out.returncode != 0:
            raise SystemExit(f"benchmark failed:\n{out.stderr}")
        data = json.loads(out.stdout.strip().splitlines()[-1])
        m = Measurement(data["seconds"], data["peak_mb"], data["extra"])
        if best is None or m.seconds < best.seconds:
            best = m
    assert best is not None
    return best


def ratio_line(label: str, value: float, floor: float, target: float, unit: str = "s") -> str:
    r = value / floor if floor else float("inf")
    verdict = "OK" if r <= target else "OVER TARGET"
    return (
        f"{label:<34} {value:9.3f} {unit}  floor {floor:9.3f} {unit}  "
        f"ratio {r:5.2f}x (target <= {target}x) {verdict}"
    )
