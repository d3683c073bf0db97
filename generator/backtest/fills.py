"""The fill model: signals set target positions, filled against the next quote (or trade) after a latency.

Stated in full in docs/backtest.md. In short, for a signal decided at data time t on symbol S:

* target: ``buy`` -> +q, ``sell`` -> -q (``long-short``) or 0 (``long-only``), ``flat`` -> 0, where
  q is the signal's ``size`` or else ``strength x unit``; then capped to ``max_position`` units
  and to ``max_notional`` (|target| x fill price);
* the order for ``target - position`` fills completely at the first quote of S stamped strictly
  after ``t + latency`` (buy at the ask, sell at the bid: a marketable order, taker fee), or,
  for symbols without quotes, at the first trade after it (at the trade price; maker fee when
  that trade's aggressor was on the other side, so the order would have rested, else taker);
* slippage moves the price against the order by ``slippage`` bps; fees are bps of the notional;
* no partial fills, no queue position, no market impact, no funding or borrow costs; all
  symbols are valued in one currency; a signal with no later price is not filled.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

MODES = ("long-only", "long-short")


@dataclass(frozen=True)
class FillOptions:
    mode: str = "long-only"
    unit: float = 1.0
    latency_ns: int = 0
    fee_maker_bps: float = 0.0
    fee_taker_bps: float = 0.0
    slippage_bps: float = 0.0
    max_position: float | None = None
    max_notional: float | None = None
    capital: float = 100_000.0


@dataclass
class Fill:
    ts: int  # the quote/trade it filled against
    symbol: str
    qty: float  # signed: + bought, - sold
    price: float
    fee: float
    liquidity: str  # "taker" | "maker"
    position: float  # after the fill
    signal_ts: int
    reason: str = ""

    @property
    def notional(self) -> float:
        return abs(self.qty) * self.price


@dataclass
class RoundTrip:
    symbol: str
    opened: int
    closed: int
    side: str  # "long" | "short"
    pnl: float  # realised, after fees


@dataclass
class _Book:
    """Per symbol: price events in time order."""

    ts: list[int] = field(default_factory=list)
    bid: list[float] = field(default_factory=list)  # quotes: bid/ask; trades: price/price
    ask: list[float] = field(default_factory=list)
    side: list[str] = field(default_factory=list)  # trades: aggressor side
    quotes: bool = False


@dataclass
class _Position:
    qty: float = 0.0
    avg: float = 0.0
    opened: int = 0
    pnl: float = 0.0  # realised + fees of the open round trip


@dataclass
class FillResult:
    fills: list[Fill]
    round_trips: list[RoundTrip]
    unfilled: list[dict[str, Any]]
    positions: dict[str, float]


def price_books(records: Sequence[dict[str, Any]]) -> dict[str, _Book]:
    """Quotes per symbol; trades only for symbols that have no quote at all."""
    quoted = {r["symbol"] for r in records if r["type"] == "quote"}
    books: dict[str, _Book] = {}
    for r in records:
        kind, sym = r["type"], r["symbol"]
        if kind == "quote" or (kind == "trade" and sym not in quoted):
            book = books.get(sym)
            if book is None:
                book = books[sym] = _Book(quotes=sym in quoted)
            book.ts.append(r["ts"])
            if kind == "quote":
                book.bid.append(r["bid"])
                book.ask.append(r["ask"])
                book.side.append("")
            else:
                book.bid.append(r["price"])
                book.ask.append(r["price"])
                book.side.append(r.get("side", ""))
    return books


def target_of(signal: dict[str, Any], opts: FillOptions) -> float:
    qty = signal["size"] if signal.get("size") is not None else signal["strength"] * opts.unit
    side = signal["side"]
    if side == "buy":
        target = qty
    elif side == "sell":
        target = -qty if opts.mode == "long-short" else 0.0
    else:
        target = 0.0
    if opts.max_position is not None:
        target = max(-opts.max_position, min(opts.max_position, target))
    return target


def simulate(signals: Sequence[dict[str, Any]], books: dict[str, _Book], opts: FillOptions) -> FillResult:
    """Fill SIGNALS (in decision-time order) against BOOKS; returns fills, round trips, the unfilled."""
    if opts.mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    orders = []
    for n, sig in enumerate(signals):
        book = books.get(sig["symbol"])
        i = bisect_right(book.ts, sig["ts"] + opts.latency_ns) if book else 0
        if book is None or i >= len(book.ts):
            why = "no price for this symbol in the data" if book is None else "no price after the signal"
            orders.append((None, n, sig, why))
        else:
            orders.append((book.ts[i], n, sig, i))
    orders.sort(key=lambda o: (o[0] is None, o[0] or 0, o[1]))
    fills: list[Fill] = []
    trips: list[RoundTrip] = []
    unfilled: list[dict[str, Any]] = []
    positions: dict[str, _Position] = {}
    for ts, _, sig, where in orders:
        if ts is None:
            unfilled.append({**sig, "why": where})
            continue
        pos = positions.setdefault(sig["symbol"], _Position())
        fill = _fill(sig, books[sig["symbol"]], where, pos, opts)
        if fill is not None:
            fills.append(fill)
            trips += _account(pos, fill)
    return FillResult(fills, trips, unfilled, {s: p.qty for s, p in positions.items()})


def _fill(sig: dict[str, Any], book: _Book, i: int, pos: _Position, opts: FillOptions) -> Fill | None:
    target = target_of(sig, opts)
    buying = target > pos.qty
    price = book.ask[i] if buying else book.bid[i]
    slip = opts.slippage_bps / 1e4
    price *= 1 + slip if buying else 1 - slip
    if opts.max_notional is not None and abs(target) * price > opts.max_notional:
        target = (1 if target > 0 else -1) * opts.max_notional / price
    qty = target - pos.qty
    if abs(qty) < 1e-12:
        return None
    maker = not book.quotes and book.side[i] == ("sell" if qty > 0 else "buy")
    fee = abs(qty) * price * (opts.fee_maker_bps if maker else opts.fee_taker_bps) / 1e4
    return Fill(
        book.ts[i],
        sig["symbol"],
        qty,
        price,
        fee,
        "maker" if maker else "taker",
        target,
        sig["ts"],
        sig.get("reason", ""),
    )


def _account(pos: _Position, fill: Fill) -> list[RoundTrip]:
    """Average-cost accounting; a round trip ends when the position returns to zero or flips."""
    closed: list[RoundTrip] = []
    qty, price = fill.qty, fill.price
    pos.pnl -= fill.fee
    if pos.qty == 0:
        pos.opened = fill.ts
    if pos.qty != 0 and (pos.qty > 0) != (qty > 0):  # reducing, closing or flipping
        reduce = min(abs(qty), abs(pos.qty))
        pos.pnl += reduce * (price - pos.avg) * (1 if pos.qty > 0 else -1)
        remaining = pos.qty + qty
        if abs(remaining) < 1e-12 or (remaining > 0) != (pos.qty > 0):
            closed.append(RoundTrip(fill.symbol, pos.opened, fill.ts, "long" if pos.qty > 0 else "short", pos.pnl))
            pos.pnl, pos.opened = 0.0, fill.ts
            pos.avg = price
            pos.qty = 0.0 if abs(remaining) < 1e-12 else remaining
            return closed
        pos.qty = remaining
        return closed
    total = pos.qty + qty
    pos.avg = (pos.avg * abs(pos.qty) + price * abs(qty)) / abs(total)
    pos.qty = total
    return closed
