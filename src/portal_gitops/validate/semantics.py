"""Layer 2 of validation: the rules of DESIGN.md §4 across the whole estate (references,
uniqueness, providers, audiences, memberships, built-ins), each a pass over dict indexes."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from portal_gitops.errors import Issue
from portal_gitops.kinds.docs import guide_path
from portal_gitops.load import Source
from portal_gitops.models import (
    KINDS,
    AccessRequest,
    AdminUser,
    Catalogue,
    Manifest,
    Organisation,
    Plan,
    Product,
    Provider,
    Team,
)
from portal_gitops.source import Path, format_path
from portal_gitops.state import DEFAULT_ORGANISATION, LOCK_POLICY, STATE_POLICY, default_team_name
from portal_gitops.validate.app_rules import check_apps, check_credential_requests
from portal_gitops.validate.structure import suggest

WARNING = "warning"


def check_semantics(
    manifests: list[tuple[Manifest, Source]],
    invalid: dict[str, set[str]],
    errors: list[Issue],
    warnings: list[Issue],
    today: dt.date | None = None,
) -> None:
    """Add to ``errors`` and ``warnings`` what the rules find across ``manifests``; ``invalid``
    holds, per kind, the names of documents that failed layer 1 (references to them are not
    reported again). With ``today``, a request whose ``expires`` has passed is a warning."""
    estate = _Estate(manifests, invalid, errors, warnings)
    estate.today = today
    estate.index_names()
    _check_reserved_names(estate)
    _check_teams(estate)
    _check_admins(estate)
    _check_products_and_plans(estate)
    _check_catalogues(estate)
    _check_requests(estate)
    check_apps(estate)
    check_credential_requests(estate)


@dataclass(frozen=True)
class _Seen:
    doc: Source
    path: Path

    @property
    def where(self) -> str:
        return f"{self.doc.file}:{self.doc.positions.line_of(self.path)}"


@dataclass(frozen=True)
class _Membership:
    organisation: str
    team: str
    role: str
    first: str
    last: str
    seen: _Seen


class _Estate:
    """The valid manifests indexed once by kind and name (dicts, so every rule stays linear),
    and how a rule reports a problem."""

    def __init__(
        self,
        manifests: list[tuple[Manifest, Source]],
        invalid: dict[str, set[str]],
        errors: list[Issue],
        warnings: list[Issue],
    ):
        # names of documents that failed layer 1: references to them are not reported again
        self.invalid = invalid
        self.errors = errors
        self.warnings = warnings
        self.by_kind: dict[str, list[tuple[Any, Source]]] = {k: [] for k in KINDS}
        for model, doc in manifests:
            self.by_kind[model.kind].append((model, doc))
        self.providers: dict[str, Provider] = {}
        self.organisations: dict[str, Organisation] = {}
        self.teams: dict[tuple[str, str], Team] = {}
        self.teams_by_org: dict[str, list[str]] = {}
        self.products: dict[str, Product] = {}
        self.plans: dict[str, Plan] = {}
        self.catalogues: dict[str, Catalogue] = {}
        self.admins: dict[str, AdminUser] = {}
        self.members: dict[str, _Membership] = {}  # email -> first membership seen
        self.today: dt.date | None = None  # the date `expires` is read against (None: not)

    def issue(
        self,
        model: Manifest,
        doc: Source,
        path: Path,
        message: str | None,
        *,
        warning: bool = False,
    ) -> None:
        if message is None:  # already reported elsewhere
            return
        target = self.warnings if warning else self.errors
        target.append(
            Issue(
                doc.file,
                doc.positions.line_of(path),
                message,
                model.kind,
                model.metadata.name,
                format_path(path),
                WARNING if warning else "error",
            )
        )

    def index_names(self) -> None:
        """Index every manifest by kind and name, reporting duplicate names (unique per kind;
        teams per organisation)."""
        indexes: dict[str, dict[Any, Any]] = {
            "Provider": self.providers,
            "Organisation": self.organisations,
            "Team": self.teams,
            "Product": self.products,
            "Plan": self.plans,
            "Catalogue": self.catalogues,
            "AdminUser": self.admins,
            "AccessRequest": {},
        }
        for kind, entries in self.by_kind.items():
            if kind == "App":
                continue  # unique per owner: validate/app_rules.py
            index = indexes[kind]
            first: dict[Any, Source] = {}
            for model, doc in entries:
                name = model.metadata.name
                key: Any = name
                label = repr(name)
                if isinstance(model, Team):
                    key = (model.spec.organisation, name)
                    label = f"{name!r} in Organisation {model.spec.organisation!r}"
                if key in first:
                    where = _Seen(first[key], ("metadata", "name")).where
                    self.issue(
                        model,
                        doc,
                        ("metadata", "name"),
                        f"duplicate {kind} {label} (first defined at {where})",
                    )
                    continue
                first[key] = doc
                index[key] = model
                if isinstance(model, Team):
                    self.teams_by_org.setdefault(model.spec.organisation, []).append(name)

    def unknown(
        self, kind: str, name: str, known: Iterable[str], *others: tuple[str, Any]
    ) -> str | None:
        """'unknown Plan 'x' (did you mean 'y'?)', or say which other kind has that name;
        None when a document of that kind and name exists but is itself invalid."""
        if name in self.invalid[kind]:
            return None
        for other_kind, other_index in others:
            if name in other_index:
                return f"unknown {kind} {name!r} ({name!r} is a {other_kind})"
        return f"unknown {kind} {name!r}{suggest(name, known)}"

    def repeats(
        self, model: Manifest, doc: Source, path: Path, values: Iterable[str], what: str
    ) -> set[int]:
        """Report entries of a list that repeat an earlier one; returns their indices."""
        first: dict[str, int] = {}
        out: set[int] = set()
        for i, value in enumerate(values):
            if value not in first:
                first[value] = i
                continue
            out.add(i)
            line = doc.positions.line_of((*path, first[value]))
            self.issue(
                model, doc, (*path, i), f"{what} {value!r} is listed twice (first at line {line})"
            )
        return out

    def provider_of(self, kind: str, name: str) -> str | None:
        index: dict[str, Any] = self.products if kind == "Product" else self.plans
        model = index.get(name)
        return str(model.spec.provider) if model is not None else None

    @functools.cached_property
    def team_index(self) -> dict[str, set[tuple[str, str]]]:
        index: dict[str, set[tuple[str, str]]] = {}
        for key, team in self.teams.items():
            for member in team.spec.members:
                index.setdefault(member.email, set()).add(key)
        return index


# built-ins cannot be declared, and no product or plan may take another's policy name
def _check_reserved_names(estate: _Estate) -> None:
    for model, doc in estate.by_kind["Organisation"]:
        if model.metadata.name == DEFAULT_ORGANISATION:
            estate.issue(
                model,
                doc,
                ("metadata", "name"),
                f"{DEFAULT_ORGANISATION!r} is the portal's built-in organisation "
                "and cannot be declared",
            )
    for model, doc in estate.by_kind["Team"]:
        org = model.spec.organisation
        if model.metadata.name == default_team_name(org):
            estate.issue(
                model,
                doc,
                ("metadata", "name"),
                f"{model.metadata.name!r} is the default team the portal creates for "
                f"Organisation {org!r} and cannot be declared (a catalogue audience entry "
                "without a team means all users of the organisation)",
            )

    # every product and plan gets a Dashboard policy named after it; policy names are
    # unique in a Dashboard, and two names belong to the tool's own policies
    policy_owner: dict[str, tuple[str, Source]] = {}
    for kind in ("Product", "Plan"):
        for model, doc in estate.by_kind[kind]:
            name = model.metadata.name
            if name in (STATE_POLICY, LOCK_POLICY):
                estate.issue(
                    model,
                    doc,
                    ("metadata", "name"),
                    f"{name!r} is the name of portal-gitops's own Dashboard policy",
                )
            elif name in policy_owner and policy_owner[name][0] != kind:
                other_kind, other_doc = policy_owner[name]
                where = _Seen(other_doc, ("metadata", "name")).where
                estate.issue(
                    model,
                    doc,
                    ("metadata", "name"),
                    f"{other_kind} {name!r} (at {where}) has the same name; their backing "
                    "Dashboard policies would clash, as policy names are unique",
                )
            policy_owner.setdefault(name, (kind, doc))


# Team.organisation resolves; a member's email belongs to one organisation and its
# role and names agree wherever it is listed
def _check_teams(estate: _Estate) -> None:
    for model, doc in estate.by_kind["Team"]:
        org = model.spec.organisation
        if org not in estate.organisations:
            estate.issue(
                model,
                doc,
                ("spec", "organisation"),
                estate.unknown("Organisation", org, estate.organisations),
            )
        in_team: dict[str, int] = {}
        for i, member in enumerate(model.spec.members):
            path: Path = ("spec", "members", i)
            email = member.email
            if email in in_team:
                line = doc.positions.line_of(("spec", "members", in_team[email]))
                estate.issue(
                    model,
                    doc,
                    (*path, "email"),
                    f"member {email!r} is listed twice in this team (first at line {line})",
                )
                continue
            in_team[email] = i
            seen = _Seen(doc, (*path, "email"))
            first = estate.members.get(email)
            if first is None:
                estate.members[email] = _Membership(
                    org, model.metadata.name, member.role, member.first, member.last, seen
                )
                continue
            if first.organisation != org:
                estate.issue(
                    model,
                    doc,
                    (*path, "email"),
                    f"member {email!r} already belongs to Organisation "
                    f"{first.organisation!r} (Team {first.team!r} at {first.seen.where}); "
                    "a portal user belongs to one organisation only",
                )
                continue
            for attr in ("role", "first", "last"):
                mine, theirs = getattr(member, attr), getattr(first, attr)
                if mine != theirs:
                    estate.issue(
                        model,
                        doc,
                        (*path, attr),
                        f"member {email!r} has {attr} {mine!r} here but {theirs!r} in "
                        f"Team {first.team!r} ({first.seen.where}); a portal user has one "
                        f"{attr}",
                    )


# an admin's email is its own (no other admin's, no consumer's); owners naming an admin
# (a bare name) name a declared AdminUser
def _check_admins(estate: _Estate) -> None:
    emails: dict[str, Source] = {}
    for model, doc in estate.by_kind["AdminUser"]:
        email = model.spec.email
        path: Path = ("spec", "email")
        if email in emails:
            where = _Seen(emails[email], path).where
            estate.issue(model, doc, path, f"another AdminUser has email {email!r} (at {where})")
            continue
        emails[email] = doc
        member = estate.members.get(email)
        if member is not None:
            estate.issue(
                model,
                doc,
                path,
                f"{email!r} is a consumer, a member of Team {member.team!r} "
                f"({member.seen.where}); a portal user is either a consumer or an admin",
            )
    for kind in ("Product", "Plan"):
        for model, doc in estate.by_kind[kind]:
            for i, owner in enumerate(model.spec.owners):
                if owner.startswith("@") or "@" in owner or owner in estate.admins:
                    continue
                estate.issue(
                    model,
                    doc,
                    ("spec", "owners", i),
                    estate.unknown("AdminUser", owner, estate.admins),
                )


def _check_products_and_plans(estate: _Estate) -> None:
    for kind in ("Product", "Plan"):
        for model, doc in estate.by_kind[kind]:
            provider = model.spec.provider
            if provider not in estate.providers:
                estate.issue(
                    model,
                    doc,
                    ("spec", "provider"),
                    estate.unknown("Provider", provider, estate.providers),
                )
    for model, doc in estate.by_kind["Product"]:
        api_ids = [api.apiId for api in model.spec.apis]
        estate.repeats(model, doc, ("spec", "apis"), api_ids, "API")
        guides = model.spec.guides
        estate.repeats(model, doc, ("spec", "guides"), [g.title for g in guides], "guide")
        paths = [g.path or guide_path(g.title) for g in guides]
        estate.repeats(model, doc, ("spec", "guides"), paths, "guide path")
        if not model.spec.owners:
            estate.issue(
                model,
                doc,
                ("spec", "owners"),
                "product has no owners; CODEOWNERS cannot route its access requests to a reviewer",
                warning=True,
            )


def _check_catalogues(estate: _Estate) -> None:
    for model, doc in estate.by_kind["Catalogue"]:
        spec = model.spec
        if spec.visibility == "public" and spec.audience:
            estate.issue(
                model,
                doc,
                ("spec", "audience"),
                "an audience on a public catalogue is ignored by Tyk; every consumer sees it",
                warning=True,
            )
        for i, entry in enumerate(spec.audience):
            org = entry.organisation
            if org not in estate.organisations:
                estate.issue(
                    model,
                    doc,
                    ("spec", "audience", i, "organisation"),
                    estate.unknown("Organisation", org, estate.organisations),
                )
                continue
            team = entry.team
            if team is None or team == default_team_name(org):
                continue
            if (org, team) not in estate.teams and team not in estate.invalid["Team"]:
                estate.issue(
                    model,
                    doc,
                    ("spec", "audience", i, "team"),
                    f"unknown Team {team!r} in Organisation {org!r}"
                    + suggest(team, estate.teams_by_org.get(org, ())),
                )
        # one provider per catalogue offer: remember one product per provider, then each
        # plan conflicts with any product of another provider (linear, not products x plans)
        product_by_provider: dict[str, str] = {}
        again = estate.repeats(model, doc, ("spec", "products"), spec.products, "Product")
        again_plans = estate.repeats(model, doc, ("spec", "plans"), spec.plans, "Plan")
        for i, product in enumerate(spec.products):
            if i in again:
                continue
            provider = estate.provider_of("Product", product)
            if provider is None:
                estate.issue(
                    model,
                    doc,
                    ("spec", "products", i),
                    estate.unknown("Product", product, estate.products, ("Plan", estate.plans)),
                )
                continue
            if provider in estate.providers:  # an unknown one is reported on the product
                product_by_provider.setdefault(provider, product)
        for i, plan in enumerate(spec.plans):
            if i in again_plans:
                continue
            provider = estate.provider_of("Plan", plan)
            if provider is None:
                estate.issue(
                    model,
                    doc,
                    ("spec", "plans", i),
                    estate.unknown("Plan", plan, estate.plans, ("Product", estate.products)),
                )
                continue
            if provider not in estate.providers:
                continue
            other = next(
                ((p, prod) for p, prod in product_by_provider.items() if p != provider), None
            )
            if other is not None:
                estate.issue(
                    model,
                    doc,
                    ("spec", "plans", i),
                    f"Plan {plan!r} (provider {provider!r}) cannot be offered with Product "
                    f"{other[1]!r} (provider {other[0]!r}): a product and its plans must "
                    "share one provider",
                )


def _check_requests(estate: _Estate) -> None:
    asked: dict[tuple[str, str, str, str], tuple[str, _Seen]] = {}
    for model, doc in estate.by_kind["AccessRequest"]:
        spec = model.spec
        plan_provider = estate.provider_of("Plan", spec.plan)
        if plan_provider is None:
            estate.issue(
                model,
                doc,
                ("spec", "plan"),
                estate.unknown("Plan", spec.plan, estate.plans, ("Product", estate.products)),
            )
        catalogue = estate.catalogues.get(spec.catalogue)
        if catalogue is None:
            estate.issue(
                model,
                doc,
                ("spec", "catalogue"),
                estate.unknown("Catalogue", spec.catalogue, estate.catalogues),
            )
        offered_products = set(catalogue.spec.products) if catalogue else set()
        again = estate.repeats(model, doc, ("spec", "products"), spec.products, "Product")
        for i, product in enumerate(spec.products):
            if i in again:
                continue
            path: Path = ("spec", "products", i)
            key = (spec.consumer, spec.app_name, product, spec.plan)
            if key in asked:
                other_name, other_seen = asked[key]
                estate.issue(
                    model,
                    doc,
                    path,
                    f"AccessRequest {other_name!r} ({other_seen.where}) already asks for "
                    f"Product {product!r} on Plan {spec.plan!r} for app {spec.app_name!r} "
                    f"of {spec.consumer!r}",
                )
            else:
                asked[key] = (model.metadata.name, _Seen(doc, path))
            product_model = estate.products.get(product)
            if product_model is None:
                estate.issue(
                    model,
                    doc,
                    path,
                    estate.unknown("Product", product, estate.products, ("Plan", estate.plans)),
                )
                continue
            provider = product_model.spec.provider
            if (
                plan_provider in estate.providers
                and provider in estate.providers
                and provider != plan_provider
            ):
                estate.issue(
                    model,
                    doc,
                    path,
                    f"Product {product!r} (provider {provider!r}) and Plan {spec.plan!r} "
                    f"(provider {plan_provider!r}) must share one provider",
                )
            if catalogue is not None and product not in offered_products:
                estate.issue(
                    model,
                    doc,
                    path,
                    f"Catalogue {spec.catalogue!r} does not offer Product {product!r}",
                )
            if not product_model.spec.owners:
                estate.issue(
                    model,
                    doc,
                    path,
                    f"Product {product!r} has no owners; nobody is asked to review this request",
                    warning=True,
                )
        if catalogue and plan_provider is not None and spec.plan not in catalogue.spec.plans:
            estate.issue(
                model,
                doc,
                ("spec", "plan"),
                f"Catalogue {spec.catalogue!r} does not offer Plan {spec.plan!r}",
            )
        plan_model = estate.plans.get(spec.plan)
        if spec.decision == "reject" and plan_model is not None and plan_model.spec.autoApprove:
            # REFERENCE.md §9 "Decisions": a plan with AutoApproveAccessRequests approves at
            # provision time, before any reject can run, and a decided request refuses one
            estate.issue(
                model,
                doc,
                ("spec", "decision"),
                f"Plan {spec.plan!r} approves every request as it is filed (autoApprove), so "
                "a rejection would come after its credential is issued; request it on a plan "
                "that does not auto-approve, or leave the request out",
            )
        _check_consumer(estate, model, doc, catalogue)
        if estate.today is not None and spec.expires is not None and spec.expires < estate.today:
            # the same rule as the desired state (kinds/access_request.py): from the day after
            estate.issue(
                model,
                doc,
                ("spec", "expires"),
                f"{spec.expires.isoformat()} has passed: this request grants nothing, and "
                "the next apply revokes any access it granted; remove the file, or set a "
                "later date to renew the access",
                warning=True,
            )


def _check_consumer(
    estate: _Estate, model: AccessRequest, doc: Source, catalogue: Catalogue | None
) -> None:
    consumer = model.spec.consumer
    membership = estate.members.get(consumer)
    if membership is None:
        if estate.invalid["Team"]:  # it may be listed in a team we could not read
            return
        estate.issue(
            model,
            doc,
            ("spec", "consumer"),
            f"{consumer!r} is not a member of any Team" + suggest(consumer, estate.members),
        )
        return
    if catalogue is None or catalogue.spec.visibility == "public":
        return
    teams = estate.team_index.get(consumer, set())
    for entry in catalogue.spec.audience:
        if entry.organisation != membership.organisation:
            continue
        if entry.team is None or entry.team == default_team_name(entry.organisation):
            return
        if (entry.organisation, entry.team) in teams:
            return
    estate.issue(
        model,
        doc,
        ("spec", "consumer"),
        f"{consumer!r} (Organisation {membership.organisation!r}) is not in the audience "
        f"of private Catalogue {model.spec.catalogue!r}",
    )
