"""Run a piece of Python in a fresh interpreter and report its wall time and peak memory.

Each measurement runs in its own process so peak RSS (the child's VmHWM, its own high-water
mark: ru_maxrss would report the parent's peak for a child of a large process) belongs to
that work alone. The snippet sets ``elapsed`` (seconds) for the part being timed.

The children may write bytecode (to a cache directory of their own, never into the
repository) even where the environment says not to: an installed package runs from compiled
bytecode, and a module first imported inside the timed part would otherwise be compiled from
source on every run (about 20 ms for the embedded store's module).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass

RUNNER = """
import json, resource, sys, time
{setup}
_t0 = time.perf_counter()
{body}
elapsed = time.perf_counter() - _t0
def _peak_mb():
    # VmHWM: this process image's own peak. ru_maxrss keeps the larger of the peaks before
    # and after exec, so a child of a large benchmark process reported the parent's peak
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"seconds": elapsed, "peak_mb": _peak_mb(),
                   "extra": globals().get("extra", {{}})}}))
"""


@dataclass(frozen=True)
class Measurement:
    seconds: float
    peak_mb: float
    extra: dict[str, object]


_BYTECODE = tempfile.mkdtemp(prefix="portal-gitops-bench-pycache-")
atexit.register(shutil.rmtree, _BYTECODE, True)


def child_env() -> dict[str, str]:
    """The environment of a measured child: bytecode cached under a temporary directory."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = _BYTECODE
    return env


def measure(body: str, setup: str = "", repeat: int = 3, warmup: bool = True) -> Measurement:
    """Best of ``repeat`` runs (least disturbed by the rest of the machine), after one
    untimed run that compiles what the snippet imports (``warmup=False``: none, for a body
    that takes minutes; its setup should then import what the body uses)."""
    best: Measurement | None = None
    code = RUNNER.format(setup=textwrap.dedent(setup), body=textwrap.dedent(body))
    for attempt in range(0 if warmup else 1, repeat + 1):
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=False,
            env=child_env(),
        )
        if out.returncode != 0:
            raise SystemExit(f"benchmark failed:\n{out.stderr}")
        if attempt == 0:
            continue  # the warm-up
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
