"""`portal-gitops show PLAN`: a saved plan rendered again, in the three formats plan prints,
from the file alone; anything that is not a saved plan is refused with exit 1."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from portal_gitops.cli import main
from portal_gitops.plan import actions_digest
from tests.conftest import CliTarget, copy_examples


def show(*argv: str) -> Result:
    return CliRunner().invoke(main, ["show", *argv], env={"NO_COLOR": "1"}, catch_exceptions=False)


def test_show_renders_a_saved_plan_as_plan_printed_it(
    cli_target: CliTarget, tmp_path: Path
) -> None:
    manifests = copy_examples(tmp_path)
    saved = tmp_path / "reviewed.plan"  # any name: a plan is known by its content
    made = cli_target.invoke("plan", str(manifests), "--out", str(saved))
    assert made.exit_code == 0, made.output
    for fmt in ("text", "markdown", "json"):
        printed = cli_target.invoke("plan", str(manifests), "--format", fmt)
        shown = show(str(saved), "--format", fmt)
        assert shown.exit_code == 0, shown.output
        assert shown.stdout == printed.stdout, fmt
    assert show(str(saved)).stdout == made.stdout  # text is the default
    # the portal is not read: the plan shows what it said when it was made
    applied = cli_target.invoke("apply", str(manifests), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert show(str(saved)).stdout == made.stdout


def test_show_refuses_what_is_not_a_saved_plan(tmp_path: Path) -> None:
    manifest = copy_examples(tmp_path) / "plans.yaml"
    other_json = tmp_path / "plan.json"
    other_json.write_text('{"changes": [], "format_version": 2}\n')
    for path in (manifest, other_json):
        refused = show(str(path))
        assert refused.exit_code == 1
        assert refused.stdout == ""
        assert refused.stderr == (
            f"error: {path} is not a saved plan: a plan is the JSON file `plan --out FILE` "
            'writes, an object whose first key is "format_version"\n'
        )
    missing = show(str(tmp_path / "nowhere.json"))
    assert missing.exit_code == 1
    assert (
        missing.stderr
        == f"error: cannot read plan file {tmp_path / 'nowhere.json'}: no such file\n"
    )
    folder = show(str(tmp_path))
    assert folder.exit_code == 1
    assert "no such file" in folder.stderr


def _plan_file(tmp_path: Path, data: dict[str, object]) -> Path:
    path = tmp_path / "saved.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


BASE: dict[str, object] = {
    "format_version": 2,
    "backend": "embedded",
    "target": "embedded store .portal-gitops/portal.db",
    "manifests_hash": "0" * 64,
    "paths": ["manifests"],
    "summary": {},
    "credentials": [],
    "changes": [
        {
            "op": "update",
            "kind": "Catalogue",
            "key": "partner",
            "live_id": "3",
            "reason": "",
            "deferred": False,
            "attrs": {"visibility": "private", "audience": [], "products": [], "plans": []},
            "fields": [{"path": "audience", "removed": {"organisation": "Acme", "team": ""}}],
        }
    ],
    "unmanaged": [],
    "orphaned": [],
    "warnings": [],
    "notes": {},
    "details": {},
    "fingerprints": {},
    "prune": False,
}


def test_show_refuses_an_edited_plan_and_reads_format_version_1(tmp_path: Path) -> None:
    good = {**BASE, "actions_digest": actions_digest(BASE)}
    shown = show(str(_plan_file(tmp_path, good)))
    assert shown.exit_code == 0, shown.output
    assert (
        "~ Catalogue/partner will be updated\n"
        '    ~ audience: - {"organisation": "Acme", "team": ""}\n' in shown.stdout
    )

    edited = json.loads(json.dumps(good))
    edited["changes"][0]["op"] = "delete"
    refused = show(str(_plan_file(tmp_path, edited)))
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: the saved plan's changes are not the ones plan wrote")

    # format 1 (positions for a set's members): still rendered for an audit
    v1 = json.loads(json.dumps(BASE))
    v1["format_version"] = 1
    v1["changes"][0]["fields"] = [
        {"path": "audience[0]", "old": {"organisation": "Acme", "team": ""}, "new": None}
    ]
    v1["actions_digest"] = actions_digest(v1)
    old = show(str(_plan_file(tmp_path, v1)))
    assert old.exit_code == 0, old.output
    assert '    ~ audience[0]: {"organisation": "Acme", "team": ""} -> null\n' in old.stdout


def test_show_takes_verbose_and_no_color_before_the_command_too(tmp_path: Path) -> None:
    good = {**BASE, "actions_digest": actions_digest(BASE)}
    path = str(_plan_file(tmp_path, good))
    after = CliRunner().invoke(main, ["show", path, "-v", "--no-color"], env={"NO_COLOR": None})
    before = CliRunner().invoke(main, ["-v", "--no-color", "show", path], env={"NO_COLOR": None})
    assert after.exit_code == before.exit_code == 0, before.output
    assert before.stdout == after.stdout
    misplaced = CliRunner().invoke(main, ["--store", "x.db", "show", path])
    assert misplaced.exit_code == 1
    assert "--store does not apply to `show`: it reads no portal" in misplaced.stderr


def test_show_renders_consumer_text_inert_in_every_format(tmp_path: Path) -> None:
    # an app name typed in the Live Portal, as a plan carries it (the digest is no signature:
    # anyone can write a plan file that passes it)
    hostile = "Evil\x1b]0;pwned\x07\x1b[2J\r\n::error::fake @octocat `x` \u202eevil"
    data = json.loads(json.dumps(BASE))
    data["changes"] = [
        {
            "op": "create",
            "kind": "App",
            "key": f"a@b.example/{hostile}",
            "live_id": "",
            "reason": "",
            "deferred": False,
            "attrs": {"owner": "a@b.example", "name": hostile, "description": hostile},
            "fields": [],
        }
    ]
    data["warnings"] = [f"warning about {hostile}"]
    data["actions_digest"] = actions_digest(data)
    path = str(_plan_file(tmp_path, data))
    for fmt in ("text", "markdown", "json"):
        shown = show(path, "--format", fmt)
        assert shown.exit_code == 0, shown.output
        out = shown.stdout + shown.stderr
        assert not any(c in out for c in "\x1b\x07\r\u202e"), (fmt, out)
        assert not any(line.startswith("::") for line in out.splitlines()), fmt


def test_show_refuses_a_plan_nested_too_deeply_without_calling_it_a_bug(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text('{"format_version": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    # a digest over a value this deep cannot be computed here either: write it by hand
    deep_attr = tmp_path / "deep-attr.json"
    deep_attr.write_text(
        json.dumps(BASE)[:-1].replace(
            '"visibility": "private"', '"visibility": ' + "[" * 5000 + "]" * 5000
        )
        + ', "actions_digest": "0"}\n'
    )
    for path in (deep, deep_attr):
        refused = show(str(path))
        assert refused.exit_code == 1
        assert "bug" not in refused.stderr, refused.stderr
        assert refused.stderr == "error: plan file is not a plan: its JSON is nested too deeply\n"
