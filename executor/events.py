"""Typed market events handed to strategy handlers.

Every event carries three clocks, all integer nanoseconds since the Unix epoch:

* ``exchange_ts`` - when the exchange (or the recording) stamped the event,
* ``feed_ts``     - when the feed published it (wire header timestamp),
* ``receive_ts``  - when this executor took it off the socket.

``venue`` names the exchange (``binance``, ``coinbase``) or ``sample`` for replayed data that names
none. ``snapshot`` is true for a last value the feed's cache replayed to this executor when it
joined (wire flag SNAPSHOT), false for live events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from executor.wire import DEFAULT_VENUE


@dataclass(slots=True)
class Trade:
    symbol: str
    price: float
    size: float
    side: str  # "buy" | "sell" | "" (aggressor side, if known)
    exchange_ts: int
    feed_ts: int = 0
    receive_ts: int = 0
    trade_id: str = ""
    seq: int = 0
    venue: str = ""
    snapshot: bool = False


@dataclass(slots=True)
class Quote:
    symbol: str
    bid: float
    bid_size: float
    ask: float
    ask_size: float
    exchange_ts: int
    feed_ts: int = 0
    receive_ts: int = 0
    seq: int = 0
    venue: str = ""
    snapshot: bool = False

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) / 2.0

    @property
    def spread(self) -> float:
        return self.ask - self.bid


@dataclass(slots=True)
class Bar:
    symbol: str
    interval: str  # "1s" | "1m" | ...
    open: float
    high: float
    low: float
    close: float
    volume: float
    exchange_ts: int  # bar close time
    feed_ts: int = 0
    receive_ts: int = 0
    seq: int = 0
    venue: str = ""
    snapshot: bool = False


Event = Trade | Quote | Bar

KIND_OF = {Trade: "trades", Quote: "quotes", Bar: "bars"}


def trade_from(p: dict[str, Any], feed_ts: int, receive_ts: int, seq: int) -> Trade:
    return Trade(
        p["symbol"],
        p["price"],
        p["size"],
        p.get("side", ""),
        p["ts"],
        feed_ts,
        receive_ts,
        str(p.get("id", "")),
        seq,
        p.get("venue", DEFAULT_VENUE),
    )


def quote_from(p: dict[str, Any], feed_ts: int, receive_ts: int, seq: int) -> Quote:
    return Quote(
        p["symbol"],
        p["bid"],
        p["bid_size"],
        p["ask"],
        p["ask_size"],
        p["ts"],
        feed_ts,
        receive_ts,
        seq,
        p.get("venue", DEFAULT_VENUE),
    )


def bar_from(p: dict[str, Any], feed_ts: int, receive_ts: int, seq: int) -> Bar:
    return Bar(
        p["symbol"],
        p.get("interval", ""),
        p["open"],
        p["high"],
        p["low"],
        p["close"],
        p["volume"],
        p["ts"],
        feed_ts,
        receive_ts,
        seq,
        p.get("venue", DEFAULT_VENUE),
    )
