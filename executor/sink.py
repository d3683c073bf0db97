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
                log.warning("dropped malformed signal: %s", exc)
                continue
            self.received += 1
            if fh is not None:
                fh.write(json.dumps(rec, separators=(",", ":"), default=str) + "\n")
            if self.on_signal is not None:
                self.on_signal(rec)
        if fh is not None:
            fh.flush()
