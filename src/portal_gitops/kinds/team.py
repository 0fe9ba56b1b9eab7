"""Team and User: a team of an organisation, and the portal users who are its members.

Users have no manifest of their own: they are built from the members listed by teams, and
imported as members of their teams. Canonical form:

Team          key = "<organisation>/<team>"   {organisation, name}
User          key = email (a team member; a portal user with a consumer role)
              {organisation, first, last, role ("consumer-admin" | "consumer-team-member"),
               teams (sorted team names), sso (only when set: the SSO provider name),
               password (only when set: Sensitive, write-only)}
              Read only: inDefaultTeam: false when the user has left its organisation's
              default team (no manifest asks for that: it is drift).

How a user signs in: ``sso`` names an SSO provider (the portal user's ``Provider``; read back
and compared); otherwise a password user, invited by a reset email unless ``password`` gives
an initial password from a secret. A password cannot be read back from the portal, so it is
write-only (``Kind.write_only``): set when the user is created, never compared. A fingerprint
in the managed record was the alternative; it would put a guessable hash of the password on a
Dashboard policy that more people can read than the secret itself.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from portal_gitops.kinds.base import Attrs, Building, Importing, Kind, by_name
from portal_gitops.kinds.organisation import file_of
from portal_gitops.models import Team
from portal_gitops.models.common import secret_ref_label
from portal_gitops.state import Key, LiveObject, Sensitive, team_key

ROLES = {"admin": "consumer-admin", "member": "consumer-team-member"}
ROLE_OF = {v: k for k, v in ROLES.items()}


def team_identity(name: str, attrs: Attrs) -> str:
    return team_key(attrs["organisation"], name)


def build_teams(manifests: Sequence[Team], building: Building) -> None:
    for m in manifests:
        name = m.metadata.name
        org = m.spec.organisation
        building.add("Team", team_key(org, name), {"organisation": org, "name": name})


def build_users(manifests: Sequence[Team], building: Building) -> None:
    """One user per member email across all teams: the strongest role, the first non-empty
    first and last names (and sign-in: ``sso`` or ``password``), and every team that lists it."""
    users: dict[str, dict[str, Any]] = {}
    for m in manifests:
        name = m.metadata.name
        org = m.spec.organisation
        for member in m.spec.members:
            user = users.setdefault(
                member.email,
                {
                    "organisation": org,
                    "first": member.first,
                    "last": member.last,
                    "role": ROLES[member.role],
                    "teams": [],
                },
            )
            if member.role == "admin":
                user["role"] = ROLES["admin"]
            user["first"] = user["first"] or member.first
            user["last"] = user["last"] or member.last
            if "sso" not in user and "password" not in user:
                if member.sso is not None:
                    user["sso"] = member.sso
                elif member.password is not None:
                    label = secret_ref_label(member.password)
                    user["password"] = Sensitive(label, building.resolve_secret(label))
            user["teams"].append(name)
    for email, user in users.items():
        user["teams"] = sorted(set(user["teams"]))
        building.add("User", email, user)


def _members(importing: Importing) -> dict[str, list[dict[str, Any]]]:
    """Team key -> the members its live users make (users in no team are reported)."""
    members: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for o in importing.objects("User"):
        a = o.attrs
        teams = list(a.get("teams", []))
        if not teams:
            importing.skip(
                "User", o.key, "belongs to no team other than the organisation's default team"
            )
            continue
        for team in teams:
            m: dict[str, Any] = {"email": o.key, "role": ROLE_OF.get(a.get("role", ""), "member")}
            if a.get("first"):
                m["first"] = a["first"]
            if a.get("last"):
                m["last"] = a["last"]
            if a.get("sso"):
                m["sso"] = a["sso"]
            members[f"{a.get('organisation')}/{team}"].append(m)
    return members


def export_teams(objects: Sequence[LiveObject], importing: Importing) -> None:
    """Teams with their members; a team of an organisation that cannot be declared (missing,
    or the portal's built-in one) is reported."""
    members = _members(importing)
    organisations = importing.keys("Organisation")
    for o in objects:
        if o.builtin:
            continue
        org = o.attrs.get("organisation", "")
        if org not in organisations or _is_builtin_org(importing, org):
            importing.skip("Team", o.key, f"its organisation {org!r} cannot be declared")
            continue
        spec: dict[str, Any] = {"organisation": org}
        if members.get(o.key):
            spec["members"] = members[o.key]
        importing.write(file_of(org), "Team", o.attrs.get("name", o.key), spec)


def _is_builtin_org(importing: Importing, org: str) -> bool:
    obj = importing.live.get("Organisation", org)
    return obj is not None and obj.builtin


def team_references(attrs: Attrs) -> set[Key]:
    return {("Organisation", attrs.get("organisation", ""))}


def user_references(attrs: Attrs) -> set[Key]:
    org = attrs.get("organisation", "")
    return {("Organisation", org)} | {("Team", team_key(org, t)) for t in attrs.get("teams", [])}


TEAM = Kind(
    name="Team",
    level=2,
    identity_doc='"<organisation>/<team>"',
    identity=team_identity,
    source="Team",
    build=build_teams,
    export=export_teams,
    references=team_references,
)

USER = Kind(
    name="User",
    level=3,
    identity_doc="email",
    identity=by_name,
    source="Team",
    build=build_users,
    export=None,  # written as the members of their teams (export_teams)
    references=user_references,
    write_only=frozenset({"password"}),
)
