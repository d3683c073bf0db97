"""Helpers for the live-feed tests: run a LiveFeed against a local exchange in a thread, read the ZeroMQ side."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import zmq

from executor import wire
from executor.feed import Publisher
from executor.live.adapter import LiveFeed, LiveOptions


class Received:
    def __init__(self) -> None:
        self.events: list[tuple[bytes, wire.Header, dict[str, Any]]] = []
        self.heartbeats = 0

    def of(self, topic: bytes) -> list[dict[str, Any]]:
        return [p for t, _, p in self.events if t == topic]

    def topics(self) -> set[bytes]:
        return {t for t, _, _ in self.events}


def drain(sub: zmq.Socket[bytes], into: Received, until: float) -> Received:
    while time.monotonic() < until:
        if not sub.poll(50):
            continue
        while True:
            try:
                frames = sub.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            header = wire.unpack_header(frames[1])
            if header.type == wire.HEARTBEAT:
                into.heartbeats += 1
            else:
                into.events.append((frames[0], header, wire.unpack_payload(frames[2])))
    return into


@contextmanager
def running_feed(opts: LiveOptions, endpoint: str, ctx: zmq.Context[Any], **kw: Any) -> Iterator[LiveFeed]:
    """A LiveFeed publishing on ``endpoint`` from its own thread and event loop; stopped on exit."""
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.SNDHWM, 100_000)
    pub.bind(endpoint)
    feed = LiveFeed(opts, Publisher(pub, heartbeat=opts.heartbeat), **kw)
    loop = asyncio.new_event_loop()
    errors: list[BaseException] = []

    def main() -> None:
        try:
            loop.run_until_complete(feed.run())
        except BaseException as exc:  # surfaced to the test below
            errors.append(exc)

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30  # importing ccxt alone takes seconds on a busy machine
        while not feed.ready.is_set() and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        yield feed
    finally:
        loop.call_soon_threadsafe(feed.stop.set)
        thread.join(15)
        pub.close(linger=0)
        assert not thread.is_alive(), "the feed did not stop"
    if errors:
        raise errors[0]


def metric(feed: LiveFeed, name: str, **labels: str) -> float:
    return feed.metrics.registry.get_sample_value(f"stratops_feed_{name}", {"venue": feed.venue.name, **labels}) or 0.0


def bad_reasons(feed: LiveFeed) -> dict[str, float]:
    out = {}
    for family in feed.metrics.registry.collect():
        for sample in family.samples:
            if sample.name == "stratops_feed_bad_messages_total":
                out[sample.labels["reason"]] = sample.value
    return out
