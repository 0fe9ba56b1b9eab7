"""AccessRequest: a consumer's request for products on a plan, approved by merging it.

Canonical form:

AccessRequest key = manifest name (live requests not made by us: "request-<id>")
              {consumer, organisation,
               app: {name} (the App "<consumer>/<name>" holds the rest),
               products (sorted), plan,
               status ("approved" | "rejected" | "pending"),
               rotate (only when set), revokeCredentials (sorted; only when set)}

``rotate`` and ``revokeCredentials`` ask for something done once: the live side holds the
values last applied (kept in the managed record's note on the request, since the portal has no
field for them), so a changed value is an in-place update that rotates or revokes, and the
same value again is no change. The note also keeps the justification and the expiry date (the
portal holds neither), which ``import`` writes back.

The catalogue is not in the canonical form: provisioning names none (REFERENCE.md §9
"Provision body") and the portal records one of its own choosing among those the consumer
sees that offer the plan with the products, so a different live catalogue is no reason to
revoke and re-issue a credential. The manifest's catalogue is a constraint that validation
checks (audience, offer), and it is shown to reviewers with the plan's details.

Beyond canonical attrs a request gives the diff: its alias (a pulled request names the live
one it decides), its justification (a note), what a reviewer needs (the consumer's teams, the
catalogue, the plan's limits) and, once its ``expires`` date has passed, its revocation.
"""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any

from portal_gitops.kinds.app import app_attrs, app_key
from portal_gitops.kinds.base import Attrs, Building, Importing, Kind, by_name, slug
from portal_gitops.models import REQUEST_ID_ANNOTATION, AccessRequest, InlineApp
from portal_gitops.state import Key, LiveObject, LiveState, default_team_name

LIMITS = ("rateLimit", "quota", "keyExpiresIn")


def build(manifests: Sequence[AccessRequest], building: Building) -> None:
    """Requests, after users, plans and apps: a request takes its consumer's organisation;
    an app a request describes inline is declared here when no App document declares it."""
    resources = building.resources
    _declare_inline_apps(manifests, building)
    for m in manifests:
        name = m.metadata.name
        s = m.spec
        key: Key = ("AccessRequest", name)
        request_id = m.metadata.annotations.get(REQUEST_ID_ANNOTATION)
        if request_id:
            building.aliases[key] = ("AccessRequest", f"request-{request_id}")
        note: dict[str, Any] = {}
        if s.justification:
            note["justification"] = s.justification
        if s.expires is not None:
            note["expires"] = s.expires.isoformat()
        once: dict[str, Any] = {}
        if s.rotate:
            once["rotate"] = s.rotate
        if s.revokeCredentials:
            once["revokeCredentials"] = sorted(set(s.revokeCredentials), key=_by_number)
        note.update(once)
        if note:
            building.notes[key] = note
        user = resources.get(("User", s.consumer))
        plan = resources.get(("Plan", s.plan))
        building.details[key] = {
            "teams": list(user.attrs["teams"]) if user is not None else [],
            "catalogue": s.catalogue,
            "limits": {k: plan.attrs[k] for k in LIMITS} if plan is not None else {},
        }
        if s.expires is not None and s.expires < building.today:
            building.expired.add(key)
            continue
        building.add(
            "AccessRequest",
            name,
            {
                "consumer": s.consumer,
                "organisation": user.attrs["organisation"] if user is not None else "",
                "app": {"name": s.app_name},
                "products": sorted(set(s.products)),
                "plan": s.plan,
                "status": "approved" if s.decision == "approve" else "rejected",
                **once,
            },
        )


def _declare_inline_apps(manifests: Sequence[AccessRequest], building: Building) -> None:
    """The apps requests describe inline (``app: {name, ...}``) and no App document declares:
    from the first request that describes more than the name, else with the defaults.
    Validation makes sure no two requests describe one app differently."""
    inline: dict[str, tuple[str, InlineApp]] = {}
    for m in manifests:
        app = m.spec.app
        if isinstance(app, str):
            continue
        key = app_key(m.spec.consumer, app.name)
        if ("App", key) in building.resources:
            continue
        if key not in inline or inline[key][1].model_fields_set <= {"name"}:
            inline[key] = (m.spec.consumer, app)
    for key, (owner, app) in inline.items():
        building.add(
            "App",
            key,
            app_attrs(owner, app.name, app.description, app.redirectUrls, app.visibility),
        )


ONCE = ("rotate", "revokeCredentials")
"""The attrs that ask for something done once; the live side reads them from the note."""


def _by_number(text: str) -> tuple[int, str]:
    return (int(text), text) if text.isdigit() else (0, text)


def applied_once(note: Mapping[str, Any] | None) -> dict[str, Any]:
    """The live side of ``rotate`` and ``revokeCredentials``: the values last applied, as the
    managed record's note on the request keeps them."""
    if not note:
        return {}
    out: dict[str, Any] = {}
    if isinstance(note.get("rotate"), str) and note["rotate"]:
        out["rotate"] = note["rotate"]
    revoked = note.get("revokeCredentials")
    if isinstance(revoked, list) and revoked:
        out["revokeCredentials"] = sorted({str(r) for r in revoked}, key=_by_number)
    return out


def kept_facts(note: Mapping[str, Any] | None) -> dict[str, Any]:
    """What the note keeps that the portal cannot hold (justification, expiry date), for
    reviewers and ``import``."""
    if not note:
        return {}
    return {k: note[k] for k in ("justification", "expires") if isinstance(note.get(k), str)}


def export(objects: Sequence[LiveObject], importing: Importing) -> None:
    """Decided requests, one file each under ``requests/<product>/`` (``request_file``);
    pending ones are left to ``requests pull``. One not made by us carries its live ID as an
    annotation."""
    for o in objects:
        a = o.attrs
        if a.get("status") == "pending":
            continue
        missing = [p for p in a.get("products", []) if p not in importing.written["Product"]]
        if a.get("plan") not in importing.written["Plan"]:
            missing.append(str(a.get("plan")))
        if missing:
            importing.skip(
                "AccessRequest",
                o.key,
                f"it asks for objects that could not be imported: {', '.join(missing)}",
            )
            continue
        catalogue = valid_catalogue(o, importing.live, importing.written["Catalogue"])
        if catalogue not in importing.written["Catalogue"]:
            importing.skip(
                "AccessRequest",
                o.key,
                "no imported catalogue offers its plan and products to its consumer",
            )
            continue
        spec: dict[str, Any] = {
            "consumer": a.get("consumer", ""),
            "app": str((a.get("app") or {}).get("name", "")),
            "products": list(a.get("products", [])),
            "plan": a.get("plan", ""),
            "catalogue": catalogue,
        }
        if a.get("status") == "rejected":
            spec["decision"] = "reject"
        for k in ONCE:
            if a.get(k):
                spec[k] = a[k] if k == "rotate" else list(a[k])
        spec.update(kept_facts(o.recorded))
        annotations = None if o.managed else {REQUEST_ID_ANNOTATION: o.id}
        path = REQUESTS / request_file(a.get("products", []), o.key)
        importing.write(path, "AccessRequest", o.key, spec, annotations)


REQUESTS = PurePosixPath("requests")
"""The requests folder, beside the other manifests (``import``, ``init``)."""


def request_file(products: Sequence[str], name: str) -> PurePosixPath:
    """Where a request's manifest lives inside the requests folder: one folder per product
    (the first it asks for, by name), ``<product>/<name>.yaml``. The one layout ``import``,
    ``requests pull`` and ``init`` write, and the one ``codeowners`` routes: GitHub reads
    CODEOWNERS from the base branch, so only a folder line can route a brand-new file."""
    first = sorted(str(p) for p in products)[0] if products else "no-product"
    return PurePosixPath(slug(first)) / f"{slug(name, 100)}.yaml"


def valid_catalogue(
    request: LiveObject, live: LiveState, written: Container[str] | None = None
) -> str:
    """A catalogue a manifest of this live request can name and pass validation: one that
    offers its plan and products and whose audience covers its consumer (or is public); the
    one the portal recorded when it qualifies, else the first by name. ``written`` limits the
    choice to the catalogues an import writes. The recorded one when none qualifies (then
    validation says why)."""
    a = request.attrs
    recorded = str(request.recorded.get("catalogue") or "")
    user = live.get("User", str(a.get("consumer", "")))
    organisation = str(a.get("organisation") or "")
    teams = set(user.attrs.get("teams", [])) if user is not None else set()
    products = set(a.get("products", []))

    def qualifies(c: LiveObject) -> bool:
        ca = c.attrs
        if a.get("plan") not in ca.get("plans", []) or not products <= set(ca.get("products", [])):
            return False
        if written is not None and c.key not in written:
            return False
        return ca.get("visibility") == "public" or any(
            e.get("organisation") == organisation
            and (
                not e.get("team")
                or e.get("team") == default_team_name(organisation)
                or e.get("team") in teams
            )
            for e in ca.get("audience", [])
        )

    candidates = sorted(c.key for c in live if c.kind == "Catalogue" and qualifies(c))
    if recorded in candidates or not candidates:
        return recorded
    return candidates[0]


def references(attrs: Attrs) -> set[Key]:
    """Its consumer, app, products and plan (its catalogue is a constraint, not a
    reference)."""
    out: set[Key] = {("Product", p) for p in attrs.get("products", [])}
    out.add(("Plan", attrs.get("plan", "")))
    consumer = str(attrs.get("consumer", ""))
    out.add(("User", consumer))
    out.add(("App", app_key(consumer, str((attrs.get("app") or {}).get("name", "")))))
    return out


KIND = Kind(
    name="AccessRequest",
    level=6,
    identity_doc='manifest name (live requests not made by us: "request-<id>")',
    identity=by_name,
    source="AccessRequest",
    build=build,
    export=export,
    references=references,
    # a decided request cannot be edited: anything but a decision on a pending request
    # means revoking it and asking again
    replace_on_change=True,
)
