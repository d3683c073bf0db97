"""Review branches: the pull-request flow of the fleet repo.

`deploy --review` commits a strategy to `review/<tenant>/<name>/<digest>` and
pushes it. A review is summarized in Markdown (spec, code and rendered-object
diffs against main, preflight, policy and quota results); merging re-runs the
whole check against the current main and records a merge commit.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

import git

from . import remote
from .diff import diff_objects, text_diff
from .errors import Problem, UserError
from .fleet import MAIN_BRANCH, Fleet
from .preflight import Report
from .render import SPEC_FILE, strategy_dir
from .spec import DNS_LABEL

if TYPE_CHECKING:
    from .actions import Admit, Outcome

REVIEW_PREFIX = "review/"
_BRANCH = re.compile(rf"^review/({DNS_LABEL})/({DNS_LABEL})/([0-9a-f]{{12}})$")


@dataclass
class ReviewSummary:
    markdown: str
    parts: dict[str, Any] = field(default_factory=dict)


def branch_name(tenant: str, name: str, digest: str) -> str:
    return f"{REVIEW_PREFIX}{tenant}/{name}/{digest[:12]}"


# --- listing ----------------------------------------------------------------------------


def list_reviews(fleet: Fleet, tenant: str | None = None) -> list[dict[str, Any]]:
    """Review branches not merged yet (local and on the remote), newest first; `state` is open or closed."""
    from . import approvals

    rows = []
    for branch, sha in sorted(branch_tips(fleet).items()):
        parsed = _BRANCH.match(branch)
        if not parsed or (tenant and parsed.group(1) != tenant):
            continue
        if fleet.repo.is_ancestor(sha, MAIN_BRANCH):
            continue  # already merged
        record = approvals.state(fleet, branch)
        commit = fleet.repo.commit(record.head)
        rows.append(
            {
                "branch": branch,
                "tenant": parsed.group(1),
                "name": parsed.group(3),
                "digest": _trailer(commit, "Spec-Digest") or parsed.group(5),
                "author": f"{commit.author.name} <{commit.author.email}>",
                "time": commit.authored_date,
                "head": record.head,
                "tip": sha,
                "subject": commit.summary if isinstance(commit.summary, str) else commit.summary.decode(),
                "state": "closed" if record.closed else "open",
                "approvals": len(record.counted()),
                "required": record.rules.approvals,
            }
        )
    return sorted(rows, key=lambda r: -r["time"])


def branch_tips(fleet: Fleet) -> dict[str, str]:
    """review/* branch -> tip; the remote's tip wins over a local branch of the same name (after a fetch)."""
    found = {h.name: h.commit.hexsha for h in fleet.repo.heads if h.name.startswith(REVIEW_PREFIX)}
    name = remote.remote_name(fleet)
    if name and name in [r.name for r in fleet.repo.remotes] and not remote.fetch_all(fleet, name):
        prefix = f"refs/remotes/{name}/"
        for ref in fleet.repo.references:
            if ref.path.startswith(prefix + REVIEW_PREFIX):
                found[ref.path.removeprefix(prefix)] = ref.commit.hexsha
    return found


def reachable_for(fleet: Fleet, sha: str, tenant: str) -> bool:
    """Is commit `sha` on main or on one of `tenant`'s review branches?"""
    tips = [MAIN_BRANCH] + [tip for branch, tip in branch_tips(fleet).items() if branch.startswith(f"review/{tenant}/")]
    return any(fleet.repo.is_ancestor(sha, tip) for tip in tips)


def resolve_branch(fleet: Fleet, branch: str) -> tuple[str, str, str]:
    """A review branch -> (tenant, name, tip commit); refuses names that are not review branches."""
    parsed = _BRANCH.match(branch or "")
    if not parsed:
        raise UserError(
            "not a review branch",
            [Problem("branch", repr(branch), "review branches are named review/<tenant>/<name>/<12 hex digits>")],
        )
    sha = branch_tips(fleet).get(branch)
    if sha is None:
        raise UserError(f"no review branch {branch}", [Problem("branch", branch, "see `stratops review list`")])
    return parsed.group(1), parsed.group(3), sha


def _trailer(commit: git.Commit, key: str) -> str:
    for line in str(commit.message).splitlines():
        if line.startswith(f"{key}: "):
            return line.removeprefix(f"{key}: ").strip()
    return ""


# --- show ------------------------------------------------------------------------------------


def show(fleet: Fleet, branch: str) -> ReviewSummary:
    """The review of a branch against the current main: diffs plus the full check, as Markdown and as data."""
    from . import actions

    tenant, name, sha = resolve_branch(fleet, branch)
    folder = strategy_dir(tenant, name)
    new = fleet.read_folder(folder, sha)
    old = fleet.read_folder(folder, MAIN_BRANCH)
    report = actions.preflight(fleet, folder, new, tenant) if new is not None else None
    quota = _quota(fleet, folder, new, tenant)
    old_objects = actions.rendered_objects(fleet, folder, MAIN_BRANCH)
    parts = summary_parts(f"{tenant}/{name}", old, new, old_objects, report)
    parts |= {"branch": branch, "head": sha, "base": fleet.head(), "quota": [str(p) for p in quota]}
    parts["ok"] = parts["ok"] and not quota
    markdown = render_markdown(parts)
    if quota:
        markdown += "\n## Quota\n\n" + "".join(f"- ❌ {p}\n" for p in quota)
    return ReviewSummary(markdown, parts)


def _quota(fleet: Fleet, folder: PurePosixPath, files: dict[str, bytes] | None, tenant: str) -> list[Problem]:
    from . import actions
    from .tenants import quota_problems

    if not files or SPEC_FILE not in files:
        return []
    try:
        strategy = actions.strategy_of_folder(files, str(folder))
    except UserError as exc:
        return exc.problems
    return quota_problems(fleet, tenant, folder.name, {"cpu": strategy.cpu, "memory": strategy.memory})


# --- merge ----------------------------------------------------------------------------------


def merge(
    fleet: Fleet,
    branch: str,
    author: git.Actor,
    push: bool = True,
    admit: Admit | None = None,
    override: str | None = None,
) -> Outcome:
    """Merge a review branch into main once approved, after re-running the check against main; then delete it.

    The tenant's review rules must be met (generator.approvals) and a closed review is never merged.
    `override` (a one-line reason) merges without enough approvals; it is recorded in the merge commit
    as `Override-by` (the `author`) and `Override-reason`. The check is never overridden.
    """
    from . import actions, approvals

    reason = approvals.one_line(override, "override reason") if override is not None else None
    tenant, name, _ = resolve_branch(fleet, branch)
    folder = strategy_dir(tenant, name)
    for _ in range(3):
        record = _mergeable(fleet, branch, reason is not None)
        files = fleet.read_folder(folder, record.tip)
        if files is None:
            raise UserError(f"cannot merge {branch}", [Problem(str(folder), "the branch does not hold this strategy")])
        if files == fleet.read_folder(folder):
            _delete_branch(fleet, branch)
            return actions.Outcome("merge", f"{tenant}/{name}", None, message=f"{branch} is already on {MAIN_BRANCH}")
        head = fleet.head()
        try:
            report = actions.check_change(fleet, folder, files, tenant, head)
        except UserError as exc:
            raise UserError(f"cannot merge {branch}: {exc.title}", exc.problems) from None
        with fleet.lock():
            # Main moved, or the review did (a close, new content) while checking: look again.
            if fleet.head() != head or _mergeable(fleet, branch, reason is not None).tip != record.tip:
                continue
            if admit is not None:
                admit(fleet, folder, files)
            message = _merge_message(fleet, record, (author, reason) if reason is not None else None)
            commit = fleet.commit_folders({folder: files}, message, author, parent=head, extra_parents=(record.tip,))
        outcome = actions.Outcome(
            "merge",
            f"{tenant}/{name}",
            commit,
            report=report,
            message=f"merge {branch}",
            warnings=[str(w) for w in report.warnings],
        )
        actions.push_outcome(fleet, outcome, push)
        if outcome.pushed or outcome.remote is None:
            _delete_branch(fleet, branch)
        return outcome
    raise UserError(f"cannot merge {branch}", [Problem(MAIN_BRANCH, "main or the review keeps moving", "retry")])


def _mergeable(fleet: Fleet, branch: str, overridden: bool):
    """The review's record; refused while closed, or short of approvals unless overridden."""
    from . import approvals

    record = approvals.state(fleet, branch)
    if record.closed or (record.missing and not overridden):
        reason = "the review is closed" if record.closed else f"it needs {record.missing} more approval(s)"
        raise UserError(f"cannot merge {branch}: {reason}", record.blockers())
    return record


def _merge_message(fleet: Fleet, record: Any, override: tuple[git.Actor, str] | None) -> str:
    from . import approvals

    head = fleet.repo.commit(record.head)
    pairs = [(k, v) for k in ("Strategy", "Spec-Digest") if (v := _trailer(head, k))]
    pairs += [("Action", "deploy"), ("Review-Branch", record.branch)]
    pairs += approvals.merge_trailers(record, override)
    return approvals.with_trailers(f"Merge {record.branch}\n\n{head.summary}\n", pairs, str(fleet.path))


def _delete_branch(fleet: Fleet, branch: str) -> None:
    if branch in [h.name for h in fleet.repo.heads]:
        subprocess.run(["git", "branch", "-D", branch], cwd=fleet.path, capture_output=True, check=False)
    name = remote.remote_name(fleet)
    if name and f"refs/remotes/{name}/{branch}" in [r.path for r in fleet.repo.references]:
        remote.delete_remote_branch(fleet, name, branch)


# --- the summary ------------------------------------------------------------------------------


def summary(
    key: str,
    old: dict[str, bytes] | None,
    new: dict[str, bytes] | None,
    old_objects: list[dict[str, Any]],
    report: Report | None,
) -> str:
    return render_markdown(summary_parts(key, old, new, old_objects, report))


def summary_parts(
    key: str,
    old: dict[str, bytes] | None,
    new: dict[str, bytes] | None,
    old_objects: list[dict[str, Any]],
    report: Report | None,
) -> dict[str, Any]:
    old, new = old or {}, new or {}
    code_files = sorted(n for n in old.keys() | new.keys() if n.endswith(".py"))
    new_objects = report.rendered.all_objects() if report and report.rendered else []
    objects = diff_objects(old_objects, new_objects)
    findings = [
        {"stage": f.stage, "severity": f.severity, "where": f.where, "message": f.message}
        for f in (report.findings if report else [])
    ]
    return {
        "key": key,
        "removes": report is None,
        "ok": report is None or report.ok,
        "verdict": _verdict(report),
        "spec_diff": _file_diff(old, new, [SPEC_FILE]),
        "code_diff": _file_diff(old, new, code_files),
        "object_diff": "".join(d.text for d in objects),
        "objects": [{"key": d.key, "status": d.status} for d in objects],
        "findings": findings,
        "policy": [f for f in findings if f["stage"] == "policy"],
        "timings_ms": {stage: round(s * 1000, 1) for stage, s in (report.timings.items() if report else [])},
    }


def render_markdown(parts: dict[str, Any]) -> str:
    lines = [f"# Review: {parts['key']}", "", parts["verdict"], ""]
    lines += _section("Spec", parts["spec_diff"])
    lines += _section("Code", parts["code_diff"])
    lines += _section("Rendered Kubernetes objects", parts["object_diff"])
    if not parts["removes"]:
        lines += ["## Preflight", ""]
        stages = ", ".join(f"{stage} {ms:.0f} ms" for stage, ms in parts["timings_ms"].items())
        lines.append(f"Stages run: {stages}." if stages else "No stage ran.")
        lines += [
            f"- {'❌' if f['severity'] == 'error' else '⚠️'} [{f['stage']}] {f['where']}: {f['message']}"
            for f in parts["findings"]
        ]
        policies = parts["policy"]
        lines += ["", "## Policies", "", "All policies pass." if not policies else f"{len(policies)} policy findings."]
    return "\n".join(lines).rstrip() + "\n"


def _verdict(report: Report | None) -> str:
    if report is None:
        return "Removes the strategy."
    if report.errors:
        return f"**Preflight: refused** ({len(report.errors)} errors)"
    warn = f", {len(report.warnings)} warnings" if report.warnings else ""
    return f"**Preflight: passed**{warn}"


def _file_diff(old: dict[str, bytes], new: dict[str, bytes], names: list[str]) -> str:
    return "".join(
        text_diff(old.get(n, b"").decode(errors="replace"), new.get(n, b"").decode(errors="replace"), n) for n in names
    )


def _section(title: str, diff_text: str) -> list[str]:
    body = f"```diff\n{diff_text}```" if diff_text else "_No change._"
    return [f"## {title}", "", body, ""]
