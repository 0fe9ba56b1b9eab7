"""What every command of the command line shares: the context of the common options, the
one runner that maps errors to exit codes, and the group that turns usage errors into exit 1."""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any, NoReturn

import click
from click.core import ParameterSource

from portal_gitops import commands as cmd
from portal_gitops.errors import ApplyError, ManifestError, PortalGitopsError
from portal_gitops.escape import log_safe_lines, terminal_safe

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2


class Context:
    def __init__(
        self,
        store: str | None,
        portal_url: str | None,
        verbose: int,
        color: bool,
        debug: bool,
        apis: tuple[str, ...] = (),
    ):
        self.apis = apis
        self.store = store
        self.portal_url = portal_url
        self.verbose = verbose
        self.color = color
        self.debug = debug

    def target(self, parallelism: int = 8) -> cmd.Target:
        return cmd.Target(
            store=self.store,
            portal_url=self.portal_url,
            environ=dict(os.environ),
            parallelism=parallelism,
            apis=self.apis,
        )


def _color_default() -> bool:
    return "NO_COLOR" not in os.environ and sys.stdout.isatty()


APIS_OPTION = click.option(
    "--apis",
    multiple=True,
    type=click.Path(exists=True),
    envvar="PORTAL_GITOPS_APIS",
    help="Tyk API definition files (JSON or YAML, as a Dashboard exports them; directories "
    "are read whole) that the embedded store's Dashboard holds, so products can name them "
    "(env PORTAL_GITOPS_APIS). Embedded store and emulator only.",
)


ALLOW_EMPTY_OPTION = click.option(
    "--allow-empty",
    is_flag=True,
    help="Accept manifests paths that hold no document at all (refused otherwise: with "
    "--prune, nothing desired means deleting every managed object).",
)


def inherited(name: str, value: Any) -> Any:
    """The value of a common option for the running command, given after the command or
    before it (``portal-gitops -v plan`` as ``portal-gitops plan -v``): on the command line
    after the command wins, then before it, then the environment or the default. A count
    (``-v``) adds up; a flag is on when given at either place."""
    here = click.get_current_context()
    root = here.find_root()
    if root is here or name not in root.params:
        return value
    before = root.params[name]
    if isinstance(value, bool):
        return value or bool(before)
    if name == "verbose":
        return int(value) + int(before or 0)
    if here.get_parameter_source(name) == ParameterSource.COMMANDLINE:
        return value
    if root.get_parameter_source(name) == ParameterSource.COMMANDLINE:
        return before
    return value


TARGET_OPTIONS = {"store": "--store", "apis": "--apis", "portal_url": "--portal-url"}


def refuse_misplaced_target_options(group: click.Context) -> None:
    """A target option given before a command that has no target (``--store X validate``)
    is a usage error, not silently ignored; -v, --no-color and --debug go with any."""
    name = group.invoked_subcommand
    parent = group.command
    command = parent.get_command(group, name) if name and isinstance(parent, click.Group) else None
    if command is None or isinstance(command, click.Group):  # a group's commands decide
        return
    takes = {p.name for p in command.params}
    for param, flag in TARGET_OPTIONS.items():
        given = group.get_parameter_source(param) == ParameterSource.COMMANDLINE
        if given and param not in takes:
            raise click.UsageError(f"{flag} does not apply to `{name}`: it reads no portal")


STORE_HELP = (
    "Embedded store file (env PORTAL_GITOPS_STORE; default: .portal-gitops/portal.db at the "
    "root of the Git repository holding the manifests, or in the working directory when they "
    "are in none; printed as 'Embedded portal: PATH')."
)


def announce_store(ctx: Context, paths: tuple[str, ...] | list[str]) -> None:
    """Say which embedded store a command reads and writes (nothing for a real portal)."""
    if not ctx.portal_url:
        echo(f"Embedded portal: {ctx.target().store_path(paths)}", err=True)


def common_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The target and output options every portal-facing command shares, handed to the
    command as one ``ctx: Context`` argument. They are accepted before the command too
    (``global_options`` on the group)."""

    @functools.wraps(command)
    def f(
        *args: Any,
        store: str | None,
        portal_url: str | None,
        verbose: int,
        no_color: bool,
        debug: bool,
        apis: tuple[str, ...],
        **kwargs: Any,
    ) -> Any:
        no_color = inherited("no_color", no_color)
        color = _color_default() and not no_color
        ctx = Context(
            inherited("store", store),
            inherited("portal_url", portal_url),
            inherited("verbose", verbose),
            color,
            inherited("debug", debug),
            inherited("apis", apis),
        )
        return command(*args, ctx=ctx, **kwargs)

    return _shared_options(f)


def global_options(group: Callable[..., Any]) -> Callable[..., Any]:
    """The common options on the group, so they may come before the command as well."""
    return _shared_options(group)


def _shared_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--store", type=click.Path(dir_okay=False), default=None, help=STORE_HELP)(f)
    f = APIS_OPTION(f)
    f = click.option(
        "--portal-url",
        envvar="TYK_PORTAL_URL",
        default=None,
        help="Tyk Developer Portal base URL, e.g. https://portal:3001 "
        "(env TYK_PORTAL_URL); token from env TYK_PORTAL_TOKEN.",
    )(f)
    f = click.option("-v", "--verbose", count=True, help="Show more detail.")(f)
    f = click.option(
        "--no-color", is_flag=True, default=False, help="Plain output (NO_COLOR is honoured too)."
    )(f)
    f = click.option(
        "--debug",
        is_flag=True,
        default=False,
        hidden=True,
        help="Show tracebacks for unexpected errors.",
    )(f)
    return f


def echo(message: str = "", *, err: bool = False, nl: bool = True) -> None:
    """Print output of the tool's own making: a line that would begin a GitHub workflow
    command is indented (values others typed are already escaped where they are rendered)."""
    click.echo(log_safe_lines(message), err=err, nl=nl)


def safe_lines(text: str) -> str:
    """A message that may carry what a server or a manifest said: every line escaped."""
    return "\n".join(terminal_safe(line) for line in text.split("\n"))


def fail(message: str) -> NoReturn:
    echo(f"error: {safe_lines(message)}", err=True)
    sys.exit(EXIT_ERROR)


def approve(question: str) -> bool:
    """Ask on the terminal, as Terraform does: only the word ``yes`` approves; anything else
    (``y``, an empty line, end of input) declines."""
    try:
        answer = click.prompt(
            f"{question}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value",
            default="",
            show_default=False,
        )
    except click.exceptions.Abort:  # end of input or Ctrl-C at the prompt: not a yes
        echo(err=True)
        return False
    return str(answer).strip() == "yes"


def run(fn: Callable[[], int], debug: bool = False) -> NoReturn:
    """One handler for every command: expected failures exit 1 with a message, bugs too,
    but say they are bugs."""
    try:
        code = fn()
    except ManifestError as exc:
        for issue in exc.issues:
            echo(safe_lines(str(issue)), err=True)
        n = len(exc.issues)
        click.echo(f"error: {n} problem{'s' if n != 1 else ''} found in the manifests", err=True)
        sys.exit(EXIT_ERROR)
    except ApplyError as exc:
        fail(str(exc))
    except PortalGitopsError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except click.exceptions.Exit:
        raise
    except click.ClickException:
        raise
    except Exception as exc:
        if debug:
            traceback.print_exc()
        fail(
            f"unexpected {type(exc).__name__}: {exc} (this is a bug in portal-gitops; "
            "run with --debug for details)"
        )
    sys.exit(code)


class Cli(click.Group):
    """click exits 2 on a usage error; 2 is our "changes present", so usage errors exit 1."""

    def main(
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as exc:  # UsageError, BadParameter, NoSuchOption, ...
            exc.show()
            sys.exit(EXIT_ERROR)
        except click.exceptions.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(EXIT_ERROR)
        sys.exit(code if isinstance(code, int) else EXIT_OK)
