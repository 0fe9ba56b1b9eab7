"""API owners: AdminUser manifests through validate, plan, apply, import and codeowners, on the
embedded store and over HTTP to the emulator (``cli_target``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner, Result

from portal_gitops.backends.emulated.store import ADMIN_EMAIL, PortalStore
from portal_gitops.cli import main
from tests.conftest import CliTarget, copy_examples

NO_CHANGES = "No changes. The portal matches the manifests."

ADMIN = """\
apiVersion: portal-gitops/v1
kind: AdminUser
metadata:
  name: grace
spec:
  email: grace@weatherco.example
  role: {role}
  first: Grace
  last: Hopper
  github: ghopper
"""


def users(store: PortalStore) -> dict[str, dict[str, Any]]:
    """Every user in detail (User-show), by email."""
    resp = store.handle("GET", "/portal-api/users", {"per_page": "100"}, {}, b"")
    assert resp.status == 200
    out = {}
    for u in json.loads(resp.body):
        detail = store.handle("GET", f"/portal-api/users/{u['ID']}", {}, {}, b"")
        out[u["Email"]] = json.loads(detail.body)
    return out


def test_an_admin_user_is_created_left_alone_updated_pruned_and_imported(
    cli_target: CliTarget, tmp_path: Path
) -> None:
    manifests = copy_examples(tmp_path)
    admin_file = manifests / "more-admins.yaml"
    admin_file.write_text(ADMIN.format(role="provider-admin"))
    created = cli_target.invoke("apply", str(manifests), "--auto-approve")
    assert created.exit_code == 0, created.output
    assert "+ AdminUser/grace@weatherco.example" in created.output
    with cli_target.store() as store:
        grace = users(store)["grace@weatherco.example"]
    assert (grace["Role"], grace["OrganisationID"]) == ("provider-admin", 0)
    # invited as consumers are: the portal emails a link to set a password (REFERENCE §9)
    assert (grace["Provider"], grace["ResetPassword"]) == ("password", True)

    again = cli_target.invoke("plan", str(manifests))
    assert again.exit_code == 0, again.output
    assert NO_CHANGES in again.output
    # the portal's own admin (not made by the tool) is never listed nor touched
    assert ADMIN_EMAIL not in again.output

    admin_file.write_text(ADMIN.format(role="super-admin"))
    updated = cli_target.invoke("apply", str(manifests), "--auto-approve")
    assert updated.exit_code == 0, updated.output
    assert "~ AdminUser/grace@weatherco.example" in updated.output
    with cli_target.store() as store:
        assert users(store)["grace@weatherco.example"]["Role"] == "super-admin"
    assert NO_CHANGES in cli_target.invoke("plan", str(manifests)).output

    out = tmp_path / "imported"
    imported = cli_target.invoke("import", "--out", str(out))
    assert imported.exit_code == 0, imported.output
    docs = [d for d in yaml.safe_load_all((out / "admins.yaml").read_text()) if d]
    by_email = {d["spec"]["email"]: d for d in docs}
    assert ADMIN_EMAIL not in by_email  # not the tool's: never imported
    assert by_email["grace@weatherco.example"] == {
        "apiVersion": "portal-gitops/v1",
        "kind": "AdminUser",
        "metadata": {"name": "grace"},
        "spec": {
            "email": "grace@weatherco.example",
            "role": "super-admin",
            "first": "Grace",
            "last": "Hopper",
        },
    }
    replanned = cli_target.invoke("plan", str(out))
    assert replanned.exit_code == 0, replanned.output
    assert "0 to create, 0 to update, 0 to delete" in replanned.output or NO_CHANGES in (
        replanned.output
    )

    admin_file.unlink()
    kept = cli_target.invoke("plan", str(manifests))
    assert "AdminUser/grace@weatherco.example" in kept.output
    assert "0 to delete" in kept.output or NO_CHANGES in kept.output
    pruned = cli_target.invoke("apply", str(manifests), "--prune", "--auto-approve")
    assert pruned.exit_code == 0, pruned.output
    assert "- AdminUser/grace@weatherco.example" in pruned.output
    with cli_target.store() as store:
        left = users(store)
    assert "grace@weatherco.example" not in left
    assert ADMIN_EMAIL in left  # never managed, never deleted
    assert NO_CHANGES in cli_target.invoke("plan", str(manifests), "--prune").output


def offline(*argv: str) -> Result:
    """A command that needs no portal (validate, codeowners)."""
    return CliRunner().invoke(main, list(argv), env={"NO_COLOR": "1"}, catch_exceptions=False)


def test_owners_name_admin_users_and_codeowners_writes_their_github_handles(
    tmp_path: Path,
) -> None:
    manifests = copy_examples(tmp_path)
    (manifests / "more-admins.yaml").write_text(
        ADMIN.format(role="provider-admin")
        + "---\n"
        + ADMIN.replace("grace", "linus").replace("github: ghopper", "").format(role="super-admin")
    )
    product = manifests / "products" / "weather-api.yaml"
    product.write_text(
        product.read_text().replace('    - "@weatherco/forecasting"', "    - grace\n    - linus")
    )
    result = offline("codeowners", str(manifests))
    assert result.exit_code == 0, result.output
    line = next(
        x for x in result.output.splitlines() if x.startswith("/") and "weather-api.yaml" in x
    )
    assert line.split()[1:] == [
        "@weatherco/api-platform",
        "@ghopper",  # grace's GitHub handle
        "linus@weatherco.example",  # linus has none: the email
        "@rosa-weatherco",  # the examples' API owner
    ]

    product.write_text(product.read_text().replace("    - linus", "    - lynus"))
    invalid = offline("validate", str(manifests))
    assert invalid.exit_code == 1
    assert "weather-api.yaml:" in invalid.output
    assert (
        "Product/weather-api: spec.owners[2]: unknown AdminUser 'lynus' (did you mean 'linus'?)"
        in invalid.output
    )


def test_an_admin_user_who_is_also_a_consumer_is_refused(tmp_path: Path) -> None:
    manifests = copy_examples(tmp_path)
    consumer = yaml.safe_load_all((manifests / "organisations" / "acme.yaml").read_text())
    email = next(
        m["email"] for d in consumer if d and d["kind"] == "Team" for m in d["spec"]["members"]
    )
    (manifests / "more-admins.yaml").write_text(
        ADMIN.replace("grace@weatherco.example", email).format(role="provider-admin")
    )
    invalid = offline("validate", str(manifests))
    assert invalid.exit_code == 1
    assert f"AdminUser/grace: spec.email: {email!r} is a consumer" in invalid.output
