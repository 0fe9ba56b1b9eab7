"""The command line: parses arguments, calls commands.py, prints, exits. Nothing else prints.

Exit codes: 0 success / no changes; 1 error (invalid input, failed apply, stale plan, and
usage errors: a mistyped option must never read as "changes"); 2 changes present
(plan --detailed-exitcode, drift); 143 an apply stopped in order by SIGTERM.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import click

from portal_gitops import __version__, pulling, writing
from portal_gitops import commands as cmd
from portal_gitops.apply import Progress, Stop
from portal_gitops.cli.common import (
    ALLOW_EMPTY_OPTION,
    APIS_OPTION,
    EXIT_CHANGES,
    EXIT_ERROR,
    EXIT_OK,
    Cli,
    Context,
    announce_store,
    approve,
    common_options,
    echo,
    fail,
    global_options,
    inherited,
    refuse_misplaced_target_options,
    run,
    safe_lines,
)
from portal_gitops.cli.github_steps import github
from portal_gitops.cli.lock import (
    EXIT_INTERRUPT,
    EXIT_SIGTERM,
    INTERRUPT_STOP,
    SIGTERM_STOP,
    force_unlock,
    stop_on_signals,
)
from portal_gitops.cli.outcome import report_apply
from portal_gitops.files import write_file
from portal_gitops.pins import resolve_lock
from portal_gitops.plan import Action, Plan, dumps, replace
from portal_gitops.render import render
from portal_gitops.scaffold import LOCK_PATH, RUNNER_PYTHON
from portal_gitops.validate import format_issues


@click.group(cls=Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="portal-gitops")
@global_options
def main(**_common: object) -> None:
    """Manage a Tyk Developer Portal from YAML manifests: validate, plan, apply.

    The common options (--store, --apis, --portal-url, -v, --no-color) may be given before
    the command or after it; given at both places, the one after the command wins."""
    refuse_misplaced_target_options(click.get_current_context())


# --- validate -------------------------------------------------------------------------------


@main.command()
@click.argument("paths", nargs=-1)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option("--no-color", is_flag=True, default=False)
@ALLOW_EMPTY_OPTION
def validate(paths: tuple[str, ...], fmt: str, no_color: bool, allow_empty: bool) -> None:
    """Validate manifests (default: the current directory). Needs no network and no secrets."""

    def go() -> int:
        result = cmd.validate(paths or (".",), allow_empty=allow_empty)
        if fmt == "json":
            echo(
                json.dumps(
                    {
                        "valid": result.ok,
                        "documents": len(result.manifests),
                        "errors": [i.as_dict() for i in result.errors],
                        "warnings": [i.as_dict() for i in result.warnings],
                    },
                    indent=2,
                )
            )
            return EXIT_OK if result.ok else EXIT_ERROR
        if result.errors or result.warnings:
            echo(format_issues([*result.errors, *result.warnings]), err=True)
        if not result.ok:
            n = len(result.errors)
            echo(f"error: {n} problem{'s' if n != 1 else ''} found in the manifests", err=True)
            return EXIT_ERROR
        echo(f"{len(result.manifests)} documents valid.")
        return EXIT_OK

    run(go)


# --- plan / drift ---------------------------------------------------------------------------


@main.command()
@click.argument("paths", nargs=-1)
@click.option("--out", type=click.Path(dir_okay=False), help="Save the plan for `apply FILE`.")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes.")
@click.option(
    "--prune", is_flag=True, help="Plan deletion of managed objects removed from the manifests."
)
@click.option(
    "--max-deletes",
    type=click.IntRange(min=0),
    default=None,
    help="Warn when the plan deletes more objects than apply's --max-deletes would allow.",
)
@ALLOW_EMPTY_OPTION
@common_options
def plan(
    paths: tuple[str, ...],
    out: str | None,
    fmt: str,
    detailed_exitcode: bool,
    prune: bool,
    max_deletes: int | None,
    allow_empty: bool,
    ctx: Context,
) -> None:
    """Show what apply would change in the portal."""

    def go() -> int:
        p = cmd.plan(
            paths or (".",),
            ctx.target(),
            prune=prune,
            max_deletes=max_deletes,
            allow_empty=allow_empty,
        )
        announce_store(ctx, p.paths)
        _show(p, fmt, ctx)
        if out:
            write_file(Path(out), dumps(p))
            echo(f"Saved the plan to {out}; apply it with `portal-gitops apply {out}`.", err=True)
        return EXIT_CHANGES if detailed_exitcode and p.has_changes else EXIT_OK

    run(go, ctx.debug)


@main.command()
@click.argument("paths", nargs=-1)
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text")
@ALLOW_EMPTY_OPTION
@common_options
def drift(
    paths: tuple[str, ...],
    fmt: str,
    allow_empty: bool,
    ctx: Context,
) -> None:
    """Report drift between the manifests and the portal; exit 2 when they differ."""

    def go() -> int:
        p = cmd.plan(paths or (".",), ctx.target(), prune=False, allow_empty=allow_empty)
        announce_store(ctx, p.paths)
        # a passed `expires` is a change the manifests ask for, not a hand edit: not drift
        expiring = [a for a in p.actions if a.reason == "expired"]
        if expiring:
            p = replace(p, actions=tuple(a for a in p.actions if a.reason != "expired"))
            echo(
                f"{len(expiring)} expired access request(s) wait for the next apply "
                "(apply --only-expiries); not counted as drift",
                err=True,
            )
        _show(p, fmt, ctx)
        if p.has_changes:
            echo("drift detected: the portal differs from the manifests", err=True)
            return EXIT_CHANGES
        return EXIT_OK

    run(go, ctx.debug)


@main.command()
@click.argument("plan_file", metavar="PLAN")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text")
@click.option("-v", "--verbose", count=True, help="Show more detail.")
@click.option(
    "--no-color", is_flag=True, default=False, help="Plain output (NO_COLOR is honoured too)."
)
def show(plan_file: str, fmt: str, verbose: int, no_color: bool) -> None:
    """Render a plan saved with `plan --out FILE` again (for a comment, or an audit).

    Reads nothing but the file: no manifests, no portal, no secrets. A saved plan is known by
    its content, whatever its name; any other file, or a plan edited after it was saved, is
    refused (exit 1). The JSON form is the current plan format."""

    def go() -> int:
        p = cmd.read_saved_plan(plan_file)
        plain = inherited("no_color", no_color)  # given before the command as well
        color = "NO_COLOR" not in os.environ and sys.stdout.isatty() and not plain
        _show(p, fmt, Context(None, None, inherited("verbose", verbose), color, False))
        return EXIT_OK

    run(go)


# --- apply ----------------------------------------------------------------------------------


class ProgressPrinter:
    """Prints progress to stderr for long applies (more than 20 changes, or -v)."""

    def __init__(self, total: int, verbose: bool):
        self.total = total
        self.count = 0
        self.enabled = verbose or total > 20
        self.every = 1 if verbose or total <= 100 else max(1, total // 20)

    def __call__(self, event: str, action: Action, detail: str) -> None:
        if event == "start":
            return
        self.count += 1
        if event == "failed":
            echo(
                f"[{self.count}/{self.total}] FAILED {action.op} {action.address}: {detail}",
                err=True,
            )
        elif self.enabled and (self.count % self.every == 0 or self.count == self.total):
            echo(f"[{self.count}/{self.total}] {action.op} {action.address}", err=True)


def _show(p: Plan, fmt: str, ctx: Context) -> None:
    """A plan on stdout; in text mode its warnings go to stderr, apart from the plan."""
    if fmt == "text":
        for w in p.warnings:
            echo(safe_lines(w), err=True)
    echo(render(p, fmt, color=ctx.color, verbose=ctx.verbose > 0), nl=False)


@main.command()
@click.argument("paths", nargs=-1)
@click.option("--auto-approve", is_flag=True, help="Apply without asking for confirmation.")
@click.option("--prune", is_flag=True, help="Delete managed objects removed from the manifests.")
@click.option(
    "--max-deletes",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="Refuse plans that delete more objects than this, unless --force.",
)
@click.option("--force", is_flag=True, help="Allow more deletions than --max-deletes.")
@click.option(
    "--move-record",
    is_flag=True,
    help=(
        "Let the managed record and apply lock move to another Dashboard (or merge records "
        "found on several) when the plan says they would; refused otherwise."
    ),
)
@click.option(
    "--only-expiries",
    is_flag=True,
    help="Apply only the revocations of access requests past their `expires` date.",
)
@click.option("--parallelism", type=click.IntRange(1, 64), default=8, show_default=True)
@ALLOW_EMPTY_OPTION
@common_options
def apply(
    paths: tuple[str, ...],
    auto_approve: bool,
    prune: bool,
    max_deletes: int,
    force: bool,
    move_record: bool,
    only_expiries: bool,
    parallelism: int,
    allow_empty: bool,
    ctx: Context,
) -> None:
    """Apply the manifests to the portal, or apply a plan saved with `plan --out FILE`.

    Asks for confirmation unless --auto-approve; a saved plan is applied as it was reviewed,
    after checking that neither the manifests nor the portal changed since.

    The apply lock's lease is renewed while the apply runs. On SIGTERM (a cancelled CI job)
    or Ctrl-C once it applies, the apply stops in order: the actions under way finish, no
    other starts, the summary is printed, the lock is released, and it exits 143 (SIGTERM)
    or 130 (Ctrl-C); a second Ctrl-C stops at once. When the portal goes down, the summary
    is printed too, with whether the lock could be released."""
    target = ctx.target(parallelism)

    saved_plan = len(paths) == 1 and cmd.is_saved_plan(paths[0])

    def confirm(p: Plan) -> bool:
        announce_store(ctx, p.paths)
        _show(p, "text", ctx)
        if auto_approve or saved_plan:  # a saved plan was reviewed when it was made
            return True
        if not sys.stdin.isatty():
            fail(
                "refusing to apply without confirmation: standard input is not a terminal; "
                "pass --auto-approve"
            )
        return approve("Do you want to apply these changes?")

    def go() -> int:
        printer: ProgressPrinter | None = None

        def progress(event: str, action: Action, detail: str) -> None:
            if printer is not None:
                printer(event, action, detail)

        def confirm_and_track(p: Plan) -> bool:
            nonlocal printer
            ok = confirm(p)
            printer = ProgressPrinter(len(p.actions), ctx.verbose > 0)
            if ok:
                stop.arm()  # from here Ctrl-C stops in order
            return ok

        with stop_on_signals() as stop:
            outcome = _run_apply(stop, confirm_and_track, progress)
        if outcome.result is None:
            if outcome.plan.has_changes:
                echo("Apply cancelled. Nothing was changed.")
                return EXIT_ERROR  # as Terraform: declining is not a success
            else:
                announce_store(ctx, outcome.plan.paths)
                echo(render(outcome.plan, "text", color=ctx.color), nl=False)
        else:
            report_apply(outcome.result, outcome.lock)
        if stop.reason in (SIGTERM_STOP, INTERRUPT_STOP):
            if outcome.result is None:
                echo(f"error: {stop.reason}", err=True)
            return EXIT_SIGTERM if stop.reason == SIGTERM_STOP else EXIT_INTERRUPT
        return EXIT_OK if outcome.result is None or outcome.result.ok else EXIT_ERROR

    def _run_apply(
        stop: Stop, confirm_and_track: cmd.Confirm, progress: Progress
    ) -> cmd.ApplyOutcome:
        if saved_plan:
            return cmd.apply_saved(
                paths[0],
                target,
                max_deletes=max_deletes,
                force=force,
                move_record=move_record,
                confirm=confirm_and_track,
                progress=progress,
                stop=stop,
            )
        return cmd.apply(
            paths or (".",),
            target,
            prune=prune,
            max_deletes=max_deletes,
            force=force,
            move_record=move_record,
            confirm=confirm_and_track,
            progress=progress,
            select=(lambda a: a.reason == "expired") if only_expiries else None,
            stop=stop,
            allow_empty=allow_empty,
        )

    run(go, ctx.debug)


# --- import -------------------------------------------------------------------------------


@main.command("import")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder to write the manifests into.",
)
@click.option("--force", is_flag=True, help="Overwrite files already in the --out folder.")
@common_options
def import_(out: str, force: bool, ctx: Context) -> None:
    """Write the live portal down as manifests (to adopt a portal configured by hand).

    Objects the manifests cannot express are reported with the reason. Secrets are never
    written: providers get a {fromEnv: ...} reference to fill in. Refuses to replace a file
    already in the --out folder (nothing is written then) unless --force."""

    def go() -> int:
        outcome = writing.import_portal(out, ctx.target(), force=force)
        for path in outcome.written:
            echo(str(path))
        for skipped in outcome.skipped:
            echo(f"not imported: {skipped}", err=True)
        echo(
            f"{outcome.documents} documents written to {out}; "
            f"{len(outcome.skipped)} object(s) could not be expressed.",
            err=True,
        )
        return EXIT_OK

    run(go, ctx.debug)


# --- access requests ------------------------------------------------------------------------


@main.group()
def requests() -> None:
    """Access requests made in the Live Portal."""


@requests.command("pull")
@click.argument("paths", nargs=-1)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder to write request manifests into (e.g. requests/).",
)
@click.option(
    "--max-requests",
    type=click.IntRange(min=1),
    default=pulling.MAX_PULL_PER_RUN,
    show_default=True,
    help="At most this many requests written per run; the rest wait for the next.",
)
@click.option(
    "--max-per-consumer",
    type=click.IntRange(min=1),
    default=pulling.MAX_PULL_PER_CONSUMER,
    show_default=True,
    help="At most this many pending requests per consumer in the repository.",
)
@common_options
def requests_pull(
    paths: tuple[str, ...],
    out: str,
    max_requests: int,
    max_per_consumer: int,
    ctx: Context,
) -> None:
    """Write a manifest for every pending request made in the Live Portal.

    Requests already pulled (found by their request-id annotation under PATHS or --out)
    are not written again; approved and rejected requests are never written. A burst from
    one consumer is capped (--max-per-consumer), and so is a run (--max-requests)."""

    def go() -> int:
        result = pulling.requests_pull(
            paths,
            out,
            ctx.target(),
            max_requests=max_requests,
            max_per_consumer=max_per_consumer,
        )
        for path in result.written:
            echo(str(path))
        for line in (*result.skipped, *result.deferred):
            echo(safe_lines(line), err=True)
        echo(
            f"{len(result.written)} new request(s) written, {len(result.already)} "
            "already in the repository"
            + (f", {len(result.skipped)} skipped." if result.skipped else "."),
            err=True,
        )
        return EXIT_OK

    run(go, ctx.debug)


@main.command()
@click.argument("paths", nargs=-1)
@click.option(
    "--requests-dir",
    default=None,
    help="Folder of request manifests, one subfolder per product (default: <first PATH>/requests).",
)
def codeowners(paths: tuple[str, ...], requests_dir: str | None) -> None:
    """Print CODEOWNERS lines routing request files to the owners of what they ask for."""

    def go() -> int:
        lines, warnings = cmd.codeowners(paths or (".",), requests_dir)
        for w in warnings:
            echo(f"warning: {w}", err=True)
        echo("\n".join(lines))
        return EXIT_OK

    run(go)


# --- init ---------------------------------------------------------------------------------


@main.command()
@click.argument("directory", default=".")
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
@click.option(
    "--lock/--no-lock",
    default=True,
    show_default=True,
    help=f"Write {LOCK_PATH}, the workflows' install of this version pinned by hash (asks "
    "pip, so the version must be published; with --no-lock run `portal-gitops lock` later).",
)
@click.option(
    "--skip-existing",
    is_flag=True,
    help="Keep files that already exist and write only the missing ones.",
)
def init(directory: str, force: bool, lock: bool, skip_existing: bool) -> None:
    """Start a manifests repository: starter manifests, workflows, CODEOWNERS, schemas.

    Refuses to overwrite a file that exists (nothing is written then) unless --force, or
    --skip-existing to add only what is missing, naming each file it kept."""

    def go() -> int:
        pinned = resolve_lock() if lock else None
        outcome = writing.init_repository(
            directory, force=force, skip_existing=skip_existing, lock=pinned
        )
        for path in outcome.written:
            echo(str(path))
        for path in outcome.skipped:
            echo(f"skipped (already exists): {path}", err=True)
        # the starter's product names an API only its apis/ folder defines: the embedded
        # store's Dashboard needs it to plan
        manifests, apis = (shlex.quote(f"{directory}/{d}") for d in ("manifests", "apis"))
        echo(
            f"Next: portal-gitops validate {manifests} && "
            f"portal-gitops plan {manifests} --apis {apis}",
            err=True,
        )
        return EXIT_OK

    run(go)


@main.command("lock")
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default=LOCK_PATH,
    show_default=True,
    help="Where to write the lock ('-' prints it).",
)
@click.option(
    "--version", "version", default=__version__, show_default=True, help="portal-gitops version."
)
@click.option(
    "--python", default=RUNNER_PYTHON, show_default=True, help="CPython of the workflows."
)
def lock_command(out: str, version: str, python: str) -> None:
    """Pin the workflows' install of portal-gitops and its dependencies by sha256.

    pip resolves the version for GitHub's ubuntu-latest runner; the workflows install the
    lock with `pip install --require-hashes --no-deps -r`. Run it again to upgrade."""

    def go() -> int:
        text = resolve_lock(version, python)
        if out == "-":
            echo(text, nl=False)
        else:
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            echo(str(write_file(Path(out), text)))
        return EXIT_OK

    run(go)


# --- completion ---------------------------------------------------------------------------


@main.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script, e.g. `eval "$(portal-gitops completion bash)"`."""
    from click.shell_completion import get_completion_class

    def go() -> int:
        cls = get_completion_class(shell)
        assert cls is not None  # the choices above are click's built-in shells
        echo(cls(main, {}, "portal-gitops", "_PORTAL_GITOPS_COMPLETE").source())
        return EXIT_OK

    run(go)


# --- schema / emulator ----------------------------------------------------------------------


@main.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Write one schema file per kind into this directory.",
)
def schema(out: str | None) -> None:
    """Print (or write) the JSON Schemas of the manifests."""
    from portal_gitops.schema import json_schemas, write_schemas

    def go() -> int:
        if out:
            for path in write_schemas(out):
                echo(str(path))
        else:
            echo(json.dumps(json_schemas()["manifest.schema.json"], indent=2))
        return EXIT_OK

    run(go)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=3001, show_default=True)
@click.option(
    "--store",
    type=click.Path(dir_okay=False),
    default=None,
    help="Embedded store file (env PORTAL_GITOPS_STORE; default: the one plan and apply use "
    "when run here: .portal-gitops/portal.db at the root of the Git repository holding the "
    "working directory, or in the working directory).",
)
@click.option("--latency-ms", type=float, default=0.0, help="Delay every request (testing).")
@APIS_OPTION
def emulator(
    host: str, port: int, store: str | None, latency_ms: float, apis: tuple[str, ...]
) -> None:
    """Serve the embedded store over HTTP with Tyk's portal and Dashboard APIs.

    Requires TYK_PORTAL_TOKEN (portal API) and TYK_DASHBOARD_SECRET (Dashboard API)."""
    from portal_gitops.backends.emulated.server import FaultConfig, serve, settings_from_env

    # `portal-gitops --store X emulator` as well; by default plan's store, from here
    store_file = cmd.Target(store=inherited("store", store)).store_path((".",))
    apis = inherited("apis", apis)

    def go() -> int:
        settings_from_env(os.environ)  # fail early and clearly when tokens are missing
        definitions = cmd.api_definitions(apis)
        os.makedirs(os.path.dirname(os.path.abspath(store_file)), exist_ok=True)

        def banner() -> None:
            echo(
                f"emulator: portal http://{host}:{port}/portal-api, dashboard "
                f"http://{host}:{port}/api (store {store_file})",
                err=True,
            )

        serve(
            host,
            port,
            store_file,
            faults=FaultConfig(latency_ms=latency_ms),
            apis=definitions,
            listening=banner,
        )
        return EXIT_OK

    run(go)


if __name__ == "__main__":  # pragma: no cover
    main()


main.add_command(github)
main.add_command(force_unlock)
