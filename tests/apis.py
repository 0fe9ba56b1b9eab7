"""Tyk API definitions for test estates: the APIs a test's products name, stored in the
emulated Dashboard the way users give them to the embedded store (``--apis``: definitions as
a Dashboard exports them; ``PortalStore(apis=...)`` / ``seed_apis``).

The emulated portal refuses a product naming an API its Dashboard lacks and a policy naming
versions the API does not define (tyk-api/REFERENCE.md §9 "API ids"), so every estate's store
gets the definitions of its APIs first, as a real Dashboard would already hold them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from portal_gitops.backends.emulated.store import PortalStore
from portal_gitops.load import load_api_definitions

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_APIS = REPO / "examples" / "apis"
# what the test APIs define: every version the strategies and hand-written estates name
TEST_VERSIONS = ("Default", "v1", "v2")


def api_definition(
    api_id: str, versions: Iterable[str] | None = None, *, default: str = ""
) -> dict[str, Any]:
    """A Tyk Classic API definition as ``GET /api/apis/{id}`` answers it (``ApiDefinitionWrapper``);
    ``versions`` None: not versioned (its one version is ``Default``)."""
    names = ["Default"] if versions is None else list(versions)
    return {
        "api_definition": {
            "api_id": api_id,
            "name": api_id,
            "active": True,
            "proxy": {"listen_path": f"/{api_id}/", "target_url": "http://upstream.invalid/"},
            "version_data": {
                "not_versioned": versions is None,
                "default_version": default or ("" if versions is None else names[0]),
                "versions": {v: {"name": v} for v in names},
            },
        }
    }


def example_apis() -> list[dict[str, Any]]:
    """The definitions of the APIs examples/manifests name (examples/apis)."""
    return load_api_definitions([str(EXAMPLE_APIS)])


def _api_ids(docs: Iterable[Mapping[str, Any]]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for doc in docs:
        if doc.get("kind") != "Product":
            continue
        for api in (doc.get("spec") or {}).get("apis") or []:
            found.setdefault(api["apiId"], set()).update(api.get("versions") or ())
    return found


def definitions_for(docs: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Versioned definitions (``Default``, ``v1``, ``v2`` and any other version named) of every
    API the Product documents name."""
    return [
        api_definition(api_id, sorted({*TEST_VERSIONS, *named}))
        for api_id, named in sorted(_api_ids(docs).items())
    ]


def definitions_of_state(resources: Iterable[Any]) -> list[dict[str, Any]]:
    """As ``definitions_for``, from canonical Product resources (``Desired.state``)."""
    found: dict[str, set[str]] = {}
    for res in resources:
        if res.kind != "Product":
            continue
        for right in res.attrs.get("policy", {}).get("accessRights", []):
            found.setdefault(right["apiId"], set()).update(right.get("versions") or ())
    return [
        api_definition(api_id, sorted({*TEST_VERSIONS, *named}))
        for api_id, named in sorted(found.items())
    ]


def seed_store_file(path: Path | str, definitions: Iterable[Mapping[str, Any]]) -> None:
    """Store definitions in the store file at ``path`` (created if new)."""
    with PortalStore(str(path), apis=list(definitions)):
        pass


# the API ids hand-written backend, contract and adoption tests name
TEST_API_IDS = (
    *("weather-api-1", "history-api", "sneaky-api", "sneaky", "api1", "a1"),
    *("api-1", "api-2", "api-3", "3108a5fc970946ef66c1835cf73ba7a5", "weather-1"),
)
TEST_APIS = [api_definition(api_id, TEST_VERSIONS) for api_id in TEST_API_IDS]
