"""validate: documents -> parsed manifests, or every problem at once (the rules of DESIGN §4).

The one-defect corpus with exact messages is tests/invalid; this file covers the API, the
valid edge cases of each rule, issue ordering, the absence of cascades, and speed.
"""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

from portal_gitops.commands import load_and_validate
from portal_gitops.errors import Issue
from portal_gitops.load import parse_text
from portal_gitops.models import Catalogue
from portal_gitops.validate import (
    ValidationResult,
    format_issues,
    validate_documents,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "manifests"

BASE = """\
apiVersion: portal-gitops/v1
kind: Provider
metadata: {name: tyk}
spec: {type: tyk-pro, dashboardUrl: "http://d:3000", secret: {fromEnv: S}, orgId: o}
---
apiVersion: portal-gitops/v1
kind: Organisation
metadata: {name: Acme}
---
apiVersion: portal-gitops/v1
kind: Team
metadata: {name: devs}
spec:
  organisation: Acme
  members: [{email: ann@acme.example, role: admin, first: Ann}]
---
apiVersion: portal-gitops/v1
kind: Product
metadata: {name: weather}
spec: {provider: tyk, apis: [{apiId: w}], owners: ["@acme/x"]}
---
apiVersion: portal-gitops/v1
kind: Plan
metadata: {name: free}
spec: {provider: tyk}
"""


def validate(*extra: str) -> ValidationResult:
    text = BASE + "".join("---\n" + dedent(e) for e in extra)
    return validate_documents(parse_text(text, "m.yaml"))


def lines(issues: list[Issue]) -> list[str]:
    return format_issues(issues).splitlines()


def catalogue(visibility: str, audience: str = "[]", name: str = "cat") -> str:
    return f"""\
    apiVersion: portal-gitops/v1
    kind: Catalogue
    metadata: {{name: {name}}}
    spec: {{visibility: {visibility}, audience: {audience}, products: [weather], plans: [free]}}
    """


def request(consumer: str = "ann@acme.example", cat: str = "cat", app: str = "A") -> str:
    return f"""\
    apiVersion: portal-gitops/v1
    kind: AccessRequest
    metadata: {{name: req-{app}}}
    spec: {{consumer: {consumer}, app: {{name: {app}}}, products: [weather], plan: free,
            catalogue: {cat}}}
    """


def test_examples_are_valid_without_warnings() -> None:
    result = load_and_validate([str(EXAMPLES)])
    assert (result.errors, result.warnings) == ([], [])
    assert result.ok
    kinds = sorted({m.kind for m, _ in result.manifests})
    assert kinds == sorted(
        [
            "AccessRequest",
            "AdminUser",
            "App",
            "Catalogue",
            "Organisation",
            "Plan",
            "Product",
            "Provider",
            "Team",
        ]
    )
    decisions = {m.spec.decision for m, _ in result.manifests if m.kind == "AccessRequest"}
    assert decisions == {"approve", "reject"}


def test_result_pairs_each_model_with_its_document() -> None:
    result = validate(catalogue("public"))
    assert result.ok
    model, doc = result.manifests[-1]
    assert isinstance(model, Catalogue)
    assert (doc.file, doc.line, model.metadata.name) == ("m.yaml", 27, "cat")


def test_every_problem_of_a_document_is_reported_in_line_order() -> None:
    result = validate(
        """\
        apiVersion: portal-gitops/v1
        kind: Plan
        metadata: {name: gold}
        spec:
          provider: tky
          rateLimit: {requests: 0, per: 0}
          quota: {requests: 5}
          colour: gold
        """
    )
    assert lines(result.errors) == [
        "m.yaml:32: Plan/gold: spec.rateLimit.requests: must be a positive integer, got 0",
        "m.yaml:32: Plan/gold: spec.rateLimit.per: must be a positive integer, got 0",
        "m.yaml:33: Plan/gold: spec.quota.renewal: is required",
        "m.yaml:34: Plan/gold: spec: unknown field 'colour'",
    ]
    # references of a document with structural errors are checked once it is fixed
    assert not result.ok


def test_issues_sorted_by_file_then_line(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text(BASE)
    (tmp_path / "a.yaml").write_text(
        "apiVersion: portal-gitops/v1\nkind: Team\nmetadata: {name: t}\n"
        "spec: {organisation: Nope}\n---\nkind: Team\n"
    )
    (tmp_path / "c.yaml").write_text("a: [\n")
    result = load_and_validate([str(tmp_path)])
    assert [(Path(i.file).name, i.line) for i in result.errors] == [
        ("a.yaml", 4),  # unknown Organisation 'Nope'
        ("a.yaml", 6),  # apiVersion is required
        ("a.yaml", 6),  # metadata is required
        ("a.yaml", 6),  # spec is required
        ("c.yaml", 2),  # YAML syntax error
    ]


def test_wrong_api_version_is_reported_once_and_does_not_cascade() -> None:
    result = validate_documents(
        parse_text(BASE.replace("portal-gitops/v1\nkind: Provider", "v1\nkind: Provider"), "m")
    )
    assert lines(result.errors) == [
        "m:1: Provider/tyk: apiVersion: unsupported apiVersion 'v1'; supported: portal-gitops/v1"
    ]
    assert "Provider" not in {m.kind for m, _ in result.manifests}


def test_a_structurally_invalid_document_does_not_cascade() -> None:
    result = validate(
        """\
        apiVersion: portal-gitops/v1
        kind: Product
        metadata: {name: maps}
        spec: {provider: tyk}
        """,
        """\
        apiVersion: portal-gitops/v1
        kind: Catalogue
        metadata: {name: cat}
        spec: {visibility: public, products: [maps, weather], plans: [free]}
        """,
        """\
        apiVersion: portal-gitops/v1
        kind: Team
        metadata: {name: broken}
        spec: {organisation: Acme, members: [{email: bo}]}
        """,
        request("bo@acme.example"),
    )
    # no "unknown Product 'maps'", no "'bo@acme.example' is not a member of any Team"
    assert lines(result.errors) == [
        "m.yaml:30: Product/maps: spec.apis: is required",
        "m.yaml:40: Team/broken: spec.members[0].email: must be an email address, got 'bo'",
    ]


def test_audience_entries_by_team_default_team_or_whole_organisation() -> None:
    for audience in (
        "[{organisation: Acme, team: devs}]",
        "[{organisation: Acme}]",
        "[{organisation: Acme, team: Acme All users}]",  # the built-in, named explicitly
    ):
        result = validate(catalogue("private", audience), request())
        assert (result.errors, result.warnings) == ([], []), audience


def test_public_catalogue_lets_any_member_request_and_warns_about_audience() -> None:
    result = validate(catalogue("public", "[{organisation: Acme}]"), request())
    assert result.ok
    assert lines(result.warnings) == [
        "m.yaml:30: warning: Catalogue/cat: spec.audience: an audience on a public catalogue"
        " is ignored by Tyk; every consumer sees it"
    ]


def test_private_catalogue_with_another_teams_audience_refuses_the_consumer() -> None:
    other_team = """\
    apiVersion: portal-gitops/v1
    kind: Team
    metadata: {name: ops}
    spec: {organisation: Acme}
    """
    result = validate(
        other_team, catalogue("private", "[{organisation: Acme, team: ops}]"), request()
    )
    assert lines(result.errors) == [
        "m.yaml:40: AccessRequest/req-A: spec.consumer: 'ann@acme.example' (Organisation 'Acme')"
        " is not in the audience of private Catalogue 'cat'"
    ]


def test_a_member_in_two_teams_of_one_organisation_must_agree() -> None:
    def team(name: str, member: str) -> str:
        return f"""\
        apiVersion: portal-gitops/v1
        kind: Team
        metadata: {{name: {name}}}
        spec: {{organisation: Acme, members: [{member}]}}
        """

    same = team("ops", "{email: ann@acme.example, role: admin, first: Ann}")
    assert validate(same).ok
    differs = team("ops", "{email: ann@acme.example, role: admin, first: Anne, last: Lee}")
    assert lines(validate(differs).errors) == [
        "m.yaml:30: Team/ops: spec.members[0].first: member 'ann@acme.example' has first 'Anne'"
        " here but 'Ann' in Team 'devs' (m.yaml:15); a portal user has one first",
        "m.yaml:30: Team/ops: spec.members[0].last: member 'ann@acme.example' has last 'Lee'"
        " here but '' in Team 'devs' (m.yaml:15); a portal user has one last",
    ]


def test_same_team_name_in_two_organisations_is_fine() -> None:
    result = validate(
        "apiVersion: portal-gitops/v1\nkind: Organisation\nmetadata: {name: Globex}\n",
        "apiVersion: portal-gitops/v1\nkind: Team\nmetadata: {name: devs}\n"
        "spec: {organisation: Globex}\n",
    )
    assert result.ok


def test_same_app_may_ask_for_other_products_or_plans() -> None:
    result = validate(
        catalogue("public"), request(app="A"), request(app="A").replace("req-A", "r2")
    )
    assert lines(result.errors) == [
        "m.yaml:41: AccessRequest/r2: spec.products[0]: AccessRequest 'req-A' (m.yaml:35) already"
        " asks for Product 'weather' on Plan 'free' for app 'A' of 'ann@acme.example'"
    ]
    assert validate(catalogue("public"), request(app="A"), request(app="B")).ok


def test_unknown_names_say_which_kind_they_are() -> None:
    result = validate(
        """\
        apiVersion: portal-gitops/v1
        kind: Catalogue
        metadata: {name: cat}
        spec: {visibility: public, products: [free], plans: [weather]}
        """
    )
    assert lines(result.errors) == [
        "m.yaml:30: Catalogue/cat: spec.products[0]: unknown Product 'free' ('free' is a Plan)",
        "m.yaml:30: Catalogue/cat: spec.plans[0]: unknown Plan 'weather' ('weather' is a Product)",
    ]


def test_a_product_without_owners_warns_once_and_so_does_a_request_for_it() -> None:
    result = validate_documents(
        parse_text(BASE.replace(', owners: ["@acme/x"]', ""), "m.yaml")
        + parse_text(dedent(catalogue("public")) + "---\n" + dedent(request()), "r.yaml")
    )
    assert result.ok
    assert lines(result.warnings) == [
        "m.yaml:20: warning: Product/weather: spec.owners: product has no owners; CODEOWNERS"
        " cannot route its access requests to a reviewer",
        "r.yaml:9: warning: AccessRequest/req-A: spec.products[0]: Product 'weather' has no"
        " owners; nobody is asked to review this request",
    ]


def test_format_issues() -> None:
    issues = [
        Issue("a.yaml", 3, "is required", "Plan", "gold", "spec.provider"),
        Issue("a.yaml", 4, "unknown kind", field="kind"),
        Issue("b.yaml", 1, "careful", "Product", "p", "spec.owners", severity="warning"),
        Issue("c.yaml", 9, "not valid UTF-8"),
    ]
    assert format_issues(issues) == (
        "a.yaml:3: Plan/gold: spec.provider: is required\n"
        "a.yaml:4: kind: unknown kind\n"
        "b.yaml:1: warning: Product/p: spec.owners: careful\n"
        "c.yaml:9: not valid UTF-8"
    )
    assert format_issues([]) == ""


def test_a_document_with_only_misspelt_fields_is_still_checked_against_the_estate() -> None:
    result = validate(
        """\
        apiVersion: portal-gitops/v1
        kind: Product
        metadata: {name: maps}
        spec:
          provider: tky
          apis: [{apiId: m}]
          owner: ["@acme/x"]
        """,
        catalogue("public").replace("[weather]", "[maps]"),
    )
    assert lines(result.errors) == [
        "m.yaml:31: Product/maps: spec.provider: unknown Provider 'tky' (did you mean 'tyk'?)",
        "m.yaml:33: Product/maps: spec: unknown field 'owner' (did you mean 'owners'?)",
    ]
    # and a catalogue offering it is not told that 'tky' differs from its plan's provider
    assert lines(result.warnings) == [
        "m.yaml:30: warning: Product/maps: spec.owners: product has no owners; CODEOWNERS cannot"
        " route its access requests to a reviewer"
    ]
    assert "maps" not in {m.metadata.name for m, _ in result.manifests}
