"""Reference documentation generated from the code: a development tool, not part of the package.

``manifest_reference()`` documents every manifest kind from the pydantic models (the field
descriptions are the models' own, the ones the JSON Schemas carry); ``cli_reference()``
documents every command from the click command tree. Both are committed under
``docs/reference/`` and checked current by a test; from the repository root, regenerate them with

    python tools/docgen.py docs
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import re
import sys
import types
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
import click
from pydantic import BaseModel, StringConstraints
from pydantic.fields import FieldInfo

from portal_gitops.models import API_VERSION, KINDS, REQUEST_ID_ANNOTATION, FromEnv, FromFile
from portal_gitops.models.common import ENV_VAR, Email, Metadata, Name, Owner
from portal_gitops.models.provider import Url

REGENERATE = "python tools/docgen.py docs"
MANIFESTS_FILE = Path("reference") / "manifests.md"
CLI_FILE = Path("reference") / "cli.md"
GENERATED_NOTE = f"<!-- Generated from the code by `{REGENERATE}`; do not edit by hand. -->"

# --------------------------------------------------------------------------------------------
# manifests

# One small, valid example per kind (the test validates each against its model).
EXAMPLES: dict[str, str] = {
    "Provider": """\
apiVersion: portal-gitops/v1
kind: Provider
metadata:
  name: tyk
spec:
  type: tyk-pro
  dashboardUrl: https://dashboard.example.com:3000
  secret: {fromEnv: TYK_DASHBOARD_SECRET}
  orgId: 5e9d9544a1dcd60001d0ed20
""",
    "Organisation": """\
apiVersion: portal-gitops/v1
kind: Organisation
metadata:
  name: Acme Corp
spec: {}
""",
    "Team": """\
apiVersion: portal-gitops/v1
kind: Team
metadata:
  name: developers
spec:
  organisation: Acme Corp
  members:
    - {email: ada@acme.example, role: admin, first: Ada, last: Lovelace}
    - {email: bob@acme.example}
""",
    "AdminUser": """\
apiVersion: portal-gitops/v1
kind: AdminUser
metadata:
  name: grace
spec:
  email: grace@example.com
  role: provider-admin
  first: Grace
  last: Hopper
  github: ghopper
""",
    "Product": """\
apiVersion: portal-gitops/v1
kind: Product
metadata:
  name: weather
spec:
  provider: tyk
  displayName: Weather API
  apis:
    - apiId: weather-v1
      allowedUrls:
        - {url: /forecast, methods: [GET]}
  owners: ["@acme/weather-team", grace]
""",
    "Plan": """\
apiVersion: portal-gitops/v1
kind: Plan
metadata:
  name: basic
spec:
  provider: tyk
  displayName: Basic
  rateLimit: {requests: 10, per: 1}
  quota: {requests: 10000, renewal: 2592000}
""",
    "Catalogue": """\
apiVersion: portal-gitops/v1
kind: Catalogue
metadata:
  name: partners
spec:
  visibility: private
  audience:
    - {organisation: Acme Corp, team: developers}
  products: [weather]
  plans: [basic]
""",
    "App": """\
apiVersion: portal-gitops/v1
kind: App
metadata:
  name: acme-dashboard
spec:
  owner: ada@acme.example
  description: Forecasts on the Acme dashboard.
  redirectUrls: [https://dashboard.acme.example/oauth/callback]
  visibility: team
""",
    "AccessRequest": """\
apiVersion: portal-gitops/v1
kind: AccessRequest
metadata:
  name: acme-weather
spec:
  consumer: ada@acme.example
  app: acme-dashboard
  products: [weather]
  plan: basic
  catalogue: partners
  justification: Forecasts on the Acme dashboard.
  expires: 2030-12-31
  rotate: "2030-01"
""",
}


def _pattern_names() -> dict[str, str]:
    def pattern(alias: Any) -> str:
        for meta in get_args(alias)[1:]:
            if isinstance(meta, StringConstraints) and meta.pattern:
                return str(meta.pattern)
        raise ValueError(f"no pattern in {alias!r}")  # pragma: no cover

    return {
        pattern(Name): "[name](#value-types)",
        pattern(Email): "[email](#value-types)",
        pattern(Owner): "[owner](#value-types)",
        pattern(Url): "[URL](#value-types)",
        ENV_VAR: "[variable name](#value-types)",
    }


def _cell(text: str) -> str:
    """Text safe inside one markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def _code(text: str) -> str:
    return f"`{text}`"


def _anchor(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    slug = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return slug.replace(" ", "-")


class _Models:
    """Nested models met while documenting one kind, in order of first appearance."""

    def __init__(self, kind: str):
        self.kind = kind
        self.found: dict[type[BaseModel], str] = {}  # model -> its path in the document

    def heading(self, model: type[BaseModel], path: str) -> str:
        self.found.setdefault(model, path)
        return f"{self.kind} {self.found[model]}"


def _constraints(metadata: Sequence[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for meta in metadata:
        if isinstance(meta, StringConstraints):
            for key in ("min_length", "max_length", "pattern"):
                if getattr(meta, key) is not None:
                    out[key] = getattr(meta, key)
        elif isinstance(meta, annotated_types.MinLen):
            out["min_length"] = meta.min_length
        elif isinstance(meta, annotated_types.MaxLen):
            out["max_length"] = meta.max_length
        elif isinstance(meta, annotated_types.Gt):
            out["gt"] = meta.gt
        elif isinstance(meta, annotated_types.Ge):
            out["ge"] = meta.ge
        elif isinstance(meta, FieldInfo):
            out.update(_constraints(meta.metadata))
    return out


def _type(annotation: Any, metadata: Sequence[Any], models: _Models, path: str) -> str:
    """A reader's description of a field's type, linking nested models to their tables."""
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *meta = get_args(annotation)
        return _type(base, [*metadata, *meta], models, path)
    if origin in (Union, types.UnionType):
        parts = [a for a in get_args(annotation) if a is not type(None)]
        return " or ".join(
            _type(a, metadata if len(parts) == 1 else [], models, path) for a in parts
        )
    if origin is Literal:
        return " or ".join(_code(str(v)) for v in get_args(annotation))
    c = _constraints(metadata)
    if origin is list:
        (item,) = get_args(annotation)
        inner = _type(item, [], models, path + "[]")
        text = "list of " + (inner + "s" if inner in ("string", "non-empty string") else inner)
        if c.get("min_length"):
            text += f" (at least {c['min_length']})"
        return text
    if origin is dict:
        key, value = get_args(annotation)
        return f"map of {_type(key, [], models, path)} to {_type(value, [], models, path)}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in (FromEnv, FromFile):
            return f"[{annotation.__name__}](#secret-references)"
        heading = models.heading(annotation, path)
        return f"[{annotation.__name__}](#{_anchor(heading)})"
    if annotation is bool:
        return "boolean"
    if annotation is int:
        if c.get("gt") == 0 or c.get("ge") == 1:
            return "positive integer"
        return "integer"
    if annotation is dt.date:
        return "date (YYYY-MM-DD)"
    if annotation is str:
        pattern = c.get("pattern")
        if pattern:
            named = _pattern_names().get(pattern)
            return named or f"string matching {_code(pattern)}"
        if c.get("min_length"):
            return "non-empty string"
        return "string"
    return _code(getattr(annotation, "__name__", str(annotation)))  # pragma: no cover


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return ""
    if field.default_factory is not None:
        value: Any = field.default_factory()  # type: ignore[call-arg]
    else:
        value = field.default
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if value is None:
        return "omitted"
    if isinstance(value, dt.date):
        return _code(value.isoformat())
    return _code(json.dumps(value))


def _field_rows(
    model: type[BaseModel], models: _Models, prefix: str
) -> Iterator[tuple[str, str, str, str, str]]:
    for name, field in model.model_fields.items():
        path = f"{prefix}.{name}" if prefix else name
        yield (
            _code(name),
            _type(field.annotation, field.metadata, models, path),
            "yes" if field.is_required() else "no",
            _default(field),
            field.description or "",
        )


def _table(model: type[BaseModel], models: _Models, prefix: str) -> list[str]:
    if not model.model_fields:
        return ["No fields: write `spec: {}` or leave `spec` out."]
    lines = [
        "| field | type | required | default | description |",
        "|---|---|---|---|---|",
    ]
    for row in _field_rows(model, models, prefix):
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return lines


def _envelope_description(name: str) -> str:
    """The description every kind's model gives an envelope field (they all agree)."""
    descriptions = {cls.model_fields[name].description or "" for cls in KINDS.values()}
    (description,) = descriptions
    return _cell(description)


def _kind_summary(kind: str) -> str:
    doc = sys.modules[KINDS[kind].__module__].__doc__ or kind
    first = doc.strip().splitlines()[0]
    text = first.split(": ", 1)[-1]
    return text[:1].upper() + text[1:]


def _spec_model(kind: str) -> type[BaseModel]:
    annotation = KINDS[kind].model_fields["spec"].annotation
    assert isinstance(annotation, type) and issubclass(annotation, BaseModel)
    return annotation


def _kind_section(kind: str) -> list[str]:
    models = _Models(kind)
    spec = _spec_model(kind)
    required = "required" if KINDS[kind].model_fields["spec"].is_required() else "optional"
    out = [
        f"## {kind}",
        "",
        _kind_summary(kind),
        "",
        "```yaml",
        EXAMPLES[kind].rstrip("\n"),
        "```",
        "",
        f"### {kind} spec",
        "",
        f"`spec` is {required}.",
        "",
        *_table(spec, models, "spec"),
        "",
    ]
    done: set[type[BaseModel]] = set()
    while True:
        pending = [m for m in models.found if m not in done]
        if not pending:
            break
        for model in pending:
            done.add(model)
            path = models.found[model]
            out.extend([f"### {kind} {path}", "", *_table(model, models, path)])
            out.append("")
    return out


def manifest_reference() -> str:
    """Markdown documenting the envelope, secret references and every kind's fields."""
    envelope = _Models("metadata")
    lines = [
        "# Manifest reference",
        "",
        GENERATED_NOTE,
        "",
        "Manifests are YAML files (`*.yaml` or `*.yml`) under the paths given to a command; a "
        "file may hold several documents separated by `---`. Every document has the same "
        "envelope, and its `kind` decides what `spec` holds. Unknown fields are errors.",
        "",
        "Kinds: " + ", ".join(f"[{k}](#{_anchor(k)})" for k in KINDS) + ".",
        "",
        "## Envelope",
        "",
        "| field | type | required | description |",
        "|---|---|---|---|",
        f"| `apiVersion` | {_code(API_VERSION)} | yes | {_envelope_description('apiVersion')} |",
        "| `kind` | " + " or ".join(_code(k) for k in KINDS) + " | yes | "
        f"{_envelope_description('kind')} |",
        f"| `metadata` | [Metadata](#metadata) | yes | {_envelope_description('metadata')} |",
        "| `spec` | depends on `kind` | yes (optional for Organisation) | "
        f"{_envelope_description('spec')} |",
        "",
        "### Metadata",
        "",
        *_table(Metadata, envelope, "metadata"),
        "",
        "`metadata.name` is the object's name in the portal and how other manifests refer to "
        "it. Names are unique per kind; team names are unique within their organisation.",
        "",
        f"Annotation `{REQUEST_ID_ANNOTATION}`: the ID of a request made in the Live Portal. "
        "`portal-gitops requests pull` sets it, so that applying the manifest decides that very "
        "request instead of creating a new one.",
        "",
        "## Value types",
        "",
        "| type | what it accepts | pattern |",
        "|---|---|---|",
    ]
    names = {v: k for k, v in _pattern_names().items()}
    accepts = {
        "[name](#value-types)": "1 to 200 characters, no `/` or `\\`, no leading or trailing "
        "space.",
        "[email](#value-types)": "An email address.",
        "[owner](#value-types)": "A CODEOWNERS owner: `@user`, `@org/team` or an email address.",
        "[URL](#value-types)": "An `http://` or `https://` URL.",
        "[variable name](#value-types)": "An environment variable name.",
    }
    for label, text in accepts.items():
        plain = label.split("]")[0].lstrip("[")
        lines.append(f"| {plain} | {_cell(text)} | {_cell(_code(names[label]))} |")
    lines += [
        "",
        "A positive integer is a whole number from 1 to 2147483647, written without quotes.",
        "",
        "## Secret references",
        "",
        "Secrets are never written in manifests. A field that takes a secret takes one of these "
        "references instead, resolved when portal-gitops talks to the portal; plans and "
        "output show only the reference, never the value. A literal string is rejected.",
        "",
        "### FromEnv",
        "",
        *_table(FromEnv, envelope, ""),
        "",
        "### FromFile",
        "",
        *_table(FromFile, envelope, ""),
        "",
        "```yaml",
        "secret: {fromEnv: TYK_DASHBOARD_SECRET}",
        "# or",
        "secret: {fromFile: /run/secrets/dashboard}",
        "```",
        "",
    ]
    for kind in KINDS:
        lines.extend(_kind_section(kind))
    return "\n".join(lines).rstrip("\n") + "\n"


# --------------------------------------------------------------------------------------------
# command line


def _param_type(param: click.Option) -> str:
    if param.count:
        return "count (repeatable)"
    if param.is_flag:
        return "flag"
    t = param.type
    if isinstance(t, click.Choice):
        return " or ".join(_code(str(c)) for c in t.choices)
    if isinstance(t, click.IntRange):
        if t.min is not None and t.max is not None:
            return f"integer {t.min} to {t.max}"
        if t.min is not None:
            return f"integer, at least {t.min}"
        return "integer"  # pragma: no cover
    if isinstance(t, click.Path):
        if not t.dir_okay:
            return "file path"
        if not t.file_okay:
            return "directory path"
        return "path"  # pragma: no cover
    return {"integer": "integer", "float": "number", "text": "text"}.get(t.name, t.name)


def _param_default(param: click.Parameter, ctx: click.Context) -> str:
    value = param.get_default(ctx, call=False)
    if isinstance(param, click.Option) and (param.is_flag or param.count):
        return ""
    if isinstance(value, bool | int | float | str) and value != "":
        return _code(str(value))
    return ""


def _help(text: str | None) -> str:
    return inspect.cleandoc(text or "").replace("\b\n", "")


def _command_path(ctx: click.Context) -> str:
    return ctx.command_path


def _walk(
    command: click.Command, ctx: click.Context
) -> Iterator[tuple[click.Command, click.Context]]:
    yield command, ctx
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is None or sub.hidden:
                continue
            yield from _walk(sub, click.Context(sub, info_name=name, parent=ctx))


def _command_section(command: click.Command, ctx: click.Context, level: int) -> list[str]:
    out = [f"{'#' * level} {_command_path(ctx)}", ""]
    out += ["```", command.get_usage(ctx).strip(), "```", ""]
    if command.help:
        out += [_help(command.help), ""]
    arguments = [p for p in command.params if isinstance(p, click.Argument)]
    if arguments:
        out += ["| argument | required | default |", "|---|---|---|"]
        for arg in arguments:
            metavar = arg.make_metavar(ctx)
            out.append(
                f"| {_cell(_code(metavar))} | {'yes' if arg.required else 'no'} "
                f"| {_cell(_param_default(arg, ctx))} |"
            )
        out.append("")
    options = [p for p in command.params if isinstance(p, click.Option) and not p.hidden]
    if options:
        out += ["| option | type | default | description |", "|---|---|---|---|"]
        for opt in sorted(options, key=lambda o: o.opts[-1].lstrip("-")):
            names = ", ".join(_code(o) for o in [*opt.opts, *opt.secondary_opts])
            description = (opt.help or "").strip()
            if opt.required:
                description = ("Required. " + description).strip()
            if isinstance(opt.envvar, str):
                description += f" Environment variable: `{opt.envvar}`."
            out.append(
                f"| {_cell(names)} | {_cell(_param_type(opt))} | "
                f"{_cell(_param_default(opt, ctx))} | {_cell(description.strip())} |"
            )
        out.append("")
    if isinstance(command, click.Group):
        subs = [
            name
            for name in command.list_commands(ctx)
            if (c := command.get_command(ctx, name)) is not None and not c.hidden
        ]
        if subs:
            out += ["Commands: " + ", ".join(f"`{s}`" for s in subs) + ".", ""]
    return out


def cli_reference() -> str:
    """Markdown documenting every command and subcommand of ``portal-gitops``."""
    from portal_gitops import cli
    from portal_gitops.cli import common as cli_common

    root = click.Context(cli.main, info_name="portal-gitops")
    commands = list(_walk(cli.main, root))
    lines = [
        "# Command-line reference",
        "",
        GENERATED_NOTE,
        "",
        "Commands: "
        + ", ".join(
            f"[{c.command_path.removeprefix('portal-gitops ')}](#{_anchor(c.command_path)})"
            for _, c in commands[1:]
        )
        + ".",
        "",
        "## Exit codes",
        "",
        "| code | meaning |",
        "|---|---|",
        f"| {cli_common.EXIT_OK} | Success, or no changes. |",
        f"| {cli_common.EXIT_ERROR} | An error: invalid manifests, a failed apply, a stale plan, "
        "an unreachable portal. |",
        f"| {cli_common.EXIT_CHANGES} | Changes present (`plan --detailed-exitcode`) or drift "
        "(`drift`). |",
        "",
        "Errors are printed to standard error as `error: ...`, one clear message per "
        "problem. Plans and reports go to standard output. Every command accepts `-h` or "
        "`--help`. `[PATHS]...` are manifest files or folders.",
        "",
    ]
    for command, ctx in commands:
        level = 2 if ctx.parent is None else min(2 + _depth(ctx), 4)
        lines.extend(_command_section(command, ctx, level))
    return "\n".join(lines).rstrip("\n") + "\n"


def _depth(ctx: click.Context) -> int:
    depth = 0
    parent = ctx.parent
    while parent is not None and parent.parent is not None:
        depth += 1
        parent = parent.parent
    return depth


# --------------------------------------------------------------------------------------------
# files


def generated(root: Path) -> Mapping[Path, str]:
    """Path (under the docs folder ``root``) -> the text it should hold."""
    return {
        root / MANIFESTS_FILE: manifest_reference(),
        root / CLI_FILE: cli_reference(),
    }


def write_docs(root: Path) -> list[Path]:
    """Write the generated references under ``root`` (the docs folder); returns the paths."""
    written = []
    for path, text in generated(Path(root)).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":  # pragma: no cover
    write_docs(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs"))
