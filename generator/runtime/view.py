"""The status as a rich table (a TTY) or as plain lines (logs, pipes)."""

from __future__ import annotations

import time
from typing import Any

from rich.table import Table
from rich.text import Text

STATE_STYLE = {
    "Running": "green",
    "Pending": "yellow",
    "Terminating": "yellow",
    "CrashLoopBackOff": "red",
    "Failed": "red",
    "Invalid": "magenta",
}
UNSANDBOXED = "UNSANDBOXED"
COLUMNS = (
    "strategy",
    "state",
    "ready",
    "revision",
    "events/s",
    "lag p99",
    "signals",
    "errors",
    "restarts",
    "RSS",
    "CPU%",
    "dropped",
)


def _lag(value: Any) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def rows(status: dict[str, Any]) -> list[tuple[str, ...]]:
    out = []
    for key, s in status.get("strategies", {}).items():
        out.append(
            (
                key,
                s["state"],
                "yes" if s.get("ready") else "no",
                (s.get("revision") or "")[:8],
                f"{s.get('events_per_s', 0):.0f}",
                _lag(s.get("lag_ms_p99")),
                str(s.get("signals", 0)),
                str(s.get("errors", 0)),
                str(s.get("restarts", 0)),
                f"{s.get('rss_mb', 0):.0f} MB",
                f"{s.get('cpu_pct', 0):.0f}",
                _dropped(s),
            )
        )
    return out


def _dropped(s: dict[str, Any]) -> str:
    """What the runtime and the sink refused from this strategy: signals, and log bytes over the rate."""
    signals, log = int(s.get("signals_dropped", 0)), int(s.get("log_dropped_bytes", 0))
    if not signals and not log:
        return "0"
    return f"{signals} sig, {log / 1024:.0f} KiB log"


def headline(status: dict[str, Any]) -> str:
    feed, sink = status.get("feed", {}), status.get("sink", {})
    age = time.time() - float(status.get("updated", 0))
    warning = f"{UNSANDBOXED}: strategies can read and write this machine · " if status.get("unsandboxed") else ""
    return warning + (
        f"main {str(status.get('revision', ''))[:12]} · feed {feed.get('state')} (restarts {feed.get('restarts', 0)})"
        f" · sink {sink.get('state')} ({sink.get('signals', 0)} signals) · updated {age:.0f}s ago"
    )


def table(status: dict[str, Any]) -> Table:
    result = Table(title=headline(status), title_justify="left", expand=False)
    for column in COLUMNS:
        left = column in ("strategy", "state", "revision")
        result.add_column(column, justify="left" if left else "right", no_wrap=True, overflow="ellipsis")
    for row in rows(status):
        name = f"{row[0]} ({UNSANDBOXED})" if status.get("unsandboxed") else row[0]
        result.add_row(name, Text(row[1], style=STATE_STYLE.get(row[1], "")), *row[2:])
    messages = [(k, s["message"]) for k, s in status.get("strategies", {}).items() if s.get("message")]
    if messages:
        result.caption = "\n".join(f"{k}: {m}" for k, m in messages)
        result.caption_justify = "left"
    return result


def plain(status: dict[str, Any]) -> str:
    lines = [headline(status)]
    mark = f"{UNSANDBOXED} " if status.get("unsandboxed") else ""
    for row in rows(status):
        lines.append("  " + mark + " ".join(f"{c}={v}" for c, v in zip(COLUMNS, row, strict=True)))
    return "\n".join(lines)
