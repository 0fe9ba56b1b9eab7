"""One layout of request files, `requests/<product>/<name>.yaml`, written by `import`,
`requests pull` and `init`, and routed by `codeowners` folder lines."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from portal_gitops.cli import main
from tests.conftest import CliTarget, copy_examples
from tests.requests.test_access_requests import consumer_requests_access


def folder_lines(codeowners: str) -> dict[str, str]:
    """CODEOWNERS folder lines: the folder (no leading slash) -> its owners."""
    out = {}
    for line in codeowners.splitlines():
        if line.startswith("/") and line.split(" ", 1)[0].endswith("/"):
            path, owners = line.split(" ", 1)
            out[path[1:]] = owners
    return out


def test_import_pull_and_init_write_requests_where_codeowners_routes_them(
    cli_target: CliTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifests = copy_examples(tmp_path)
    assert cli_target.invoke("apply", str(manifests), "--auto-approve").exit_code == 0
    with cli_target.store() as store:
        consumer_requests_access(
            store, "milton@initech.example", "Stapler Tracker", ["weather-api"], "basic", "public"
        )

    # import: decided requests, under requests/<first product>/
    out = tmp_path / "imported"
    assert cli_target.invoke("import", "--out", str(out)).exit_code == 0
    imported = sorted(p.relative_to(out).as_posix() for p in (out / "requests").rglob("*.yaml"))
    assert "requests/geocoding-api/globex-route-planner.yaml" in imported
    assert "requests/air-quality-api/acme-logistics-air.yaml" in imported
    # the examples are laid out the same way: the same folders hold the same requests
    ours = sorted(
        p.relative_to(manifests).as_posix() for p in (manifests / "requests").rglob("*.yaml")
    )
    assert imported == ours

    # requests pull: the pending one, under OUT/<first product>/
    pulled = cli_target.invoke(
        "requests", "pull", str(manifests), "--out", str(manifests / "requests")
    )
    assert pulled.exit_code == 0, pulled.output
    (written,) = [Path(line) for line in pulled.stdout.splitlines() if line.strip()]
    assert written.parent == manifests / "requests" / "weather-api"

    # codeowners routes every one of those folders to the product's owners
    monkeypatch.chdir(tmp_path)  # CODEOWNERS paths are relative to the repository's root
    routed = CliRunner().invoke(main, ["codeowners", "manifests"])
    assert routed.exit_code == 0, routed.output
    folders = folder_lines(routed.stdout)
    for f in (manifests / "requests").rglob("*.yaml"):
        assert f"{f.parent.relative_to(tmp_path).as_posix()}/" in folders, f


def test_init_writes_its_starter_request_in_the_same_layout(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    made = CliRunner().invoke(main, ["init", str(repo), "--no-lock"])
    assert made.exit_code == 0, made.output
    requests = sorted(
        p.relative_to(repo).as_posix() for p in (repo / "manifests" / "requests").rglob("*.yaml")
    )
    assert requests == ["manifests/requests/example-api/dev-example-app.yaml"]
    codeowners = (repo / ".github" / "CODEOWNERS").read_text()
    assert "/manifests/requests/example-api/ @your-org/api-platform\n" in codeowners
