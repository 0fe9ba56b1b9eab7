"""schema: the committed JSON Schemas are current, valid Draft 2020-12, and match the models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from portal_gitops.models import KINDS
from portal_gitops.schema import MANIFEST_FILE, json_schemas, render, write_schemas

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
EXAMPLES = ROOT / "examples" / "manifests"


def example_documents() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(EXAMPLES.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            out.append((f"{path.relative_to(EXAMPLES)}:{doc['metadata']['name']}", doc))
    return out


def validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json_schemas()[name])


def test_committed_schemas_are_current() -> None:
    expected = {name: render(schema) for name, schema in json_schemas().items()}
    on_disk = {p.name: p.read_text() for p in SCHEMAS.glob("*.json")}
    assert sorted(on_disk) == sorted(expected), "run: portal-gitops schema --out schemas"
    for name, text in expected.items():
        assert on_disk[name] == text, (
            f"schemas/{name} is stale; run: portal-gitops schema --out schemas"
        )


def test_one_schema_per_kind_plus_any_document() -> None:
    names = sorted(json_schemas())
    assert names == sorted([f"{k.lower()}.schema.json" for k in KINDS] + [MANIFEST_FILE])


def test_generation_is_deterministic(tmp_path: Path) -> None:
    paths = write_schemas(tmp_path / "out")
    assert [p.name for p in paths] == sorted(json_schemas())
    again = write_schemas(tmp_path / "again")
    assert [p.read_text() for p in paths] == [p.read_text() for p in again]


@pytest.mark.parametrize("name", sorted(json_schemas()))
def test_schema_is_valid_draft_2020_12(name: str) -> None:
    schema = json_schemas()[name]
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].startswith("urn:portal-gitops:schema:v1:")
    assert schema["title"] and schema["description"]
    json.dumps(schema)  # plain JSON data


@pytest.mark.parametrize(("label", "doc"), example_documents(), ids=lambda v: str(v)[:60])
def test_every_example_validates_with_jsonschema_alone(label: str, doc: dict[str, Any]) -> None:
    kind_schema = f"{doc['kind'].lower()}.schema.json"
    validator(kind_schema).validate(doc)
    validator(MANIFEST_FILE).validate(doc)


PROVIDER = {
    "apiVersion": "portal-gitops/v1",
    "kind": "Provider",
    "metadata": {"name": "tyk"},
    "spec": {
        "type": "tyk-pro",
        "dashboardUrl": "http://d:3000",
        "secret": {"fromEnv": "S"},
        "orgId": "o",
    },
}


def with_spec(**changes: Any) -> dict[str, Any]:
    return {**PROVIDER, "spec": {**PROVIDER["spec"], **changes}}


@pytest.mark.parametrize(
    "doc",
    [
        with_spec(secret="s3cr3t"),  # literal secret
        with_spec(secret=12345),
        with_spec(secret={"fromEnv": "S", "fromFile": "f"}),
        with_spec(secret={"vault": "kv/x"}),
        with_spec(dispalyName="x"),  # unknown field in spec
        {**PROVIDER, "extra": 1},  # unknown top-level field
        {**PROVIDER, "metadata": {"name": "tyk", "nmae": "x"}},
        {**PROVIDER, "apiVersion": "portal-gitops/v2"},
        {**PROVIDER, "kind": "Prodcut"},
        with_spec(type="tyk-ce"),
    ],
    ids=[
        "literal-secret",
        "numeric-secret",
        "both-secret-sources",
        "unknown-secret-source",
        "unknown-spec-field",
        "unknown-top-level-field",
        "unknown-metadata-field",
        "api-version",
        "kind",
        "provider-type",
    ],
)
def test_schemas_reject_what_the_models_reject(doc: dict[str, Any]) -> None:
    assert not validator(MANIFEST_FILE).is_valid(doc)
    assert not validator("provider.schema.json").is_valid(doc)


def test_schemas_reject_non_positive_limits_and_unknown_plan_fields() -> None:
    plan = {"apiVersion": "portal-gitops/v1", "kind": "Plan", "metadata": {"name": "p"}}
    ok = {**plan, "spec": {"provider": "tyk", "rateLimit": {"requests": 1, "per": 1}}}
    assert validator("plan.schema.json").is_valid(ok)
    for bad in (
        {"provider": "tyk", "rateLimit": {"requests": 0, "per": 1}},
        {"provider": "tyk", "quota": {"requests": 1.5, "renewal": 1}},
        {"provider": "tyk", "keyExpiresIn": -1},
        {"provider": "tyk", "rateLimit": {"requests": 1}},
        {"provider": "tyk", "colour": "gold"},
    ):
        assert not validator("plan.schema.json").is_valid({**plan, "spec": bad}), bad
