"""The exchanges the live feed speaks, each a thin profile over its ccxt.pro class.

ccxt does the protocol work (websocket subscribe messages, parsing, market lists, REST); a
profile says which ccxt calls give trades and top of book, how to point the class at another
endpoint (``--endpoint``: tests, testnets, proxies), how to recover missed trades from REST,
and how to recognise the raw frames the exchange sends, so that malformed or unknown ones are
counted instead of silently lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import ccxt.pro as ccxtpro


class UnknownSymbol(ValueError):
    """A symbol the exchange does not list."""


def ws_base(http_base: str) -> str:
    parts = urlsplit(http_base)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}"


class Venue:
    name = ""
    ccxt_class: Any = None
    options: dict[str, Any] = {}

    def make(
        self,
        endpoint: str | None,
        ws_endpoint: str | None,
        tap: Callable[[Any], None],
        bad: Callable[[str, str], None],
        connected: Callable[[], None],
    ) -> Any:
        """A ccxt.pro exchange whose raw frames go through ``tap``, whose failures reach ``bad``, and
        that calls ``connected`` for every new websocket connection (ccxt reconnects on its own too)."""
        tapped = _tapped(self.ccxt_class, tap, bad, connected)
        # ccxt keeps the last ``tradesLimit`` trades per symbol between two reads; a burst larger than
        # that between reads would be a gap, so keep plenty
        options = {"tradesLimit": 10_000, **self.options}
        exchange = tapped({"options": options, "enableRateLimit": True})
        if endpoint or ws_endpoint:
            rest = (endpoint or "").rstrip("/")
            self.point_at(exchange, rest, (ws_endpoint or self.default_ws(rest)).rstrip("/"))
        return exchange

    def point_at(self, exchange: Any, rest: str, ws: str) -> None:
        """Use REST base URL ``rest`` (kept as is when empty) and websocket URL ``ws``."""
        raise NotImplementedError

    def default_ws(self, rest: str) -> str:
        """The websocket URL a stand-in or proxy serving REST at ``rest`` would use."""
        raise NotImplementedError

    async def watch_trades(self, exchange: Any, symbols: list[str]) -> list[dict[str, Any]]:
        return await exchange.watch_trades_for_symbols(symbols)

    async def watch_quotes(self, exchange: Any, symbols: list[str]) -> list[dict[str, Any]]:
        raise NotImplementedError

    async def recent_trades(self, exchange: Any, symbol: str) -> list[dict[str, Any]]:
        """The exchange's REST snapshot of recent trades (oldest first), to fill a gap."""
        raise NotImplementedError

    def quote_fields(self, ticker: dict[str, Any]) -> dict[str, Any]:
        """Exchange time and update id of a top-of-book update (what ccxt does not unify)."""
        ts = ticker.get("timestamp")
        fields: dict[str, Any] = {"ts": int(ts) * 1_000_000} if ts else {"ts": time.time_ns(), "ts_source": "local"}
        return fields

    def classify(self, frame: Any) -> str:
        """'data', 'control', or the name of an unknown kind (counted and logged once)."""
        raise NotImplementedError

    def sequence(self, frame: Any) -> int | None:
        """The connection-wide message sequence number, where the exchange sends one."""
        return None


class Binance(Venue):
    """Binance spot: ``<symbol>@trade`` and ``<symbol>@bookTicker`` streams; ``/api/v3/trades`` for gaps."""

    name = "binance"
    ccxt_class = ccxtpro.binance
    # spot only: market list from /api/v3/exchangeInfo and nothing that needs an API key
    options = {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False}

    def point_at(self, exchange: Any, rest: str, ws: str) -> None:
        if rest:
            exchange.urls["api"]["public"] = rest + "/api/v3"
        exchange.urls["api"]["ws"]["spot"] = ws

    def default_ws(self, rest: str) -> str:
        return ws_base(rest) + "/ws"

    async def watch_quotes(self, exchange: Any, symbols: list[str]) -> list[dict[str, Any]]:
        return list((await exchange.watch_bids_asks(symbols)).values())

    async def recent_trades(self, exchange: Any, symbol: str) -> list[dict[str, Any]]:
        return await exchange.fetch_trades(symbol, limit=1000, params={"fetchTradesMethod": "publicGetTrades"})

    def quote_fields(self, ticker: dict[str, Any]) -> dict[str, Any]:
        fields = super().quote_fields(ticker)  # bookTicker carries no time: local receive time
        update_id = (ticker.get("info") or {}).get("u")
        if isinstance(update_id, int):
            fields["update_id"] = update_id
        return fields

    def classify(self, frame: Any) -> str:
        if not isinstance(frame, dict):
            return f"non-object frame ({type(frame).__name__})"
        if frame.get("e") == "trade" or {"u", "s", "b", "a"} <= frame.keys():
            return "data"
        if "result" in frame and "id" in frame:
            return "control"
        return f"event {frame.get('e')!r}" if "e" in frame else f"frame with keys {sorted(frame)[:6]}"


class Coinbase(Venue):
    """Coinbase Advanced Trade: ``market_trades`` and ``ticker`` channels; products' ``ticker`` REST for gaps."""

    name = "coinbase"
    ccxt_class = ccxtpro.coinbase
    options: dict[str, Any] = {}

    def point_at(self, exchange: Any, rest: str, ws: str) -> None:
        if rest:
            exchange.urls["api"]["rest"] = rest
        exchange.urls["api"]["ws"] = ws

    def default_ws(self, rest: str) -> str:
        return ws_base(rest) + "/"

    async def watch_quotes(self, exchange: Any, symbols: list[str]) -> list[dict[str, Any]]:
        # watch_tickers subscribes to ticker_batch (every 5 s); the ticker channel is real time
        return [await exchange.subscribe_multiple("ticker", False, symbols)]

    async def recent_trades(self, exchange: Any, symbol: str) -> list[dict[str, Any]]:
        return await exchange.fetch_trades(symbol, limit=1000)

    def classify(self, frame: Any) -> str:
        if not isinstance(frame, dict):
            return f"non-object frame ({type(frame).__name__})"
        channel = frame.get("channel")
        if channel in ("market_trades", "ticker"):
            return "data"
        if channel in ("subscriptions", "heartbeats"):
            return "control"
        return f"channel {channel!r}" if channel else f"frame with keys {sorted(frame)[:6]}"

    def sequence(self, frame: Any) -> int | None:
        seq = frame.get("sequence_num") if isinstance(frame, dict) else None
        return seq if isinstance(seq, int) else None


VENUES: dict[str, type[Venue]] = {"binance": Binance, "coinbase": Coinbase}


def resolve_symbols(exchange: Any, venue: str, wanted: list[str]) -> dict[str, str]:
    """Map the user's symbols (``BTC-USDT``, or the exchange's id ``BTCUSDT``) to ccxt symbols.

    Returns {ccxt symbol: BASE-QUOTE}; UnknownSymbol names what the exchange does not list.
    """
    out: dict[str, str] = {}
    unknown = []
    for raw in wanted:
        candidates = [raw.replace("-", "/"), raw]
        market = next((exchange.markets[c] for c in candidates if c in exchange.markets), None)
        if market is None:
            by_id = exchange.markets_by_id.get(raw) or []
            market = next((m for m in by_id if m.get("spot")), None)
        if market is None or not market.get("spot", True):
            unknown.append(raw)
            continue
        out[market["symbol"]] = f"{market['base']}-{market['quote']}"
    if unknown:
        listed = sorted(f"{m['base']}-{m['quote']}" for m in exchange.markets.values() if m.get("spot"))
        sample = ", ".join(listed[:8]) + (" ..." if len(listed) > 8 else "")
        raise UnknownSymbol(f"{venue} does not list {', '.join(unknown)} as a spot market (it lists {sample})")
    return out


def _tapped(
    cls: Any, tap: Callable[[Any], None], bad: Callable[[str, str], None], connected: Callable[[], None]
) -> Any:
    """A subclass of a ccxt.pro exchange that shows every raw frame to ``tap`` and never lets one
    bad frame stop the connection's receive loop (ccxt would otherwise stall the stream)."""

    class Tapped(cls):  # type: ignore[misc, valid-type]
        def handle_message(self, client: Any, message: Any) -> None:
            tap(message)
            try:
                super().handle_message(client, message)
            except Exception as exc:  # one bad frame must not stop the stream
                bad(f"rejected by the parser ({type(exc).__name__})", str(exc)[:200])

        def client(self, url: str) -> Any:
            client = super().client(url)
            if not getattr(client, "_stratops_guarded", False):
                connected()
                decode = client.handle_text_or_binary_message

                def guarded(data: Any) -> None:
                    try:
                        decode(data)
                    except ValueError as exc:  # json/orjson decode errors
                        bad("undecodable frame", str(exc)[:200])

                client.handle_text_or_binary_message = guarded
                _keep_unawaited_results(client)
                client._stratops_guarded = True
            return client

    Tapped.__name__ = f"Tapped{cls.__name__}"
    return Tapped


def _keep_unawaited_results(client: Any) -> None:
    """Hand a result that arrived while nobody was waiting to the next waiter at once.

    ccxt drops a resolution when no future is pending for its message hash: an update that
    lands while the adapter is busy with the previous one would wait for the *next* message on
    that symbol (seconds, on a quiet market). Keeping it makes the next ``watch_*`` return now.
    """
    kept: dict[str, Any] = {}
    resolve, future = client.resolve, client.future

    def keeping_resolve(result: Any, message_hash: str | None) -> Any:
        if message_hash is not None and message_hash not in client.futures:
            kept[message_hash] = result
            return result
        return resolve(result, message_hash)

    def kept_future(message_hash: str) -> Any:
        fut = future(message_hash)
        if message_hash in kept and not fut.done():
            resolve(kept.pop(message_hash), message_hash)
        return fut

    client.resolve, client.future = keeping_resolve, kept_future
