"""Live state -> manifests, for adopting a portal configured by hand (pure).

Everything the manifests can express is written; everything they cannot is reported by name
with the reason, never silently dropped. Secrets are never written: a provider's secret
becomes a ``fromEnv`` reference the user fills in. Each kind writes its own documents
(kinds/), in dependency order: a catalogue is written only if what it offers was.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from portal_gitops.kinds import REGISTRY
from portal_gitops.kinds.base import Importing, Skipped
from portal_gitops.kinds.provider import secret_env_name
from portal_gitops.state import LiveState


@dataclass(frozen=True)
class ImportResult:
    files: Mapping[PurePosixPath, list[dict[str, Any]]]
    skipped: list[Skipped] = field(default_factory=list)
    # files beside the manifests (the OpenAPI documents downloaded), UTF-8
    attachments: Mapping[PurePosixPath, bytes] = field(default_factory=dict)


def import_state(live: LiveState) -> ImportResult:
    importing = Importing(live)
    for kind in REGISTRY:
        if kind.export is not None:
            kind.export(importing.objects(kind.name), importing)
    return ImportResult(dict(importing.files), importing.skipped, dict(importing.attachments))


__all__ = ["ImportResult", "Skipped", "import_state", "secret_env_name"]
