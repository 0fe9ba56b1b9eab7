"""What validation holds per document: the models and where each came from, never the parsed
data a second time, and nothing a thousand documents have alike once per document.

A large estate (50,000 documents) must validate in a budget of memory, so these pin the means:
one pass over the files that drops each document's data once its model is built
(``validate_paths``), the lines of a document's nodes held compactly (``Lines``), one string
per distinct text, one set of given fields per distinct set. Held bytes are counted with
tracemalloc, which counts allocations, not time: the figure is the same on every machine.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from portal_gitops.load import Source, load_manifests, parse_text
from portal_gitops.source import Lines
from portal_gitops.validate import validate_loaded, validate_paths

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _estate(out: Path, documents: int) -> None:
    """The benchmarks' synthetic estate (benchmarks/estate.py), written under ``out``."""
    spec = importlib.util.spec_from_file_location("bench_estate", BENCHMARKS / "estate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.write(out, documents)


MIXED = """\
apiVersion: portal-gitops/v1
kind: Organisation
metadata: {name: acme}
spec: {}
---
apiVersion: portal-gitops/v1
kind: Team
metadata: {name: devs}
spec:
  organisation: acme
  members:
    - {email: a@acme.io, role: admin}
    - {email: b@acme.io}
---
apiVersion: portal-gitops/v1
kind: Team
metadata: {name: ops}
spec:
  organisation: nowhere
  members: [{email: c@acme.io, role: boss}]
"""


def test_one_pass_validation_finds_what_loading_then_validating_finds(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(MIXED)
    (tmp_path / "b.yaml").write_text("kind: [unclosed\n")
    (tmp_path / "c.yaml").write_text(MIXED.replace("acme", "initech"))
    both = validate_loaded(load_manifests([str(tmp_path)]))
    one = validate_paths([str(tmp_path)])
    assert [str(i) for i in one.errors] == [str(i) for i in both.errors]
    assert [str(i) for i in one.warnings] == [str(i) for i in both.warnings]
    assert one.digests == both.digests
    assert [(m, s.file, s.index, s.line) for m, s in one.manifests] == [
        (m, s.file, s.index, s.line) for m, s in both.manifests
    ]
    assert len(one.errors) >= 3  # the YAML error, the unknown organisation, the role


def test_the_result_keeps_where_each_manifest_came_from_not_its_data(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(MIXED)
    for result in (validate_paths([str(tmp_path)]), validate_loaded(load_manifests([tmp_path]))):
        for _, source in result.manifests:
            assert type(source) is Source and not hasattr(source, "data")


def test_lines_are_shared_by_documents_of_one_shape_and_read_as_before() -> None:
    docs = parse_text(MIXED, "m.yaml")
    devs, ops = docs[1].positions.lines, docs[2].positions.lines
    assert isinstance(devs, Lines)
    assert devs._slots is not ops._slots  # two members against one: not the same shape
    shapes: dict[Any, Any] = {}
    first, second = (parse_text(MIXED, f, shapes=shapes)[1] for f in ("x.yaml", "y.yaml"))
    assert first.positions.lines._slots is second.positions.lines._slots  # type: ignore[attr-defined]
    assert dict(devs) == {
        (): 6,
        ("apiVersion",): 6,
        ("kind",): 7,
        ("metadata",): 8,
        ("metadata", "name"): 8,
        ("spec",): 9,
        ("spec", "organisation"): 10,
        ("spec", "members"): 11,
        ("spec", "members", 0): 12,
        ("spec", "members", 0, "email"): 12,
        ("spec", "members", 0, "role"): 12,
        ("spec", "members", 1): 13,
        ("spec", "members", 1, "email"): 13,
    }
    assert docs[1].positions.line_of(("spec", "members", 1, "role")) == 13  # nearest ancestor
    assert docs[2].positions.line_of(("spec", "members", 0, "role")) == 20


def test_alike_texts_and_field_sets_are_held_once(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(MIXED)
    (tmp_path / "c.yaml").write_text(MIXED.replace("acme", "initech"))
    result = validate_paths([str(tmp_path)])
    teams = [m for m, _ in result.manifests if m.kind == "Team"]
    assert len(teams) == 2
    one, other = teams[0].spec.members[0], teams[1].spec.members[0]
    assert one.role is other.role  # "admin", read from two files: one string
    # the fields given, as pydantic reports them, in one frozen set for alike models
    assert one.model_fields_set == {"email", "role"}
    assert one.model_fields_set is other.model_fields_set
    assert isinstance(one.model_fields_set, frozenset)


# Counted in a fresh interpreter: tracemalloc counts every allocation in the process, by any
# thread, so in a test process whatever other tests left running would count as validation's
# (a full run under xdist once measured 4.8 KB here; alone, 2.9 KB).
MEASURE = """
import sys, tracemalloc
from portal_gitops.heap import collector_paused
from portal_gitops.validate import validate_paths
validate_paths([sys.argv[1]])
with collector_paused():
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    result = validate_paths([sys.argv[1]])
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
assert result.ok, result.errors[:3]
print(len(result.manifests), held)
"""


def test_validation_holds_a_few_kilobytes_per_document(tmp_path: Path) -> None:
    _estate(tmp_path, 2_000)
    # once before measuring: what grows once for all (the table of interned strings, which
    # never shrinks; pydantic's and re's caches) is not the documents'
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ,
    )
    documents, held = (int(x) for x in done.stdout.split())
    assert documents == 2_000
    per_document = held / documents
    # about 2.9 KB, most of it pydantic's models (1.6 KB); holding the parsed data as well,
    # with a string per node, a dict of lines and a set of given fields per model, 8.7 KB
    assert per_document < 3_500, f"{per_document:.0f} bytes held per document"
