"""Fleet repo commands: init, deploy, stop, rollback, list, history, diff."""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

import click

from .. import actions, layout
from .common import author_of, author_option, open_fleet, repo_option, tenant_option

# Exit status when the change is committed locally but could not be pushed to the remote.
EXIT_UNPUSHED = 3

push_option = click.option(
    "--push/--no-push",
    "push",
    default=True,
    show_default=True,
    help="Push to the fleet's remote (git config stratops.remote, else origin) when it has one.",
)


@click.command()
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--cluster", default="local", show_default=True, help="Write the Flux layout for this cluster (clusters/NAME/)."
)
@click.option("--remote", "remote_url", default=None, help="Add this URL as the remote origin and push main to it.")
@click.option(
    "--source-url",
    default=None,
    help="Where Flux fetches this repo from (tenants' chart sources); default: the --remote URL, or what "
    "`flux bootstrap` commits.",
)
@click.option("--source-secret", default=None, help="Name of the git credentials Secret in each tenant namespace.")
@click.option(
    "--image", default=layout.EXECUTOR_IMAGE, show_default=True, help="The executor image repository you push to."
)
@click.option(
    "--registry",
    "registries",
    multiple=True,
    help="An image prefix the registry policy allows (repeatable); default: the --image repository's folder.",
)
@click.option("--image-pull-secret", default=None, help="A Secret (dockerconfigjson) for pulling the image.")
@author_option
def init(
    path: Path,
    cluster: str,
    remote_url: str | None,
    source_url: str | None,
    source_secret: str | None,
    image: str,
    registries: tuple[str, ...],
    image_pull_secret: str | None,
    author: str | None,
) -> None:
    """Create a fleet repo at PATH, laid out for Flux."""
    images = layout.Images(image, image_pull_secret, tuple(registries))
    fleet = actions.init(path, cluster, author_of(author), source_url, source_secret, images)
    click.echo(f"created fleet repo {fleet.path} (cluster {cluster})")
    if remote_url:
        fleet.repo.create_remote("origin", remote_url)
        outcome = actions.push_outcome(fleet, actions.Outcome("init", cluster, fleet.head()), rebase=False)
        _print_push(outcome)


@click.command()
@click.argument("spec", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--review", is_flag=True, help="Commit to a review branch, push it and print a review summary.")
@click.option(
    "--base",
    "base",
    default=None,
    metavar="REV",
    help="The strategy's revision this edit started from (`stratops history`): exit 4 if it changed since.",
)
@repo_option
@author_option
@tenant_option
@push_option
def deploy(
    spec: Path, review: bool, base: str | None, repo: Path, author: str | None, acting_tenant: str | None, push: bool
) -> None:
    """Validate, render, preflight and commit the strategy in SPEC (and push it)."""
    fleet = open_fleet(repo)
    strategy = actions.load_strategy(fleet, spec)
    try:
        outcome = actions.deploy(fleet, strategy, author_of(author), review, acting_tenant, push=push, base=base)
    except actions.StaleBase as exc:
        click.echo(f"what changed since {exc.base[:12]} (rendered objects):", err=True)
        click.echo(exc.diff_text or "(no change in rendered objects)\n", nl=False, err=True)
        raise
    _print_outcome(outcome)


@click.command()
@click.argument("strategy")
@repo_option
@author_option
@tenant_option
@push_option
def stop(strategy: str, repo: Path, author: str | None, acting_tenant: str | None, push: bool) -> None:
    """Remove STRATEGY (tenant/name) from the fleet."""
    _print_outcome(actions.stop(open_fleet(repo), strategy, author_of(author), acting_tenant, push=push))


@click.command()
@click.argument("strategy")
@click.option("--to", "to", default=None, help="Restore the strategy as of this revision instead.")
@repo_option
@author_option
@tenant_option
@push_option
def rollback(
    strategy: str, to: str | None, repo: Path, author: str | None, acting_tenant: str | None, push: bool
) -> None:
    """Revert STRATEGY's last change (or restore it as of --to REV)."""
    _print_outcome(actions.rollback(open_fleet(repo), strategy, author_of(author), to, acting_tenant, push=push))


@click.command(name="list")
@click.option("--tenant", default=None, help="Only this tenant's strategies.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@repo_option
def list_(tenant: str | None, as_json: bool, repo: Path) -> None:
    """List the strategies in the fleet."""
    rows = actions.list_strategies(open_fleet(repo), tenant)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        res = row["resources"]
        click.echo(
            f"{row['tenant']}/{row['name']}\t{row['class']}\tcpu={res.get('cpu')} "
            f"memory={res.get('memory')}\t{','.join(row['subscriptions'])}"
        )
    if not rows:
        click.echo("no strategies deployed")


@click.command()
@click.argument("strategy")
@click.option("-n", "limit", default=20, show_default=True, help="At most this many changes.")
@repo_option
def history(strategy: str, limit: int, repo: Path) -> None:
    """The changes of STRATEGY, newest first (git log of its folder)."""
    for change in actions.history(open_fleet(repo), strategy, limit):
        when = datetime.datetime.fromtimestamp(change.date, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
        digest = change.trailers.get("Spec-Digest", "")[7:19]
        click.echo(f"{change.sha[:12]}  {when}  {change.author:<20}  {change.subject}  {digest}")


@click.command()
@click.argument("rev1", default="HEAD~1")
@click.argument("rev2", default="HEAD")
@repo_option
def diff(rev1: str, rev2: str, repo: Path) -> None:
    """Difference in rendered Kubernetes objects between two fleet revisions."""
    changes = actions.diff(open_fleet(repo), rev1, rev2)
    for change in changes:
        click.echo(change.text, nl=False)
    click.echo(f"{len(changes)} object(s) differ", err=True)


def _print_outcome(outcome: actions.Outcome) -> None:
    for warning in outcome.warnings:
        click.secho(f"warning: {warning}", fg="yellow", err=True)
    if outcome.commit is None:
        click.echo(outcome.message)
    else:
        click.echo(f"{outcome.message}: committed {outcome.commit[:12]} on {outcome.branch}")
    if outcome.summary:
        click.echo(outcome.summary)
    _print_push(outcome)


def _print_push(outcome: actions.Outcome) -> None:
    """Say where the commit went; exit 3 when it is only local."""
    if outcome.pushed:
        click.echo(f"pushed {outcome.branch} to {outcome.remote}")
    elif outcome.unpushed:
        click.secho(f"error: not pushed to {outcome.remote}: {outcome.unpushed}", fg="red", err=True)
        click.echo(
            f"the commit is kept in the local fleet repo, unpushed: fix the remote, then "
            f"`git push {outcome.remote} {outcome.branch}` (or deploy again)",
            err=True,
        )
        sys.exit(EXIT_UNPUSHED)


COMMANDS = [init, deploy, stop, rollback, list_, history, diff]
