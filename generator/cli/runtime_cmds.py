"""The local runtime: `stratops up`, `status`, `signals`, `logs`, `restart`, `demo`."""

from __future__ import annotations

import datetime
import json
import signal
import sys
import threading
import time
from pathlib import Path

import click

from ..errors import Problem, UserError
from ..runtime.paths import RuntimePaths
from ..runtime.signals import follow
from ..runtime.status import read_status
from .common import repo_option

repo_argument = click.argument("repo", type=click.Path(file_okay=False, path_type=Path), default=".", required=False)


@click.command()
@repo_argument
@click.option("--backoff", type=float, default=10.0, show_default=True, help="CrashLoopBackOff base in seconds.")
@click.option("--feed-speed", type=click.Choice(["recorded", "fixed", "max"]), default="recorded", show_default=True)
@click.option("--feed-rate", type=float, default=None, help="fixed: messages/s (1000); recorded: speed-up (1).")
@click.option(
    "--unsandboxed",
    is_flag=True,
    help="Run strategies without the kernel sandbox (as root, seeing this machine): for machines without"
    " bubblewrap or user namespaces only. Every status line warns.",
)
@click.option("--no-netns", is_flag=True, help="With --unsandboxed: do not put executors in a network namespace.")
@click.option(
    "--data",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Replay this recorded data on the feed (.ndjson[.gz], .csv[.gz], .parquet) instead of the sample.",
)
def up(
    repo: Path,
    backoff: float,
    feed_speed: str,
    feed_rate: float | None,
    unsandboxed: bool,
    no_netns: bool,
    data: Path | None,
) -> None:
    """Run the fleet repo's main branch on this machine until Ctrl-C (feed, sink, one sandbox per strategy)."""
    from rich.console import Console
    from rich.live import Live

    from ..runtime.runtime import Options, Runtime
    from ..runtime.view import plain, table

    if backoff <= 0:
        raise UserError("invalid --backoff", [Problem("--backoff", f"{backoff}", "give a positive number of seconds")])
    rate = feed_rate if feed_rate is not None else (1000.0 if feed_speed == "fixed" else 1.0)
    if data is not None:
        data = _checked_data(data)
    options = Options(
        backoff_base=backoff,
        feed_speed=feed_speed,
        feed_rate=rate,
        feed_data=data,
        netns=not no_netns,
        sandboxed=not unsandboxed,
    )
    console = Console()
    stop = threading.Event()
    _stop_on_signals(stop)
    if console.is_terminal:
        with Live(console=console, refresh_per_second=2, transient=False) as live:
            runtime = Runtime(repo, options, say=lambda line: live.console.print(line, markup=False, highlight=False))
            runtime.run(stop, on_tick=lambda status: live.update(table(status)))
    else:
        last = [0.0]

        def every_5s(status: dict) -> None:
            if time.monotonic() - last[0] >= 5:
                last[0] = time.monotonic()
                click.echo(plain(status))

        runtime = Runtime(repo, options, say=lambda line: click.echo(f"{time.strftime('%H:%M:%S')} {line}"))
        runtime.run(stop, on_tick=every_5s)


def _checked_data(path: Path) -> Path:
    """Every bad row of the user's data now, with file, line and field, not later in the feed's log."""
    from executor.records import DataError, load_records

    try:
        load_records(path)
    except DataError as exc:
        raise UserError(f"cannot replay {path}", [Problem(w, what) for w, what in exc.problems]) from None
    return path.resolve()


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum, _frame) -> None:
        if stop.is_set():  # second Ctrl-C: stop waiting for grace periods
            raise KeyboardInterrupt
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


@click.command()
@repo_argument
@click.option("--json", "as_json", is_flag=True, help="Print status.json as it is.")
@click.option(
    "--source",
    type=click.Choice(["local", "kubernetes"]),
    default="local",
    show_default=True,
    help="The local runtime, or the cluster (HelmReleases, Deployments, pods) through the Kubernetes API.",
)
@click.option(
    "--kubeconfig", default=None, help="Kubeconfig for --source kubernetes (default: in-cluster or KUBECONFIG)."
)
def status(repo: Path, as_json: bool, source: str, kubeconfig: str | None) -> None:
    """The runtime's status: one row per strategy."""
    from rich.console import Console

    from ..runtime.view import plain, table

    if source == "kubernetes":
        from ..fleet import Fleet
        from ..service.kube_status import KubeStatus, cluster_status

        current = cluster_status(KubeStatus.connect(kubeconfig), Fleet(repo))
    else:
        current = read_status(repo)
    if current is None:
        RuntimePaths.of(repo)  # a clear error when REPO is not a repo at all
        raise UserError(
            "the local runtime is not running",
            [Problem(str(repo), "no fresh status.json", f"start it: stratops up {repo}")],
        )
    if as_json:
        click.echo(json.dumps(current, indent=2))
        return
    console = Console()
    if console.is_terminal:
        console.print(table(current))
    else:
        click.echo(plain(current))


@click.command()
@repo_argument
@click.option("--follow", "-f", "follow_", is_flag=True, help="Keep printing new signals.")
@click.option("--strategy", default=None, metavar="TENANT/NAME", help="Only this strategy's signals.")
@click.option("--json", "as_json", is_flag=True, help="Print the NDJSON records as they are.")
@click.option("-n", "last", type=int, default=10, show_default=True, help="Print the last N signals first.")
def signals(repo: Path, follow_: bool, strategy: str | None, as_json: bool, last: int) -> None:
    """Signals the sink received (REPO/.git/stratops-runtime/signals.ndjson)."""
    from ..actions import parse_key

    if strategy is not None:
        parse_key(strategy)
    path = RuntimePaths.of(repo).signals_file
    show = (lambda r: click.echo(json.dumps(r))) if as_json else (lambda r: click.echo(signal_line(r)))
    for record in _last(path, strategy, last):
        show(record)
    if follow_:
        try:
            for record in follow(path, strategy, from_end=True):
                show(record)
        except KeyboardInterrupt:
            return


def signal_line(record: dict) -> str:
    """One signal for people: when the sink received it (UTC, ms), whose, and numbers to 4 significant digits."""
    received = record.get("received_ts")
    when = (
        datetime.datetime.fromtimestamp(received / 1e9, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"
        if isinstance(received, int)
        else "-"
    )
    side = str(record.get("side") or "").upper()
    size = "" if record.get("size") is None else f" size={_number(record['size'])}"
    reason = f" {record['reason']}" if record.get("reason") else ""
    return (
        f"{when}  {record.get('tenant', '')}/{record.get('strategy', '')}  {side:<4} {record.get('symbol', '')}  "
        f"strength={_number(record.get('strength'))}{size}{reason}"
    )


def _utc(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def _number(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-" if value is None else str(value)
    return f"{value:.4g}"


def _last(path: Path, strategy: str | None, count: int) -> list[dict]:
    from ..runtime.signals import SignalTail, key_of

    if count <= 0 or not path.exists():
        return []
    tail = SignalTail(path, from_end=False)
    tail.offset = max(0, path.stat().st_size - 512 * 1024 * max(1, count // 100))
    records = tail.read()
    return [r for r in records if strategy is None or key_of(r) == strategy][-count:]


@click.command()
@click.argument("strategy", metavar="TENANT/NAME")
@click.option("--follow", "-f", "follow_", is_flag=True, help="Keep printing new lines (Ctrl-C ends).")
@click.option("--since", default=None, help="Only lines from this long ago (30s, 10m, 2h, 1d) or this RFC 3339 time.")
@click.option("-n", "tail", type=click.IntRange(1, 5000), default=200, show_default=True, help="The last N lines.")
@click.option("--json", "as_json", is_flag=True, help="Print the lines as the executor wrote them.")
@repo_option
def logs(strategy: str, follow_: bool, since: str | None, tail: int, as_json: bool, repo: Path) -> None:
    """The executor's output (capped at 64 KiB/s, the last 10 MiB kept), as the local runtime recorded it."""
    from ..actions import parse_key
    from ..runtime import logs as logs_mod

    key = "/".join(parse_key(strategy))
    paths = RuntimePaths.of(repo)
    start = logs_mod.parse_since(since) if since is not None else None
    if not any(p.exists() for p in logs_mod.log_files(paths, key)) and not follow_:
        raise UserError(
            f"no logs for {key}",
            [Problem(key, "the local runtime has not run it", f"deploy it and run `stratops up {repo}`")],
        )
    show = (lambda line: click.echo(line.text)) if as_json else (lambda line: click.echo(log_line(line)))
    for line in logs_mod.read(paths, key, start, tail):
        show(line)
    if follow_:
        try:
            for line in logs_mod.follow(paths, key):
                show(line)
        except KeyboardInterrupt:
            return


@click.command()
@click.argument("strategy", metavar="TENANT/NAME")
@click.option(
    "--source",
    type=click.Choice(["local", "kubernetes"]),
    default="local",
    show_default=True,
    help="The local runtime (a new process), or the cluster (the strategy's pods deleted; the Deployment untouched).",
)
@click.option("--kubeconfig", default=None, help="Kubeconfig for --source kubernetes.")
@repo_option
def restart(strategy: str, source: str, kubeconfig: str | None, repo: Path) -> None:
    """Start the strategy afresh without a commit (e.g. after it Failed): a new pod from the same revision."""
    from ..actions import parse_key
    from ..runtime.restarts import restart_local

    tenant, name = parse_key(strategy)
    if source == "kubernetes":
        from ..service.kube_status import KubeStatus

        pods = KubeStatus.connect(kubeconfig).restart(tenant, name)
        if not pods:
            problem = Problem(strategy, "nothing to restart", "see `stratops status --source kubernetes`")
            raise UserError(f"{tenant}/{name} has no pods", [problem])
        click.echo(f"{tenant}/{name}: deleted pod(s) {', '.join(pods)}; its Deployment creates new ones")
        return
    restart_local(repo, f"{tenant}/{name}")
    click.echo(f"{tenant}/{name}: restarting (a new process from the same revision)")


def log_line(line) -> str:
    """One log line for people: UTC time, level and message of a JSON record (its traceback below), else as is."""
    if line.msg is None:
        return line.text
    when = "-" if line.ts is None else _utc(line.ts)
    text = f"{when}  {(line.level or '').upper():<8} {line.msg}"
    try:
        exc = json.loads(line.text).get("exc")
    except ValueError:
        exc = None
    return text + ("\n" + str(exc) if exc else "")


@click.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Create the demo fleet repo here (default: a temporary folder, removed at the end).",
)
@click.option("--backoff", type=float, default=1.0, show_default=True, help="CrashLoopBackOff base in seconds.")
def demo(directory: Path | None, backoff: float) -> None:
    """The whole loop in under two minutes: deploy, signals, a refused commit, a crash loop, a rollback."""
    from ..runtime.demo import run_demo

    sys.exit(run_demo(directory, backoff))


COMMANDS = (up, status, signals, logs, restart, demo)
