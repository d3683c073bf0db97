"""click commands ``feed`` and ``sink``; the ``stratops`` CLI adds them with ``add_command``."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

import click

from executor.logs import setup_logging


def _on_term(stop: Any) -> None:
    def handler(*_: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


@click.command("feed")
@click.option(
    "--data",
    "data",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="NDJSON/CSV (optionally .gz) to replay; default: the bundled sample.",
)
@click.option(
    "--bind",
    default="tcp://*:5556",
    show_default=True,
    help="PUB endpoint (executors connect here); with --proxy, the XPUB endpoint.",
)
@click.option("--connect", "connect", default=None, help="Publish into a proxy's XSUB endpoint instead of binding.")
@click.option("--speed", type=click.Choice(["recorded", "fixed", "max"]), default="recorded", show_default=True)
@click.option(
    "--rate",
    type=float,
    default=None,
    help="fixed: messages/s (default 1000); recorded: speed-up factor (default 1).",
)
@click.option("--loop/--no-loop", default=False, show_default=True, help="Replay forever.")
@click.option(
    "--heartbeat",
    type=float,
    default=1.0,
    show_default=True,
    help="Seconds of silence on a topic before a heartbeat is sent.",
)
@click.option(
    "--warmup",
    type=float,
    default=1.0,
    show_default=True,
    help="Seconds of heartbeats before replay starts (lets subscribers join).",
)
@click.option(
    "--proxy",
    "proxy",
    default=None,
    metavar="XSUB_ENDPOINT",
    help="Run as an XSUB/XPUB proxy only: feeds connect to XSUB_ENDPOINT, executors to --bind.",
)
def feed_command(
    data: Path | None,
    bind: str,
    connect: str | None,
    speed: str,
    rate: float | None,
    loop: bool,
    heartbeat: float,
    warmup: float,
    proxy: str | None,
) -> None:
    """Publish market data (trades, quotes, bars) over ZeroMQ."""
    import zmq

    from executor.feed import (
        FeedOptions,
        Publisher,
        Replayer,
        load_records,
        make_pub_socket,
        run_proxy,
        sample_path,
    )

    setup_logging({"component": "feed"})
    if proxy:
        run_proxy(proxy, bind)
        return
    from executor.bars import add_bars
    from executor.records import DataError

    try:
        records = add_bars(load_records(data or sample_path()))
    except DataError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    opts = FeedOptions(
        speed=speed,
        rate=rate if rate is not None else (1000.0 if speed == "fixed" else 1.0),
        loop=loop,
        heartbeat=heartbeat,
        warmup=warmup,
    )
    sock = make_pub_socket(zmq.Context.instance(), connect or bind, bool(connect), opts.sndhwm)
    replayer = Replayer(records, Publisher(sock, heartbeat=heartbeat), opts)
    _on_term(replayer.stop)
    sent = replayer.run()
    click.echo(f"published {sent} messages on {len(replayer.topics)} topics", err=True)
    sock.close(linger=1000)


@click.command("sink")
@click.option("--bind", default="tcp://*:5557", show_default=True, help="PULL endpoint executors push to.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Append signals to this NDJSON file.",
)
@click.option("--follow/--no-follow", "follow", default=True, show_default=True, help="Print signals live.")
def sink_command(bind: str, out: Path | None, follow: bool) -> None:
    """Collect signals from all executors."""
    from executor.sink import Sink, format_signal

    setup_logging({"component": "sink"})
    sink = Sink(bind, out, on_signal=(lambda rec: click.echo(format_signal(rec))) if follow else None)
    _on_term(sink.stop)
    sink.run()


commands = [feed_command, sink_command]


@click.group()
def services() -> None:
    """The market feed and the signal sink, as the executor image runs them (`stratops feed|sink`)."""


for _command in commands:
    services.add_command(_command)

if __name__ == "__main__":
    services()
