"""Signal sink: a PULL socket collecting signals from every executor into NDJSON."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import zmq
from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector, start_http_server

from executor import wire

log = logging.getLogger("executor.sink")


def decode_signal(frames: list[bytes]) -> dict[str, Any]:
    if len(frames) != 3 or frames[0] != wire.SIGNAL_TOPIC:
        raise wire.WireError("not a signal message")
    header = wire.unpack_header(frames[1])
    if header.type != wire.SIGNAL:
        raise wire.WireError(f"message type {header.type} is not a signal")
    record = wire.unpack_payload(frames[2])
    record["executor_session"] = header.session
    record["signal_seq"] = header.seq
    record["received_ts"] = time.time_ns()
    return record


def format_signal(rec: dict[str, Any]) -> str:
    size = "" if rec.get("size") is None else f" size={rec['size']}"
    return (
        f"{rec.get('tenant', '')}/{rec.get('strategy', '')} {rec.get('side', '').upper():4} "
        f"{rec.get('symbol', '')} strength={rec.get('strength', 0):.2f}{size} {rec.get('reason', '')}"
    )


class SinkMetrics:
    """What `stratops sink --metrics-port` serves on /metrics. No per-strategy labels: who a signal is from
    is what its message claims here, and a claim must not grow the series without bound."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.signals = Counter("stratops_sink_signals", "Signals received and kept.", registry=self.registry)
        self.malformed = Counter(
            "stratops_sink_malformed_messages", "Messages dropped as not a valid signal.", registry=self.registry
        )
        self.delay = Histogram(
            "stratops_sink_signal_delay_seconds",
            "From the executor's emit time (the signal's ts) to its arrival at the sink.",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )
        ProcessCollector(registry=self.registry)

    def serve(self, port: int, addr: str = "0.0.0.0") -> None:
        start_http_server(port, addr=addr, registry=self.registry)

    def kept(self, record: dict[str, Any]) -> None:
        self.signals.inc()
        sent = record.get("ts")
        if isinstance(sent, int) and not isinstance(sent, bool):
            self.delay.observe(max(0, record["received_ts"] - sent) / 1e9)


class Sink:
    def __init__(
        self,
        bind: str,
        out: Path | None = None,
        on_signal: Callable[[dict[str, Any]], None] | None = None,
        ctx: zmq.Context[Any] | None = None,
    ) -> None:
        self.ctx = ctx or zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.PULL)
        self.sock.setsockopt(zmq.RCVHWM, 100_000)
        self.sock.bind(bind)
        self.endpoint = self.sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self.out = out
        self.on_signal = on_signal
        self.stop = threading.Event()
        self.received = 0
        self.errors = 0
        self.metrics = SinkMetrics()

    def run(self) -> int:
        fh: IO[str] | None = None
        if self.out is not None:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            fh = open(self.out, "a", encoding="utf-8")  # noqa: SIM115 - closed below
        try:
            while not self.stop.is_set():
                if self.sock.poll(100):
                    self._drain(fh)
        finally:
            if fh is not None:
                fh.close()
            self.sock.close(linger=0)
        return self.received

    def _drain(self, fh: IO[str] | None) -> None:
        for _ in range(1024):
            try:
                frames = self.sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            try:
                rec = decode_signal(frames)
            except wire.WireError as exc:
                self.errors += 1
                self.metrics.malformed.inc()
                log.warning("dropped malformed signal: %s", exc)
                continue
            self.received += 1
            self.metrics.kept(rec)
            if fh is not None:
                fh.write(json.dumps(rec, separators=(",", ":"), default=str) + "\n")
            if self.on_signal is not None:
                self.on_signal(rec)
        if fh is not None:
            fh.flush()
