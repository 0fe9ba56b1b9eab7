"""`portal-gitops init`: the files of a new manifests repository (pure: returns text)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import PurePosixPath
from typing import Any

import yaml

from portal_gitops.kinds.access_request import REQUESTS, request_file
from portal_gitops.models import API_VERSION

WORKFLOWS = ("portal-plan", "portal-apply", "portal-drift", "portal-requests-pull")
# The workflows install portal-gitops from a lock beside them (`portal-gitops lock` writes it):
# the version that wrote them and every dependency, each pinned by the sha256 of its file, so
# plan and apply always run the same code. The path is relative to the repository root.
LOCK_PATH = ".github/portal-gitops-requirements.txt"
INSTALL = f"--require-hashes --no-deps -r {LOCK_PATH}"
# the CPython the workflows set up (actions/setup-python) on ubuntu-latest
RUNNER_PYTHON = "3.12"
SCHEMA_COMMENT = "# yaml-language-server: $schema={schema}\n"


def schema_line(depth: int) -> str:
    """The editor schema comment for a file ``depth`` folders below the manifests root, with
    ``schemas/`` beside that root (the layout `init` writes)."""
    return SCHEMA_COMMENT.format(
        schema="/".join([".."] * (depth + 1)) + "/schemas/manifest.schema.json"
    )


def render_workflow(name: str, manifests: str, install: str = INSTALL) -> str:
    """A workflow for the manifests in ``manifests``; the API definitions an embedded plan
    needs are in ``apis/`` beside that folder."""
    text = resources.files("portal_gitops").joinpath("templates", "workflows", f"{name}.yml")
    return (
        text.read_text(encoding="utf-8")
        .replace("__MANIFESTS__", manifests)
        .replace("__APIS__", str(PurePosixPath(manifests).parent / "apis"))
        .replace("__INSTALL__", install)
    )


def _doc(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": name}, "spec": spec}


def starter_manifests() -> dict[PurePosixPath, list[dict[str, Any]]]:
    """A small estate that validates and plans: edit it to describe your portal."""
    return {
        PurePosixPath("providers.yaml"): [
            _doc(
                "Provider",
                "tyk",
                {
                    "type": "tyk-pro",
                    "dashboardUrl": "http://tyk-dashboard.localhost:3000",
                    "secret": {"fromEnv": "TYK_DASHBOARD_SECRET"},
                    "orgId": "change-me",
                },
            )
        ],
        PurePosixPath("organisations/example-org.yaml"): [
            _doc("Organisation", "Example Org", {}),
            _doc(
                "Team",
                "developers",
                {
                    "organisation": "Example Org",
                    "members": [
                        {
                            "email": "dev@example.com",
                            "role": "admin",
                            "first": "Dev",
                            "last": "Example",
                        }
                    ],
                },
            ),
        ],
        PurePosixPath("products/example-api.yaml"): [
            _doc(
                "Product",
                "example-api",
                {
                    "provider": "tyk",
                    "displayName": "Example API",
                    "description": "Replace with your API product.",
                    "apis": [{"apiId": "example-api-id", "versions": ["Default"]}],
                    "owners": ["@your-org/api-platform"],
                },
            )
        ],
        PurePosixPath("plans.yaml"): [
            _doc(
                "Plan",
                "free",
                {
                    "provider": "tyk",
                    "displayName": "Free",
                    "rateLimit": {"requests": 10, "per": 60},
                    "quota": {"requests": 1000, "renewal": 86400},
                    "autoApprove": True,
                    "owners": ["@your-org/api-platform"],
                },
            )
        ],
        PurePosixPath("catalogues.yaml"): [
            _doc(
                "Catalogue",
                "public",
                {
                    "displayName": "Public",
                    "visibility": "public",
                    "products": ["example-api"],
                    "plans": ["free"],
                },
            )
        ],
        PurePosixPath("apps/example-org.yaml"): [
            _doc(
                "App",
                "example-app",
                {"owner": "dev@example.com", "description": "A first application"},
            )
        ],
        REQUESTS / request_file(["example-api"], "dev-example-app"): [
            _doc(
                "AccessRequest",
                "dev-example-app",
                {
                    "consumer": "dev@example.com",
                    "app": "example-app",
                    "products": ["example-api"],
                    "plan": "free",
                    "catalogue": "public",
                    "justification": "Trying the portal out.",
                },
            )
        ],
    }


def starter_apis() -> dict[PurePosixPath, dict[str, Any]]:
    """The definition of the starter product's API, as a Dashboard exports it: what the
    embedded store's Dashboard holds for a plan with no Tyk (``--apis apis``). Replace it with
    your own exports (``GET /api/apis/{id}``); portal-gitops never creates APIs in Tyk."""
    return {
        PurePosixPath("example-api-id.json"): {
            "api_definition": {
                "api_id": "example-api-id",
                "name": "Example API",
                "active": True,
                "proxy": {"listen_path": "/example/", "target_url": "http://example.com/"},
                "version_data": {
                    "not_versioned": True,
                    "default_version": "",
                    "versions": {"Default": {"name": "Default"}},
                },
            }
        }
    }


PRE_COMMIT = """\
# Validate the manifests before every commit (https://pre-commit.com).
repos:
  - repo: local
    hooks:
      - id: portal-gitops-validate
        name: portal-gitops validate
        entry: portal-gitops validate manifests
        language: system
        files: ^manifests/.*\\.ya?ml$
        pass_filenames: false
"""

README = """\
# Developer Portal configuration

This repository describes our Tyk Developer Portal. Changes are made by pull request:

- `manifests/` holds providers, organisations and teams, products, plans and catalogues.
- `manifests/requests/` holds access requests, one file each in a folder per product
  (`requests/<product>/<name>.yaml`, the layout `requests pull` writes and CODEOWNERS routes);
  merging one grants the access it asks for.
- Every pull request gets a plan comment; merging to main applies it
  (`.github/workflows/portal-*.yml`). CODEOWNERS routes requests to the owners of the
  products and plans they ask for (regenerate it with `portal-gitops codeowners manifests`).
- `apis/` holds the definitions of the APIs the products name, exported from the Tyk
  Dashboard (`GET /api/apis/{id}`): the embedded store's Dashboard holds them for a plan with
  no Tyk (`--apis apis`). Against a real portal the products' APIs are checked against the
  provider's Dashboard itself.
- `.github/portal-gitops-requirements.txt` is what the workflows install: portal-gitops and
  its dependencies pinned by sha256. Upgrade with `portal-gitops lock` in a pull request.

Secrets live in GitHub environments, never in the repository's secrets: `portal-plan`
(read credentials), `portal` (admin, required reviewers, main only) and `portal-automation`
(admin, main only: expiries and rejections), each with `TYK_PORTAL_URL`, `TYK_PORTAL_TOKEN`,
`TYK_DASHBOARD_SECRET`. The Dashboards a secret may be sent to are listed in the repository
variable `PORTAL_GITOPS_APPROVED_DASHBOARDS`, which a pull request cannot change. Closing a
request pull request unmerged rejects the request only when the login in the repository
variable `PORTAL_GITOPS_REQUEST_OPENER` (the App that opens them) opened it. See the
portal-gitops guide "Access requests through pull requests".

Locally: `portal-gitops validate manifests`, `portal-gitops plan manifests --apis apis`.
"""


def repository_files(codeowners: str) -> dict[PurePosixPath, str]:
    """Every file `init` writes except the JSON Schemas, as text."""
    out: dict[PurePosixPath, str] = {}
    for rel, docs in starter_manifests().items():
        path = PurePosixPath("manifests") / rel
        out[path] = schema_line(len(rel.parts) - 1) + yaml.safe_dump_all(docs, sort_keys=False)
    for rel, definition in starter_apis().items():
        out[PurePosixPath("apis") / rel] = json.dumps(definition, indent=2) + "\n"
    for name in WORKFLOWS:
        out[PurePosixPath(".github/workflows") / f"{name}.yml"] = render_workflow(name, "manifests")
    out[PurePosixPath(".github/CODEOWNERS")] = codeowners
    out[PurePosixPath(".pre-commit-config.yaml")] = PRE_COMMIT
    out[PurePosixPath("README.md")] = README
    out[PurePosixPath(".gitignore")] = ".portal-gitops/\n"
    return out
