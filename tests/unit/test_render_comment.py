"""The markdown plan as a PR comment (issue 14): what it keeps past the size limit, and how it
quotes text consumers typed.

GitHub refuses an issue comment body over 65,536 characters (REST API, "Create an issue
comment": 422 "body is too long (maximum is 65536 characters)"); the comment is rendered
within MARKDOWN_LIMIT (60,000) to leave room for the marker and the footer.
"""

from __future__ import annotations

import re

import pytest

from portal_gitops.diff import Change, DiffResult
from portal_gitops.plan import Plan, build_plan
from portal_gitops.render import MARKDOWN_LIMIT, code, render_markdown
from portal_gitops.state import LiveObject, LiveState

GRANT = {
    "consumer": "dev@acme.example",
    "organisation": "Acme",
    "app": {"name": "acme-app", "description": "", "redirectUrls": []},
    "products": ["weather"],
    "plan": "free",
    "catalogue": "public",
    "status": "approved",
}


def _estate(requests: int, grant: dict[str, object] = GRANT) -> Plan:
    """``requests`` access requests made in the Live Portal (unmanaged), and one new grant."""
    pending = [
        LiveObject(
            "AccessRequest",
            f"request-{i}",
            str(i),
            {**GRANT, "consumer": f"user{i}@acme.example", "status": "pending"},
        )
        for i in range(requests)
    ]
    result = DiffResult(
        [Change("create", "AccessRequest", "acme-weather", after=grant)], unmanaged=pending
    )
    return build_plan(result, LiveState({}))


def test_a_2500_request_estate_keeps_the_one_grant_line() -> None:
    md = render_markdown(_estate(2500))
    assert len(md) <= MARKDOWN_LIMIT
    grants = [line for line in md.splitlines() if "GRANT" in line]
    assert len(grants) == 1
    assert "`dev@acme.example`" in grants[0] and "`acme-app`" in grants[0]
    assert "AccessRequest/acme-weather" in md  # the change itself
    assert "the unmanaged objects are not listed" in md
    assert "Unmanaged objects: 2500" in md
    assert "request-17`" not in md  # the unmanaged listing went first
    # the uncut plan (job summary, artifact) lists them all
    assert "request-2499" in render_markdown(_estate(2500), limit=None)


def test_changes_grants_and_revokes_are_never_dropped_before_listings() -> None:
    revokes = [
        Change(
            "delete",
            "AccessRequest",
            f"old-{i}",
            live=LiveObject("AccessRequest", f"old-{i}", str(i), GRANT),
        )
        for i in range(40)
    ]
    creates = [Change("create", "Organisation", f"org-{i:05d}", after={}) for i in range(3000)]
    p = build_plan(DiffResult([*revokes, *creates]), LiveState({}))
    md = render_markdown(p)
    assert len(md) <= MARKDOWN_LIMIT
    lines = md.splitlines()
    # each revoke twice: its credential named in the credentials block that opens the comment,
    # then its access-request line
    assert "40 credentials revoked, 0 reissued" in md
    credentials = [line for line in lines if line.startswith("- REVOKE credential of ")]
    named = sorted(re.findall(r"request `(old-\d+)`", "\n".join(credentials)))
    assert named == sorted(f"old-{i}" for i in range(40))
    assert sum(line.startswith("- REVOKE `") for line in lines) == 40
    assert "| Organisation | create | 3000 |" in md
    assert "more changes" in md  # 3,000 one-line changes cannot fit: said, not hidden


HOSTILE = "x` @octocat [click](https://evil.example) ![i](https://evil.example/i.png) <b>hi</b> | |"


@pytest.mark.parametrize("field", ["app", "consumer"])
def test_consumer_text_is_quoted_in_code_spans(field: str) -> None:
    import markdown_it  # a dev dependency: the comment is rendered as GitHub would

    grant = dict(GRANT)
    if field == "app":
        grant["app"] = {"name": HOSTILE, "description": "", "redirectUrls": []}
    else:
        grant["consumer"] = HOSTILE
    md = render_markdown(_estate(0, grant))
    html = markdown_it.MarkdownIt("commonmark").enable("table").render(md)
    assert "<a " not in html and "<img" not in html and "<b>" not in html
    # the text survives whole, inside one code span
    texts = re.findall(r"<code>(.*?)</code>", html, flags=re.S)
    assert any("@octocat" in t and "evil.example/i.png" in t for t in texts)
    outside = re.sub(r"<code>.*?</code>", "", html, flags=re.S)
    assert "@octocat" not in outside


def test_code_span_fences_outlast_backticks_inside() -> None:
    assert code("a") == "`a`"
    assert code("a`b") == "``a`b``"
    assert code("`x`") == "`` `x` ``"
    assert code("") == '""'
    assert code("a|b", table=True) == "`a\\|b`"
    assert code("two\nlines") == "`two lines`"
