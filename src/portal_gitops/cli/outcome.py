"""How an apply that ran ends on the command line: what failed and was skipped, the summary
(always, even when the portal went down), whether the apply lock was released, and what
running apply again will do."""

from __future__ import annotations

from portal_gitops.apply import ApplyResult, LockRelease
from portal_gitops.cli.common import echo, safe_lines

RUN_AGAIN = (
    "Run apply again to finish the job: it plans from what is live now, so what was done is "
    "not done twice."
)
ADOPTIONS = (
    "Objects created that the record of managed objects does not list yet ({why}) show in "
    "the next plan as adoptions: found in the portal under their names and taken over, not "
    "created again."
)


def report_apply(result: ApplyResult, lock: LockRelease) -> None:
    """Failures and skips on stderr, the summary on stdout, then (when the run did not end
    well) the lock's fate and how to finish."""
    for action, message in result.failed:
        echo(f"failed: {action.op} {action.address}: {safe_lines(message)}", err=True)
    if result.record_error:
        echo(
            "error: the record of managed objects could not be saved: "
            f"{safe_lines(result.record_error)}",
            err=True,
        )
    if result.stopped:
        echo(f"error: {safe_lines(result.stopped)}", err=True)
    if result.skipped:
        why = "the failure" if result.failed or result.record_error else "the stop"
        echo(f"skipped after {why} ({len(result.skipped)}):", err=True)
        for action in result.skipped[:50]:
            echo(f"  {action.op} {action.address}", err=True)
        if len(result.skipped) > 50:
            echo(f"  ... and {len(result.skipped) - 50} more", err=True)
    echo(f"Apply: {result.summary()}.")
    if result.ok and lock.released is not False:
        return
    if lock.released:
        echo("The apply lock was released.", err=True)
    elif lock.released is False:
        echo(f"error: {safe_lines(lock.advice())}", err=True)
    if result.ok:
        return
    echo(RUN_AGAIN, err=True)
    unrecorded = [a for a in result.unrecorded if a.op in ("create", "replace")]
    lost = [a for a, _ in result.failed if a.op in ("create", "replace")]
    if unrecorded or lost:
        reasons = []
        if unrecorded:
            reasons.append(f"{len(unrecorded)} done after the record was last saved")
        if lost:
            reasons.append("a create that failed may have been made before its reply was lost")
        echo(ADOPTIONS.format(why="; ".join(reasons)), err=True)
