"""The collector pause (heap.py) and the fingerprint encoding that plans rely on."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal_gitops import heap
from portal_gitops.plan import LiveFingerprints, live_fingerprints
from portal_gitops.state import LiveObject, LiveState, Sensitive, canonical_json, to_jsonable


@pytest.fixture(autouse=True)
def _collector_on() -> Iterator[None]:
    assert gc.isenabled()
    yield
    gc.enable()
    heap.release()


def test_a_pause_disables_the_collector_then_freezes_what_it_built() -> None:
    heap.release()
    with heap.collector_paused():
        assert not gc.isenabled()
        built = [{"n": i} for i in range(1000)]
        with heap.collector_paused():  # nested: leaves the outer pause alone
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(built)
    heap.release()
    assert gc.get_freeze_count() == 0


def test_a_collector_the_caller_disabled_stays_disabled() -> None:
    gc.disable()
    with heap.collector_paused():
        pass
    assert not gc.isenabled()


def test_the_collector_comes_back_after_an_error() -> None:
    with pytest.raises(ValueError), heap.collector_paused():
        raise ValueError("boom")
    assert gc.isenabled()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=5), inner, max_size=3)
        | st.builds(MappingProxyType, st.dictionaries(st.text(max_size=5), inner, max_size=3))
        | st.builds(Sensitive, st.text(max_size=5), st.none() | st.text(max_size=5))
    ),
    max_leaves=12,
)


@given(st.dictionaries(st.text(max_size=5), json_values, max_size=4))
def test_canonical_json_encodes_what_to_jsonable_makes(attrs: dict[str, Any]) -> None:
    """The fingerprint encoding skips to_jsonable's copy; it must encode the same text, and
    a secret only by its reference."""
    expected = json.dumps(to_jsonable(attrs), sort_keys=True, separators=(",", ":"), default=str)
    assert canonical_json(attrs) == expected


def test_live_fingerprints_are_computed_on_first_use_and_equal_the_eager_ones() -> None:
    live = LiveState(
        {
            ("Plan", "gold"): LiveObject("Plan", "gold", "1", {"rate": 10}),
            ("Team", "acme/ops"): LiveObject("Team", "acme/ops", "2/3", {"name": "ops"}),
        }
    )
    lazy = LiveFingerprints(live)
    assert lazy._computed is None
    assert dict(lazy) == live_fingerprints(live)
    assert len(lazy) == 2 and lazy["Plan/gold"] == live_fingerprints(live)["Plan/gold"]
    assert repr(live) == "LiveState(2 objects)"
