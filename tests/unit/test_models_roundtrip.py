"""Properties over generated valid estates: model -> YAML -> load -> validate -> the same model,
and every generated document (as written, and as dumped from its model) matches the schemas."""

from __future__ import annotations

from typing import Any

import jsonschema
import yaml
from hypothesis import HealthCheck, given, settings

from portal_gitops.load import parse_text
from portal_gitops.schema import MANIFEST_FILE, json_schemas
from portal_gitops.validate import format_issues, validate_documents
from tests.strategies import estates

SCHEMAS = json_schemas()
VALIDATORS = {name: jsonschema.Draft202012Validator(schema) for name, schema in SCHEMAS.items()}
PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def dump(docs: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True)


@PROPERTY
@given(estates())
def test_model_yaml_model_is_the_identity(estate: list[dict[str, Any]]) -> None:
    first = validate_documents(parse_text(dump(estate), "estate.yaml"))
    assert first.ok, format_issues(first.errors)
    assert len(first.manifests) == len(estate)
    models = [model for model, _ in first.manifests]

    dumped = [m.model_dump(mode="json", exclude_defaults=True) for m in models]
    second = validate_documents(parse_text(dump(dumped), "again.yaml"))
    assert second.ok, format_issues(second.errors)
    assert [model for model, _ in second.manifests] == models


@settings(PROPERTY, max_examples=30)
@given(estates())
def test_every_generated_document_matches_the_schemas(estate: list[dict[str, Any]]) -> None:
    models = [m for m, _ in validate_documents(parse_text(dump(estate), "e.yaml")).manifests]
    dumped = [m.model_dump(mode="json", exclude_defaults=True) for m in models]
    for doc in estate:  # as a user writes them: against the any-document schema
        VALIDATORS[MANIFEST_FILE].validate(doc)
    for doc in dumped:  # as the models write them: against the kind's own schema
        VALIDATORS[f"{doc['kind'].lower()}.schema.json"].validate(doc)
