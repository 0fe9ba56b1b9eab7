"""The rules about apps and credentials across the estate: App documents (one per owner and
name, owned by a team member), the apps access requests name (a declared App of the consumer,
or described inline, the form from before App documents, consistently and never beside an App
document), and credential requests that would do nothing (a warning)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from portal_gitops.models import AccessRequest, App
from portal_gitops.validate.structure import suggest

if TYPE_CHECKING:
    from portal_gitops.load import Source
    from portal_gitops.validate.semantics import _Estate

AppKey = tuple[str, str]  # (owner email, app name)


def _where(doc: Source, path: tuple[str, ...]) -> str:
    return f"{doc.file}:{doc.positions.line_of(path)}"


def check_credential_requests(estate: _Estate) -> None:
    """A rotation or revocation asked on a rejected request does nothing: it holds no
    credential (a warning)."""
    for model, doc in estate.by_kind["AccessRequest"]:
        spec = model.spec
        if spec.decision != "reject":
            continue
        for field in ("rotate", "revokeCredentials"):
            if getattr(spec, field):
                estate.issue(
                    model,
                    doc,
                    ("spec", field),
                    f"the request is rejected and holds no credential: `{field}` does nothing",
                    warning=True,
                )


def check_apps(estate: _Estate) -> None:
    declared = _check_app_documents(estate)
    described: dict[AppKey, tuple[tuple[object, ...], str, str]] = {}
    named: list[tuple[AccessRequest, Source]] = []
    for model, doc in estate.by_kind["AccessRequest"]:
        spec = model.spec
        app = spec.app
        if isinstance(app, str):
            named.append((model, doc))
            continue
        key = (spec.consumer, app.name)
        if app.model_fields_set <= {"name"}:
            continue  # the name only: a reference, or the defaults if nothing else declares it
        if key in declared:
            estate.issue(
                model,
                doc,
                ("spec", "app"),
                f"App {app.name!r} of {spec.consumer!r} is declared by an App document "
                f"({declared[key]}); name it only (`app: {app.name}`), or describe it in one "
                "place",
            )
            continue
        details = (app.description, tuple(sorted(set(app.redirectUrls))), app.visibility)
        first = described.get(key)
        if first is None:
            described[key] = (details, model.metadata.name, _where(doc, ("spec", "app")))
        elif first[0] != details:
            estate.issue(
                model,
                doc,
                ("spec", "app"),
                f"AccessRequest {first[1]!r} ({first[2]}) describes app {app.name!r} of "
                f"{spec.consumer!r} differently; describe it once, best in an App document "
                "(kind: App), and name it from the requests (`app: <name>`)",
            )
    inline = {
        (m.spec.consumer, m.spec.app_name)
        for m, _ in estate.by_kind["AccessRequest"]
        if not isinstance(m.spec.app, str)
    }
    for model, doc in named:
        spec = model.spec
        key = (spec.consumer, spec.app_name)
        if key in declared or key in inline or spec.app_name in estate.invalid["App"]:
            continue
        owned = sorted(name for owner, name in (*declared, *inline) if owner == spec.consumer)
        estate.issue(
            model,
            doc,
            ("spec", "app"),
            f"unknown App {spec.app_name!r} of {spec.consumer!r}{suggest(spec.app_name, owned)}: "
            f"declare it (kind: App, owner: {spec.consumer}) or describe it here "
            f"(app: {{name: {spec.app_name}}})",
        )


def _check_app_documents(estate: _Estate) -> dict[AppKey, str]:
    """App documents by (owner, name), with where each is; duplicates and owners who are no
    team member reported."""
    declared: dict[AppKey, str] = {}
    for model, doc in estate.by_kind["App"]:
        app: App = model
        key = (app.spec.owner, app.metadata.name)
        if key in declared:
            estate.issue(
                app,
                doc,
                ("metadata", "name"),
                f"duplicate App {app.metadata.name!r} of {app.spec.owner!r} "
                f"(first defined at {declared[key]})",
            )
            continue
        declared[key] = _where(doc, ("metadata", "name"))
        if app.spec.owner not in estate.members and not estate.invalid["Team"]:
            estate.issue(
                app,
                doc,
                ("spec", "owner"),
                f"{app.spec.owner!r} is not a member of any Team"
                + suggest(app.spec.owner, estate.members),
            )
    return declared
