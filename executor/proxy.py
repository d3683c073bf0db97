"""The feed proxy with a last-value cache (Clone pattern) and redundant-feed merging.

Feeds connect to the XSUB side, executors to the XPUB side, as with the plain C proxy
(executor.feed.run_proxy); this one looks at each message, so it can

* **cache** the last trade, quote and bar of every topic and answer snapshot requests on a
  ROUTER socket: the requester gets the cached messages with the SNAPSHOT header flag, then
  ``SNAPSHOT-END``, and right after a message on its private ``_sync.<token>`` topic is
  published *in stream order*, which tells the requester where the snapshot sits in the stream
  (protocol in docs/wire-format.md);
* **dedupe** two or more feeds of the same venue: an event is published once (trades by id,
  quotes by update id or time, bars by close time) under the proxy's own session and
  per-topic sequence, so a feed dying or restarting is invisible downstream.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import OrderedDict
from typing import Any

import msgpack
import zmq

from executor import wire

log = logging.getLogger("executor.proxy")
SYNC_PREFIX, SNAPSHOT_REQUEST, SNAPSHOT_END = wire.SYNC_PREFIX, wire.SNAPSHOT_REQUEST, wire.SNAPSHOT_END
SEEN_TRADES = 4096  # trade ids remembered per topic (feeds lagging each other by less than this merge cleanly)
_DATA = (wire.TRADE, wire.QUOTE, wire.BAR)


class Deduper:
    """Decides whether an event was published already; remembers what it lets through."""

    def __init__(self) -> None:
        self.trades: dict[bytes, OrderedDict[str, None]] = {}
        self.quotes: dict[bytes, tuple[int, Any]] = {}
        self.bars: dict[tuple[bytes, str], int] = {}

    def fresh(self, topic: bytes, mtype: int, payload: dict[str, Any]) -> bool:
        if mtype == wire.TRADE:
            return self._trade(topic, payload)
        if mtype == wire.QUOTE:
            return self._quote(topic, payload)
        key = (topic, str(payload.get("interval", "")))
        ts = int(payload.get("ts", 0))
        if ts <= self.bars.get(key, -1):
            return False
        self.bars[key] = ts
        return True

    def _trade(self, topic: bytes, payload: dict[str, Any]) -> bool:
        trade_id = payload.get("id")
        if trade_id is None:
            return True  # nothing to recognise it by
        seen = self.trades.setdefault(topic, OrderedDict())
        key = str(trade_id)
        if key in seen:
            return False
        seen[key] = None
        if len(seen) > SEEN_TRADES:
            seen.popitem(last=False)
        return True

    def _quote(self, topic: bytes, payload: dict[str, Any]) -> bool:
        # Binance numbers book updates (update_id); Coinbase stamps them (ts): newer wins
        update = payload.get("update_id")
        order = (1, update) if isinstance(update, int) else (0, int(payload.get("ts", 0)))
        last = self.quotes.get(topic)
        if last is not None and order <= last:
            return False
        self.quotes[topic] = order
        return True


class CachingProxy:
    def __init__(
        self,
        frontend: str,
        backend: str,
        snapshot: str | None = None,
        dedupe: bool = False,
        heartbeat: float = 1.0,
        ctx: zmq.Context[Any] | None = None,
    ) -> None:
        self.frontend, self.backend, self.snapshot_endpoint = frontend, backend, snapshot
        self.dedupe = Deduper() if dedupe else None
        self.heartbeat = heartbeat
        self.ctx = ctx or zmq.Context.instance()
        self.stop = threading.Event()
        self.session = random.getrandbits(63)  # used when deduping: the proxy numbers the merged stream
        self.seqs: dict[bytes, int] = {}
        self.last_sent: dict[bytes, float] = {}
        self.cache: dict[bytes, tuple[bytes, bytes]] = {}  # topic -> (header, payload) as last published
        self.counts = {"forwarded": 0, "duplicates": 0, "malformed": 0, "snapshots": 0}

    def run(self) -> None:
        xsub, xpub = self.ctx.socket(zmq.XSUB), self.ctx.socket(zmq.XPUB)
        xsub.setsockopt(zmq.RCVHWM, 100_000)
        xpub.setsockopt(zmq.SNDHWM, 100_000)
        xsub.bind(self.frontend)
        xpub.bind(self.backend)
        xsub.send(b"\x01")  # everything: the cache and the deduper need every topic
        router = None
        poller = zmq.Poller()
        poller.register(xsub, zmq.POLLIN)
        poller.register(xpub, zmq.POLLIN)
        if self.snapshot_endpoint:
            router = self.ctx.socket(zmq.ROUTER)
            router.bind(self.snapshot_endpoint)
            poller.register(router, zmq.POLLIN)
        log.info("caching proxy running", extra={"fields": {"frontend": self.frontend, "backend": self.backend}})
        try:
            self._loop(poller, xsub, xpub, router)
        finally:
            for sock in (xsub, xpub, router):
                if sock is not None:
                    sock.close(linger=0)

    def _loop(self, poller: zmq.Poller, xsub: Any, xpub: Any, router: Any) -> None:
        next_hb = time.monotonic() + self.heartbeat / 2
        while not self.stop.is_set():
            ready = dict(poller.poll(50))
            if xsub in ready:
                for _ in range(1024):
                    try:
                        frames = xsub.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    self._forward(frames, xpub)
            if xpub in ready:
                while xpub.poll(0):
                    xpub.recv()  # subscriptions: the proxy already takes everything from the feeds
            if router is not None and router in ready:
                self._answer(router.recv_multipart(), router, xpub)
            if self.dedupe is not None and time.monotonic() >= next_hb:
                self._heartbeats(xpub)
                next_hb = time.monotonic() + self.heartbeat / 2

    def _forward(self, frames: list[bytes], xpub: Any) -> None:
        if len(frames) != 3 or len(frames[1]) != wire.HEADER_SIZE:
            self.counts["malformed"] += 1
            return
        topic, header, payload = frames
        version, mtype, flags, session, seq, ts_ns = wire.HEADER.unpack(header)
        if version not in wire.READABLE_VERSIONS:
            self.counts["malformed"] += 1
            return
        if self.dedupe is not None:
            if mtype not in _DATA:
                return  # the feeds' heartbeats speak of their sequences, not ours: the proxy sends its own
            try:
                fresh = self.dedupe.fresh(topic, mtype, msgpack.unpackb(payload, raw=False))
            except Exception:
                self.counts["malformed"] += 1
                return
            if not fresh:
                self.counts["duplicates"] += 1
                return
            seq = self.seqs[topic] = self.seqs.get(topic, 0) + 1
            header = wire.HEADER.pack(wire.VERSION, mtype, flags, self.session, seq, ts_ns)
            self.last_sent[topic] = time.monotonic()
        xpub.send_multipart([topic, header, payload])
        self.counts["forwarded"] += 1
        if mtype in _DATA:
            self.cache[topic] = (header, payload)

    def _heartbeats(self, xpub: Any) -> None:
        now = time.monotonic()
        for topic, last in self.last_sent.items():
            if now - last >= self.heartbeat:
                header = wire.pack_header(wire.HEARTBEAT, self.session, self.seqs[topic], time.time_ns())
                xpub.send_multipart([topic, header, b"\x80"])
                self.last_sent[topic] = now

    def _answer(self, request: list[bytes], router: Any, xpub: Any) -> None:
        """[identity, SNAPSHOT, token, k, prefix...] -> cached messages, SNAPSHOT-END, then the sync message."""
        if len(request) < 4 or request[1] != SNAPSHOT_REQUEST or not request[2].isalnum() or not request[3].isdigit():
            self.counts["malformed"] += 1
            return
        identity, token, attempt, prefixes = request[0], request[2], request[3], request[4:]
        for topic, (header, payload) in self.cache.items():
            if any(topic.startswith(p) for p in prefixes):
                version, mtype, flags, session, seq, ts_ns = wire.HEADER.unpack(header)
                flagged = wire.HEADER.pack(version, mtype, flags | wire.FLAG_SNAPSHOT, session, seq, ts_ns)
                router.send_multipart([identity, topic, flagged, payload])
                self.counts["snapshots"] += 1
        router.send_multipart([identity, SNAPSHOT_END, token, attempt])
        sync = wire.pack_header(wire.HEARTBEAT, 0, 0, time.time_ns())
        xpub.send_multipart([SYNC_PREFIX + token, sync, msgpack.packb({"k": int(attempt)})])
