"""Product documentation from the repository (an API's OpenAPI document or URL, the product's
guides) through plan, apply, import and --prune, on the embedded store and over HTTP to the
emulator (``cli_target``). Uploads are counted where the portal receives them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from portal_gitops.backends.emulated.store import PortalStore, StoreResponse
from tests.conftest import CliTarget, copy_examples

NO_CHANGES = "No changes. The portal matches the manifests."
OPENAPI = {
    "openapi": "3.0.3",
    "info": {"title": "Current weather observations", "version": "2.0"},
    "paths": {"/current": {"get": {"responses": {"200": {"description": "now"}}}}},
}
START = "# Getting started\n\nAsk for a key, then call `/current`.\n"
DOCUMENTED = """\
  guides:
    - title: Getting started
      file: ../docs/start.md
    - title: Limits
      content: |
        Mind the quota of your plan.
"""


@pytest.fixture
def uploads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The OpenAPI uploads the portal receives (POST .../api-details/{api}/oas)."""
    seen: list[str] = []
    handle = PortalStore.handle

    def counted(self: PortalStore, method: str, path: str, *args: Any) -> StoreResponse:
        if method == "POST" and path.endswith("/oas"):
            seen.append(path)
        return handle(self, method, path, *args)

    monkeypatch.setattr(PortalStore, "handle", counted)
    yield seen


def documented(tmp_path: Path) -> Path:
    """The examples, weather-api documented by this test's files instead of theirs."""
    manifests = copy_examples(tmp_path)
    docs = manifests / "docs"
    (docs / "weather-current.json").write_text(json.dumps(OPENAPI, indent=2))
    (docs / "start.md").write_text(START)
    product = manifests / "products" / "weather-api.yaml"
    text = product.read_text()
    text = re.sub(r"  guides:\n.*?(?=  owners:)", "", text, flags=re.S)
    text = re.sub(r"      # uploaded.*\n      openapi: .*\n", "", text)
    text = text.replace(
        "    - apiId: weather-current\n      versions: [v1, v2]\n",
        "    - apiId: weather-current\n      versions: [v1, v2]\n"
        "      openapi: ../docs/weather-current.json\n",
    )
    text = text.replace(
        "    - apiId: weather-historical\n      versions: [v1]\n",
        "    - apiId: weather-historical\n      versions: [v1]\n"
        "      oasUrl: https://docs.weatherco.example/historical.yaml\n",
    )
    text = text.replace(
        "  tags: [weather, forecast]\n", "  tags: [weather, forecast]\n" + DOCUMENTED
    )
    product.write_text(text)
    return manifests


def get(store: PortalStore, path: str) -> Any:
    resp = store.handle("GET", "/portal-api" + path, {"per_page": "100"}, {}, b"")
    assert resp.status == 200, (path, resp.status, resp.body)
    return (
        resp.body if resp.headers["content-type"] != "application/json" else json.loads(resp.body)
    )


def weather(store: PortalStore) -> int:
    return next(p["ID"] for p in get(store, "/products") if p["Name"] == "weather-api")


def test_documents_are_uploaded_once_updated_when_changed_pruned_and_imported(
    cli_target: CliTarget, tmp_path: Path, uploads: list[str]
) -> None:
    manifests = documented(tmp_path)
    applied = cli_target.invoke("apply", str(manifests), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert "+ ApiDoc/weather-api/weather-current" in applied.output
    assert "+ Guide/weather-api/Getting started" in applied.output
    assert len(uploads) == 1
    document = (manifests / "docs" / "weather-current.json").read_bytes()
    with cli_target.store() as store:
        pid = weather(store)
        assert get(store, f"/products/{pid}/api-details/weather-current/oas") == document
        detail = get(store, f"/products/{pid}/api-details/weather-historical")
        assert detail["OASUrl"] == "https://docs.weatherco.example/historical.yaml"
        pages = get(store, f"/products/{pid}/docs")
    assert [(p["Title"], p["Content"], p["MarkdownEnabled"]) for p in pages] == [
        ("Getting started", START, True),
        ("Limits", "Mind the quota of your plan.\n", True),
    ]
    # the plan shows the document's address, never the document
    assert "Current weather observations" not in applied.output

    # unchanged: nothing planned, nothing uploaded, however often it runs
    for _ in range(2):
        again = cli_target.invoke("apply", str(manifests), "--auto-approve")
        assert again.exit_code == 0, again.output
        assert NO_CHANGES in again.output
    assert len(uploads) == 1

    # a changed document is uploaded again; guides change text and order
    changed = {**OPENAPI, "info": {"title": "Current weather observations", "version": "2.1"}}
    (manifests / "docs" / "weather-current.json").write_text(json.dumps(changed))
    product = manifests / "products" / "weather-api.yaml"
    text = product.read_text()
    reordered = text.replace(
        DOCUMENTED,
        "  guides:\n    - title: Limits\n      content: Mind the quota.\n"
        "    - title: Getting started\n      file: ../docs/start.md\n      status: draft\n",
    )
    product.write_text(reordered)
    updated = cli_target.invoke("apply", str(manifests), "--auto-approve")
    assert updated.exit_code == 0, updated.output
    assert "~ ApiDoc/weather-api/weather-current" in updated.output
    assert len(uploads) == 2
    with cli_target.store() as store:
        oas = get(store, f"/products/{pid}/api-details/weather-current/oas")
        pages = get(store, f"/products/{pid}/docs")
    assert json.loads(oas)["info"]["version"] == "2.1"
    assert [(p["Title"], p["Status"]) for p in pages] == [
        ("Limits", "published"),
        ("Getting started", "draft"),
    ]
    assert NO_CHANGES in cli_target.invoke("plan", str(manifests)).output
    assert len(uploads) == 2

    # import writes the document it downloads beside the manifests, and plans clean
    out = tmp_path / "imported"
    imported = cli_target.invoke("import", "--out", str(out))
    assert imported.exit_code == 0, imported.output
    assert "0 object(s) could not be expressed" in imported.stderr
    spec = next(
        d["spec"]
        for d in yaml.safe_load_all((out / "products" / "weather-api.yaml").read_text())
        if d
    )
    apis = {a["apiId"]: a for a in spec["apis"]}
    assert apis["weather-current"]["openapi"] == "../.documents/weather-api/weather-current.json"
    assert apis["weather-historical"]["oasUrl"] == "https://docs.weatherco.example/historical.yaml"
    assert spec["guides"] == [
        {"title": "Limits", "content": "Mind the quota."},
        {"title": "Getting started", "content": START, "status": "draft"},
    ]
    copy = out / ".documents" / "weather-api" / "weather-current.json"
    assert copy.read_bytes() == (manifests / "docs" / "weather-current.json").read_bytes()
    replanned = cli_target.invoke("plan", str(out), "--detailed-exitcode")
    assert replanned.exit_code == 0, replanned.output

    # removed from the manifests: kept until --prune, then deleted from the portal
    product.write_text(
        text.replace(DOCUMENTED, "")
        .replace("      openapi: ../docs/weather-current.json\n", "")
        .replace("      oasUrl: https://docs.weatherco.example/historical.yaml\n", "")
    )
    kept = cli_target.invoke("plan", str(manifests))
    assert "0 to delete" in kept.output or NO_CHANGES in kept.output
    pruned = cli_target.invoke("apply", str(manifests), "--prune", "--auto-approve")
    assert pruned.exit_code == 0, pruned.output
    assert "- ApiDoc/weather-api/weather-current" in pruned.output
    assert "- Guide/weather-api/Limits" in pruned.output
    with cli_target.store() as store:
        assert get(store, f"/products/{pid}/docs") == []
        resp = store.handle(
            "GET", f"/portal-api/products/{pid}/api-details/weather-current/oas", {}, {}, b""
        )
        assert resp.status == 422
        detail = get(store, f"/products/{pid}/api-details/weather-historical")
        assert detail["OASUrl"] == ""
    assert NO_CHANGES in cli_target.invoke("plan", str(manifests), "--prune").output
    assert len(uploads) == 2


# over HTTP only: the embedded store is read in one snapshot, not through these replies
OVER_HTTP = pytest.mark.parametrize("cli_target", ["emulator"], indirect=True)


@OVER_HTTP
@pytest.mark.parametrize(
    ("garbage", "expected"),
    [
        (b'"not a list"', "unexpected reply: not a list"),
        (b"<html>oops</html>", "the reply is not JSON"),
    ],
)
def test_a_portal_answering_garbage_for_guides_stops_the_plan_with_a_clear_error(
    cli_target: CliTarget,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    garbage: bytes,
    expected: str,
) -> None:
    manifests = documented(tmp_path)
    assert cli_target.invoke("apply", str(manifests), "--auto-approve").exit_code == 0
    handle = PortalStore.handle

    def lying(self: PortalStore, method: str, path: str, *args: Any) -> StoreResponse:
        if method == "GET" and path.endswith("/docs"):
            return StoreResponse(200, garbage, {"content-type": "application/json"})
        return handle(self, method, path, *args)

    monkeypatch.setattr(PortalStore, "handle", lying)
    planned = cli_target.invoke("plan", str(manifests))
    assert planned.exit_code == 1
    assert expected in planned.output
    assert "Traceback" not in planned.output


@OVER_HTTP
def test_pages_with_fields_of_the_wrong_type_are_read_without_a_crash(
    cli_target: CliTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifests = documented(tmp_path)
    assert cli_target.invoke("apply", str(manifests), "--auto-approve").exit_code == 0
    handle = PortalStore.handle
    odd = [{"ID": 1, "Title": 7, "Content": None, "MarkdownEnabled": "yes", "Status": []}]

    def lying(self: PortalStore, method: str, path: str, *args: Any) -> StoreResponse:
        if method == "GET" and path.endswith("/docs") and args and args[0].get("page") == "1":
            return StoreResponse(
                200, json.dumps(odd).encode(), {"content-type": "application/json"}
            )
        return handle(self, method, path, *args)

    monkeypatch.setattr(PortalStore, "handle", lying)
    planned = cli_target.invoke("plan", str(manifests))
    assert planned.exit_code == 0, planned.output
    # the pages the portal shows are not the manifests': the plan says what it would write
    assert "Guide/weather-api/Getting started will be created" in planned.output


def test_a_saved_plan_uploads_the_document_it_was_made_with(
    cli_target: CliTarget, tmp_path: Path, uploads: list[str]
) -> None:
    """A saved plan holds the document's address only; apply takes the document from the
    repository, and a document changed since the plan makes the plan stale."""
    manifests = documented(tmp_path)
    saved = tmp_path / "plan.json"
    planned = cli_target.invoke("plan", str(manifests), "--out", str(saved))
    assert planned.exit_code == 0, planned.output
    assert "Current weather observations" not in saved.read_text()
    (manifests / "docs" / "weather-current.json").write_text(json.dumps(OPENAPI))
    stale = cli_target.invoke("apply", str(saved))
    assert stale.exit_code == 1
    assert "the manifests changed since the plan was made" in stale.output
    assert uploads == []
    cli_target.invoke("plan", str(manifests), "--out", str(saved))
    applied = cli_target.invoke("apply", str(saved))
    assert applied.exit_code == 0, applied.output
    assert len(uploads) == 1
    with cli_target.store() as store:
        oas = get(store, f"/products/{weather(store)}/api-details/weather-current/oas")
    assert oas == (manifests / "docs" / "weather-current.json").read_bytes()
