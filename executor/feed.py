"""Market feed: replay recorded ticks onto a ZeroMQ PUB socket (wire format v2), plus an
XSUB/XPUB proxy so many feeds and many executors scale out.

Data files: NDJSON (optionally gzip), CSV or Parquet, read and checked by executor.records.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import zmq

from executor import wire
from executor.records import load_records

__all__ = ["FeedOptions", "Publisher", "Replayer", "load_records", "make_pub_socket", "run_proxy", "sample_path"]

log = logging.getLogger("executor.feed")
SPEEDS = ("recorded", "fixed", "max")


def sample_path() -> Path:
    return Path(str(resources.files("executor") / "data" / "sample.ndjson.gz"))


@dataclass
class FeedOptions:
    speed: str = "recorded"
    rate: float = 1000.0  # messages/s in "fixed"; speed-up factor in "recorded"
    loop: bool = False
    heartbeat: float = 1.0
    warmup: float = 0.0
    sndhwm: int = 100_000
    clock: Path | None = None  # where to write the replay's clock (write_clock), for charts on the feed's time


CLOCK_PASSES = 16


def write_clock(path: Path, data: Path | None, passes: list[dict[str, int]]) -> None:
    """Record how the replay re-stamps its data: per pass, the offset added to every recorded `ts` and the
    newest stamped `ts` published so far (written with the heartbeats, twice a second).

    A reader re-stamps the same records the same way to see the market data on the clock the strategies
    saw it (in `recorded` speed each pass starts at the wall clock; otherwise passes follow each other
    on the data's own clock). Written atomically, the last CLOCK_PASSES passes only.
    """
    doc = {"data": str(data) if data else None, "passes": passes[-CLOCK_PASSES:]}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc))
    os.replace(tmp, path)


@dataclass
class Publisher:
    """Numbers messages per topic, stamps the session id, and sends heartbeats for idle topics."""

    socket: zmq.Socket[bytes]
    heartbeat: float = 1.0
    session: int = field(default_factory=lambda: random.getrandbits(63))
    seqs: dict[bytes, int] = field(default_factory=dict)
    last_sent: dict[bytes, float] = field(default_factory=dict)
    sent: int = 0

    def publish(self, topic: bytes, mtype: int, payload: dict[str, Any]) -> int:
        """Send one event; returns the feed header time (ns) it was stamped with."""
        seq = self.seqs.get(topic, 0) + 1
        self.seqs[topic] = seq
        now = time.time_ns()
        self.socket.send_multipart(wire.encode(topic, mtype, self.session, seq, now, payload))
        self.last_sent[topic] = time.monotonic()
        self.sent += 1
        return now

    def send_heartbeats(self, topics: list[bytes] | None = None, force: bool = False) -> int:
        now, count = time.monotonic(), 0
        for topic in topics if topics is not None else list(self.last_sent):
            if force or now - self.last_sent.get(topic, 0.0) >= self.heartbeat:
                seq = self.seqs.get(topic, 0)
                self.socket.send_multipart(wire.encode(topic, wire.HEARTBEAT, self.session, seq, time.time_ns(), {}))
                self.last_sent[topic] = now
                count += 1
        return count


class Replayer:
    def __init__(
        self, records: list[dict[str, Any]], publisher: Publisher, opts: FeedOptions, data: Path | None = None
    ) -> None:
        if opts.speed not in SPEEDS:
            raise ValueError(f"speed must be one of {SPEEDS}")
        if not records:
            raise ValueError("nothing to replay")
        self.records = records
        self.pub = publisher
        self.opts = opts
        self.stop = threading.Event()
        self.data = data
        self.passes: list[dict[str, int]] = []
        self.topics = sorted({wire.record_topic(r) for r in records})
        self._prepared = [
            (
                wire.record_topic(r),
                wire.TYPE_OF_KIND[wire.RECORD_KIND[r["type"]]],
                {"venue": wire.DEFAULT_VENUE, **{k: v for k, v in r.items() if k != "type"}},
            )
            for r in records
        ]

    def run(self) -> int:
        """Replay once (or until stopped with ``loop``); returns messages published."""
        self._warmup()
        span = self.records[-1]["ts"] - self.records[0]["ts"] + 1
        iteration = 0
        while not self.stop.is_set():
            self._replay_once(iteration * span)
            iteration += 1
            if not self.opts.loop:
                break
        return self.pub.sent

    def _warmup(self) -> None:
        deadline = time.monotonic() + self.opts.warmup
        while time.monotonic() < deadline and not self.stop.is_set():
            self.pub.send_heartbeats(self.topics, force=True)
            self.stop.wait(min(0.05, self.opts.heartbeat))

    def _schedule(self) -> Iterator[float]:
        """Yields, per message, the monotonic time it is due (0 = now)."""
        start, first = time.monotonic(), self.records[0]["ts"]
        if self.opts.speed == "recorded":
            factor = 1e9 * (self.opts.rate if self.opts.rate > 0 else 1.0)
            for rec in self.records:
                yield start + (rec["ts"] - first) / factor
        elif self.opts.speed == "fixed":
            interval = 1.0 / self.opts.rate
            for i in range(len(self.records)):
                yield start + i * interval
        else:
            yield from (0.0 for _ in self.records)

    def _replay_once(self, ts_offset: int) -> None:
        publish, pub = self.pub.publish, self.pub
        recorded = self.opts.speed == "recorded"
        wall_offset = time.time_ns() - self.records[0]["ts"] if recorded else ts_offset
        self.passes.append({"offset_ns": wall_offset, "until_ns": 0})
        next_hb = time.monotonic() + self.opts.heartbeat / 2
        for (topic, mtype, payload), due in zip(self._prepared, self._schedule(), strict=True):
            now = time.monotonic()
            if due > now:
                self._wait_until(due, next_hb)
                now = time.monotonic()
            if now >= next_hb:
                pub.send_heartbeats()
                next_hb = now + self.opts.heartbeat / 2
                self._write_clock()
            if self.stop.is_set():
                break
            stamped = payload["ts"] + wall_offset
            publish(topic, mtype, {**payload, "ts": stamped})
            self.passes[-1]["until_ns"] = stamped
        self._write_clock()

    def _write_clock(self) -> None:
        if self.opts.clock is not None:
            write_clock(self.opts.clock, self.data, self.passes)

    def _wait_until(self, due: float, next_hb: float) -> None:
        while not self.stop.is_set():
            now = time.monotonic()
            if now >= due:
                return
            if now >= next_hb:
                self.pub.send_heartbeats()
                next_hb = now + self.opts.heartbeat / 2
            self.stop.wait(min(due - now, max(0.0, next_hb - now), 0.25))


def make_pub_socket(ctx: zmq.Context[Any], endpoint: str, connect: bool, sndhwm: int) -> zmq.Socket[bytes]:
    sock = ctx.socket(zmq.PUB)
    sock.setsockopt(zmq.SNDHWM, sndhwm)
    sock.setsockopt(zmq.LINGER, 1000)
    (sock.connect if connect else sock.bind)(endpoint)
    if not connect and endpoint.startswith("ipc://"):
        # subscribers may run as another uid; who may connect is decided by who sees the folder
        os.chmod(endpoint.removeprefix("ipc://"), 0o666)
    return sock


def run_proxy(frontend: str, backend: str, ctx: zmq.Context[Any] | None = None, control: str | None = None) -> None:
    """XSUB (publishers connect to ``frontend``) <-> XPUB (executors connect to ``backend``).

    With ``control`` (a PAIR endpoint bound here), sending ``TERMINATE`` there stops the proxy.
    """
    ctx = ctx or zmq.Context.instance()
    xsub, xpub = ctx.socket(zmq.XSUB), ctx.socket(zmq.XPUB)
    ctl = None
    if control:
        ctl = ctx.socket(zmq.PAIR)
        ctl.bind(control)
    xsub.setsockopt(zmq.RCVHWM, 100_000)
    xpub.setsockopt(zmq.SNDHWM, 100_000)
    xsub.bind(frontend)
    xpub.bind(backend)
    log.info("proxy running", extra={"fields": {"frontend": frontend, "backend": backend}})
    try:
        zmq.proxy_steerable(xsub, xpub, None, ctl) if ctl is not None else zmq.proxy(xsub, xpub)
    except zmq.ContextTerminated:
        pass
    finally:
        for sock in (xsub, xpub, ctl):
            if sock is not None:
                sock.close(linger=0)
