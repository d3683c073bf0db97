"""The local runtime's signal sink: one PULL socket per executor, so where a signal arrived says whose it is.

`python -m generator.runtime.sinkd ROUTES OUT STATS`. ROUTES (written by `up`) maps each strategy
to its own socket path; the sink binds one socket per strategy, and each executor's sandbox sees
only its own. A record's tenant and strategy are set here from the socket, whatever the message
says. Caps, counted per strategy in STATS (read by `up` for the status): messages above 64 KiB
are refused by ZeroMQ itself (the connection is dropped before they are read), `meta` above
4 KiB is dropped, and each strategy may send 100 signals/s sustained with bursts of 1,000.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import msgpack
import zmq

from executor import wire
from executor.sink import decode_signal

from .rate import TokenBucket

META_MAX = 4096
RATE, BURST = 100.0, 1000.0
MAX_MESSAGE = 64 * 1024
SYNC_SECONDS = 0.2
STATS_SECONDS = 1.0
COUNTERS = ("received", "dropped_rate", "dropped_size", "malformed")


class RoutedSink:
    def __init__(self, routes: Path, out: Path, stats: Path) -> None:
        self.routes_file, self.out, self.stats_file = routes, out, stats
        self.ctx = zmq.Context()
        self.sockets: dict[str, tuple[zmq.Socket, str]] = {}  # key -> (socket, path)
        self.keys: dict[zmq.Socket, str] = {}
        self.counts: dict[str, dict[str, int]] = {}
        self.buckets: dict[str, TokenBucket] = {}
        self.routes_mtime = -1.0
        self.stop = False

    def run(self) -> None:
        next_sync = next_stats = 0.0
        with open(self.out, "a", encoding="utf-8") as fh:
            while not self.stop:
                now = time.monotonic()
                if now >= next_sync:
                    next_sync = now + SYNC_SECONDS
                    self.sync()
                if now >= next_stats:
                    next_stats = now + STATS_SECONDS
                    self.write_stats()
                if not self.keys:
                    time.sleep(0.1)
                    continue
                poller = zmq.Poller()
                for sock in self.keys:
                    poller.register(sock, zmq.POLLIN)
                for sock, _ in poller.poll(100):
                    self.drain(sock, fh)
                fh.flush()
        self.write_stats()
        for sock, path in self.sockets.values():
            sock.close(linger=0)
            Path(path).unlink(missing_ok=True)

    def sync(self) -> None:
        """Bind the sockets of new strategies, close those of removed ones."""
        try:
            mtime = self.routes_file.stat().st_mtime
            if mtime == self.routes_mtime:
                return
            routes = json.loads(self.routes_file.read_text(encoding="utf-8"))
            self.routes_mtime = mtime
        except (OSError, ValueError):
            return
        for key in [k for k in self.sockets if k not in routes]:
            sock, path = self.sockets.pop(key)
            del self.keys[sock]
            sock.close(linger=0)
            Path(path).unlink(missing_ok=True)
        for key, path in routes.items():
            if key not in self.sockets:
                self._bind(key, path)

    def _bind(self, key: str, path: str) -> None:
        Path(path).unlink(missing_ok=True)  # left by an earlier sink
        sock = self.ctx.socket(zmq.PULL)
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE)
        sock.setsockopt(zmq.RCVHWM, int(BURST))
        sock.bind(f"ipc://{path}")
        os.chmod(path, 0o666)  # the executor's uid connects; only its own sandbox sees the folder
        self.sockets[key] = (sock, path)
        self.keys[sock] = key
        self.counts.setdefault(key, dict.fromkeys(COUNTERS, 0))
        self.buckets.setdefault(key, TokenBucket(RATE, BURST))

    def drain(self, sock: zmq.Socket, fh) -> None:
        key = self.keys[sock]
        for _ in range(256):
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            record = self.accept(key, frames)
            if record is not None:
                fh.write(json.dumps(record, separators=(",", ":"), default=str) + "\n")

    def accept(self, key: str, frames: list[bytes]) -> dict[str, Any] | None:
        counts = self.counts[key]
        try:
            record = decode_signal(frames)
        except wire.WireError:
            counts["malformed"] += 1
            return None
        if len(msgpack.packb(record.get("meta"), default=str)) > META_MAX:
            counts["dropped_size"] += 1
            return None
        if self.buckets[key].take(1.0) < 1.0:
            counts["dropped_rate"] += 1
            return None
        counts["received"] += 1
        record["tenant"], record["strategy"] = key.split("/", 1)
        return record

    def write_stats(self) -> None:
        tmp = self.stats_file.with_name(self.stats_file.name + ".tmp")
        with contextlib.suppress(OSError):
            tmp.write_text(json.dumps(self.counts), encoding="utf-8")
            os.replace(tmp, self.stats_file)


def main() -> None:
    routes, out, stats = (Path(a) for a in sys.argv[1:4])
    sink = RoutedSink(routes, out, stats)

    def stop(*_: Any) -> None:
        sink.stop = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sink.run()


if __name__ == "__main__":
    main()
