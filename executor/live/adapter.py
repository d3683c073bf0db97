"""One exchange's public market data -> the wire format: trades, top of book, and bars built from trades.

Each stream (trades, quotes) runs its own ccxt.pro connection in one asyncio loop:

* **Reconnect** after any error with exponential backoff and jitter (0.5 s doubling to 30 s,
  each delay drawn in [d/2, d]) so many feeds do not reconnect in lockstep.
* **Stale streams**: no frame (data, control or ping answer) for ``stale`` seconds closes the
  connection and reconnects; an exchange that keeps the socket open but stops sending is not
  mistaken for a quiet market for long.
* **Exchange-side gaps**: trade ids are consecutive per symbol on both exchanges; a jump is a
  gap, filled from the exchange's REST list of recent trades when it still has them (counted
  either way). Coinbase also numbers every frame on a connection (``sequence_num``); a jump
  there is counted as a gap too. Ids already published (REST overlap, replays after a
  reconnect) are dropped.
* **Bad frames** (undecodable, unknown kinds, ones ccxt's parser rejects) are counted per
  reason and logged the first time each reason is seen; they never stop the feed.

The payload's ``ts`` is the exchange's event time; the wire header carries the publish time.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from executor import wire
from executor.bars import DEFAULT_INTERVALS, BarBuilder
from executor.feed import Publisher
from executor.live.metrics import FeedMetrics
from executor.live.venues import VENUES, UnknownSymbol, Venue, resolve_symbols

log = logging.getLogger("executor.live")
CLOSE_TIMEOUT = 2.0  # a dead peer must not hold a reconnect up
BAR_GRACE_NS = 250_000_000  # a bar closes this long after its close time (late trades still count)


@dataclass
class LiveOptions:
    venue: str
    symbols: list[str]
    endpoint: str | None = None  # REST base URL
    ws_endpoint: str | None = None  # websocket URL (default: derived from endpoint)
    kinds: tuple[str, ...] = ("trades", "quotes", "bars")
    stale: float = 10.0
    heartbeat: float = 1.0
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    bar_intervals: tuple[str, ...] = DEFAULT_INTERVALS


class Backoff:
    """Exponential backoff with 'equal jitter': delay d = min(cap, base * 2^n), slept as U(d/2, d)."""

    def __init__(self, base: float, cap: float, rng: random.Random | None = None) -> None:
        self.base, self.cap, self.attempt = base, cap, 0
        self.rng = rng or random.Random()

    def next(self) -> float:
        delay = min(self.cap, self.base * 2**self.attempt)
        self.attempt += 1
        return delay / 2 + self.rng.random() * delay / 2

    def reset(self) -> None:
        self.attempt = 0


class LiveFeed:
    def __init__(
        self,
        opts: LiveOptions,
        publisher: Publisher,
        metrics: FeedMetrics | None = None,
        record: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        if opts.venue not in VENUES:
            raise ValueError(f"unknown source {opts.venue!r}: use one of {', '.join(VENUES)}")
        self.opts = opts
        self.venue: Venue = VENUES[opts.venue]()
        self.pub = publisher
        self.metrics = metrics or FeedMetrics()
        self.record = record
        self.stop = asyncio.Event()
        self.names: dict[str, str] = {}  # ccxt symbol -> BASE-QUOTE
        self.bars = BarBuilder(opts.bar_intervals) if "bars" in opts.kinds else None
        self._markets: tuple[Any, Any] | None = None
        self._last_trade: dict[str, int] = {}
        self._last_update: dict[str, int] = {}
        self._bad_seen: set[str] = set()
        self._topics: dict[tuple[str, str], bytes] = {}
        self._kind_series: dict[str, tuple[Any, Any]] = {}
        self._closing: set[asyncio.Future[None]] = set()
        self.ready = asyncio.Event()  # set once the first connection is up (tests, benchmarks)

    # -- lifecycle -------------------------------------------------------------------
    async def run(self) -> None:
        """Until ``stop`` is set. UnknownSymbol (a user error) propagates; nothing else does."""
        await self._resolve()
        tasks = [asyncio.ensure_future(self._stream(kind)) for kind in ("trades", "quotes") if self._wants(kind)]
        tasks.append(asyncio.ensure_future(self._clock()))
        try:
            await self.stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, *self._closing, return_exceptions=True)

    def _wants(self, kind: str) -> bool:
        return kind in self.opts.kinds or (kind == "trades" and "bars" in self.opts.kinds)

    async def _resolve(self) -> None:
        """Load the market list once (retrying like a stream) and map the symbols; later connections reuse it."""
        backoff = Backoff(self.opts.backoff_base, self.opts.backoff_cap)
        while True:
            exchange = self._exchange("trades", {})
            try:
                await exchange.load_markets()  # REST only: no websocket connection yet
                self.names = resolve_symbols(exchange, self.venue.name, self.opts.symbols)
                self._markets = (exchange.markets, exchange.currencies)
                return
            except UnknownSymbol:
                raise
            except Exception as exc:
                log.warning("%s: cannot load the market list: %s", self.venue.name, exc)
                await asyncio.sleep(backoff.next())
            finally:
                await _close(exchange)

    def _exchange(self, kind: str, seqs: dict[str, int]) -> Any:
        venue = self.venue

        frames = self.metrics.frames.labels(venue.name)

        def tap(frame: Any) -> None:
            frames.inc()
            what = venue.classify(frame)
            if what not in ("data", "control"):
                self._bad(f"unknown {what}", repr(frame)[:200])
            seq = venue.sequence(frame)
            if seq is not None:
                last = seqs.get("last")
                if last is not None and seq > last + 1:
                    self.metrics.gaps.labels(venue.name, kind).inc()
                    self.metrics.missed.labels(venue.name).inc(seq - last - 1)
                    log.warning("%s %s: connection sequence jumped %d -> %d", venue.name, kind, last, seq)
                seqs["last"] = seq

        def connected() -> None:
            seqs.pop("last", None)  # a new connection numbers its frames afresh
            if seqs.get("connections", 0):
                self.metrics.reconnects.labels(venue.name).inc()
            seqs["connections"] = seqs.get("connections", 0) + 1

        exchange = venue.make(self.opts.endpoint, self.opts.ws_endpoint, tap, self._bad, connected)
        if self._markets is not None:
            exchange.set_markets(*self._markets)
        return exchange

    # -- streams ---------------------------------------------------------------------
    async def _stream(self, kind: str) -> None:
        backoff = Backoff(self.opts.backoff_base, self.opts.backoff_cap)
        watch = self.venue.watch_trades if kind == "trades" else self.venue.watch_quotes
        symbols = list(self.names)
        exchange, state = None, {}  # state: connection count and sequence, across exchange objects
        while not self.stop.is_set():
            if exchange is None:
                exchange = self._exchange(kind, state)
            try:
                batch = await _within(watch(exchange, symbols), self.opts.stale)
            except TimeoutError:
                self.metrics.stale.labels(self.venue.name).inc()
                log.warning("%s %s: no frame for %gs; reconnecting", self.venue.name, kind, self.opts.stale)
                exchange = self._retire(exchange)
                continue
            except asyncio.CancelledError:
                await _close(exchange)
                raise
            except Exception as exc:
                delay = backoff.next()
                log.warning("%s %s: %s; reconnecting in %.2fs", self.venue.name, kind, exc, delay)
                exchange = self._retire(exchange)
                await asyncio.sleep(delay)
                continue
            backoff.reset()
            self.ready.set()
            if kind == "trades":
                await self._on_trades(exchange, batch)
            else:
                self._on_quotes(batch)

    def _retire(self, exchange: Any) -> None:
        """Close a connection in the background: a dead peer must not hold the reconnect up."""
        task = asyncio.ensure_future(_close(exchange))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _clock(self) -> None:
        """Heartbeats for idle topics; bars closed by time for quiet markets."""
        interval = min(0.25, self.opts.heartbeat / 2)
        while not self.stop.is_set():
            await asyncio.sleep(interval)
            self.pub.send_heartbeats()
            if self.bars is not None:
                for bar in self.bars.advance(time.time_ns() - BAR_GRACE_NS):
                    self._publish("bars", bar)

    # -- normalisation ---------------------------------------------------------------
    async def _on_trades(self, exchange: Any, trades: list[dict[str, Any]]) -> None:
        for trade in sorted(trades, key=_trade_id):
            symbol, tid = self.names.get(trade.get("symbol", "")), _trade_id(trade)
            if symbol is None or tid < 0 or not trade.get("timestamp"):
                self._bad("trade without symbol, numeric id or time", repr(trade.get("info"))[:200])
                continue
            last = self._last_trade.get(symbol)
            if last is not None and tid <= last:
                self.metrics.duplicates.labels(self.venue.name).inc()
                continue
            if last is not None and tid > last + 1:
                await self._fill_gap(exchange, trade["symbol"], symbol, last, tid)
            self._publish_trade(symbol, tid, trade)

    async def _fill_gap(self, exchange: Any, ccxt_symbol: str, symbol: str, last: int, tid: int) -> None:
        name = self.venue.name
        self.metrics.gaps.labels(name, "trades").inc()
        self.metrics.missed.labels(name).inc(tid - last - 1)
        try:
            recent = await self.venue.recent_trades(exchange, ccxt_symbol)
        except Exception as exc:
            log.warning("%s %s: trades %d..%d missed; REST resync failed: %s", name, symbol, last + 1, tid - 1, exc)
            return
        # by id: REST lists come ordered by time, and trades in one millisecond may come in any order
        found = sorted((t for t in recent if last < _trade_id(t) < tid and t.get("timestamp")), key=_trade_id)
        for trade in found:
            self._publish_trade(symbol, _trade_id(trade), trade, live=False)
        self.metrics.resynced.labels(name).inc(len(found))
        log.warning(
            "%s %s: trades %d..%d missed on the stream; %d recovered from REST",
            name,
            symbol,
            last + 1,
            tid - 1,
            len(found),
        )

    def _publish_trade(self, symbol: str, tid: int, trade: dict[str, Any], live: bool = True) -> None:
        self._last_trade[symbol] = tid
        ts = int(trade["timestamp"]) * 1_000_000
        price, size = float(trade["price"]), float(trade["amount"])
        record = {"type": "trade", "symbol": symbol, "ts": ts, "price": price, "size": size, "id": str(tid)}
        if trade.get("side") in ("buy", "sell"):
            record["side"] = trade["side"]
        if "trades" in self.opts.kinds:
            self._publish("trades", record, live)
        if self.bars is not None:
            for bar in self.bars.add(symbol, ts, price, size):
                self._publish("bars", bar)

    def _on_quotes(self, tickers: list[dict[str, Any]]) -> None:
        for ticker in tickers:
            symbol = self.names.get(ticker.get("symbol", ""))
            values = [ticker.get(k) for k in ("bid", "bidVolume", "ask", "askVolume")]
            if symbol is None or any(not isinstance(v, int | float) for v in values):
                self._bad("quote without symbol, bid or ask", repr(ticker.get("info"))[:200])
                continue
            fields = self.venue.quote_fields(ticker)
            update_id = fields.get("update_id")
            if update_id is not None:
                if update_id <= self._last_update.get(symbol, -1):
                    self.metrics.duplicates.labels(self.venue.name).inc()
                    continue
                self._last_update[symbol] = update_id
            bid, bid_size, ask, ask_size = (float(v) for v in values)
            record = {"type": "quote", "symbol": symbol, "bid": bid, "bid_size": bid_size, "ask": ask}
            self._publish("quotes", {**record, "ask_size": ask_size, **fields})

    def _publish(self, kind: str, record: dict[str, Any], live: bool = True) -> None:
        """``live``: arrived on the stream (REST-recovered events would skew the latency figure)."""
        name, symbol = self.venue.name, record["symbol"]
        topic = self._topics.get((kind, symbol))
        if topic is None:
            topic = self._topics[(kind, symbol)] = wire.topic_for(kind, name, symbol)
        payload = {k: v for k, v in record.items() if k != "type"}
        payload["venue"] = name
        feed_ts = self.pub.publish(topic, wire.TYPE_OF_KIND[kind], payload)
        published, latency = self._series(kind)
        published.inc()
        if live:
            latency.observe(max(0, feed_ts - record["ts"]) / 1e9)
        if self.record is not None:
            self.record({**record, "venue": name})

    def _series(self, kind: str) -> tuple[Any, Any]:
        """The labelled counter and histogram of a kind (labels() costs a lock and a dict walk per call)."""
        series = self._kind_series.get(kind)
        if series is None:
            m, name = self.metrics, self.venue.name
            series = self._kind_series[kind] = (m.published.labels(name, kind), m.latency.labels(name, kind))
        return series

    def _bad(self, reason: str, sample: str) -> None:
        self.metrics.bad.labels(self.venue.name, reason).inc()
        if reason not in self._bad_seen:
            self._bad_seen.add(reason)
            log.warning("%s: dropped a frame (%s), e.g. %s; counted from now on", self.venue.name, reason, sample)


async def _within(coro: Any, timeout: float) -> Any:
    """Like asyncio.wait_for, but gives up without waiting for the cancelled call to unwind
    (a ccxt call stuck connecting to a dead peer may take its own connect timeout to do so)."""
    task = asyncio.ensure_future(coro)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # retrieve, never raise later
        raise TimeoutError
    return task.result()


def _trade_id(trade: dict[str, Any]) -> int:
    try:
        return int(trade.get("id"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return -1


async def _close(exchange: Any) -> None:
    if exchange is not None:
        try:
            await asyncio.wait_for(exchange.close(), CLOSE_TIMEOUT)
        except Exception as exc:  # closing a broken connection may fail; the next one is new anyway
            log.debug("closing the exchange connection: %s", exc)
    return None
