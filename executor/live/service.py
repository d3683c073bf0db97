"""``stratops feed --source EXCHANGE``: a live feed process (publisher, metrics, optional recording)."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import zmq

from executor.feed import Publisher
from executor.live.adapter import LiveFeed, LiveOptions
from executor.live.metrics import FeedMetrics
from executor.records import RecordWriter

log = logging.getLogger("executor.live")


async def _main(feed: LiveFeed) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, feed.stop.set)
    await feed.run()


def serve(
    opts: LiveOptions,
    sock: zmq.Socket[bytes],
    heartbeat: float,
    record: Path | None = None,
    metrics_port: int | None = None,
) -> int:
    """Run until SIGTERM/SIGINT; returns the number of messages published."""
    metrics = FeedMetrics()
    if metrics_port is not None:
        metrics.serve(metrics_port)
    writer = RecordWriter(record) if record is not None else None
    publisher = Publisher(sock, heartbeat=heartbeat)
    feed = LiveFeed(opts, publisher, metrics, writer.write if writer is not None else None)
    log.info(
        "live feed starting",
        extra={"fields": {"venue": opts.venue, "symbols": opts.symbols, "endpoint": opts.endpoint or "default"}},
    )
    try:
        asyncio.run(_main(feed))
    finally:
        if writer is not None:
            writer.close()
    return publisher.sent
