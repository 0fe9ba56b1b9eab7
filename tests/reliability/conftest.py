"""Shared helpers for the reliability suite: synthetic estates, store census, subprocess runs."""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def estate_module() -> ModuleType:
    """benchmarks/estate.py (not a package): the synthetic estate generator."""
    spec = importlib.util.spec_from_file_location("_estate", REPO / "benchmarks" / "estate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def estate_apis_file() -> str:
    """The Tyk API definitions of every API the generated estates name (``product-`` and, for
    the concurrency races, ``item-`` products), in one file as ``GET /api/apis`` lists them:
    the embedded store's Dashboard gets them through ``PORTAL_GITOPS_APIS``."""
    definitions = estate_module().api_definitions(MAX_DOCUMENTS)
    renamed = json.loads(json.dumps(definitions).replace("product-", "item-"))
    fd, path = tempfile.mkstemp(prefix="estate-apis-", suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump({"apis": definitions + renamed}, fh)
    return path


MAX_DOCUMENTS = 1_000  # the largest estate a reliability test writes


def estate_api_definitions() -> list[dict[str, Any]]:
    with open(estate_apis_file()) as fh:
        apis: list[dict[str, Any]] = json.load(fh)["apis"]
        return apis


def write_estate(out: Path, documents: int) -> int:
    assert documents <= MAX_DOCUMENTS
    n: int = estate_module().write(out, documents)
    return n


def estate_env(secret: str = "estate-dashboard-secret-0f3c") -> dict[str, str]:
    """What the generated estate's Provider manifests reference (two providers), and the
    definitions of its APIs for the embedded store's Dashboard."""
    return {
        "TYK_DASHBOARD_SECRET_0": secret,
        "TYK_DASHBOARD_SECRET_1": secret,
        "PORTAL_GITOPS_APIS": estate_apis_file(),
    }


def census(db: Path) -> Counter[tuple[str, str]]:
    """How many of each (kind, name) the store holds, plus per-parent counts of the objects
    that have no name of their own: a duplicate or a missing object changes the census."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        counts: Counter[tuple[str, str]] = Counter()
        for kind, name, parent in conn.execute("SELECT kind, name, parent FROM objects"):
            if kind in ("access_request", "credential"):
                counts[(kind, f"per-parent:{parent}")] += 1  # one per app / per request
                counts[(kind, "*")] += 1
            elif kind == "team":
                org = conn.execute(
                    "SELECT name FROM objects WHERE kind='organisation' AND id=?", (parent,)
                ).fetchone()
                counts[(kind, f"{org[0] if org else parent}/{name}")] += 1
            elif kind == "audience":
                counts[(kind, "*")] += 1
            else:
                counts[(kind, name)] += 1
        for (name,) in conn.execute("SELECT name FROM policies"):
            counts[("policy", name)] += 1
        return counts
    finally:
        conn.close()


def normalised(c: Counter[tuple[str, str]]) -> Counter[tuple[str, str]]:
    """The census without parent ids (which differ between stores): per-parent counts become
    a histogram of how many children each parent has."""
    out: Counter[tuple[str, str]] = Counter()
    for (kind, name), n in c.items():
        if name.startswith("per-parent:"):
            out[(kind, f"parents-with-{n}")] += 1
        else:
            out[(kind, name)] = n
    return out


def integrity(db: Path) -> str:
    conn = sqlite3.connect(str(db))
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def cli(*argv: str) -> list[str]:
    return [sys.executable, "-m", "portal_gitops", *argv]


def child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TYK_")}
    env.update({"NO_COLOR": "1", "PYTHONPATH": str(REPO / "src"), **extra})
    return env


@dataclass
class Measured:
    returncode: int
    stdout: str
    stderr: str
    seconds: float  # wall
    cpu_seconds: float  # user + system, of that child alone
    peak_rss_mb: float


# The measured command runs under a small launcher that forks it and reports the rusage of
# that one grandchild. Measured directly, a child started from the test process (vfork, then
# exec) inherits the test process's peak as its own ru_maxrss: Linux keeps the larger of the
# peaks before and after exec, so every child of a 300 MB pytest would "peak" at 300 MB.
_LAUNCHER = """
import json, os, sys
report_fd, argv = int(sys.argv[1]), sys.argv[2:]
pid = os.fork()
if pid == 0:
    try:
        os.close(report_fd)
        os.execv(argv[0], argv)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
report = [os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime, usage.ru_maxrss]
os.write(report_fd, json.dumps(report).encode())
"""


def run_measured(argv: list[str], env: dict[str, str], timeout: float = 60) -> Measured:
    """Run a child process to the end: its wall time, its CPU time and its own peak resident
    memory (the rusage of that one process, not of the test process that started it)."""
    read_end, write_end = os.pipe()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        launcher = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, str(write_end), *argv],
            env=env,
            stdout=out,
            stderr=err,
            pass_fds=(write_end,),
            start_new_session=True,
        )
        os.close(write_end)
        try:
            launcher.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(launcher.pid, 9)
            launcher.wait()
            os.close(read_end)
            raise TimeoutError(f"{argv} ran over {timeout} s") from None
        seconds = time.monotonic() - start
        with os.fdopen(read_end, "rb") as report:
            returncode, cpu_seconds, maxrss_kib = json.loads(report.read())
        out.seek(0)
        err.seek(0)
        return Measured(
            returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
            seconds,
            cpu_seconds,
            maxrss_kib / 1024,  # KiB on Linux
        )
