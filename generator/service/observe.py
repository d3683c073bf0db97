"""What the service reports about running strategies in local mode, and market data for charts.

Local runtime state follows the contract in docs/internals.md ("Local runtime state"):
REPO/.git/stratops-runtime/status.json and signals.ndjson.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

from executor.feed import load_records, sample_path

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


@cache
def _bars() -> dict[tuple[str, str], list[dict[str, Any]]]:
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in load_records(sample_path()):
        if record["type"] == "bar":
            key = (record["symbol"], record.get("interval", ""))
            out.setdefault(key, []).append({k: v for k, v in record.items() if k != "type"})
    return out


def bars(symbol: str, interval: str, limit: int) -> list[dict[str, Any]] | None:
    """The last `limit` bars of the bundled sample the local feed replays (None: unknown symbol or interval)."""
    series = _bars().get((symbol, interval))
    return None if series is None else series[-limit:]


def series() -> list[str]:
    return sorted(f"{symbol} {interval}" for symbol, interval in _bars())
