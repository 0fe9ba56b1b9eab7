"""The workflows' install pinned by hash: `portal-gitops lock` and `init` ask the real pip
(its installation report, `pip install --dry-run --report`, format version 1) and the lock
they write installs with the workflows' own line, `pip install --require-hashes --no-deps -r`.

A local folder of wheels stands in for the package index (``--no-index --find-links``), so
no network is needed: a tiny wheel named portal-gitops and one dependency."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from portal_gitops.cli import main
from portal_gitops.errors import PortalGitopsError
from portal_gitops.pins import lock_text
from portal_gitops.scaffold import INSTALL, LOCK_PATH, RUNNER_PYTHON, WORKFLOWS, render_workflow


def _wheel(folder: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> Path:
    """A minimal valid wheel (PEP 427): one module, METADATA, WHEEL and RECORD."""
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    files = {
        f"{dist}_pkg/__init__.py": f"VERSION = {version!r}\n",
        f"{info}/METADATA": "Metadata-Version: 2.1\n"
        f"Name: {name}\nVersion: {version}\n" + "".join(f"Requires-Dist: {r}\n" for r in requires),
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = "\n".join(record) + "\n"
    out = folder / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(out, "w") as z:
        for path, text in files.items():
            z.writestr(path, text)
    return out


@pytest.fixture
def index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "wheels"
    folder.mkdir()
    _wheel(folder, "portal-gitops", "9.8.7", requires=("tiny-dep>=1",))
    _wheel(folder, "tiny-dep", "1.2.0")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(folder))
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    return folder


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _install(lock: Path, target: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target)]
    return subprocess.run(
        [*argv, *INSTALL.replace(LOCK_PATH, str(lock)).split()],
        capture_output=True,
        text=True,
        check=False,
        env=os.environ,
    )


def test_lock_pins_every_file_by_hash_and_installs_with_the_workflows_line(
    index: Path, tmp_path: Path
) -> None:
    out = tmp_path / "repo" / LOCK_PATH
    result = CliRunner().invoke(main, ["lock", "--version", "9.8.7", "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    wheel = index / "portal_gitops-9.8.7-py3-none-any.whl"
    dep = index / "tiny_dep-1.2.0-py3-none-any.whl"
    assert f"portal-gitops==9.8.7 \\\n    --hash=sha256:{_sha(wheel)}" in text
    assert f"tiny-dep==1.2.0 \\\n    --hash=sha256:{_sha(dep)}" in text
    assert f"CPython {RUNNER_PYTHON}" in text
    done = _install(out, tmp_path / "site")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "site" / "portal_gitops_pkg" / "__init__.py").is_file()
    # a file replaced on the index after the lock was written is refused, not installed
    _wheel(index, "tiny-dep", "1.2.0", requires=("os-command-runner",))
    done = _install(out, tmp_path / "site2")
    assert done.returncode != 0 and "hash" in done.stderr.lower()
    assert not (tmp_path / "site2" / "tiny_dep_pkg").exists()


def test_init_writes_the_lock_its_workflows_install(index: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    result = CliRunner().invoke(main, ["init", str(repo)])
    # this checkout's version is not in the local index: a clear error, nothing written
    assert result.exit_code == 1
    assert "portal-gitops lock" in result.output and "--no-lock" in result.output
    assert "Traceback" not in result.output and not repo.exists()
    _wheel(index, "portal-gitops", __import__("portal_gitops").__version__)
    result = CliRunner().invoke(main, ["init", str(repo)])
    assert result.exit_code == 0, result.output
    assert (repo / LOCK_PATH).is_file()
    for name in WORKFLOWS:
        text = (repo / ".github" / "workflows" / f"{name}.yml").read_text()
        assert text == render_workflow(name, "manifests")
        assert f"pip install {INSTALL}\n" in text
        assert f'python-version: "{RUNNER_PYTHON}"' in text
    assert _install(repo / LOCK_PATH, tmp_path / "site").returncode == 0


def test_init_no_lock_writes_the_rest(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["init", str(tmp_path / "r"), "--no-lock"])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "r" / LOCK_PATH).exists()
    assert (tmp_path / "r" / ".github" / "workflows" / "portal-plan.yml").is_file()


@pytest.mark.parametrize(
    ("report", "message"),
    [
        ({"version": "2", "install": []}, "unknown format"),
        ({"version": "1"}, "unknown format"),
        (
            {
                "version": "1",
                "install": [
                    {
                        "metadata": {"name": "portal-gitops", "version": "1.0"},
                        "download_info": {"url": "file:///src", "dir_info": {}},
                    }
                ],
            },
            "cannot be hash-pinned",
        ),
        (
            {
                "version": "1",
                "install": [
                    {
                        "metadata": {"name": "other", "version": "1.0"},
                        "download_info": {"archive_info": {"hashes": {"sha256": "ab" * 32}}},
                    }
                ],
            },
            "no portal-gitops",
        ),
    ],
)
def test_a_report_that_cannot_pin_is_refused(report: dict[str, object], message: str) -> None:
    with pytest.raises(PortalGitopsError, match=message):
        lock_text(report, "portal-gitops==1.0", RUNNER_PYTHON)
