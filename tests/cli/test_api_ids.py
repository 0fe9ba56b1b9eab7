"""Products against their provider's Dashboard APIs, through the CLI, on the embedded store and
over HTTP to the emulator (issue 12, findings 5 and 6).

Tyk's facts (tyk-api/REFERENCE.md §9 "API ids"): a product's ``APIID`` must exist on its
provider's Dashboard; a policy's ``versions`` must name versions the API defines; the Gateway
checks a key's ``versions`` unless the API is not versioned, so an empty list denies every
request; portal-made policies grant ``["Default"]``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.apis import EXAMPLE_APIS
from tests.cli.test_plan_apply import NO_CHANGES, PLAN_LINE, call
from tests.conftest import CliTarget, copy_examples


@pytest.fixture
def manifests(tmp_path: Path) -> Path:
    return copy_examples(tmp_path)


def policy_rights(target: CliTarget, product: str) -> dict[str, Any]:
    with target.store() as store:
        policies = call(store, "GET", "/api/portal/policies", p="-1")["Data"]
        rights: dict[str, Any] = next(p for p in policies if p["name"] == product)["access_rights"]
        return rights


def test_plan_refuses_unknown_api_ids_and_versions_before_anything_is_applied(
    cli_target: CliTarget, manifests: Path
) -> None:
    geocoding = manifests / "products" / "geocoding-api.yaml"
    geocoding.write_text(geocoding.read_text().replace("apiId: geocoding", "apiId: geocoding-v9"))
    weather = manifests / "products" / "weather-api.yaml"
    weather.write_text(weather.read_text().replace("versions: [v1, v2]", "versions: [v1, v7]"))

    for command in (["plan", str(manifests)], ["apply", str(manifests), "--auto-approve"]):
        result = cli_target.invoke(*command)
        assert result.exit_code == 1, result.output
        errors = [line for line in result.output.splitlines() if ": Product/" in line]
        assert errors == [
            f"{geocoding}:11: Product/geocoding-api: spec.apis[0].apiId: "
            'API "geocoding-v9" is not defined on the Dashboard of provider "tyk-dashboard"',
            f"{weather}:18: Product/weather-api: spec.apis[0].versions[1]: "
            'API "weather-current" has no version "v7" (it defines "v1", "v2")',
        ]
        assert "error: 2 problems found in the manifests" in result.output
        assert "Traceback" not in result.output
    with cli_target.store() as store:  # nothing was applied: not even the provider
        assert call(store, "GET", "/portal-api/providers") == []


def test_a_product_api_without_versions_gets_what_the_api_defines(
    cli_target: CliTarget, manifests: Path
) -> None:
    weather = manifests / "products" / "weather-api.yaml"
    text = weather.read_text()
    weather.write_text(text.replace("      versions: [v1, v2]\n", "", 1))  # weather-current

    result = cli_target.invoke("apply", str(manifests), "--auto-approve")
    assert result.exit_code == 0, result.output
    # platform-metrics is not versioned: ["Default"]; weather-current defines v1 and v2
    assert policy_rights(cli_target, "platform-metrics-api")["platform-metrics"]["versions"] == [
        "Default"
    ]
    rights = policy_rights(cli_target, "weather-api")
    assert rights["weather-current"]["versions"] == ["v1", "v2"]
    assert rights["weather-historical"]["versions"] == ["v1"]
    again = cli_target.invoke("plan", str(manifests))
    assert again.exit_code == 0 and NO_CHANGES in again.output, again.output


def test_a_policy_left_with_no_versions_converges(cli_target: CliTarget, manifests: Path) -> None:
    """A product applied before the fix has ``versions: []`` on its policy (every request to a
    versioned API denied): the plan shows it and apply grants what the API defines."""
    assert cli_target.invoke("apply", str(manifests), "--auto-approve").exit_code == 0
    with cli_target.store() as store:
        policies = call(store, "GET", "/api/portal/policies", p="-1")["Data"]
        policy = next(p for p in policies if p["name"] == "platform-metrics-api")
        policy["access_rights"]["platform-metrics"]["versions"] = []
        call(store, "PUT", f"/api/portal/policies/{policy['_id']}", policy)

    plan = cli_target.invoke("plan", str(manifests))
    assert plan.exit_code == 0, plan.output
    assert "~ Product/platform-metrics-api will be updated" in plan.output, plan.output
    assert re.search(r"versions: \+ \"Default\"", plan.output), plan.output
    assert cli_target.invoke("apply", str(manifests), "--auto-approve").exit_code == 0
    assert policy_rights(cli_target, "platform-metrics-api")["platform-metrics"]["versions"] == [
        "Default"
    ]
    assert NO_CHANGES in cli_target.invoke("plan", str(manifests)).output


def test_apis_option_seeds_the_embedded_store(tmp_path: Path) -> None:
    """The Quick start: the embedded store's Dashboard gets the examples' APIs from files."""
    manifests = copy_examples(tmp_path)
    store = tmp_path / "fresh" / "portal.db"
    target = CliTarget("embedded", store, {"TYK_DASHBOARD_SECRET": "s", "NO_COLOR": "1"})
    bare = target.invoke("plan", str(manifests), "--store", str(store))
    assert bare.exit_code == 1 and "is not defined on the Dashboard" in bare.output
    seeded = ["--store", str(store), "--apis", str(EXAMPLE_APIS)]
    assert PLAN_LINE in target.invoke("plan", str(manifests), *seeded).output
    assert target.invoke("apply", str(manifests), "--auto-approve", *seeded).exit_code == 0
    assert NO_CHANGES in target.invoke("plan", str(manifests), "--store", str(store)).output


def test_apis_option_is_refused_for_a_real_portal(tmp_path: Path) -> None:
    manifests = copy_examples(tmp_path)
    target = CliTarget(
        "emulator",
        tmp_path / "unused.db",
        {"TYK_DASHBOARD_SECRET": "s", "TYK_PORTAL_TOKEN": "t", "NO_COLOR": "1"},
    )
    result = target.invoke(
        "plan", str(manifests), "--portal-url", "http://127.0.0.1:9", "--apis", str(EXAMPLE_APIS)
    )
    assert result.exit_code == 1
    assert "never creates APIs in a real Dashboard" in result.output
