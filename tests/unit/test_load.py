"""load: YAML files -> documents with the line of every node; strict about everything else."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from portal_gitops.errors import ManifestError
from portal_gitops.load import (
    MAX_NODES_PER_DOCUMENT,
    discover,
    iter_documents,
    load_paths,
    parse_text,
    read_text,
)


def messages(text: str) -> list[str]:
    with pytest.raises(ManifestError) as info:
        parse_text(text, "f.yaml")
    return [str(i) for i in info.value.issues]


def test_positions_of_keys_and_list_items() -> None:
    (doc,) = parse_text(
        "apiVersion: portal-gitops/v1\n"  # 1
        "kind: Product\n"  # 2
        "spec:\n"  # 3
        "  apis:\n"  # 4
        "    - apiId: a\n"  # 5
        "    - apiId: b\n"  # 6
        "      versions: [v1]\n",  # 7
        "f.yaml",
    )
    lines = doc.positions
    assert doc.line == 1
    assert lines.line_of(("spec",)) == 3
    assert lines.line_of(("spec", "apis", 1)) == 6
    assert lines.line_of(("spec", "apis", 1, "versions", 0)) == 7
    # a path that does not exist falls back to its nearest ancestor
    assert lines.line_of(("spec", "apis", 1, "allowedUrls")) == 6
    assert str(lines.at(("kind",))) == "f.yaml:2"


def test_several_documents_empty_ones_skipped_but_counted() -> None:
    docs = parse_text("a: 1\n---\n---\nb: 2\n", "f.yaml")
    assert [(d.data, d.index, d.line) for d in docs] == [({"a": 1}, 0, 1), ({"b": 2}, 2, 4)]


def test_scalars_keep_yaml_types() -> None:
    (doc,) = parse_text("s: text\ni: 0x10\nf: 1.5\nb: true\nn: ~\nq: '2024-01-01'\n", "f")
    assert doc.data == {"s": "text", "i": 16, "f": 1.5, "b": True, "n": None, "q": "2024-01-01"}


def test_duplicate_key_names_both_lines() -> None:
    assert messages("a: 1\nb:\n  c: 1\n  c: 2\n") == [
        "f.yaml:4: duplicate key 'c' (first at line 3)"
    ]


def test_merge_keys_may_be_overridden_but_not_repeated() -> None:
    (doc,) = parse_text("base: &b {x: 1, y: 2}\nit:\n  <<: *b\n  x: 3\n", "f")
    assert doc.data["it"] == {"x": 3, "y": 2}
    assert doc.positions.line_of(("it", "x")) == 4
    assert messages("base: &b {x: 1}\nit:\n  <<: *b\n  y: 3\n  y: 4\n") == [
        "f.yaml:5: duplicate key 'y' (first at line 4)"
    ]


def test_an_alias_reused_after_a_merge_is_not_a_duplicate() -> None:
    text = "b: &b {x: 1}\nm: &m\n  <<: *b\n  x: 2\nn: *m\no: *m\n"
    (doc,) = parse_text(text, "f")
    assert doc.data["n"] == doc.data["o"] == {"x": 2}


def test_alias_bomb_is_refused() -> None:
    levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i, name in enumerate("bcdefg"):
        prev = "abcdefg"[i]
        levels.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    (message,) = messages("\n".join(levels) + "\n")
    assert f"more than {MAX_NODES_PER_DOCUMENT} nodes" in message


def test_deep_nesting_is_refused() -> None:
    assert messages("x: " + "[" * 80 + "]" * 80 + "\n") == [
        "f.yaml:1: nesting deeper than 64 levels"
    ]


def test_non_mapping_documents_are_refused() -> None:
    assert messages("a: 1\n---\n- x\n") == [
        "f.yaml:3: document 2 is a list, "
        "expected a mapping with apiVersion, kind, metadata and spec"
    ]


def test_non_scalar_keys_are_refused() -> None:
    assert messages("? [a, b]\n: c\n") == ["f.yaml:1: mapping keys must be scalars"]


def test_syntax_error_and_unsafe_tag() -> None:
    assert messages("a: [1, 2\nb: 3\n") == [
        "f.yaml:2: YAML syntax error: did not find expected ',' or ']'"
    ]
    assert messages("a: !!python/name:os.system x\n") == [
        "f.yaml:1: YAML error: unsupported tag 'tag:yaml.org,2002:python/name:os.system' "
        "(manifests are plain data)"
    ]


def test_read_text_refuses_binary_non_utf8_and_oversize(tmp_path: Path) -> None:
    f = tmp_path / "m.yaml"
    f.write_bytes(b"a: 1\nb: \x00\n")
    with pytest.raises(ManifestError, match=r"^m.yaml:2: binary file \(contains NUL bytes\)$"):
        read_text(f, "m.yaml")
    f.write_bytes(b"a: 1\n\nb: caf\xe9\n")
    with pytest.raises(ManifestError, match=r"^m.yaml:3: not valid UTF-8 \(byte 0xe9\)$"):
        read_text(f, "m.yaml")
    f.write_text("a: 1\n" * 10)
    with pytest.raises(
        ManifestError, match=r"^m.yaml:1: file is 50 bytes, over the 49-byte limit$"
    ):
        read_text(f, "m.yaml", max_bytes=49)
    assert read_text(f, "m.yaml", max_bytes=50) == "a: 1\n" * 10


@pytest.mark.timeout(20)
def test_a_fifo_named_like_a_manifest_is_refused_not_read(tmp_path: Path) -> None:
    """A FIFO would block the read forever (nobody writes to it): refused before opening."""
    os.mkfifo(tmp_path / "pipe.yaml")
    (tmp_path / "ok.yaml").write_text("a: 1\n")
    docs, issues = load_paths([str(tmp_path)])
    assert [d.data for d in docs] == [{"a": 1}]
    assert [i.message for i in issues] == ["not a regular file; it is not read"]


def test_read_text_drops_a_byte_order_mark(tmp_path: Path) -> None:
    f = tmp_path / "m.yaml"
    f.write_bytes("\ufeffa: 1\n".encode())
    assert read_text(f, "m.yaml") == "a: 1\n"


def test_discover_is_sorted_and_skips_hidden_and_other_files(tmp_path: Path) -> None:
    for rel in ["b.yaml", "a.yml", "sub/c.yaml", ".hidden.yaml", ".git/x.yaml", "notes.txt"]:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("a: 1\n")
    files, issues = discover([str(tmp_path), str(tmp_path / "b.yaml"), str(tmp_path / "nope")])
    assert [os.path.relpath(p, tmp_path) for p, _ in files] == ["a.yml", "b.yaml", "sub/c.yaml"]
    assert [str(i) for i in issues] == [f"{tmp_path / 'nope'}:1: no such file or directory"]


def test_discover_refuses_symlinks_leading_outside(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.yaml").write_text("a: 1\n")
    root = tmp_path / "root"
    root.mkdir()
    (root / "in.yaml").write_text("a: 1\n")
    (root / "link.yaml").symlink_to(outside / "secret.yaml")
    (root / "alias.yaml").symlink_to(root / "in.yaml")  # inside: fine, read once
    (root / "dir").symlink_to(outside)
    files, issues = discover([str(root)])
    assert [p.name for p, _ in files] == ["alias.yaml"]
    assert sorted(str(i) for i in issues) == [
        f"{root / 'dir'}:1: symbolic link to a directory is not followed",
        f"{root / 'link.yaml'}:1: symbolic link leads outside the manifest directory",
    ]


def test_load_paths_reports_every_bad_file_and_keeps_the_good(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("a: [\n")
    (tmp_path / "b.yaml").write_text("b: 1\n---\nc: 2\n")
    (tmp_path / "c.yaml").write_text("x: 1\nx: 2\n")
    docs, issues = load_paths([str(tmp_path)])
    assert [d.data for d in docs] == [{"b": 1}, {"c": 2}]
    assert [i.file for i in issues] == [str(tmp_path / "a.yaml"), str(tmp_path / "c.yaml")]
    with pytest.raises(ManifestError):
        list(iter_documents([str(tmp_path)]))
