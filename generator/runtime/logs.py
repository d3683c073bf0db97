"""Reading an executor's logs: the capped, rotated files the runtime writes from its log pipe (logpipe.py).

Each strategy keeps REPO/.git/stratops-runtime/strategies/TENANT/NAME/executor.log and the
rotated executor.log.1. Readers get lines oldest first, parsed when they are the executor's
JSON log records. Every read is bounded: at most MAX_SCAN bytes from the end of the two files,
at most MAX_LINES lines, each line cut at MAX_LINE bytes.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import Problem, UserError
from .paths import RuntimePaths

LOG_FILE = "executor.log"
MAX_SCAN = 2 * 1024 * 1024
MAX_LINES = 5000
MAX_LINE = 16 * 1024
FOLLOW_SECONDS = 0.5
_DURATION = re.compile(r"^(\d{1,9})(s|m|h|d)$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Line:
    text: str
    ts: float | None  # seconds since the epoch; lines without a time of their own take the previous one's
    level: str | None
    msg: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"ts": self.ts, "level": self.level, "msg": self.msg, "text": self.text}


def parse_since(value: str, now: float | None = None) -> float:
    """`30s`, `10m`, `2h`, `1d` (ago), or an RFC 3339 time -> seconds since the epoch."""
    text = value.strip()
    match = _DURATION.match(text)
    if match:
        return (time.time() if now is None else now) - int(match.group(1)) * _UNIT[match.group(2)]
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(
            "invalid --since",
            [Problem("since", repr(value[:40]), "a duration (30s, 10m, 2h, 1d) or a time like 2026-12-02T08:00Z")],
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def log_files(paths: RuntimePaths, key: str) -> list[Path]:
    """The strategy's log files, oldest first (KEY is a validated tenant/name)."""
    folder = paths.strategy_dir(key)
    return [folder / (LOG_FILE + ".1"), folder / LOG_FILE]


def read(paths: RuntimePaths, key: str, since: float | None = None, limit: int = 200) -> list[Line]:
    """The last `limit` lines (at most MAX_LINES) at or after `since`, oldest first."""
    limit = max(1, min(limit, MAX_LINES))
    lines = parse(_tail_bytes(log_files(paths, key), MAX_SCAN))
    if since is not None:
        lines = [line for line in lines if line.ts is None or line.ts >= since]
    return lines[-limit:]


def follow(paths: RuntimePaths, key: str, stop: Any = None) -> Iterator[Line]:
    """Lines written from now on, across rotations; ends when `stop` (an Event) is set."""
    current = log_files(paths, key)[1]
    offset, inode = _position(current)
    carry, previous = b"", None
    while stop is None or not stop.is_set():
        size, now_inode = _position(current)
        data = b""
        if now_inode != inode:  # rotated: the rest of the old file (now .1), then the new one from its start
            data = _read_from(current.with_name(LOG_FILE + ".1"), offset) if inode else b""
            offset, inode = 0, now_inode
        elif size < offset:  # truncated
            offset = 0
        fresh = _read_from(current, offset)
        offset += len(fresh)
        data = carry + data + fresh
        cut = data.rfind(b"\n") + 1
        carry = data[cut:][-MAX_LINE:]  # a line being written: kept for the next round, bounded
        for line in parse(data[:cut], previous):
            previous = line.ts
            yield line
        time.sleep(FOLLOW_SECONDS)


def parse(data: bytes, previous: float | None = None) -> list[Line]:
    out = []
    for raw in data.split(b"\n"):
        if not raw.strip():
            continue
        text = raw[:MAX_LINE].decode("utf-8", errors="replace").rstrip("\r")
        record = _record(text)
        ts = _timestamp(record.get("ts")) if record else None
        previous = ts if ts is not None else previous
        out.append(
            Line(
                text + (" …[cut]" if len(raw) > MAX_LINE else ""),
                previous,
                str(record["level"]) if record and "level" in record else None,
                str(record["msg"]) if record and "msg" in record else None,
            )
        )
    return out


def _record(text: str) -> dict[str, Any] | None:
    if not text.startswith("{"):
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def _timestamp(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp()


def _tail_bytes(files: list[Path], budget: int) -> bytes:
    """The last `budget` bytes of the files taken as one stream, starting at a line boundary."""
    chunks: list[bytes] = []
    for path in reversed(files):
        if budget <= 0:
            break
        try:
            with path.open("rb") as handle:
                size = handle.seek(0, 2)
                start = max(0, size - budget)
                handle.seek(start)
                data = handle.read(size - start)
        except OSError:
            continue
        if start > 0:
            data = data[data.find(b"\n") + 1 :] if b"\n" in data else b""
        if data and not data.endswith(b"\n"):
            data += b"\n"
        chunks.append(data)
        budget -= size - start
    return b"".join(reversed(chunks))


def _position(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError:
        return 0, 0
    return st.st_size, st.st_ino


def _read_from(path: Path, offset: int) -> bytes:
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            return handle.read(MAX_SCAN)
    except OSError:
        return b""
