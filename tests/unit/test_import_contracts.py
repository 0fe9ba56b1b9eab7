"""The layer contracts in pyproject.toml hold, and they would catch a wrong import: a copy of
the package with one planted import that runs against the layers must fail `lint-imports`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(project: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _copy(tmp_path: Path) -> Path:
    shutil.copytree(
        ROOT / "src" / "portal_gitops",
        tmp_path / "src" / "portal_gitops",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _plant(project: Path, module: str, line: str) -> None:
    path = project / "src" / "portal_gitops" / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")


def test_the_package_keeps_its_contracts(tmp_path: Path) -> None:
    result = _lint(_copy(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        # the pure core reaching up into the backends
        ("diff.py", "import portal_gitops.backends.base", "The pipeline is layered"),
        # the tyk client reaching into the emulated portal it is tested against
        (
            "backends/tyk/backend.py",
            "import portal_gitops.backends.emulated.store",
            "The tyk client and the emulated portal are independent",
        ),
        ("render.py", "import httpx", "httpx is imported only by the HTTP clients"),
        ("commands.py", "import click", "click is imported only by the CLI"),
    ],
)
def test_a_planted_wrong_import_breaks_a_contract(
    tmp_path: Path, module: str, line: str, broken: str
) -> None:
    project = _copy(tmp_path)
    _plant(project, module, line)
    result = _lint(project)
    assert result.returncode == 1
    assert "1 broken" in result.stdout
    broken_section = result.stdout.split("Broken contracts", 1)[1]
    assert broken in broken_section
