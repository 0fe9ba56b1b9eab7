"""Plan -> text (optionally coloured), markdown (for PR comments) or JSON (pure)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from portal_gitops.diff import FieldChange
from portal_gitops.escape import terminal_safe as safe
from portal_gitops.plan import Action, Plan, to_dict
from portal_gitops.state import Sensitive

MARKDOWN_LIMIT = 60_000
SYMBOL = {"create": "+", "update": "~", "replace": "-/+", "adopt": "=", "delete": "-"}
VERB = {
    "create": "will be created",
    "update": "will be updated",
    "replace": "will be replaced",
    "adopt": "will be managed (no change)",
    "delete": "will be deleted",
}
COLOUR = {"create": "32", "update": "33", "replace": "35", "adopt": "36", "delete": "31"}


def _c(text: str, code: str, color: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if color else text


def fmt_value(value: Any) -> str:
    if isinstance(value, Sensitive):
        return "(sensitive)"
    if value is None:
        return "null"
    if isinstance(value, str):
        return safe(json.dumps(value, ensure_ascii=False))
    return safe(json.dumps(_plain(value), ensure_ascii=False, sort_keys=True))


def _plain(value: Any) -> Any:
    if isinstance(value, Sensitive):
        return "(sensitive)"
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def summary_line(plan: Plan) -> str:
    c = plan.counts()
    if not plan.has_changes:
        return "No changes. The portal matches the manifests."
    parts = [f"{c['create']} to create", f"{c['update']} to update"]
    if c["replace"]:
        parts.append(f"{c['replace']} to replace")
    parts.append(f"{c['delete']} to delete")
    if c["adopt"]:
        parts.append(f"{c['adopt']} to adopt")
    return "Plan: " + ", ".join(parts) + "."


def describe_limits(limits: Mapping[str, Any]) -> str:
    """A plan's limits in words: "100 requests per 60 s, quota 10000 per 86400 s"."""
    rate, quota, expires = limits.get("rateLimit"), limits.get("quota"), limits.get("keyExpiresIn")
    parts = [
        f"{rate['requests']} requests per {rate['per']} s" if rate else "no rate limit",
        f"quota {quota['requests']} per {quota['renewal']} s" if quota else "no quota",
    ]
    if expires:
        parts.append(f"keys expire after {expires} s")
    return ", ".join(parts)


def access_verb(action: Action) -> str:
    """What an access-request action does to the consumer's access, by operation: only a
    create, or a decision on a pending request, grants; a replace revokes the live credential
    (and reissues it when approved again), never "GRANT"."""
    a = action.attrs or {}
    new = a.get("status")
    old = next((f.old for f in action.fields if f.path == "status"), new)
    if action.op == "delete":
        if old != "approved":
            return "WITHDRAW"
        return "EXPIRE" if action.reason == "expired" else "REVOKE"
    if action.op == "replace":
        if old == "approved":
            return "REISSUE" if new == "approved" else "REVOKE"
        return "REFILE (approve)" if new == "approved" else "REFILE (reject)"
    if action.op == "adopt" or (action.op == "update" and old == new):
        return "KEEP"
    return "REJECT" if new == "rejected" else "GRANT"


def credential_lines(plan: Plan, quote: Callable[[str], str] | None = None) -> list[str]:
    """The credentials the plan revokes, reissues or rotates: a count line, then one line each.
    ``quote`` wraps every name in them (markdown passes ``code``: consumers type app names)."""
    if not plan.credentials:
        return []
    n = plan.credential_counts()
    head = (
        f"{n['revoke']} credential{'s' if n['revoke'] != 1 else ''} revoked, "
        f"{n['reissue']} reissued (revoked, then issued anew)"
        + (f", {n['rotate']} rotated" if n["rotate"] else "")
        + " by this plan:"
    )
    q = quote or safe
    lines = [head]
    for c in plan.credentials:
        app = q(c.app) if quote else safe(repr(c.app))
        which = f"credential {q(c.credential)}" if c.credential else "credential"
        lines.append(
            f"{c.effect.upper()} {which} of {q(c.consumer)} ({q(c.organisation or '?')}) "
            f"app {app}, request {q(c.request)}, products [{', '.join(q(p) for p in c.products)}] "
            f"on plan {q(c.plan)}: {c.reason} ({q(c.cause)})"
        )
    return lines


def access_summary(
    action: Action,
    details: Mapping[str, Any] | None = None,
    quote: Callable[[str], str] | None = None,
) -> str | None:
    """One line saying who gets (or loses) what, for access requests. ``quote`` wraps every
    name in it (markdown passes ``code``: consumers type app names and descriptions)."""
    if action.kind != "AccessRequest":
        return None
    q = quote or safe
    a = action.attrs or {}
    verb = access_verb(action)
    details = details or {}
    org = q(str(a.get("organisation") or "?"))
    teams = ", ".join(q(str(t)) for t in details.get("teams", []))
    who = f"{q(str(a.get('consumer', '?')))} ({org}{': ' + teams if teams else ''})"
    app_name = str((a.get("app") or {}).get("name", "?"))
    app = q(app_name) if quote else safe(repr(app_name))
    limits = details.get("limits")
    plan = f"plan {q(str(a.get('plan', '?')))}" + (
        f" ({describe_limits(limits)})" if limits else ""
    )
    products = ", ".join(q(str(p)) for p in a.get("products", []))
    catalogue = details.get("catalogue") or a.get("catalogue")
    return f"{verb} {who} products [{products}] on {plan} via app {app}" + (
        f" from catalogue {q(str(catalogue))}" if catalogue else ""
    )


def field_text(f: FieldChange) -> str:
    """A field's change after its path: ``50 -> 75``, a set's ``+ "DELETE"`` or ``- {...}``."""
    if f.sensitive:
        return "(sensitive value changed)"
    if f.item == "added":
        return f"+ {fmt_value(f.new)}"
    if f.item == "removed":
        return f"- {fmt_value(f.old)}"
    return f"{fmt_value(f.old)} -> {fmt_value(f.new)}"


def _md_field(f: FieldChange) -> str:
    path = code(f.path, table=True)
    if f.sensitive:
        return f"{path}: (sensitive)"
    if f.item == "added":
        return f"{path}: + {_md(fmt_value(f.new))}"
    if f.item == "removed":
        return f"{path}: - {_md(fmt_value(f.old))}"
    return f"{path}: {_md(fmt_value(f.old))} → {_md(fmt_value(f.new))}"


def _attr_lines(attrs: Mapping[str, Any], indent: str) -> Iterable[str]:
    for k in sorted(attrs):
        yield f"{indent}{k}: {fmt_value(attrs[k])}"


def render_text(plan: Plan, *, color: bool = False, verbose: bool = False) -> str:
    out: list[str] = []
    credentials = credential_lines(plan)
    if credentials:
        out.append(_c(credentials[0], "1;31", color))
        out.extend(f"  {line}" for line in credentials[1:])
        out.append("")
    for a in plan.actions:
        head = f"{SYMBOL[a.op]} {safe(a.address)} {VERB[a.op]}"
        if a.reason and a.op not in ("adopt",):
            head += f" ({a.reason})"
        out.append(_c(head, COLOUR[a.op], color))
        acc = access_summary(a, plan.details.get(a.address))
        if acc:
            out.append(f"    {acc}")
        if a.op == "create" and a.attrs is not None and (verbose or a.kind != "AccessRequest"):
            out.extend(_attr_lines(a.attrs, "    + "))
        for f in a.fields:
            out.append(f"    ~ {safe(f.path)}: {field_text(f)}")
    if plan.orphaned:
        out.append("")
        out.append("Managed objects removed from the manifests (deleted only with --prune):")
        out.extend(f"  {safe(u.address)}" for u in plan.orphaned)
    if plan.unmanaged:
        out.append("")
        out.append(f"Unmanaged objects in the portal ({len(plan.unmanaged)}), never touched:")
        shown = plan.unmanaged if verbose else plan.unmanaged[:20]
        out.extend(f"  {safe(u.address)}" for u in shown)
        if len(shown) < len(plan.unmanaged):
            out.append(f"  ... and {len(plan.unmanaged) - len(shown)} more (-v to list all)")
    # warnings go to stderr in text mode (cli.py); markdown and JSON carry them
    if out:
        out.append("")
    out.append(_c(summary_line(plan), "1", color))
    return "\n".join(out) + "\n"


def code(text: str, *, table: bool = False) -> str:
    """Text someone else typed, as a GitHub-flavoured-markdown code span: nothing renders
    inside one (no @mention pings, no link, image or HTML), and its fence is one backtick
    longer than any run of backticks inside, so the text cannot close it (CommonMark 0.31,
    "Code spans"). In a table cell a ``|`` is escaped (GFM spec, "Tables": the pipe is
    escaped even inside code spans). Control, line-ending and bidirectional characters are
    shown escaped (``\\x1b``), as in the terminal: the markdown is printed in the job log and
    the job summary too, and a reordering character would make the comment read differently
    from what it holds."""
    text = safe(" ".join(str(text).splitlines())) if text else ""
    if not text:
        return '""'
    if table:
        text = text.replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    return f"{fence}{pad}{text}{pad}{fence}"


FULL_PLAN_NOTE = (
    "The full plan is too long for a comment: {dropped}. Every change, grant and revoke is "
    "listed in the job summary and in the saved plan (the workflow run's plan artifact)."
)


def render_markdown(plan: Plan, *, limit: int | None = MARKDOWN_LIMIT) -> str:
    """A PR comment: the credentials it revokes or reissues first, then the summary, access
    grants and revokes, then every change.

    Past ``limit`` characters it sheds what an approver can do without, in this order: the
    list of unmanaged objects, the list of objects removed from the manifests, the field
    details of each change. Credentials, access grants, rejections and revokes are never
    dropped; changes are listed one a line as long as they fit, after a count per kind and
    operation."""
    head = ["### portal-gitops plan", ""]
    credentials = credential_lines(plan, code)
    if credentials:
        head.append(f"#### :warning: Credentials: {credentials[0]}")
        head.append("")
        head.extend(f"- {line}" for line in credentials[1:])
        head.append("")
    head.extend([f"**{summary_line(plan)}**", ""])
    if plan.target:
        head.append(f"Target: {code(plan.target)}")
        head.append("")
    grants = [
        s for a in plan.actions if (s := access_summary(a, plan.details.get(a.address), code))
    ]
    if grants:
        head.append("#### Access requests")
        head.extend(f"- {s}" for s in grants)
        head.append("")
    changes: list[str] = []
    if plan.actions:
        changes.append("#### Changes")
        changes.append("")
        changes.append("| | object | change |")
        changes.append("|---|---|---|")
        for a in plan.actions:
            detail = "; ".join(_md_field(f) for f in a.fields) or (a.reason or VERB[a.op])
            changes.append(f"| {SYMBOL[a.op]} | {code(a.address, table=True)} | {detail} |")
        changes.append("")
    orphaned = [
        "<details><summary>Managed objects removed from the manifests "
        f"({len(plan.orphaned)}, deleted only with --prune)</summary>",
        "",
        *(f"- {code(u.address)}" for u in plan.orphaned),
        "</details>",
        "",
    ]
    unmanaged = [
        f"<details><summary>Unmanaged objects ({len(plan.unmanaged)}), never touched</summary>",
        "",
        *(f"- {code(u.address)}" for u in plan.unmanaged),
        "</details>",
        "",
    ]
    warnings = [f"> {code(w)}" for w in plan.warnings]
    if not plan.orphaned:
        orphaned = []
    if not plan.unmanaged:
        unmanaged = []
    counts_line = (
        f"Unmanaged objects: {len(plan.unmanaged)}; removed from the manifests: "
        f"{len(plan.orphaned)}."
    )
    attempts = [
        (changes + orphaned + unmanaged, ""),
        (changes + orphaned + [counts_line, ""], "the unmanaged objects are not listed"),
        ([*changes, counts_line, ""], "unmanaged and removed objects are not listed"),
    ]
    for body, dropped in attempts:
        note = [FULL_PLAN_NOTE.format(dropped=dropped), ""] if dropped else []
        text = "\n".join(head + note + body + warnings) + "\n"
        if limit is None or len(text) <= limit:
            return text
    assert limit is not None  # with no limit the first attempt fits
    return _condensed(plan, head, warnings, counts_line, limit)


def _condensed(
    plan: Plan, head: list[str], warnings: list[str], counts_line: str, limit: int
) -> str:
    """Every access line, the counts per kind, then one line per change while they fit."""
    counts: dict[tuple[str, str], int] = {}
    for a in plan.actions:
        counts[(a.kind, a.op)] = counts.get((a.kind, a.op), 0) + 1
    top = [
        *head,
        FULL_PLAN_NOTE.format(dropped="changes are listed without their field details"),
        "",
        "| kind | operation | count |",
        "|---|---|---|",
        *(f"| {k} | {op} | {n} |" for (k, op), n in sorted(counts.items())),
        "",
        counts_line,
        "",
        *warnings,
        "",
        "#### Changes",
        "",
    ]
    text = "\n".join(top) + "\n"
    reserve = 200  # the "... and N more" line
    for i, a in enumerate(plan.actions):
        line = f"- {SYMBOL[a.op]} {code(a.address)} {a.reason or VERB[a.op]}\n"
        if len(text) + len(line) > limit - reserve:
            text += (
                f"- ... and {len(plan.actions) - i} more changes: the comment limit is "
                "reached; read them in the job summary or the plan artifact\n"
            )
            break
        text += line
    if len(text) > limit:  # only when the access lines alone outgrow a comment
        cut = "\n\n(cut at the comment size limit: read the full plan in the job summary)\n"
        text = text[: limit - len(cut)] + cut
    return text


def _md(text: str) -> str:
    text = text.replace("\n", " ")
    return code(text if len(text) < 200 else f"{text[:197]}...", table=True)


def render_json(plan: Plan) -> str:
    return json.dumps(to_dict(plan), indent=2) + "\n"


def render(plan: Plan, fmt: str, *, color: bool = False, verbose: bool = False) -> str:
    if fmt == "json":
        return render_json(plan)
    if fmt == "markdown":
        return render_markdown(plan)
    return render_text(plan, color=color, verbose=verbose)
