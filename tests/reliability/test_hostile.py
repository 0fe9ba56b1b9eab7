"""Hostile input: each is refused quickly, with a clear message, in bounded memory.

Every manifest case runs ``portal-gitops validate`` in a child process and measures that
child alone (``os.wait4``): its CPU time (under 2 s, start-up included; CPU rather than wall
time so a busy machine cannot fail the test) and its peak resident memory (under 200 MB).
Names that would escape the output folder of ``import`` and ``requests pull`` become plain
file names inside it; a symbolic link planted in the output folder is refused, never followed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from portal_gitops.backends.emulated.store import PortalStore
from portal_gitops.cli import main
from tests.apis import EXAMPLE_APIS
from tests.conftest import copy_examples
from tests.requests.test_access_requests import call, consumer_requests_access

from .conftest import child_env, cli, run_measured

MAX_CPU_SECONDS = 2.0
MAX_RSS_MB = 200.0

ORG = "apiVersion: portal-gitops/v1\nkind: Organisation\nmetadata:\n  name: {name}\nspec: {{}}\n"


def _billion_laughs(d: Path) -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    (d / "bomb.yaml").write_text("\n".join(lines) + "\n")


def _many_small_bombs(d: Path) -> None:
    doc = "---\na: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{n}: &{n} [" + ",".join([f"*{p}"] * 10) + "]\n"
        for p, n in zip("abcd", "bcde", strict=True)
    )
    (d / "bombs.yaml").write_text(doc * 1_000)


def _merge_bomb(d: Path) -> None:
    lines = ["a0: &a0 {k0: 0, k1: 1, k2: 2, k3: 3, k4: 4, k5: 5, k6: 6, k7: 7}"]
    for i in range(1, 12):
        refs = ", ".join(f"s{j}: *a{i - 1}" for j in range(8))
        lines.append(f"a{i}: &a{i} {{{refs}}}")
    (d / "merge.yaml").write_text("\n".join(lines) + "\n")


def _deep_flow(d: Path) -> None:
    (d / "deep.yaml").write_text("a: " + "[" * 1_000_000 + "]" * 1_000_000 + "\n")


def _deep_block(d: Path) -> None:
    (d / "deep.yaml").write_text("".join(" " * i + "k:\n" for i in range(200)))


def _fifty_mb(d: Path) -> None:
    (d / "org.yaml").write_text(ORG.format(name="fine"))
    with open(d / "huge.yaml", "w") as fh:
        chunk = ("# padding " + "x" * 80 + "\n") * 10_000
        while fh.tell() < 50 * 1024 * 1024:
            fh.write(chunk)


def _many_documents(d: Path) -> None:
    (d / "many.yaml").write_text("---\nx: 1\n" * 500_000)


def _heavy_documents(d: Path) -> None:
    (d / "heavy.yaml").write_text(("---\nk: [" + ",".join(["a"] * 199_000) + "]\n") * 6)


def _latin1(d: Path) -> None:
    (d / "latin1.yaml").write_bytes(ORG.format(name="caf\xe9").encode("latin-1"))


def _binary(d: Path) -> None:
    (d / "image.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(4096))


def _utf16(d: Path) -> None:
    (d / "utf16.yaml").write_bytes(ORG.format(name="x").encode("utf-16"))


CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "billion-laughs": (
        _billion_laughs,
        r"bomb\.yaml:\d+: document expands to more than 200000 nodes \(alias/anchor",
    ),
    "many-small-bombs": (
        _many_small_bombs,
        r"bombs\.yaml:\d+: aliases in this file expand to more than 100000 nodes \(alias/anchor",
    ),
    "nested-alias-mappings": (
        _merge_bomb,
        r"merge\.yaml:\d+: document expands to more than 200000 nodes",
    ),
    "deep-flow-nesting": (_deep_flow, r"deep\.yaml:1: YAML syntax error: exceeded maximum"),
    "deep-block-nesting": (_deep_block, r"deep\.yaml:\d+: nesting deeper than 64 levels"),
    "50-MB-file": (
        _fifty_mb,
        r"huge\.yaml:1: file is \d+ bytes, over the 5242880-byte limit",
    ),
    "500k-documents": (
        _many_documents,
        r"many\.yaml:\d+: more than 10000 documents in one file; split it",
    ),
    "heavy-documents": (
        _heavy_documents,
        r"heavy\.yaml:\d+: the documents of this file expand to more than 200000 nodes in all; "
        "split the file",
    ),
    "latin-1": (_latin1, r"latin1\.yaml:4: not valid UTF-8 \(byte 0xe9\)"),
    "binary": (_binary, r"image\.yaml:\d+: binary file \(contains NUL bytes\)"),
    "utf-16": (_utf16, r"utf16\.yaml:1: binary file \(contains NUL bytes\)"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_manifest_is_refused_quickly_in_bounded_memory(tmp_path: Path, case: str) -> None:
    make, expected = CASES[case]
    tree = tmp_path / "manifests"
    tree.mkdir()
    make(tree)
    run = run_measured(cli("validate", str(tree)), child_env({}))
    assert run.returncode == 1, run.stdout + run.stderr
    assert re.search(expected, run.stderr), run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    assert len(run.stderr) < 2000  # one clear message, not one per node or per document
    print(
        f"\nhostile {case}: refused in {run.seconds:.2f} s wall, {run.cpu_seconds:.2f} s CPU, "
        f"peak {run.peak_rss_mb:.0f} MB"
    )
    assert run.cpu_seconds < MAX_CPU_SECONDS
    assert run.peak_rss_mb < MAX_RSS_MB


def test_symlinks_out_of_the_manifest_tree_are_refused_and_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = "outside-secret-value-3d9a"
    (outside / "secret.yaml").write_text(ORG.format(name=secret))
    (outside / "more").mkdir()
    (outside / "more" / "org.yaml").write_text(ORG.format(name=secret + "-dir"))
    tree = tmp_path / "manifests"
    tree.mkdir()
    (tree / "ok.yaml").write_text(ORG.format(name="inside"))
    (tree / "escape.yaml").symlink_to(outside / "secret.yaml")
    (tree / "up.yaml").symlink_to("../outside/secret.yaml")
    (tree / "dir").symlink_to(outside / "more", target_is_directory=True)
    (tree / "inner.yaml").symlink_to(tree / "ok.yaml")  # inside the tree: fine (read once)
    run = run_measured(cli("validate", str(tree)), child_env({}))
    assert run.returncode == 1
    assert f"{tree / 'escape.yaml'}:1: symbolic link leads outside the manifest directory" in (
        run.stderr
    )
    assert f"{tree / 'up.yaml'}:1: symbolic link leads outside the manifest directory" in (
        run.stderr
    )
    assert f"{tree / 'dir'}:1: symbolic link to a directory is not followed" in run.stderr
    assert secret not in run.stdout + run.stderr
    assert run.cpu_seconds < MAX_CPU_SECONDS and run.peak_rss_mb < MAX_RSS_MB


HOSTILE_NAMES = [
    "../../../../tmp/escaped",
    "/etc/passwd",
    "..",
    "a/../../b",
    "\\..\\..\\windows",
    "~root",
    "x" * 300,
]


def _invoke(*argv: str, store: Path) -> tuple[int, str]:
    result = CliRunner().invoke(
        main,
        [*argv, "--store", str(store)],
        env={
            "NO_COLOR": "1",
            "TYK_PORTAL_URL": None,
            "TYK_DASHBOARD_SECRET": "x",
            "PORTAL_GITOPS_APIS": str(EXAMPLE_APIS),  # the Dashboard has the examples' APIs
        },
        catch_exceptions=False,
    )
    return result.exit_code, result.output + (result.stderr or "")


def _files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def test_names_that_would_escape_the_output_folder_stay_inside(tmp_path: Path) -> None:
    manifests = copy_examples(tmp_path)
    store_path = tmp_path / "live.db"
    code, output = _invoke("apply", str(manifests), "--auto-approve", store=store_path)
    assert code == 0, output
    store = PortalStore(str(store_path))
    try:
        for name in HOSTILE_NAMES:  # made by hand in the portal: import writes them down
            call(store, "POST", "/portal-api/organisations", {"Name": name})
        rid = consumer_requests_access(
            store,
            "milton@initech.example",
            "../../../../tmp/escaped-app",
            ["weather-api"],
            "basic",
            "public",
        )
    finally:
        store.close()
    before = _files_under(tmp_path)
    out = tmp_path / "imported"
    code, output = _invoke("import", "--out", str(out), store=store_path)
    assert code == 0, output
    pulled = tmp_path / "pulled"
    code, pull_output = _invoke("requests", "pull", "--out", str(pulled), store=store_path)
    assert code == 0, pull_output
    written = _files_under(tmp_path) - before
    assert written, "nothing was written"
    for path in written:
        resolved = path.resolve()
        assert resolved.is_relative_to(out.resolve()) or resolved.is_relative_to(
            pulled.resolve()
        ), path
        assert len(path.name) <= 100
    # an app name the manifests cannot hold: the request is reported with the reason, and
    # no manifest is written for it (it would not validate, so Git could not decide it)
    assert f"request {rid} (milton@initech.example) skipped" in pull_output
    assert not pulled.exists() or not _files_under(pulled)
    assert not Path("/tmp/escaped").exists() and not Path("/tmp/escaped-app").exists()


def test_a_symbolic_link_planted_in_the_output_folder_is_never_followed(tmp_path: Path) -> None:
    manifests = copy_examples(tmp_path)
    store_path = tmp_path / "live.db"
    assert _invoke("apply", str(manifests), "--auto-approve", store=store_path)[0] == 0
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    # where import writes a manifest: refused
    out = tmp_path / "out-file"
    out.mkdir()
    (out / "providers.yaml").symlink_to(victim)
    code, output = _invoke("import", "--out", str(out), store=store_path)
    assert code == 1 and f"{out} already has providers.yaml" in output, output
    assert victim.read_text() == "precious\n"
    # even with --force (which overwrites files), a link is never written through
    code, output = _invoke("import", "--out", str(out), "--force", store=store_path)
    assert code == 1 and "refusing to write providers.yaml: it would leave" in output, output
    assert victim.read_text() == "precious\n" and "Traceback" not in output
    # a link to another file inside the output folder: refused too, never written through
    out = tmp_path / "out-inside"
    out.mkdir()
    (out / "elsewhere.yaml").write_text("kept\n")
    (out / "providers.yaml").symlink_to(out / "elsewhere.yaml")
    code, output = _invoke("import", "--out", str(out), "--force", store=store_path)
    assert code == 1 and "refusing to write providers.yaml:" in output, output
    assert "is a symbolic link" in output
    assert (out / "elsewhere.yaml").read_text() == "kept\n"
    # where a predictable temporary file would be: ignored (temporary files are O_EXCL)
    out = tmp_path / "out-tmp"
    out.mkdir()
    (out / "providers.yaml.tmp").symlink_to(victim)
    code, output = _invoke("import", "--out", str(out), store=store_path)
    assert code == 0, output
    assert victim.read_text() == "precious\n", "written through the planted link"
    assert (out / "providers.yaml.tmp").is_symlink()
    assert not [p for p in out.rglob("*.tmp") if not p.is_symlink()]  # none left behind
    # a link to a folder outside, where import would create its sub-folders
    out = tmp_path / "out-dir"
    out.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / "products").symlink_to(elsewhere, target_is_directory=True)
    code, output = _invoke("import", "--out", str(out), store=store_path)
    assert code == 1 and "refusing to write products/" in output, output
    assert not any(elsewhere.iterdir())


def test_plan_out_and_schema_out_never_write_through_a_link(tmp_path: Path) -> None:
    """A pull request can commit ``plan.json`` or ``schemas`` as links to a runner's files;
    ``plan --out`` and ``schema --out`` refuse them instead of writing through."""
    manifests = copy_examples(tmp_path)
    store_path = tmp_path / "live.db"
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    saved = tmp_path / "plan.json"
    saved.symlink_to(victim)
    code, output = _invoke("plan", str(manifests), "--out", str(saved), store=store_path)
    assert code == 1 and f"refusing to write {saved}: it is a symbolic link" in output, output
    assert victim.read_text() == "precious\n" and "Traceback" not in output

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    schemas = tmp_path / "schemas"
    schemas.symlink_to(elsewhere, target_is_directory=True)
    result = CliRunner().invoke(main, ["schema", "--out", str(schemas)])
    assert result.exit_code == 1, result.output
    assert f"refusing to write {schemas}: it is a symbolic link" in result.output
    assert not any(elsewhere.iterdir())

    real = tmp_path / "real-schemas"
    real.mkdir()
    (real / "plan.schema.json").symlink_to(victim)
    result = CliRunner().invoke(main, ["schema", "--out", str(real)])
    assert result.exit_code == 1 and "it is a symbolic link" in result.output, result.output
    assert victim.read_text() == "precious\n"
