"""The hash-pinned install of portal-gitops that `init` and `lock` write for the workflows.

Every workflow installs with ``pip install --require-hashes --no-deps -r LOCK``: the exact
files of portal-gitops and of each dependency, checked by sha256, so plan and apply always run
the same code and a replaced file on the index fails the install instead of running.

The lock is resolved by pip itself for the platform the workflows run on (GitHub's
``ubuntu-latest`` runner, CPython of the workflows' ``python-version``), through pip's
installation report (``pip install --dry-run --report``, report format version 1): for each
distribution pip would install it gives the name, the version and the sha256 of the file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from portal_gitops import __version__
from portal_gitops.errors import PortalGitopsError
from portal_gitops.scaffold import RUNNER_PYTHON

# the platforms of GitHub's ubuntu-latest runner, best first
RUNNER_PLATFORMS = ("manylinux_2_17_x86_64", "manylinux2014_x86_64", "linux_x86_64")
PIP_TIMEOUT_S = 300.0

Runner = Callable[[list[str]], "subprocess.CompletedProcess[str]"]


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False, env=os.environ
    )


def pip_argv(requirement: str, report: str, target: str, python: str) -> list[str]:
    """The pip command that resolves ``requirement`` for the runner without installing it."""
    argv = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed"]
    argv += ["--quiet", "--report", report, "--target", target, "--only-binary=:all:"]
    argv += ["--python-version", python, "--implementation", "cp"]
    for platform in RUNNER_PLATFORMS:
        argv += ["--platform", platform]
    return [*argv, requirement]


def lock_text(report: Mapping[str, Any], requirement: str, python: str) -> str:
    """The requirements file for pip's installation ``report``: one pinned line per
    distribution with the sha256 of the file pip chose."""
    if str(report.get("version")) != "1" or not isinstance(report.get("install"), list):
        raise PortalGitopsError("pip's installation report has an unknown format (version 1)")
    lines: list[str] = []
    for item in report["install"]:
        meta = item.get("metadata") or {}
        info = (item.get("download_info") or {}).get("archive_info") or {}
        sha = (info.get("hashes") or {}).get("sha256")
        if not meta.get("name") or not meta.get("version") or not sha:
            raise PortalGitopsError(
                f"pip resolved {meta.get('name', 'a distribution')} without a sha256 of a "
                "file (a local directory or VCS requirement cannot be hash-pinned)"
            )
        lines.append(f"{meta['name']}=={meta['version']} \\\n    --hash=sha256:{sha}")
    if not any(
        str(i["metadata"]["name"]).lower().replace("_", "-") == "portal-gitops"
        for i in report["install"]
    ):
        raise PortalGitopsError(f"pip's resolution of {requirement} has no portal-gitops in it")
    head = (
        "# portal-gitops and its dependencies, pinned by sha256 for the workflows\n"
        f"# (ubuntu-latest, CPython {python}). Written by `portal-gitops lock`; run it again\n"
        "# to upgrade, and review the change like any other.\n"
    )
    return head + "\n".join(sorted(lines, key=str.lower)) + "\n"


def resolve_lock(
    version: str = __version__, python: str = RUNNER_PYTHON, run: Runner = _run
) -> str:
    """Ask pip which files ``portal-gitops==version`` installs on the runner; the lock text."""
    requirement = f"portal-gitops=={version}"
    with tempfile.TemporaryDirectory(prefix="portal-gitops-lock-") as tmp:
        report = Path(tmp) / "report.json"
        argv = pip_argv(requirement, str(report), str(Path(tmp) / "target"), python)
        try:
            done = run(argv)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise PortalGitopsError(f"could not run pip to resolve {requirement}: {e}") from None
        if done.returncode != 0 or not report.is_file():
            why = (done.stderr or done.stdout or "").strip().splitlines()
            raise PortalGitopsError(
                f"pip could not resolve {requirement} for CPython {python} on the runner"
                + (f": {why[-1]}" if why else "")
                + " (is this version published? `init --no-lock` writes the rest, and "
                "`portal-gitops lock` writes the lock later)"
            )
        try:
            data = json.loads(report.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise PortalGitopsError(f"could not read pip's installation report: {e}") from None
    return lock_text(data, requirement, python)
