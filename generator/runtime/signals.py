"""Reading signals.ndjson as the sink appends to it: per-strategy counts and the last signal, and `--follow`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class SignalTail:
    """Reads only what was appended since the last call; a partial last line waits for its end."""

    def __init__(self, path: Path, from_end: bool = True) -> None:
        self.path = path
        self.offset = path.stat().st_size if from_end and path.exists() else 0
        self.partial = b""

    def read(self) -> list[dict[str, Any]]:
        try:
            with open(self.path, "rb") as fh:
                size = fh.seek(0, 2)
                if size < self.offset:  # truncated or replaced: start over
                    self.offset, self.partial = 0, b""
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        *lines, self.partial = (self.partial + data).split(b"\n")
        out = []
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                out.append(record)
        return out


def key_of(record: dict[str, Any]) -> str:
    return f"{record.get('tenant', '')}/{record.get('strategy', '')}"


def last_signal(record: dict[str, Any]) -> dict[str, Any]:
    ts = record.get("ts")
    return {
        "ts": ts / 1e9 if isinstance(ts, int) else ts,
        "symbol": record.get("symbol"),
        "side": record.get("side"),
    }


def follow(path: Path, strategy: str | None, from_end: bool, poll: float = 0.2) -> Iterator[dict[str, Any]]:
    tail = SignalTail(path, from_end)
    while True:
        for record in tail.read():
            if strategy is None or key_of(record) == strategy:
                yield record
        time.sleep(poll)
