"""GitOps commands: tenants, the fleet repo check, and review branches."""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

import click

from .. import check as check_mod
from .. import review as review_mod
from .. import tenants as tenants_mod
from .common import author_of, author_option, open_fleet, repo_option
from .fleet_cmds import _print_outcome, push_option


@click.group()
def tenant() -> None:
    """Tenants: namespace, quota, limits and network policies in the fleet repo."""


@tenant.command("add")
@click.argument("name")
@click.option("--cpu", required=True, help="The tenant's total CPU quota (requests = limits), e.g. 4.")
@click.option("--memory", required=True, help="The tenant's total memory quota, e.g. 8Gi.")
@click.option("--max-strategies", type=int, default=50, show_default=True, help="At most this many strategies.")
@click.option("--max-strategy-cpu", default=None, help="Cap per strategy (default: the smaller of 2 and --cpu).")
@click.option(
    "--max-strategy-memory", default=None, help="Cap per strategy (default: the smaller of 4Gi and --memory)."
)
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
    repo: Path,
    author: str | None,
    push: bool,
) -> None:
    """Add tenant NAME (or change its quota)."""
    outcome = tenants_mod.add_tenant(
        open_fleet(repo),
        name,
        cpu,
        memory,
        max_strategies,
        author_of(author),
        max_strategy_cpu,
        max_strategy_memory,
        push=push,
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
            f"memory<={r['max_strategy_memory']}"
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


@review.command("list")
@click.option("--tenant", default=None, help="Only this tenant's reviews.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@repo_option
def review_list(tenant: str | None, as_json: bool, repo: Path) -> None:
    """Open review branches, newest first."""
    rows = review_mod.list_reviews(open_fleet(repo), tenant)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        when = datetime.datetime.fromtimestamp(r["time"], datetime.UTC).strftime("%Y-%m-%d %H:%M")
        click.echo(f"{r['branch']}\t{when}\t{r['author']}\t{r['subject']}")
    if not rows:
        click.echo("no open reviews")


@review.command("show")
@click.argument("branch")
@click.option("--json", "as_json", is_flag=True, help="Print the structured parts as JSON.")
@repo_option
def review_show(branch: str, as_json: bool, repo: Path) -> None:
    """The Markdown review of BRANCH against main: diffs, preflight, policies, quota."""
    summary = review_mod.show(open_fleet(repo), branch)
    click.echo(json.dumps(summary.parts, indent=2) if as_json else summary.markdown)


@review.command("merge")
@click.argument("branch")
@repo_option
@author_option
@push_option
def review_merge(branch: str, repo: Path, author: str | None, push: bool) -> None:
    """Merge BRANCH into main after re-running the check."""
    _print_outcome(review_mod.merge(open_fleet(repo), branch, author_of(author), push=push))


COMMANDS = [tenant, check, review]
