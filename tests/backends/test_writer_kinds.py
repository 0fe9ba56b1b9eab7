"""The tyk writer serves exactly the kinds the registry declares: a kind added to kinds/ without
its create, update and delete in the backend fails here, not half-way through an apply."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from portal_gitops import kinds
from portal_gitops.backends.embedded import open_embedded
from portal_gitops.errors import ValidationFailed
from portal_gitops.state import LiveObject
from tests.apis import TEST_APIS


def test_the_writer_has_a_create_and_an_update_for_every_registered_kind(tmp_path: Path) -> None:
    backend = open_embedded(str(tmp_path / "portal.db"), apis=TEST_APIS)
    try:
        assert set(backend.writer.creates) == set(kinds.NAMES)
        assert set(backend.writer.updates) == set(kinds.NAMES)
    finally:
        asyncio.run(backend.aclose())


@pytest.mark.parametrize("kind", kinds.NAMES)
def test_the_writer_deletes_every_registered_kind(tmp_path: Path, kind: str) -> None:
    """A delete of an object that is already gone succeeds quietly (idempotent); an unknown
    kind would be refused instead."""
    backend = open_embedded(str(tmp_path / "portal.db"), apis=TEST_APIS)
    gone = LiveObject(kind, "gone", "987654/987654", {"role": "consumer-team-member"})
    try:
        asyncio.run(backend.delete(gone))
        with pytest.raises(ValidationFailed, match="unknown kind"):
            asyncio.run(backend.delete(LiveObject("Gadget", "gone", "1", {})))
    finally:
        asyncio.run(backend.aclose())
