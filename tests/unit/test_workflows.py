"""The GitHub workflows, the composite action and the pre-commit hooks are valid and run only
commands that exist."""

from __future__ import annotations

import json
import re
import shlex
from importlib import resources
from pathlib import Path
from typing import Any

import click
import jsonschema
import pytest
import yaml
from pre_commit.clientlib import load_config, load_manifest

from portal_gitops.cli import main
from portal_gitops.scaffold import WORKFLOWS, render_workflow

REPO = Path(__file__).resolve().parents[2]
WORKFLOW_FILES = sorted((REPO / ".github" / "workflows").glob("*.yml"))


def vendored_schema(name: str) -> dict[str, Any]:
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    data: dict[str, Any] = json.loads(vendor.joinpath(f"{name}.json").read_text())
    return data


class Yaml12Loader(yaml.SafeLoader):
    """GitHub reads workflows as YAML 1.2: `on:` is a key, not the boolean true."""


Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_yaml(path: Path) -> Any:
    return yaml.load(path.read_text(), Loader=Yaml12Loader)


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_workflow_is_valid_against_the_github_workflow_schema(path: Path) -> None:
    jsonschema.validate(load_yaml(path), vendored_schema("github-workflows"))


def test_composite_action_is_valid_against_the_github_action_schema() -> None:
    action = load_yaml(REPO / "action.yml")
    jsonschema.validate(action, vendored_schema("github-actions"))
    assert action["runs"]["using"] == "composite"


def test_pre_commit_hook_definition_and_init_config_load_in_pre_commit(tmp_path: Path) -> None:
    (hook,) = load_manifest(str(REPO / ".pre-commit-hooks.yaml"))
    assert hook["entry"] == "portal-gitops validate"
    from portal_gitops.scaffold import PRE_COMMIT

    config = tmp_path / ".pre-commit-config.yaml"
    config.write_text(PRE_COMMIT)
    loaded = load_config(str(config))
    assert loaded["repos"][0]["hooks"][0]["id"] == "portal-gitops-validate"


def test_all_the_user_workflows_exist() -> None:
    names = {p.stem for p in WORKFLOW_FILES}
    assert {"ci", *WORKFLOWS} <= names


@pytest.mark.parametrize("name", WORKFLOWS)
def test_repository_workflows_are_the_templates_init_writes(name: str) -> None:
    committed = (REPO / ".github" / "workflows" / f"{name}.yml").read_text()
    assert committed == render_workflow(name, "examples/manifests", install=".")


def _commands_in(script: str) -> list[list[str]]:
    """Every `portal-gitops ...` invocation in a shell script, as argument lists."""
    found = []
    script = script.replace("\\\n", " ")
    # the composite action assembles its arguments in bash arrays: args=(plan ...)
    for m in re.finditer(r"\bargs=\((\w[^)]*)\)", script):
        found.append(shlex.split(m.group(1)))
    for line in script.splitlines():
        if '"${args[@]}"' in line:
            continue
        for m in re.finditer(r"portal-gitops\s+([^|;&>]*)", line):
            if m.start() > 0 and line[m.start() - 1] not in " \t(\"'":
                continue
            try:
                found.append(shlex.split(m.group(1)))
            except ValueError:
                found.append(m.group(1).split())
    return found


def _check_invocation(args: list[str]) -> None:
    command: click.Command = main
    ctx = click.Context(main)
    while isinstance(command, click.Group):
        assert args, "a group needs a subcommand"
        sub = command.get_command(ctx, args[0])
        assert sub is not None, f"no such command: {args[0]}"
        command, args = sub, args[1:]
    options = {opt for p in command.params for opt in getattr(p, "opts", [])}
    for arg in args:
        if arg.startswith("--"):
            assert arg.split("=")[0] in options, f"{command.name} has no option {arg}"


def _scripts(doc: Any) -> list[str]:
    if isinstance(doc, dict):
        out = [doc["run"]] if isinstance(doc.get("run"), str) else []
        for v in doc.values():
            out.extend(_scripts(v))
        return out
    if isinstance(doc, list):
        return [s for item in doc for s in _scripts(item)]
    return []


@pytest.mark.parametrize("path", [*WORKFLOW_FILES, REPO / "action.yml"], ids=lambda p: p.name)
def test_workflows_run_only_commands_that_exist(path: Path) -> None:
    invocations = [args for s in _scripts(load_yaml(path)) for args in _commands_in(s)]
    if path.stem.startswith("portal-"):
        assert invocations, "a portal workflow runs portal-gitops"
    for args in invocations:
        _check_invocation(args)


def test_the_command_checker_catches_unknown_commands_and_options() -> None:
    with pytest.raises(AssertionError, match="no such command: plna"):
        _check_invocation(["plna"])
    with pytest.raises(AssertionError, match="plan has no option --yolo"):
        _check_invocation(["plan", "m", "--yolo"])
    _check_invocation(["requests", "pull", "m", "--out", "x"])
