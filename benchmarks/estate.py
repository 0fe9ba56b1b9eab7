"""Synthetic estates for benchmarks: N valid documents spread over files like a real repository.

    python benchmarks/estate.py OUT_DIR [--documents 10000]

Layout: providers.yaml; organisations/<org>.yaml (an organisation and its teams); products/
in files of ten; plans.yaml; catalogues.yaml (catalogues/ in files of 50 past 50 of them);
requests/<org>/<request>.yaml, one per file.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import yaml

API = "portal-gitops/v1"
CATALOGUES_PER_FILE = 50
HEADER = "# yaml-language-server: $schema=../schemas/manifest.schema.json\n"


def _doc(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API, "kind": kind, "metadata": {"name": name}, "spec": spec}


def plan_counts(n: int) -> dict[str, int]:
    """Split N documents over kinds in roughly the proportions of a large real estate."""
    orgs = max(1, n // 20)
    teams = orgs * 4
    plans = max(1, n // 100)
    catalogues = max(1, n // 200)
    requests = n // 4
    products = max(1, n - 2 - orgs - teams - plans - catalogues - requests)
    return {
        "providers": 2,
        "orgs": orgs,
        "teams": teams,
        "products": products,
        "plans": plans,
        "catalogues": catalogues,
        "requests": requests,
    }


def generate(n: int) -> dict[str, list[dict[str, Any]]]:
    """Files (relative path -> documents) of an estate of about N documents."""
    c = plan_counts(n)
    files: dict[str, list[dict[str, Any]]] = {}
    files["providers.yaml"] = [
        _doc(
            "Provider",
            f"tyk-{i}",
            {
                "type": "tyk-pro",
                "dashboardUrl": f"http://dashboard-{i}.internal:3000",
                "secret": {"fromEnv": f"TYK_DASHBOARD_SECRET_{i}"},
                "orgId": f"org{i}",
                "policyTags": ["portal"],
            },
        )
        for i in range(c["providers"])
    ]
    members: list[tuple[str, str]] = []  # (email, org)
    teams_per_org = c["teams"] // c["orgs"]
    for o in range(c["orgs"]):
        org = f"org-{o:05d}"
        docs = [_doc("Organisation", org, {})]
        for t in range(teams_per_org):
            team_members = [
                {
                    "email": f"u{o}-{t}-{m}@{org}.example",
                    "role": "admin" if m == 0 else "member",
                    "first": "User",
                    "last": f"{o}-{t}-{m}",
                }
                for m in range(3)
            ]
            members.extend((mm["email"], org) for mm in team_members)
            docs.append(_doc("Team", f"team-{t}", {"organisation": org, "members": team_members}))
        files[f"organisations/{org}.yaml"] = docs
    products = [f"product-{p:05d}" for p in range(c["products"])]
    for start in range(0, len(products), 10):
        files[f"products/products-{start // 10:04d}.yaml"] = [
            _doc(
                "Product",
                name,
                {
                    "provider": "tyk-0",
                    "displayName": name.title(),
                    "description": f"The {name} API product.",
                    "apis": [
                        {
                            "apiId": f"{name}-api-{a}",
                            "versions": ["v1"],
                            "allowedUrls": [{"url": "/items", "methods": ["GET"]}],
                        }
                        for a in range(2)
                    ],
                    "tags": ["generated"],
                    "owners": ["@example/api-platform"],
                },
            )
            for name in products[start : start + 10]
        ]
    plans = [f"plan-{p:04d}" for p in range(c["plans"])]
    files["plans.yaml"] = [
        _doc(
            "Plan",
            name,
            {
                "provider": "tyk-0",
                "displayName": name.title(),
                "rateLimit": {"requests": 10 + i, "per": 60},
                "quota": {"requests": 1000 * (i + 1), "renewal": 3600},
                "keyExpiresIn": 86400 * 30,
                # the first of several plans approves as requests are filed
                "autoApprove": i == 0 and len(plans) > 1,
                "owners": ["@example/api-platform"],
            },
        )
        for i, name in enumerate(plans)
    ]
    cats = []
    per_cat = max(1, len(products) // c["catalogues"])
    for i in range(c["catalogues"]):
        cats.append(
            _doc(
                "Catalogue",
                f"catalogue-{i:04d}",
                {
                    "visibility": "public",
                    "products": products[i * per_cat : (i + 1) * per_cat] or products[:1],
                    "plans": plans,
                },
            )
        )
    # every catalogue lists every plan: past about 50 catalogues a file of them all would go
    # over the loader's 200,000 nodes per file, so a large estate has them in files of 50
    if len(cats) <= CATALOGUES_PER_FILE:
        files["catalogues.yaml"] = cats
    else:
        for start in range(0, len(cats), CATALOGUES_PER_FILE):
            chunk = cats[start : start + CATALOGUES_PER_FILE]
            files[f"catalogues/catalogues-{start // CATALOGUES_PER_FILE:04d}.yaml"] = chunk
    for r in range(c["requests"]):
        email, org = members[r % len(members)]
        cat_i = r % c["catalogues"]
        cat_products = cats[cat_i]["spec"]["products"]
        files[f"requests/{org}/request-{r:05d}.yaml"] = [
            _doc(
                "AccessRequest",
                f"request-{r:05d}",
                {
                    "consumer": email,
                    "app": {"name": f"app-{r:05d}", "description": "generated"},
                    "products": [cat_products[r % len(cat_products)]],
                    "plan": plans[r % len(plans)],
                    "catalogue": f"catalogue-{cat_i:04d}",
                    # a rejection on an auto-approving plan is refused by validation
                    "decision": "reject"
                    if r % 10 == 9 and not (len(plans) > 1 and r % len(plans) == 0)
                    else "approve",
                },
            )
        ]
    return files


def api_definitions(n: int) -> list[dict[str, Any]]:
    """The Tyk API definitions of every API the estate's products name (version ``v1``), as a
    Dashboard exports them: products may name only APIs their provider's Dashboard has."""
    return [
        {
            "api_definition": {
                "api_id": f"product-{p:05d}-api-{a}",
                "name": f"product-{p:05d}-api-{a}",
                "version_data": {
                    "not_versioned": False,
                    "default_version": "v1",
                    "versions": {"v1": {"name": "v1"}},
                },
            }
        }
        for p in range(plan_counts(n)["products"])
        for a in range(2)
    ]


def seed_apis(db: str, n: int) -> None:
    """Store the estate's API definitions in the (emulated) Dashboard of the store at ``db``."""
    from portal_gitops.backends.emulated.store import PortalStore

    PortalStore(db, apis=api_definitions(n)).close()


def write(out: Path, n: int) -> int:
    """Write an estate of about N documents under OUT; returns the number of documents."""
    total = 0
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    for rel, docs in generate(n).items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        depth = rel.count("/")
        header = HEADER.replace("../schemas", "/".join([".."] * (depth + 1)) + "/schemas")
        path.write_text(header + yaml.dump_all(docs, Dumper=dumper, sort_keys=False))
        total += len(docs)
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out")
    ap.add_argument("--documents", type=int, default=10_000)
    args = ap.parse_args()
    n = write(Path(args.out), args.documents)
    print(
        f"wrote {n} documents in {sum(len(f) for _, _, f in os.walk(args.out))} files "
        f"under {args.out}"
    )


if __name__ == "__main__":
    main()
