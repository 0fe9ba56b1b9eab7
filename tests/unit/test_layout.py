"""The size budgets of the target layout (DESIGN.md §11): no source file over 700 lines and no
class over 400, so that no module grows back into a second home for several concerns."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "portal_gitops"
SOURCES = sorted([*PACKAGE.rglob("*.py"), *(ROOT / "tools").rglob("*.py")])
MAX_FILE_LINES = 700
MAX_CLASS_LINES = 400


def _classes(tree: ast.AST) -> list[ast.ClassDef]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]


def test_the_package_has_sources() -> None:
    assert len(SOURCES) > 20


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_file_and_class_sizes(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    lines = len(text.splitlines())
    assert lines <= MAX_FILE_LINES, (
        f"{path.relative_to(ROOT)}: {lines} lines (max {MAX_FILE_LINES})"
    )
    for cls in _classes(ast.parse(text)):
        size = (cls.end_lineno or cls.lineno) - cls.lineno + 1
        assert size <= MAX_CLASS_LINES, (
            f"{path.relative_to(ROOT)}:{cls.lineno}: class {cls.name} has {size} lines "
            f"(max {MAX_CLASS_LINES})"
        )


def test_a_class_is_measured_from_its_class_line_to_its_last_line() -> None:
    tree = ast.parse("class A:\n    x = 1\n\n    def f(self):\n        return 2\n")
    (cls,) = _classes(tree)
    assert (cls.end_lineno or 0) - cls.lineno + 1 == 5
