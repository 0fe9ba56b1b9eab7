"""Plan -> text (optionally coloured), markdown (for PR comments) or JSON (pure)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

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
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(_plain(value), ensure_ascii=False, sort_keys=True)


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


def credential_lines(plan: Plan) -> list[str]:
    """The credentials the plan revokes or reissues: a count line, then one line each."""
    if not plan.credentials:
        return []
    n = plan.credential_counts()
    head = (
        f"{n['revoke']} credential{'s' if n['revoke'] != 1 else ''} revoked, "
        f"{n['reissue']} reissued (revoked, then issued anew) by this plan:"
    )
    lines = [head]
    for c in plan.credentials:
        lines.append(
            f"{c.effect.upper()} credential of {c.consumer} ({c.organisation or '?'}) "
            f"app {c.app!r}, request {c.request}, products [{', '.join(c.products)}] "
            f"on plan {c.plan}: {c.reason} ({c.cause})"
        )
    return lines


def access_summary(action: Action, details: Mapping[str, Any] | None = None) -> str | None:
    """One line saying who gets (or loses) what, for access requests."""
    if action.kind != "AccessRequest":
        return None
    a = action.attrs or {}
    verb = access_verb(action)
    details = details or {}
    org = a.get("organisation") or "?"
    teams = ", ".join(details.get("teams", []))
    who = f"{a.get('consumer', '?')} ({org}{': ' + teams if teams else ''})"
    app = (a.get("app") or {}).get("name", "?")
    limits = details.get("limits")
    plan = f"plan {a.get('plan', '?')}" + (f" ({describe_limits(limits)})" if limits else "")
    products = ", ".join(a.get("products", []))
    catalogue = details.get("catalogue") or a.get("catalogue")
    return f"{verb} {who} products [{products}] on {plan} via app {app!r}" + (
        f" from catalogue {catalogue}" if catalogue else ""
    )


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
        head = f"{SYMBOL[a.op]} {a.address} {VERB[a.op]}"
        if a.reason and a.op not in ("adopt",):
            head += f" ({a.reason})"
        out.append(_c(head, COLOUR[a.op], color))
        acc = access_summary(a, plan.details.get(a.address))
        if acc:
            out.append(f"    {acc}")
        if a.op == "create" and a.attrs is not None and (verbose or a.kind != "AccessRequest"):
            out.extend(_attr_lines(a.attrs, "    + "))
        for f in a.fields:
            if f.sensitive:
                out.append(f"    ~ {f.path}: (sensitive value changed)")
            else:
                out.append(f"    ~ {f.path}: {fmt_value(f.old)} -> {fmt_value(f.new)}")
    if plan.orphaned:
        out.append("")
        out.append("Managed objects removed from the manifests (deleted only with --prune):")
        out.extend(f"  {u.address}" for u in plan.orphaned)
    if plan.unmanaged:
        out.append("")
        out.append(f"Unmanaged objects in the portal ({len(plan.unmanaged)}), never touched:")
        shown = plan.unmanaged if verbose else plan.unmanaged[:20]
        out.extend(f"  {u.address}" for u in shown)
        if len(shown) < len(plan.unmanaged):
            out.append(f"  ... and {len(plan.unmanaged) - len(shown)} more (-v to list all)")
    # warnings go to stderr in text mode (cli.py); markdown and JSON carry them
    if out:
        out.append("")
    out.append(_c(summary_line(plan), "1", color))
    return "\n".join(out) + "\n"


def render_markdown(plan: Plan, *, limit: int = MARKDOWN_LIMIT) -> str:
    """A PR comment: the credentials it revokes or reissues first, then the summary, access
    grants and every change; summarised past ``limit`` (the credentials' counts kept)."""
    head = ["### portal-gitops plan", ""]
    credentials = credential_lines(plan)
    if credentials:
        head.append(f"#### :warning: Credentials: {credentials[0]}")
        head.append("")
        head.extend(f"- {_md_text(line)}" for line in credentials[1:])
        head.append("")
    head.extend([f"**{summary_line(plan)}**", ""])
    if plan.target:
        head.append(f"Target: `{plan.target}`")
        head.append("")
    grants = [s for a in plan.actions if (s := access_summary(a, plan.details.get(a.address)))]
    if grants:
        head.append("#### Access requests")
        head.extend(f"- {s}" for s in grants)
        head.append("")
    body: list[str] = []
    if plan.actions:
        body.append("#### Changes")
        body.append("")
        body.append("| | object | change |")
        body.append("|---|---|---|")
        for a in plan.actions:
            detail = "; ".join(
                f"`{f.path}`: (sensitive)"
                if f.sensitive
                else f"`{f.path}`: {_md(fmt_value(f.old))} → {_md(fmt_value(f.new))}"
                for f in a.fields
            ) or (a.reason or VERB[a.op])
            body.append(f"| {SYMBOL[a.op]} | `{a.address}` | {detail} |")
        body.append("")
    if plan.orphaned:
        body.append(
            "<details><summary>Managed objects removed from the manifests "
            f"({len(plan.orphaned)}, deleted only with --prune)</summary>"
        )
        body.append("")
        body.extend(f"- `{u.address}`" for u in plan.orphaned)
        body.append("</details>")
        body.append("")
    if plan.unmanaged:
        body.append(
            f"<details><summary>Unmanaged objects ({len(plan.unmanaged)}), never touched</summary>"
        )
        body.append("")
        body.extend(f"- `{u.address}`" for u in plan.unmanaged)
        body.append("</details>")
        body.append("")
    body.extend(f"> {w}" for w in plan.warnings)
    text = "\n".join(head + body) + "\n"
    if len(text) <= limit:
        return text
    # too long for a PR comment: keep the head and the counts per kind and operation
    counts: dict[tuple[str, str], int] = {}
    for a in plan.actions:
        counts[(a.kind, a.op)] = counts.get((a.kind, a.op), 0) + 1
    short = [
        *head[:2],
        *([f"#### :warning: Credentials: {credentials[0]}", ""] if credentials else []),
        f"**{summary_line(plan)}**",
        "",
        "The full plan is too long for a comment; counts per kind follow. "
        "Run `portal-gitops plan` locally or read the job log for every change.",
        "",
        "| kind | operation | count |",
        "|---|---|---|",
        *(f"| {k} | {op} | {n} |" for (k, op), n in sorted(counts.items())),
        "",
        f"Unmanaged objects: {len(plan.unmanaged)}; removed from the manifests: "
        f"{len(plan.orphaned)}.",
    ]
    text = "\n".join(short) + "\n"
    return text[:limit]


def _md_text(text: str) -> str:
    """Plain text safe in a markdown list item (no table pipes, no HTML)."""
    return text.replace("|", "\\|").replace("<", "&lt;").replace("\n", " ")


def _md(text: str) -> str:
    text = text.replace("|", "\\|").replace("\n", " ")
    return f"`{text}`" if len(text) < 200 else f"`{text[:197]}...`"


def render_json(plan: Plan) -> str:
    return json.dumps(to_dict(plan), indent=2) + "\n"


def render(plan: Plan, fmt: str, *, color: bool = False, verbose: bool = False) -> str:
    if fmt == "json":
        return render_json(plan)
    if fmt == "markdown":
        return render_markdown(plan)
    return render_text(plan, color=color, verbose=verbose)
