"""GitOps commands: tenants, the fleet repo check, and review branches."""

from __future__ import annotations

import datetime
import json
import os
import sys
from pathlib import Path

import click
import git

from .. import approvals as approvals_mod
from .. import check as check_mod
from .. import review as review_mod
from .. import tenants as tenants_mod
from ..errors import Problem, UserError
from ..identity import actor
from ..review_rules import ReviewRules, parse_approvals, parse_approvers
from ..spec import is_dns_label
from .common import author_of, author_option, open_fleet, repo_option
from .fleet_cmds import _print_outcome, push_option

approvals_option = click.option(
    "--approvals", default=None, metavar="N", help="Approvals a review needs before a merge, 1 to 10 (default 1)."
)
approvers_option = click.option(
    "--approvers",
    default=None,
    metavar="USERS",
    help='Who may approve: user names separated by commas, or "*" for any user of the tenant (the default).',
)


@click.group()
def tenant() -> None:
    """Tenants: namespace, quota, limits, network policies and review rules in the fleet repo."""


@tenant.command("set")
@click.argument("name")
@approvals_option
@approvers_option
@repo_option
@author_option
@push_option
def tenant_set(
    name: str, approvals: str | None, approvers: str | None, repo: Path, author: str | None, push: bool
) -> None:
    """Change the review rules of tenant NAME (the author of a review never counts as an approver)."""
    if approvals is None and approvers is None:
        raise UserError("nothing to set", [Problem("options", "none given", "pass --approvals N and/or --approvers")])
    outcome = tenants_mod.set_review_rules(
        open_fleet(repo),
        name,
        author_of(author),
        parse_approvals(approvals) if approvals is not None else None,
        parse_approvers(approvers) if approvers is not None else "keep",
        push=push,
    )
    _print_outcome(outcome)


@tenant.command("add")
@click.argument("name")
@click.option("--cpu", required=True, help="The tenant's total CPU quota (requests = limits), e.g. 4.")
@click.option("--memory", required=True, help="The tenant's total memory quota, e.g. 8Gi.")
@click.option("--max-strategies", type=int, default=50, show_default=True, help="At most this many strategies.")
@click.option("--max-strategy-cpu", default=None, help="Cap per strategy (default: the smaller of 2 and --cpu).")
@click.option(
    "--max-strategy-memory", default=None, help="Cap per strategy (default: the smaller of 4Gi and --memory)."
)
@approvals_option
@approvers_option
@repo_option
@author_option
@push_option
def tenant_add(
    name: str,
    cpu: str,
    memory: str,
    max_strategies: int,
    max_strategy_cpu: str | None,
    max_strategy_memory: str | None,
    approvals: str | None,
    approvers: str | None,
    repo: Path,
    author: str | None,
    push: bool,
) -> None:
    """Add tenant NAME (or change its quota)."""
    fleet = open_fleet(repo)
    rules = None
    if approvals is not None or approvers is not None:
        current = tenants_mod.review_rules(fleet, name) if is_dns_label(name) else ReviewRules()
        rules = ReviewRules(
            parse_approvals(approvals) if approvals is not None else current.approvals,
            parse_approvers(approvers) if approvers is not None else current.approvers,
        )
    outcome = tenants_mod.add_tenant(
        fleet,
        name,
        cpu,
        memory,
        max_strategies,
        author_of(author),
        max_strategy_cpu,
        max_strategy_memory,
        push=push,
        rules=rules,
    )
    _print_outcome(outcome)
    for warning in outcome.warnings:
        click.secho(f"warning: {warning}", fg="yellow", err=True)


@tenant.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@repo_option
def tenant_list(as_json: bool, repo: Path) -> None:
    """The tenants, their quotas and what their strategies use."""
    rows = tenants_mod.list_tenants(open_fleet(repo))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        click.echo(
            f"{r['name']}\tstrategies {r['strategies']}/{r['max_strategies']}\tcpu {r['used_cpu']}/{r['cpu']}\t"
            f"memory {r['used_memory']}/{r['memory']}\tper strategy cpu<={r['max_strategy_cpu']} "
            f"memory<={r['max_strategy_memory']}\treviews: {r['review']['approvals']} approval(s) from "
            f"{r['review']['approvers'] if r['review']['approvers'] == '*' else ','.join(r['review']['approvers'])}"
        )
    if not rows:
        click.echo("no tenants (add one with `stratops tenant add`)")


@tenant.command("remove")
@click.argument("name")
@click.option("--force", is_flag=True, help="Also stop the tenant's strategies, in the same commit.")
@repo_option
@author_option
@push_option
def tenant_remove(name: str, force: bool, repo: Path, author: str | None, push: bool) -> None:
    """Remove tenant NAME (refused while it has strategies, unless --force)."""
    _print_outcome(tenants_mod.remove_tenant(open_fleet(repo), name, author_of(author), force, push=push))


@click.command()
@click.argument("repo", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--changed-since", "changed_since", default=None, metavar="REV", help="Check only what changed since REV."
)
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
def check(repo: Path, changed_since: str | None, as_json: bool) -> None:
    """Check the fleet repo REPO as Flux and the cluster would see it (exit 1 on any error)."""
    report = check_mod.check_repo(repo, changed_since)
    if as_json:
        rows = [f.__dict__ | {"where": f.where} for f in report.findings]
        click.echo(json.dumps({"ok": report.ok, "checked": len(report.checked), "findings": rows}, indent=2))
    else:
        for f in report.findings:
            color = "red" if f.severity == "error" else "yellow"
            click.secho(f"{f.severity}: {f}", fg=color)
        click.echo(
            f"checked {len(report.checked)} files and folders: {len(report.errors)} errors, "
            f"{len(report.warnings)} warnings",
            err=True,
        )
    sys.exit(0 if report.ok else 1)


@click.group()
def review() -> None:
    """Review branches: the pull-request flow of the fleet repo."""


user_option = click.option(
    "--user",
    "user",
    default=lambda: os.environ.get("STRATOPS_USER"),
    show_default="$STRATOPS_USER",
    help="Act as this user of the review's tenant (commits as USER <USER@TENANT.stratops>).",
)


def _actor(branch: str, user: str | None, author: str | None) -> git.Actor:
    """The tenant user `--user` names, else the `--author` (or git's) identity."""
    if user:
        tenant = branch.split("/")[1] if branch.count("/") >= 3 else ""
        return actor(user, tenant) if is_dns_label(tenant) else author_of(author)
    return author_of(author)


@review.command("list")
@click.option("--tenant", default=None, help="Only this tenant's reviews.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@repo_option
def review_list(tenant: str | None, as_json: bool, repo: Path) -> None:
    """Review branches not merged yet (open or closed), newest first."""
    rows = review_mod.list_reviews(open_fleet(repo), tenant)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        when = datetime.datetime.fromtimestamp(r["time"], datetime.UTC).strftime("%Y-%m-%d %H:%M")
        state = "closed" if r["state"] == "closed" else f"{r['approvals']}/{r['required']} approvals"
        click.echo(f"{r['branch']}\t{state}\t{when}\t{r['author']}\t{r['subject']}")
    if not rows:
        click.echo("no open reviews")


@review.command("show")
@click.argument("branch")
@click.option("--json", "as_json", is_flag=True, help="Print the structured parts as JSON.")
@repo_option
def review_show(branch: str, as_json: bool, repo: Path) -> None:
    """The Markdown review of BRANCH against main: diffs, preflight, policies, quota, approvals, comments."""
    fleet = open_fleet(repo)
    summary = review_mod.show(fleet, branch)
    record = approvals_mod.state(fleet, branch)
    if as_json:
        click.echo(json.dumps(summary.parts | {"review": record.as_json()}, indent=2))
        return
    click.echo(summary.markdown + "\n" + _record_markdown(record))


def _record_markdown(record: approvals_mod.ReviewState) -> str:
    lines = ["## Approvals", "", f"Needs {record.rules.describe()}, never an author's."]
    lines += [f"- {'✅' if a in record.counted() else '➖'} {a.who}" for a in record.approvals]
    lines += ["", "## Record", ""]
    lines += [f"- {a.action} by {a.who}" + (f": {a.text}" if a.text else "") for a in record.acts] or ["_None yet._"]
    blockers = record.blockers()
    lines += ["", "**Mergeable**" if not blockers else "**Not mergeable**: " + "; ".join(map(str, blockers))]
    return "\n".join(lines) + "\n"


@review.command("approve")
@click.argument("branch")
@click.option("-m", "--message", "text", default="", help="A comment to go with the approval.")
@user_option
@repo_option
@author_option
@push_option
def review_approve(branch: str, text: str, user: str | None, repo: Path, author: str | None, push: bool) -> None:
    """Approve BRANCH as --user (an author's approval is refused)."""
    _print_outcome(approvals_mod.act(open_fleet(repo), branch, "approve", _actor(branch, user, author), text, push))


@review.command("comment")
@click.argument("branch")
@click.option("-m", "--message", "text", required=True, help="The comment.")
@user_option
@repo_option
@author_option
@push_option
def review_comment(branch: str, text: str, user: str | None, repo: Path, author: str | None, push: bool) -> None:
    """Comment on BRANCH (a commit on the review branch that changes no file)."""
    _print_outcome(approvals_mod.act(open_fleet(repo), branch, "comment", _actor(branch, user, author), text, push))


@review.command("close")
@click.argument("branch")
@click.option("--reason", required=True, help="Why the review is closed (rejected).")
@user_option
@repo_option
@author_option
@push_option
def review_close(branch: str, reason: str, user: str | None, repo: Path, author: str | None, push: bool) -> None:
    """Close (reject) BRANCH with a reason: it can no longer be merged."""
    _print_outcome(approvals_mod.act(open_fleet(repo), branch, "close", _actor(branch, user, author), reason, push))


@review.command("merge")
@click.argument("branch")
@click.option(
    "--override",
    "override",
    default=None,
    metavar="REASON",
    help="Merge without the approvals the tenant's rules ask for; REASON goes into the merge commit.",
)
@user_option
@repo_option
@author_option
@push_option
def review_merge(
    branch: str, override: str | None, user: str | None, repo: Path, author: str | None, push: bool
) -> None:
    """Merge BRANCH into main once approved, after re-running the check against the current main."""
    merger = _actor(branch, user, author)
    _print_outcome(review_mod.merge(open_fleet(repo), branch, merger, push=push, override=override))


COMMANDS = [tenant, check, review]
