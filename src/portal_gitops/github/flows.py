"""What each workflow step does on GitHub, one function per ``portal-gitops github`` command.

Every function returns an Outcome: the exit code and the lines the CLI prints (annotations and
notices are workflow commands GitHub reads from standard output). Nothing here prints.

GitHub's rules these flows are built on (docs.github.com):
- "Events that trigger workflows", pull_request: a run for a pull request from a fork gets no
  secrets (GITHUB_TOKEN aside) and a read-only GITHUB_TOKEN, so it can neither plan against
  the portal nor comment: it validates and says so in a notice and the job summary.
- "Triggering a workflow": events made with GITHUB_TOKEN (other than workflow_dispatch and
  repository_dispatch) start no workflow run, so access-request pull requests are opened with a
  GitHub App installation token or a fine-grained personal access token.
- "Events that trigger workflows", schedule: there is no repository in the payload, so the
  default branch comes from "Get a repository" (``default_branch``).
- "About code owners": the last matching CODEOWNERS pattern wins; the file is read from
  ``.github/``, the root or ``docs/``, in that order.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from portal_gitops import commands as cmd
from portal_gitops import pulling
from portal_gitops.errors import PortalGitopsError, StalePlanError, UnsafePlanError
from portal_gitops.github import comment as gc
from portal_gitops.github.api import GitHubApi
from portal_gitops.github.context import GitHubError, Run
from portal_gitops.plan import dumps
from portal_gitops.render import render_markdown, summary_line

PLAN_FILE = "plan.json"  # the member of the plan artifact
REQUEST_MARK = re.compile(r"<!-- portal-gitops/request-id: (\d+) -->")
BRANCH_PREFIX = "access-request/"
NO_PORTAL = (
    "No portal credentials in this run: TYK_PORTAL_URL is empty (set the environment's "
    "secrets, see docs/pull-request-workflow.md), so nothing was planned."
)


def artifact_name(head_sha: str) -> str:
    """The plan artifact of a pull request's head commit (upload-artifact ``name``)."""
    return f"portal-plan-{head_sha}"


@dataclass
class Outcome:
    code: int = 0
    lines: list[str] = field(default_factory=list)


def _api(run: Run) -> GitHubApi:
    return GitHubApi(run.api_url, run.repository, run.token)


# --- portal-plan: a pull request's plan comment ---------------------------------------------


def pr_plan(
    paths: Sequence[str],
    target: cmd.Target,
    run: Run,
    *,
    prune: bool,
    max_deletes: int | None,
    out: str,
) -> Outcome:
    """Validate; on a same-repository pull request plan, save the plan to ``out`` and replace
    the one plan comment (with the failure, when validation or the plan fails)."""
    pr = run.pull_request
    if pr is None:
        raise GitHubError(f"github plan runs on pull_request events, not {run.event_name!r}")
    validation = cmd.validate(paths)
    problems = [str(i) for i in validation.errors]
    result = Outcome(
        0 if validation.ok else 1, gc.annotate([*validation.errors, *validation.warnings])
    )
    if pr.fork:
        run.summary(gc.fork_comment(validation.ok, problems))
        result.lines.append(gc.notice(gc.FORK_NOTICE))
        return result
    if not target.portal_url:
        # never an empty-store plan: without a portal there is nothing true to show; the
        # comment says so (and replaces any earlier plan), the run fails only when invalid
        with _api(run) as api:
            api.upsert_comment(
                pr.number,
                gc.MARKER,
                gc.failure_comment(
                    NO_PORTAL + (" The manifests are valid." if validation.ok else ""),
                    problems,
                    run_url=run.run_url,
                    sha=pr.head_sha,
                ),
            )
        result.lines.append(gc.notice(NO_PORTAL))
        return result
    with _api(run) as api:
        if not validation.ok:
            api.upsert_comment(
                pr.number,
                gc.MARKER,
                gc.failure_comment(
                    f"{len(problems)} problem(s) in the manifests.",
                    problems,
                    run_url=run.run_url,
                    sha=pr.head_sha,
                ),
            )
            return result
        try:
            plan = cmd.plan(paths, target, prune=prune, max_deletes=max_deletes)
        except PortalGitopsError as exc:
            api.upsert_comment(
                pr.number,
                gc.MARKER,
                gc.failure_comment(
                    "The plan failed.", [str(exc)], run_url=run.run_url, sha=pr.head_sha
                ),
            )
            result.lines.append(gc.error(f"plan failed: {exc}"))
            result.code = 1
            return result
        Path(out).write_text(dumps(plan), encoding="utf-8")
        run.summary(render_markdown(plan, limit=None))
        body = gc.plan_comment(render_markdown(plan), run_url=run.run_url, sha=pr.head_sha)
        how = api.upsert_comment(pr.number, gc.MARKER, body)
    result.lines.extend(gc.warning(w) for w in plan.warnings if "deletion budget" in w)
    result.lines.append(f"{summary_line(plan)} (plan comment {how}; saved to {out})")
    run.output("changes", "true" if plan.has_changes else "false")
    return result


# --- portal-apply: the reviewed plan on merge, by hand, and expiries on a schedule -----------


def apply(
    paths: Sequence[str],
    target: cmd.Target,
    run: Run,
    *,
    max_deletes: int,
    force: bool,
) -> Outcome:
    """push: apply the plan reviewed on the merged pull request (refused when stale, then
    re-planned and said on the pull request); workflow_dispatch: apply main by hand with the
    run's ``max-deletes`` and ``force`` inputs; schedule: apply only the expiries."""
    if not target.portal_url:
        return Outcome(0, [gc.notice(NO_PORTAL + " Nothing was applied.")])
    if run.event_name == "schedule":
        outcome = cmd.apply(paths, target, prune=False, select=lambda a: a.reason == "expired")
        return _applied(run, outcome, "Expiries")
    if run.event_name == "workflow_dispatch":
        # github.event.inputs carries a boolean input as the string "true"/"false" ("Events
        # that trigger workflows", workflow_dispatch); both spellings are accepted
        inputs = run.inputs()
        budget = str(inputs.get("max-deletes", "") or max_deletes)
        if not budget.isdigit():
            raise GitHubError(f"the max-deletes input must be a whole number, not {budget!r}")
        forced = force or str(inputs.get("force", "")).lower() == "true"
        outcome = cmd.apply(paths, target, prune=True, max_deletes=int(budget), force=forced)
        return _applied(run, outcome, "Manual apply")
    if run.event_name != "push":
        raise GitHubError(
            f"github apply runs on push, workflow_dispatch or schedule, not {run.event_name!r}"
        )
    return _apply_reviewed(paths, target, run, max_deletes=max_deletes, force=force)


def _applied(run: Run, outcome: cmd.ApplyOutcome, what: str) -> Outcome:
    if outcome.result is None:
        line = f"{what}: nothing to do. {summary_line(outcome.plan)}"
        run.summary(line)
        return Outcome(0, [line])
    line = f"{what}: {outcome.result.summary()}."
    run.summary(line + "\n\n" + render_markdown(outcome.plan, limit=None))
    lines = [line] + [gc.error(f"{a.op} {a.address}: {m}") for a, m in outcome.result.failed]
    return Outcome(0 if outcome.result.ok else 1, lines)


def _apply_reviewed(
    paths: Sequence[str], target: cmd.Target, run: Run, *, max_deletes: int, force: bool
) -> Outcome:
    sha = str(run.event.get("after") or run.need("GITHUB_SHA"))
    manual = "Run the portal-apply workflow by hand (Actions tab) after reading the new plan."
    with _api(run) as api:
        merged = [p for p in api.pulls_for_commit(sha) if p.get("merged_at")]
        if not merged:
            message = (
                f"no reviewed plan: {sha[:12]} is not the merge of a pull request, so nothing "
                f"was applied. {manual}"
            )
            run.summary(message)
            return Outcome(1, [gc.error(message)])
        number, head = int(merged[0]["number"]), str(merged[0]["head"]["sha"])
        saved = api.artifact_file(artifact_name(head), PLAN_FILE)
        if saved is None:
            message = (
                f"no saved plan for pull request #{number} (artifact {artifact_name(head)}): "
                f"nothing was applied. {manual}"
            )
            api.comment(number, f"{gc.MARKER}-apply\n**portal-gitops:** {message}")
            return Outcome(1, [gc.error(message)])
        with tempfile.TemporaryDirectory() as tmp:
            plan_file = Path(tmp) / PLAN_FILE
            plan_file.write_bytes(saved)
            try:
                # the artifact was made by the branch's own workflow run: it must be the
                # plan of the manifests merged here, never of paths it names itself
                outcome = cmd.apply_saved(
                    str(plan_file), target, max_deletes=max_deletes, force=force, paths=paths
                )
            except (StalePlanError, UnsafePlanError) as exc:
                fresh = cmd.plan(paths, target, prune=True, max_deletes=max_deletes)
                why = "stale" if isinstance(exc, StalePlanError) else "over the deletion budget"
                body = (
                    f"**portal-gitops did not apply the reviewed plan: it is {why}** ({exc}). "
                    f"{manual}\n\n" + render_markdown(fresh)
                )
                api.comment(number, gc.plan_comment(body, run_url=run.run_url, sha=sha))
                run.summary(body)
                return Outcome(1, [gc.error(f"reviewed plan of #{number} not applied: {exc}")])
        result = _applied(run, outcome, f"Reviewed plan of #{number}")
        api.comment(number, f"**portal-gitops:** {result.lines[0]}")
        return result


# --- portal-requests-pull: one pull request per Live Portal request --------------------------


def _git(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        ["git", *args], capture_output=True, text=True, check=False, env=env, timeout=120
    )
    if done.returncode != 0:
        raise GitHubError(f"git {args[0]} failed: {done.stderr.strip()[:300]}")
    return done.stdout.strip()


def _git_env(run: Run) -> dict[str, str]:
    """git with the run's token as an HTTP header for the server (git's GIT_CONFIG_COUNT
    variables: the token is in neither the command line nor .git/config)."""
    env = dict(os.environ)
    server = run.environ.get("GITHUB_SERVER_URL", "")
    if server and run.token:
        basic = base64.b64encode(f"x-access-token:{run.token}".encode()).decode()
        env.update(
            GIT_CONFIG_COUNT="1",
            GIT_CONFIG_KEY_0=f"http.{server.rstrip('/')}/.extraheader",
            GIT_CONFIG_VALUE_0=f"AUTHORIZATION: basic {basic}",
        )
    return env


def codeowners_for(root: Path, relpath: str) -> tuple[list[str], list[str]]:
    """The users and team slugs the last matching CODEOWNERS line names for ``relpath``."""
    for place in (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"):
        if (root / place).is_file():
            text = (root / place).read_text(encoding="utf-8")
            break
    else:
        return [], []
    owners: list[str] = []
    for raw in text.splitlines():
        line = raw.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        parts = re.split(r"(?<!\\)\s+", line)
        pattern, names = parts[0].replace("\\ ", " "), parts[1:]
        if _matches(pattern, relpath):
            owners = names
    users = [o[1:] for o in owners if o.startswith("@") and "/" not in o]
    teams = [o.split("/", 1)[1] for o in owners if o.startswith("@") and "/" in o]
    return users, teams


def _matches(pattern: str, path: str) -> bool:
    """A CODEOWNERS pattern (the gitignore rules CODEOWNERS uses): anchored when it starts
    with or contains ``/``; a folder (and everything below) when it ends with ``/``; ``*``
    within a path segment, ``**`` across segments. A pattern also matches below a folder."""
    pat = pattern.strip("/")
    anchored = pattern.startswith("/") or "/" in pat
    rx = re.escape(pat).replace(r"\*\*", ".*").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
    prefix = "" if anchored else "(?:.*/)?"
    tail = "/.*" if pattern.endswith("/") else "(?:/.*)?"
    return re.fullmatch(prefix + rx + tail, path) is not None


def open_request_prs(paths: Sequence[str], out: str, target: cmd.Target, run: Run) -> Outcome:
    """Pull pending Live Portal requests and open one pull request per new one, from the real
    default branch, asking the CODEOWNERS of its file to review. A request whose manifest does
    not validate is reported and skipped (with the reason), never committed."""
    if not target.portal_url:
        return Outcome(0, [gc.notice(NO_PORTAL)])
    result = Outcome()
    env = _git_env(run)
    root = Path(_git("rev-parse", "--show-toplevel"))
    with _api(run) as api:
        base = api.default_branch()
        _git(
            "fetch", "--quiet", "origin", f"+refs/heads/{base}:refs/remotes/origin/{base}", env=env
        )
        pulled = pulling.requests_pull(paths, out, target)
        # a burst held back by the caps, and requests whose manifest would not validate:
        # said, never dropped silently, never committed
        for line in (*pulled.skipped, *pulled.deferred):
            result.lines.append(gc.warning(line))
            run.summary(f"- {line}")
        for file in pulled.written:
            rel = Path(os.path.relpath(file.resolve(), root)).as_posix()
            branch = BRANCH_PREFIX + file.stem
            if _git("ls-remote", "--heads", "origin", f"refs/heads/{branch}", env=env):
                file.unlink()
                result.lines.append(f"{rel}: a pull request branch exists already ({branch})")
                continue
            request_id = _request_id(file)
            _git("-C", str(root), "switch", "--quiet", "-c", branch, f"origin/{base}")
            _git("-C", str(root), "add", "--", rel)
            _git(
                "-C",
                str(root),
                "-c",
                "user.name=portal-gitops",
                "-c",
                "user.email=portal-gitops@users.noreply.github.com",
                "commit",
                "--quiet",
                "-m",
                f"Access request: {file.stem}",
            )
            _git(
                "-C",
                str(root),
                "push",
                "--quiet",
                "origin",
                f"{branch}:refs/heads/{branch}",
                env=env,
            )
            _git("-C", str(root), "switch", "--quiet", "--detach", f"origin/{base}")
            body = (
                f"Access request {request_id} from the Live Portal, pulled by portal-gitops.\n\n"
                "**Merging approves it; closing this pull request without merging rejects it "
                "in the portal.**\n\n"
                f"<!-- portal-gitops/request-id: {request_id} -->\n"
            )
            pr = api.create_pull(branch, base, f"Access request: {file.stem}", body)
            users, teams = codeowners_for(root, rel)
            if users or teams:
                try:
                    api.request_reviewers(int(pr["number"]), users, teams)
                except GitHubError as exc:  # a team the token cannot see: say so, go on
                    result.lines.append(
                        gc.warning(f"#{pr['number']}: reviewers not requested: {exc}")
                    )
            result.lines.append(f"#{pr['number']} {rel} (base {base}, reviewers {users + teams})")
    return result


def _request_id(file: Path) -> str:
    m = re.search(r"portal-gitops/request-id:\s*['\"]?(\d+)", file.read_text(encoding="utf-8"))
    return m.group(1) if m else ""


# --- portal-requests-closed: a pull request closed unmerged rejects its request ---------------


OPENER_VARIABLE = "PORTAL_GITOPS_REQUEST_OPENER"


def close_rejects(paths: Sequence[str], target: cmd.Target, run: Run) -> Outcome:
    """pull_request closed unmerged: reject the request a request pull request carried. Only
    pull requests opened by the request puller count (its login, from the repository variable
    PORTAL_GITOPS_REQUEST_OPENER, which a pull request cannot change), and only for the request
    its branch was named after: anyone who can push a branch could otherwise open one shaped
    like a request's, carrying another consumer's request id, and close it."""
    pr = run.pull_request
    if pr is None or run.event.get("action") != "closed":
        raise GitHubError("github close-rejects runs on pull_request closed events")
    found = REQUEST_MARK.search(pr.body)
    nothing = "not an access-request pull request closed unmerged: nothing to do"
    if pr.merged or pr.fork or not pr.head_ref.startswith(BRANCH_PREFIX) or not found:
        return Outcome(0, [nothing])
    request_id = found.group(1)
    opener = run.environ.get(OPENER_VARIABLE, "").strip()
    if not opener:
        return Outcome(
            0,
            [
                gc.warning(
                    f"the repository variable {OPENER_VARIABLE} is not set, so no pull request "
                    "is taken as a request pull request; set it to the login that opens them "
                    f"('<app-slug>[bot]' for a GitHub App). Request {request_id} is still "
                    "pending."
                )
            ],
        )
    # GitHub logins are case-insensitive
    if pr.author.lower() != opener.lower() or not pr.head_ref.endswith(f"-{request_id}"):
        return Outcome(
            0,
            [
                f"{nothing} (opened by {pr.author or 'unknown'}, not by {opener}, "
                "or for another request)"
            ],
        )
    if not target.portal_url:
        return Outcome(0, [gc.notice(NO_PORTAL + f" Request {request_id} is still pending.")])
    status = asyncio.run(_reject(paths, target, request_id))
    line = f"access request {request_id}: {status}"
    with _api(run) as api:
        api.comment(pr.number, f"**portal-gitops:** closed without merging: {line}.")
    run.summary(line)
    return Outcome(0, [line])


async def _reject(paths: Sequence[str], target: cmd.Target, request_id: str) -> str:
    loaded = cmd.load_and_validate(list(paths))
    manifests = [m for m, _ in loaded.manifests]
    backend = cmd.open_backend(target, paths, manifests)
    holder = cmd.lock_holder()
    try:
        await backend.acquire_lock(holder, cmd.LOCK_TTL_SECONDS)
        try:
            live = await backend.read()
            obj = next((o for o in live if o.kind == "AccessRequest" and o.id == request_id), None)
            if obj is None:
                return "not found in the portal (deleted?); nothing to reject"
            if obj.attrs.get("status") != "pending":
                return f"already {obj.attrs.get('status')}; left as it is"
            await backend.update(obj, {**obj.attrs, "status": "rejected"})
            return "rejected in the portal"
        finally:
            await backend.release_lock(holder)
    finally:
        await backend.aclose()
