"""``portal-gitops github ...``: the steps of the GitHub workflows, one command each."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import click

from portal_gitops.cli.common import Context, common_options, run

# --- github ---------------------------------------------------------------------------------


@click.group()
def github() -> None:
    """The steps of the GitHub workflows: read GitHub Actions' environment and event payload,
    talk to GITHUB_API_URL with GITHUB_TOKEN (see docs/pull-request-workflow.md)."""


def _github(flow: Callable[..., Any], ctx: Context, *args: Any, **kwargs: Any) -> None:
    from portal_gitops.github.context import Run

    def go() -> int:
        outcome = flow(*args, ctx.target(), Run.from_environ(os.environ), **kwargs)
        for line in outcome.lines:
            click.echo(line)
        return int(outcome.code)

    run(go, ctx.debug)


@github.command("plan")
@click.argument("paths", nargs=-1)
@click.option("--prune", is_flag=True, help="Plan deletions as apply --prune would.")
@click.option("--max-deletes", type=click.IntRange(min=0), default=None, help="Warn past it.")
@click.option("--out", default="plan.json", show_default=True, help="Save the plan here.")
@common_options
def github_plan(
    paths: tuple[str, ...], prune: bool, max_deletes: int | None, out: str, ctx: Context
) -> None:
    """pull_request: validate, plan, save the plan, replace the pull request's plan comment
    (fork pull requests: validate only, with a notice)."""
    from portal_gitops.github import flows

    kw = {"prune": prune, "max_deletes": max_deletes, "out": out}
    _github(flows.pr_plan, ctx, paths or (".",), **kw)


@github.command("apply")
@click.argument("paths", nargs=-1)
@click.option("--max-deletes", type=click.IntRange(min=0), default=10, show_default=True)
@click.option("--force", is_flag=True, help="Allow more deletions than --max-deletes.")
@common_options
def github_apply(paths: tuple[str, ...], max_deletes: int, force: bool, ctx: Context) -> None:
    """push: apply the merged pull request's reviewed plan (refused when stale);
    workflow_dispatch: apply by hand with its inputs; schedule: apply expiries only."""
    from portal_gitops.github import flows

    _github(flows.apply, ctx, paths or (".",), max_deletes=max_deletes, force=force)


@github.command("open-request-prs")
@click.argument("paths", nargs=-1)
@click.option("--out", required=True, help="Folder for request manifests (e.g. requests/).")
@common_options
def github_open_request_prs(paths: tuple[str, ...], out: str, ctx: Context) -> None:
    """Pull Live Portal requests; open one pull request each, reviewers from CODEOWNERS."""
    from portal_gitops.github import flows

    _github(flows.open_request_prs, ctx, paths or (".",), out)


@github.command("close-rejects")
@click.argument("paths", nargs=-1)
@common_options
def github_close_rejects(paths: tuple[str, ...], ctx: Context) -> None:
    """pull_request closed unmerged: reject the access request it carried in the portal."""
    from portal_gitops.github import flows

    _github(flows.close_rejects, ctx, paths or (".",))
