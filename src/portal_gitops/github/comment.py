"""What the workflows write on a pull request: one plan comment, replaced in place on every run
(success or failure), and GitHub annotations for problems in the manifests (pure: text only).

GitHub refuses an issue comment body over 65,536 characters ("Create an issue comment": 422
"body is too long (maximum is 65536 characters)"); the plan is rendered within 60,000
(render.MARKDOWN_LIMIT) and the footer here is short, so a comment always fits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from portal_gitops.errors import Issue
from portal_gitops.render import code

MARKER = "<!-- portal-gitops-plan -->"
COMMENT_LIMIT = 65_536
FORK_NOTICE = (
    "No portal credentials on fork pull requests: GitHub gives a workflow run for a pull "
    "request from a fork no secrets and a read-only token, so the manifests were validated "
    "but not planned. A maintainer can plan it after review (see docs/pull-request-workflow.md, "
    '"Pull requests from forks").'
)


def _footer(run_url: str, sha: str) -> list[str]:
    where = f"[workflow run]({run_url})" if run_url else "workflow run"
    at = f" for {code(sha[:12])}" if sha else ""
    return [
        "",
        f"<sub>portal-gitops{at}: the full plan is in the {where}'s job summary and its "
        "plan artifact; merging applies exactly that plan.</sub>",
    ]


def _fit(lines: Sequence[str]) -> str:
    text = "\n".join([MARKER, *lines]) + "\n"
    if len(text) > COMMENT_LIMIT:  # the renderer keeps within its limit; this is a backstop
        note = "\n\n(cut at GitHub's comment size limit)\n"
        text = text[: COMMENT_LIMIT - len(note)] + note
    return text


def plan_comment(markdown: str, *, run_url: str = "", sha: str = "") -> str:
    return _fit([markdown.rstrip("\n"), *_footer(run_url, sha)])


def failure_comment(
    title: str, problems: Iterable[str], *, run_url: str = "", sha: str = ""
) -> str:
    """Replaces the plan comment when validate or plan fails, so no stale plan stays up."""
    items = [f"- {code(p)}" for p in problems]
    shown = items[:200]
    if len(items) > len(shown):
        shown.append(f"- ... and {len(items) - len(shown)} more (see the workflow run)")
    return _fit(
        [
            "### portal-gitops plan: failed",
            "",
            f"**{title}** No plan was made; the previous plan no longer applies.",
            "",
            *shown,
            *_footer(run_url, sha),
        ]
    )


def fork_comment(valid: bool, problems: Sequence[str]) -> str:
    """The job summary of a fork's run (its token cannot comment)."""
    head = "Manifests valid." if valid else f"{len(problems)} problem(s) in the manifests."
    return (
        "\n".join(
            [
                "### portal-gitops",
                "",
                f"**{head}**",
                "",
                FORK_NOTICE,
                "",
                *(f"- {code(p)}" for p in problems),
            ]
        )
        + "\n"
    )


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotate(issues: Iterable[Issue]) -> list[str]:
    """``::error file=…,line=…,title=…::message`` workflow commands, one per problem
    ("Workflow commands for GitHub Actions": setting an error/warning message; properties
    escape ``%``, CR, LF, ``:`` and ``,``; the message escapes ``%``, CR and LF)."""
    out = []
    for i in issues:
        level = "warning" if i.severity == "warning" else "error"
        title = f"{i.kind}/{i.name}" if i.kind and i.name else "portal-gitops"
        props = (
            f"file={_escape_property(i.file)},line={max(i.line, 1)},title={_escape_property(title)}"
        )
        message = f"{i.field}: {i.message}" if i.field else i.message
        out.append(f"::{level} {props}::{_escape_data(message)}")
    return out


def notice(message: str) -> str:
    return f"::notice title=portal-gitops::{_escape_data(message)}"


def error(message: str) -> str:
    return f"::error title=portal-gitops::{_escape_data(message)}"


def warning(message: str) -> str:
    return f"::warning title=portal-gitops::{_escape_data(message)}"
