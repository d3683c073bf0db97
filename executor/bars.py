"""Bars from trades: one builder for recorded data without bars and for a live feed.

A bar covers ``[start, start + interval)`` in exchange time and is stamped with its close
time ``start + interval`` (docs/wire-format.md). It is closed when a trade at or after its
close time arrives, or when :meth:`BarBuilder.advance` is told the time has passed it (a
live feed calls that from a timer so a quiet market still gets its bars). An interval with
no trade gets an empty bar (open = high = low = close = the last close, volume 0), so
strategies that count bars count time; nothing is produced before a symbol's first trade.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

INTERVALS = {"1s": 10**9, "1m": 60 * 10**9}
DEFAULT_INTERVALS = ("1s", "1m")


class _Open:
    __slots__ = ("start", "open", "high", "low", "close", "volume", "trades")

    def __init__(self, start: int, price: float) -> None:
        self.start = start
        self.open = self.high = self.low = self.close = price
        self.volume = 0.0
        self.trades = 0


class BarBuilder:
    def __init__(self, intervals: Iterable[str] = DEFAULT_INTERVALS) -> None:
        unknown = [i for i in intervals if i not in INTERVALS]
        if unknown:
            raise ValueError(f"unknown bar interval(s) {unknown}: use {', '.join(INTERVALS)}")
        self.intervals = [(name, INTERVALS[name]) for name in intervals]
        self._bars: dict[tuple[str, str], _Open] = {}
        self._next_close = float("inf")  # earliest close time of an open bar: advance() is free before it

    def add(self, symbol: str, ts: int, price: float, size: float) -> list[dict[str, Any]]:
        """Account one trade (in time order); returns the bars it closed, of any symbol, oldest first."""
        closed = self.advance(ts)
        for name, length in self.intervals:
            bar = self._bars.get((symbol, name))
            if bar is None:
                bar = self._bars[(symbol, name)] = _Open(ts - ts % length, price)
                self._next_close = min(self._next_close, bar.start + length)
            if bar.trades == 0:
                bar.open = bar.high = bar.low = price
            bar.high = max(bar.high, price)
            bar.low = min(bar.low, price)
            bar.close = price
            bar.volume += size
            bar.trades += 1
        return closed

    def advance(self, now: int) -> list[dict[str, Any]]:
        """Close every bar whose close time is <= NOW (oldest first)."""
        if now < self._next_close:
            return []
        closed: list[dict[str, Any]] = []
        for (sym, name), bar in self._bars.items():
            length = INTERVALS[name]
            while bar.start + length <= now:
                closed.append(_record(sym, name, bar, bar.start + length))
                bar.start += length
                bar.open = bar.high = bar.low = bar.close
                bar.volume, bar.trades = 0.0, 0
        self._next_close = min((b.start + INTERVALS[n] for (_, n), b in self._bars.items()), default=float("inf"))
        closed.sort(key=lambda r: r["ts"])
        return closed

    def flush(self) -> list[dict[str, Any]]:
        """Close the bars still open (end of data): only those with at least one trade."""
        out = [_record(sym, name, bar, bar.start + INTERVALS[name]) for (sym, name), bar in self._bars.items()]
        self._bars.clear()
        self._next_close = float("inf")
        return sorted((r for r in out if r["trades"]), key=lambda r: r["ts"])


def _record(symbol: str, interval: str, bar: _Open, close_ts: int) -> dict[str, Any]:
    return {
        "type": "bar",
        "symbol": symbol,
        "ts": close_ts,
        "interval": interval,
        "open": bar.open,
        "high": bar.high,
        "low": bar.low,
        "close": bar.close,
        "volume": round(bar.volume, 12),
        "trades": bar.trades,
    }


def with_bars(records: Iterable[dict[str, Any]], intervals: Iterable[str] = DEFAULT_INTERVALS) -> Iterator[dict]:
    """Time-ordered RECORDS plus bars built from their trades, each bar just before the first later record."""
    builder = BarBuilder(intervals)
    for rec in records:
        yield from builder.advance(rec["ts"])
        if rec["type"] == "trade":
            builder.add(rec["symbol"], rec["ts"], rec["price"], rec["size"])
        yield rec
    yield from builder.flush()


def symbols_without_bars(records: Iterable[dict[str, Any]]) -> set[str]:
    """Symbols that have trades but no bar at all: the data to build bars for."""
    traded, barred = set(), set()
    for rec in records:
        if rec["type"] == "trade":
            traded.add(rec["symbol"])
        elif rec["type"] == "bar":
            barred.add(rec["symbol"])
    return traded - barred


def add_bars(records: list[dict[str, Any]], intervals: Iterable[str] = DEFAULT_INTERVALS) -> list[dict[str, Any]]:
    """Bars for the symbols that have trades and no bars; records untouched when every symbol has bars."""
    missing = symbols_without_bars(records)
    if not missing:
        return records
    builder = BarBuilder(intervals)
    out: list[dict[str, Any]] = []
    for rec in records:
        out.extend(builder.advance(rec["ts"]))
        if rec["type"] == "trade" and rec["symbol"] in missing:
            builder.add(rec["symbol"], rec["ts"], rec["price"], rec["size"])
        out.append(rec)
    out.extend(builder.flush())
    return out
