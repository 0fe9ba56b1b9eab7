"""Team and User: a team of an organisation, and the portal users who are its members.

Users have no manifest of their own: they are built from the members listed by teams, and
imported as members of their teams. Canonical form:

Team          key = "<organisation>/<team>"   {organisation, name}
User          key = email (a team member; a portal user with a consumer role)
              {organisation, first, last, role ("consumer-admin" | "consumer-team-member"),
               teams (sorted team names)}
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from portal_gitops.kinds.base import Attrs, Building, Importing, Kind, by_name
from portal_gitops.kinds.organisation import file_of
from portal_gitops.models import Team
from portal_gitops.state import Key, LiveObject, team_key

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
    first and last names, and every team that lists it."""
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
)
