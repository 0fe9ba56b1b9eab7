"""validate checks the documents products name: confined to the repository (no path, link or
special file leads out of it), bounded in size, and an OpenAPI 3.x document that parses; each
problem names the file and line, the product and its field. Never a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from portal_gitops.cli import main
from portal_gitops.documents import MAX_GUIDE_BYTES, MAX_OPENAPI_BYTES

PRODUCT = """\
apiVersion: portal-gitops/v1
kind: Product
metadata:
  name: weather
spec:
  provider: tyk
  apis:
    - apiId: weather-v1
      openapi: {openapi}
  guides:
    - title: Start
      file: {guide}
  owners: ["@acme/weather"]
"""
PROVIDER = """\
apiVersion: portal-gitops/v1
kind: Provider
metadata:
  name: tyk
spec:
  type: tyk-pro
  dashboardUrl: https://dashboard.example.com
  secret: {fromEnv: TYK_DASHBOARD_SECRET}
  orgId: org
"""
BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcdefg", "bcdefgh", strict=True)
)
GOOD = "openapi: 3.1.0\ninfo:\n  title: Weather\n  version: '1'\npaths: {}\n"


def repository(
    tmp_path: Path, openapi: str = "../docs/weather.yaml", guide: str = "start.md"
) -> Path:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "docs").mkdir()
    (repo / "docs" / "weather.yaml").write_text(GOOD)
    manifests = repo / "manifests"
    manifests.mkdir()
    (manifests / "start.md").write_text("# Start\n")
    (manifests / "providers.yaml").write_text(PROVIDER)
    (manifests / "product.yaml").write_text(PRODUCT.format(openapi=openapi, guide=guide))
    return manifests


def validate(manifests: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["validate", str(manifests)], env={"NO_COLOR": "1"})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_a_documented_product_in_a_repository_validates(tmp_path: Path) -> None:
    code, output = validate(repository(tmp_path))
    assert code == 0, output


def the_problem(manifests: Path, field: str = "spec.apis[0].openapi") -> str:
    code, output = validate(manifests)
    assert code == 1, output
    line = next(x for x in output.splitlines() if f"Product/weather: {field}:" in x)
    return line


def test_a_path_leading_out_of_the_repository_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "outside.yaml"
    secret.write_text(GOOD)
    line = the_problem(repository(tmp_path, openapi="../../outside.yaml"))
    assert line.startswith(f"{tmp_path / 'repo' / 'manifests' / 'product.yaml'}:9: ")
    assert "leads outside the repository" in line


def test_a_symbolic_link_out_of_the_repository_is_refused(tmp_path: Path) -> None:
    manifests = repository(tmp_path, openapi="link.yaml")
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text(GOOD)
    (manifests / "link.yaml").symlink_to(outside)
    # the link is not a manifest: the loader refuses it too, and validate says both
    code, output = validate(manifests)
    assert code == 1
    assert (
        "Product/weather: spec.apis[0].openapi: OpenAPI document 'link.yaml' leads outside"
        in output
    )


def test_absolute_and_home_paths_are_refused_by_the_schema(tmp_path: Path) -> None:
    for path in ("/etc/passwd", "~/secrets.yaml"):
        code, output = validate(repository(tmp_path / path.strip("/~").replace("/", "-"), path))
        assert code == 1
        assert "spec.apis[0].openapi" in output
        assert "must be a path relative to the repository" in output


def test_special_files_and_oversize_documents_are_not_read(tmp_path: Path) -> None:
    manifests = repository(tmp_path, openapi="../docs/fifo.yaml", guide="big.md")
    os.mkfifo(manifests.parent / "docs" / "fifo.yaml")
    (manifests / "big.md").write_bytes(b"x" * (MAX_GUIDE_BYTES + 1))
    code, output = validate(manifests)
    assert code == 1
    assert "openapi: OpenAPI document '../docs/fifo.yaml' is not a regular file" in output
    assert f"spec.guides[0].file: guide 'big.md' is larger than {MAX_GUIDE_BYTES} bytes" in output
    (manifests.parent / "docs" / "fifo.yaml").unlink()
    (manifests.parent / "docs" / "fifo.yaml").write_bytes(b"a: " + b"x" * MAX_OPENAPI_BYTES)
    assert f"is larger than {MAX_OPENAPI_BYTES} bytes" in the_problem(manifests)


def test_a_missing_document_is_named(tmp_path: Path) -> None:
    line = the_problem(repository(tmp_path, openapi="nowhere.yaml"))
    assert "OpenAPI document 'nowhere.yaml' does not exist" in line


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("openapi: 3.0.0\ninfo: [unclosed\n", 3, "YAML syntax error"),
        ("swagger: '2.0'\ninfo: {title: W, version: '1'}\n", 1, "Swagger 2.0 is not supported"),
        ("openapi: 2.0\ninfo: {title: W, version: '1'}\n", 1, "openapi: 2.0 is not an OpenAPI 3.x"),
        ("openapi: 3.0.3\npaths: {}\n", 1, "info: missing"),
        ("openapi: 3.0.3\ninfo:\n  version: '1'\n", 2, "info.title: missing"),
        ("openapi: 3.0.3\ninfo:\n  title: W\n  version: 1\n", 4, "info.version: must be a string"),
        ("- openapi: 3.0.3\n", 1, "an OpenAPI document is a mapping"),
        (GOOD + "---\n" + GOOD, 7, "an OpenAPI document is one YAML document"),
        ("b: " + "[" * 100 + "]" * 100 + "\n", 1, "nesting deeper"),
        (BILLION_LAUGHS, 6, "alias/anchor expansion bomb"),
        ("openapi: 3.0.3\ninfo: {title: W, version: '1'}\nx: \xff\n", 3, "not valid UTF-8"),
    ],
)
def test_a_malformed_openapi_document_is_reported_at_its_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    manifests = repository(tmp_path)
    document = manifests.parent / "docs" / "weather.yaml"
    document.write_bytes(text.encode("latin-1") if "\xff" in text else text.encode())
    problem = the_problem(manifests)
    assert problem.startswith(f"{document}:{line}: Product/weather: spec.apis[0].openapi: ")
    assert message in problem


def test_a_json_document_with_a_syntax_error_says_where(tmp_path: Path) -> None:
    manifests = repository(tmp_path, openapi="../docs/weather.json")
    (manifests.parent / "docs" / "weather.json").write_text('{"openapi": "3.0.3",\n  "info": }\n')
    problem = the_problem(manifests)
    assert ":2: Product/weather: spec.apis[0].openapi: " in problem
    assert "syntax error" in problem
