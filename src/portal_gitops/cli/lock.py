"""The apply lock on the command line: SIGTERM turned into an orderly stop of an apply, and
`force-unlock` for a lock whose apply is gone."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from types import FrameType
from typing import Any

import click

from portal_gitops import commands as cmd
from portal_gitops.apply import Stop
from portal_gitops.backends.base import LockInfo
from portal_gitops.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    Context,
    approve,
    common_options,
    echo,
    fail,
    run,
)

EXIT_SIGTERM = 128 + signal.SIGTERM  # 143: the apply stopped in order on SIGTERM
EXIT_INTERRUPT = 128 + signal.SIGINT  # 130: the apply stopped in order on Ctrl-C
SIGTERM_STOP = "stopped by SIGTERM: the actions under way finished and no other was started"
INTERRUPT_STOP = "stopped by Ctrl-C: the actions under way finished and no other was started"
INTERRUPT_NOTICE = (
    b"\nInterrupt received: finishing the actions under way, then stopping "
    b"(Ctrl-C again stops at once).\n"
)


class SignalStop(Stop):
    """A Stop that SIGTERM requests at any time, and Ctrl-C once ``arm`` was called (the
    apply was confirmed and runs); before that, Ctrl-C does what it did (under asyncio.run:
    the run is cancelled, its lock released, and "interrupted" printed)."""

    def __init__(self) -> None:
        super().__init__()
        self.arm: Callable[[], None] = lambda: None


@contextlib.contextmanager
def stop_on_signals() -> Iterator[SignalStop]:
    """A Stop that SIGTERM (CI cancels a job with SIGTERM) or, once armed, Ctrl-C requests:
    the apply then starts no further action, records what ran, and releases its lock. A
    second signal ends the process at once (SIGTERM as by default; Ctrl-C as it would have
    without us), as Terraform does on a second interrupt."""
    stop = SignalStop()

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        if stop.reason == SIGTERM_STOP:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
        stop.request(SIGTERM_STOP)

    try:
        previous = signal.signal(signal.SIGTERM, on_sigterm)
    except ValueError:  # not the main thread (an embedding program): signals are its own
        yield stop
        return
    at_entry = signal.getsignal(signal.SIGINT)
    before_arming: list[Any] = []

    def on_interrupt(signum: int, frame: FrameType | None) -> None:
        if stop.reason is not None:  # a second signal: stop at once, as without us
            handler = before_arming[0] if before_arming else None
            if callable(handler):
                handler(signum, frame)
                return
            raise KeyboardInterrupt
        stop.request(INTERRUPT_STOP)
        with contextlib.suppress(OSError):
            os.write(2, INTERRUPT_NOTICE)  # a signal handler: no buffered stream

    def arm() -> None:
        with contextlib.suppress(ValueError):  # called from the main thread, as asyncio runs
            before_arming.append(signal.signal(signal.SIGINT, on_interrupt))

    stop.arm = arm
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, previous)
        if signal.getsignal(signal.SIGINT) is on_interrupt:
            signal.signal(signal.SIGINT, at_entry)


def _utc(epoch: float | None) -> str:
    if not epoch:
        return "an unknown time"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _describe(held: LockInfo) -> str:
    return (
        f"held by {held.holder} since {_utc(held.acquired_at)} "
        f"(lease until {_utc(held.expires_at)})"
    )


@click.command("force-unlock")
@click.argument("paths", nargs=-1)
@click.option("--yes", is_flag=True, help="Remove the lock without asking for confirmation.")
@common_options
def force_unlock(paths: tuple[str, ...], yes: bool, ctx: Context) -> None:
    """Remove the apply lock left by an apply that no longer runs (like terraform
    force-unlock).

    Shows who holds the lock and since when, then asks; without a terminal, only --yes
    removes it. Removing the lock of an apply that still runs lets a second apply run
    alongside it: check first that the holder is gone."""
    target = ctx.target()
    where = target.describe(paths or (".",))

    def confirm(held: LockInfo) -> bool:
        echo(f"The apply lock on {where} is {_describe(held)}.")
        if yes:
            return True
        if not sys.stdin.isatty():
            fail(
                "refusing to remove the apply lock without confirmation: standard input is "
                "not a terminal; pass --yes"
            )
        return approve("Remove it? Only do this if that apply no longer runs.")

    def go() -> int:
        held, removed = cmd.unlock(paths or (".",), target, confirm)
        if held is None:
            echo(f"No apply lock is held on {where}; nothing to do.")
            return EXIT_OK
        if not removed:
            echo("The apply lock was left in place.")
            return EXIT_ERROR
        echo(f"Removed the apply lock of {held.holder} on {where}.")
        return EXIT_OK

    run(go, ctx.debug)
