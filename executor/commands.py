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
    "--clock",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Replay: write how each pass re-stamps the data to this JSON file (charts read it).",
)
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
@click.option(
    "--snapshot",
    "snapshot",
    default=None,
    metavar="ENDPOINT",
    help="With --proxy: keep the last trade/quote/bar per topic and answer late joiners' snapshot requests here.",
)
@click.option(
    "--dedupe/--no-dedupe",
    default=False,
    show_default=True,
    help="With --proxy: merge redundant feeds (drop events already published) under the proxy's own sequence.",
)
@click.option(
    "--source",
    type=click.Choice(["replay", "binance", "coinbase"]),
    default="replay",
    show_default=True,
    help="replay: recorded data (--data); binance, coinbase: live public market data (needs the feed extra).",
)
@click.option("--symbols", default=None, help="Live: comma-separated BASE-QUOTE symbols, e.g. BTC-USDT,ETH-USDT.")
@click.option(
    "--endpoint",
    default=None,
    metavar="URL",
    help="Live: the exchange's REST base URL (http[s]://host:port); its websocket URL is derived (ws[s]://).",
)
@click.option(
    "--ws-endpoint",
    default=None,
    metavar="URL",
    help="Live: the exchange's websocket URL (ws[s]://...), when it is not derived from --endpoint.",
)
@click.option(
    "--record",
    "record",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Live: also write what is published to this .ndjson[.gz]/.csv/.parquet file (readable by --data).",
)
@click.option("--metrics-port", type=click.IntRange(1, 65535), default=None, help="Live: serve Prometheus metrics.")
@click.option(
    "--stale",
    type=click.FloatRange(0.5, 3600),
    default=10.0,
    show_default=True,
    help="Live: seconds without any frame from the exchange before reconnecting.",
)
def feed_command(
    data: Path | None,
    bind: str,
    connect: str | None,
    speed: str,
    rate: float | None,
    loop: bool,
    clock: Path | None,
    heartbeat: float,
    warmup: float,
    proxy: str | None,
    snapshot: str | None,
    dedupe: bool,
    source: str,
    symbols: str | None,
    endpoint: str | None,
    ws_endpoint: str | None,
    record: Path | None,
    metrics_port: int | None,
    stale: float,
) -> None:
    """Publish market data (trades, quotes, bars) over ZeroMQ."""
    setup_logging({"component": "feed"})
    if proxy:
        _proxy(proxy, bind, snapshot, dedupe, heartbeat)
    elif source != "replay":
        if data is not None:
            raise click.UsageError("--data replays a file; it cannot be combined with --source " + source)
        if clock is not None:
            raise click.UsageError("--clock records a replay's clock; it cannot be combined with --source " + source)
        where = (connect or bind, bool(connect))
        _live(source, symbols, (endpoint, ws_endpoint), record, metrics_port, stale, heartbeat, where)
    else:
        if symbols or endpoint or ws_endpoint or record or metrics_port:
            raise click.UsageError(
                "--symbols, --endpoint, --ws-endpoint, --record and --metrics-port need --source binance|coinbase"
            )
        _replay(data, speed, rate, loop, clock, heartbeat, warmup, connect or bind, bool(connect))


def _proxy(xsub: str, xpub: str, snapshot: str | None, dedupe: bool, heartbeat: float) -> None:
    if snapshot or dedupe:
        from executor.proxy import CachingProxy

        proxy = CachingProxy(xsub, xpub, snapshot, dedupe=dedupe, heartbeat=heartbeat)
        _on_term(proxy.stop)
        proxy.run()
        return
    from executor.feed import run_proxy

    run_proxy(xsub, xpub)


def _live(
    source: str,
    symbols: str | None,
    endpoints: tuple[str | None, str | None],
    record: Path | None,
    metrics_port: int | None,
    stale: float,
    heartbeat: float,
    where: tuple[str, bool],
) -> None:
    names = [s.strip() for s in (symbols or "").split(",") if s.strip()]
    if not names:
        raise click.UsageError(f"--source {source} needs --symbols, e.g. --symbols BTC-USDT,ETH-USDT")
    endpoint, ws_endpoint = endpoints
    if endpoint is not None and not endpoint.startswith(("http://", "https://")):
        raise click.BadParameter(f"{endpoint!r} must be an http:// or https:// base URL", param_hint="--endpoint")
    if ws_endpoint is not None and not ws_endpoint.startswith(("ws://", "wss://")):
        raise click.BadParameter(f"{ws_endpoint!r} must be a ws:// or wss:// URL", param_hint="--ws-endpoint")
    if record is not None:
        from executor.records import DataError, data_format

        try:
            data_format(record)
        except DataError as exc:
            raise click.BadParameter(str(exc).splitlines()[-1].strip(), param_hint="--record") from None
    try:
        import zmq

        from executor.feed import make_pub_socket
        from executor.live.adapter import LiveOptions
        from executor.live.service import serve
        from executor.live.venues import UnknownSymbol
    except ImportError as exc:
        raise click.ClickException(f"live feeds need the feed extra (pip install 'stratops[feed]'): {exc}") from None
    sock = make_pub_socket(zmq.Context.instance(), where[0], where[1], 100_000)
    opts = LiveOptions(source, names, endpoint, ws_endpoint, stale=stale, heartbeat=heartbeat)
    try:
        sent = serve(opts, sock, heartbeat, record, metrics_port)
    except UnknownSymbol as exc:
        raise click.BadParameter(str(exc), param_hint="--symbols") from None
    finally:
        sock.close(linger=1000)
    click.echo(f"published {sent} messages from {source}", err=True)


def _replay(
    data: Path | None,
    speed: str,
    rate: float | None,
    loop: bool,
    clock: Path | None,
    heartbeat: float,
    warmup: float,
    where: str,
    connect: bool,
) -> None:
    import zmq

    from executor.bars import add_bars
    from executor.feed import FeedOptions, Publisher, Replayer, load_records, make_pub_socket, sample_path
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
        clock=clock,
    )
    sock = make_pub_socket(zmq.Context.instance(), where, connect, opts.sndhwm)
    replayer = Replayer(records, Publisher(sock, heartbeat=heartbeat), opts, data=data.resolve() if data else None)
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
@click.option("--metrics-port", type=click.IntRange(1, 65535), default=None, help="Serve Prometheus metrics on :N.")
def sink_command(bind: str, out: Path | None, follow: bool, metrics_port: int | None) -> None:
    """Collect signals from all executors."""
    from executor.sink import Sink, format_signal

    setup_logging({"component": "sink"})
    sink = Sink(bind, out, on_signal=(lambda rec: click.echo(format_signal(rec))) if follow else None)
    if metrics_port is not None:
        sink.metrics.serve(metrics_port)
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
