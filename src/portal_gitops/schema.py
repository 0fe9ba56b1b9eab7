"""JSON Schemas (Draft 2020-12) for the manifests, generated from the models.

One schema per kind plus ``manifest.schema.json`` for any document, so that editors (the
``# yaml-language-server: $schema=...`` line) and other tools check manifests as we do.
Generation is deterministic: the committed files under ``schemas/`` are checked by a test.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema

from portal_gitops.files import refuse_link, write_file
from portal_gitops.models import KINDS, AnyManifest

DRAFT = "https://json-schema.org/draft/2020-12/schema"
ID_BASE = "urn:portal-gitops:schema:v1:"  # a name, not a download location
MANIFEST_FILE = "manifest.schema.json"

_KIND_DESCRIPTIONS = {
    kind: (sys.modules[cls.__module__].__doc__ or kind).strip().splitlines()[0]
    for kind, cls in KINDS.items()
}


class _Generator(GenerateJsonSchema):
    """Pydantic's generator without its auto-titles on every property (noise in editors)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def file_name(kind: str) -> str:
    return f"{kind.lower()}.schema.json"


def json_schemas() -> dict[str, dict[str, Any]]:
    """File name -> schema, one per kind and one for any document."""
    out: dict[str, dict[str, Any]] = {}
    for kind, cls in KINDS.items():
        body = cls.model_json_schema(schema_generator=_Generator)
        out[file_name(kind)] = _finish(
            body, file_name(kind), kind, _KIND_DESCRIPTIONS[kind].split(": ", 1)[-1]
        )
    any_doc = TypeAdapter(AnyManifest).json_schema(schema_generator=_Generator)
    any_doc.pop("discriminator", None)  # OpenAPI's keyword, not JSON Schema's; oneOf suffices
    out[MANIFEST_FILE] = _finish(
        any_doc,
        MANIFEST_FILE,
        "portal-gitops manifest",
        "Any portal-gitops document: " + ", ".join(KINDS) + " (chosen by its kind).",
    )
    return out


def _finish(body: dict[str, Any], name: str, title: str, description: str) -> dict[str, Any]:
    head = {
        "$schema": DRAFT,
        "$id": ID_BASE + name.removesuffix(".schema.json"),
        "title": title,
        "description": description[:1].upper() + description[1:],
    }
    rest = {k: v for k, v in body.items() if k not in head}
    return _sort_defs({**head, **rest})


def _sort_defs(schema: dict[str, Any]) -> dict[str, Any]:
    if "$defs" in schema:
        schema["$defs"] = dict(sorted(schema["$defs"].items()))
    return schema


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def write_schemas(out_dir: str | Path) -> list[Path]:
    """Write every schema into ``out_dir`` (created if needed); returns the paths written."""
    out = Path(out_dir)
    refuse_link(out)
    out.mkdir(parents=True, exist_ok=True)
    return [
        write_file(out / name, render(schema)) for name, schema in sorted(json_schemas().items())
    ]
