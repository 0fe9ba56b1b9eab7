"""The documentation: generated references are current, complete, and every link resolves."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click
import pytest
import yaml

from portal_gitops.cli import main
from portal_gitops.commands import load_and_validate
from portal_gitops.models import KINDS

# the generator is a development tool outside the package
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import docgen

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def _command_paths() -> list[str]:
    out: list[str] = []

    def walk(cmd: click.Command, ctx: click.Context) -> None:
        out.append(ctx.command_path)
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                if sub is not None and not sub.hidden:
                    walk(sub, click.Context(sub, info_name=name, parent=ctx))

    walk(main, click.Context(main, info_name="portal-gitops"))
    return out


def _markdown_files() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def _anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return {
        docgen._anchor(INLINE_CODE.sub(lambda m: m.group(0)[1:-1], h))
        for h in HEADING.findall(text)
    }


# --- generated references ---------------------------------------------------------------------


@pytest.mark.parametrize("relpath", [docgen.MANIFESTS_FILE, docgen.CLI_FILE], ids=str)
def test_generated_reference_is_current(relpath: Path) -> None:
    expected = docgen.generated(DOCS)[DOCS / relpath]
    path = DOCS / relpath
    assert path.is_file(), f"docs/{relpath} is missing; run `{docgen.REGENERATE}`"
    assert path.read_text(encoding="utf-8") == expected, (
        f"docs/{relpath} is out of date with the code; regenerate it with "
        f"`{docgen.REGENERATE}` and commit the result"
    )


def test_generation_is_deterministic() -> None:
    assert docgen.manifest_reference() == docgen.manifest_reference()
    assert docgen.cli_reference() == docgen.cli_reference()


def test_write_docs_writes_both_references(tmp_path: Path) -> None:
    written = docgen.write_docs(tmp_path)
    assert sorted(written) == sorted([tmp_path / docgen.MANIFESTS_FILE, tmp_path / docgen.CLI_FILE])
    for path, text in docgen.generated(tmp_path).items():
        assert path.read_text(encoding="utf-8") == text


def test_every_kind_is_documented() -> None:
    text = docgen.manifest_reference()
    for kind in KINDS:
        assert f"\n## {kind}\n" in text
        assert f"\n### {kind} spec\n" in text


def test_every_command_is_documented() -> None:
    text = docgen.cli_reference()
    paths = _command_paths()
    assert "portal-gitops requests pull" in paths
    for path in paths:
        assert re.search(rf"^#+ {re.escape(path)}$", text, re.MULTILINE), path


def test_every_visible_option_is_documented() -> None:
    text = docgen.cli_reference()
    for path in _command_paths()[1:]:
        section = text.split(f" {path}\n", 1)[1].split("\n#", 1)[0]
        cmd = main
        for name in path.split()[1:]:
            assert isinstance(cmd, click.Group)
            sub = cmd.get_command(click.Context(cmd), name)
            assert sub is not None
            cmd = sub
        for param in cmd.params:
            if isinstance(param, click.Option) and not param.hidden:
                assert f"`{param.opts[-1]}`" in section, f"{path} {param.opts[-1]}"


def test_every_field_has_a_description() -> None:
    """The references and the JSON Schemas take field descriptions from the models alone."""
    from pydantic import BaseModel

    seen: set[type] = set()
    missing: list[str] = []

    def collect(model: object) -> None:
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or model in seen:
            return
        seen.add(model)
        for name, field in model.model_fields.items():
            if not field.description:
                missing.append(f"{model.__name__}.{name}")
            for arg in _types_in(field.annotation):
                collect(arg)

    for cls in KINDS.values():
        collect(cls)
    assert not missing, f"fields without Field(description=...): {missing}"


def _types_in(annotation: object) -> list[object]:
    from typing import get_args

    out = [annotation]
    for arg in get_args(annotation):
        out.extend(_types_in(arg))
    return out


def test_examples_cover_every_kind_and_validate(tmp_path: Path) -> None:
    assert set(docgen.EXAMPLES) == set(KINDS)
    for kind, text in docgen.EXAMPLES.items():
        doc = yaml.safe_load(text)
        assert doc["kind"] == kind
        KINDS[kind].model_validate(doc)
    (tmp_path / "all.yaml").write_text("---\n".join(docgen.EXAMPLES.values()), encoding="utf-8")
    result = load_and_validate([str(tmp_path)])
    assert not result.errors, [str(e) for e in result.errors]
    assert len(result.manifests) == len(KINDS)


# --- hand-written pages -----------------------------------------------------------------------


def test_docs_exist() -> None:
    assert (DOCS / "README.md").is_file()
    assert len(_markdown_files()) >= 3


@pytest.mark.parametrize("page", [p.relative_to(DOCS) for p in sorted(DOCS.rglob("*.md"))], ids=str)
def test_relative_links_resolve(page: Path) -> None:
    path = DOCS / page
    text = INLINE_CODE.sub("", FENCE.sub("", path.read_text(encoding="utf-8")))
    broken: list[str] = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
            continue  # https:, mailto: ...
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            broken.append(f"{target} (no such file)")
            continue
        if anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"broken links in docs/{page}: {broken}"
