"""What the service reports about running strategies in local mode, and market data for charts.

Local runtime state follows the contract in docs/internals.md ("Local runtime state"):
REPO/.git/stratops-runtime/status.json and signals.ndjson.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from executor.bars import add_bars
from executor.feed import load_records, sample_path
from executor.records import DataError

from ..runtime import logs as runtime_logs
from ..runtime.paths import RuntimePaths
from ..runtime.status import read_status

_TAIL_BLOCK = 64 * 1024
_TAIL_MAX_SCAN = 16 * 1024 * 1024


def local_status(repo: Path, key: str) -> dict[str, Any]:
    status = read_status(repo)
    if status is None:
        return {"source": "local", "state": "Unknown", "ready": False, "message": "the local runtime is not running"}
    entry = (status.get("strategies") or {}).get(key)
    if entry is None:
        return {"source": "local", "state": "Absent", "ready": False, "message": "not in the running set"}
    return {"source": "local", **entry}


def local_statuses(repo: Path) -> dict[str, dict[str, Any]]:
    status = read_status(repo) or {}
    return {k: {"source": "local", **v} for k, v in (status.get("strategies") or {}).items()}


def logs(repo: Path, key: str, since: float | None, limit: int) -> dict[str, Any] | None:
    """The executor's last lines as the local runtime recorded them; None when it never ran."""
    paths = RuntimePaths.of(repo)
    if not any(p.exists() for p in runtime_logs.log_files(paths, key)):
        return None
    lines = runtime_logs.read(paths, key, since, limit)
    return {"source": "local", "lines": [line.as_dict() for line in lines]}


def signals(repo: Path, tenant: str, name: str, limit: int) -> list[dict[str, Any]]:
    """The last `limit` signals of one strategy, newest last (reads the file from its end)."""
    path = RuntimePaths.of(repo).signals_file
    try:
        handle = path.open("rb")
    except OSError:
        return []
    found: list[dict[str, Any]] = []
    with handle:
        end = handle.seek(0, os.SEEK_END)
        position, carry = end, b""
        while position > 0 and len(found) < limit and end - position < _TAIL_MAX_SCAN:
            step = min(_TAIL_BLOCK, position)
            position -= step
            handle.seek(position)
            lines = (handle.read(step) + carry).split(b"\n")
            carry = lines.pop(0) if position > 0 else b""
            for line in reversed(lines):
                record = _signal(line, tenant, name)
                if record is not None:
                    found.append(record)
                    if len(found) == limit:
                        break
    return found[::-1]


def _signal(line: bytes, tenant: str, name: str) -> dict[str, Any] | None:
    if not line.strip():
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None  # a line being written right now
    if isinstance(record, dict) and record.get("tenant") == tenant and record.get("strategy") == name:
        return record
    return None


@lru_cache(maxsize=2)
def _bars(data: Path | None = None) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Bars of the replayed data (the bundled sample unless `up --data` named a file), as the feed builds them."""
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in add_bars(load_records(data or sample_path())):
        if record["type"] == "bar":
            key = (record["symbol"], record.get("interval", ""))
            out.setdefault(key, []).append({k: v for k, v in record.items() if k != "type"})
    return out


def bars(symbol: str, interval: str, limit: int, repo: Path | None = None) -> list[dict[str, Any]] | None:
    """The last `limit` bars the local feed replayed, on the clock it stamped them with (None: unknown series).

    A running feed records how each pass re-stamps the data (executor.feed.write_clock): in `recorded` speed,
    the default, every pass starts at the wall clock, so the strategies' signals (stamped with the time of the
    event they answered) fall on the bars drawn here. Without that record: the data on its own clock.
    """
    clock = _feed_clock(repo) if repo is not None else None
    try:
        series = _bars(clock["data"] if clock else None).get((symbol, interval))
    except (OSError, DataError):  # the data file of a previous `up --data` is gone or changed
        clock, series = None, _bars().get((symbol, interval))
    if series is None:
        return None
    if clock is None:
        return series[-limit:]
    out: list[dict[str, Any]] = []
    for one in clock["passes"]:
        offset, until = one["offset_ns"], one["until_ns"]
        stamped = [{**bar, "ts": bar["ts"] + offset} for bar in series if bar["ts"] + offset <= until]
        if stamped:  # a sped-up replay starts its next pass before the last one's end: the newer pass wins
            out = [bar for bar in out if bar["ts"] < stamped[0]["ts"]] + stamped
    return out[-limit:]


def _feed_clock(repo: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(RuntimePaths.of(repo).feed_clock.read_text())
        passes = [{"offset_ns": int(p["offset_ns"]), "until_ns": int(p["until_ns"])} for p in doc["passes"]]
        data = Path(doc["data"]) if doc.get("data") else None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return {"data": data, "passes": passes} if passes else None


def series() -> list[str]:
    return sorted(f"{symbol} {interval}" for symbol, interval in _bars())
