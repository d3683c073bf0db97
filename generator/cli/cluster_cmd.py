"""`stratops cluster up|down|status|reconcile`: a real local control plane with Flux for a fleet repo."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from .common import repo_option

state_option = click.option(
    "--state",
    "state",
    type=click.Path(file_okay=False, path_type=Path),
    default=lambda: os.environ.get("STRATOPS_CLUSTER_STATE") or _default_state(),
    show_default="$STRATOPS_CLUSTER_STATE or $XDG_STATE_HOME/stratops/cluster",
    help="Folder for the cluster's data, certificates, logs and pids.",
)


def _default_state() -> str:
    """Outside any checkout, so a cluster's data never lands in a fleet's work tree."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return os.path.join(base, "stratops", "cluster")


@click.group()
def cluster() -> None:
    """A local Kubernetes control plane with Flux, reconciling the fleet repo (pods run on a kwok node)."""


@cluster.command()
@repo_option
@state_option
@click.option(
    "--wait", default=300.0, show_default=True, help="Seconds to wait for flux-system to be Ready (0: no wait)."
)
def up(repo: Path, state: Path, wait: float) -> None:
    """Start etcd, kube-apiserver, controller-manager, scheduler, kwok and Flux for the fleet REPO."""
    from ..cluster import controlplane  # the Kubernetes client: imported only by these commands

    started = controlplane.up(state.resolve(), repo, wait=wait, say=lambda line: click.echo(f"cluster: {line}"))
    click.echo(
        f"cluster up in {started.up_seconds:.0f}s: Flux reconciles {started.git_url} (clusters/{started.cluster})"
    )
    click.echo("Pods run on kwok's simulated node: everything up to the pod's phase is real; no container runs.")
    click.echo(f"export KUBECONFIG={started.kubeconfig}")


@cluster.command()
@state_option
def down(state: Path) -> None:
    """Stop the cluster's processes (its data stays in --state until the next `up`)."""
    from ..cluster import controlplane  # the Kubernetes client: imported only by these commands

    stopped = controlplane.down(state.resolve(), say=lambda line: click.echo(f"cluster: {line}"))
    click.echo(f"cluster down ({len(stopped)} processes stopped)" if stopped else "cluster: nothing was running")


@cluster.command()
@state_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(state: Path, as_json: bool) -> None:
    """The cluster's processes, API server and Flux objects (exit 1 when a process is down)."""
    from ..cluster import controlplane  # the Kubernetes client: imported only by these commands

    report = controlplane.status(state.resolve())
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(f"fleet {report['repo']} (clusters/{report['cluster']}) served at {report['git_url']}")
        click.echo(f"export KUBECONFIG={report['kubeconfig']}")
        for name, alive in report["processes"].items():
            click.echo(f"  {name:24} {'running' if alive else 'NOT RUNNING'}")
        click.echo(f"  {'api':24} {'ready' if report['api'] else 'NOT READY'}")
        for key, value in report["flux"].items():
            click.echo(f"  {key}: {value}")
    if not report["processes"] or not all(report["processes"].values()):
        raise SystemExit(1)


@cluster.command()
@state_option
def reconcile(state: Path) -> None:
    """Ask Flux to fetch the fleet now (the reconcile.fluxcd.io/requestedAt annotation, as `flux reconcile`)."""
    from ..cluster import controlplane  # the Kubernetes client: imported only by these commands

    click.echo(f"reconcile requested at {controlplane.reconcile(state.resolve())}")


COMMANDS = (cluster,)
