"""Local stand-ins for Binance spot and Coinbase Advanced Trade public market data, on 127.0.0.1.

Each speaks the exchange's documented formats, for the calls the feed (through ccxt) makes:

* Binance: REST ``GET /api/v3/exchangeInfo`` (market list at start-up), ``/api/v3/trades``
  (resync after a gap), ``/api/v3/ticker/bookTicker``; websocket ``/ws/<n>`` with
  ``{"method": "SUBSCRIBE", "params": ["btcusdt@trade", "btcusdt@bookTicker"], "id": 1}``,
  then raw ``trade`` and ``bookTicker`` frames.
* Coinbase: REST ``GET /v2/currencies``, ``/v2/currencies/crypto``, ``/v2/exchange-rates`` and
  ``/api/v3/brokerage/market/products`` (currencies and market list at start-up),
  ``/api/v3/brokerage/market/products/<id>/ticker`` (recent trades, resync); websocket ``/`` with
  ``{"type": "subscribe", "channel": "market_trades"|"ticker", "product_ids": [...]}``, then
  ``market_trades`` and ``ticker`` channel messages with a per-connection ``sequence_num``.

A :class:`Scenario` injects the faults the feed must survive: dropped connections, trade ids
left out of the stream (gaps, still served by REST), malformed and unknown frames, and silence
with the connection left open (a stale stream).
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

GARBAGE = ("{not json", '{"e": "mystery", "E": 1}', "[1, 2, 3]", "plain text")


@dataclass
class Scenario:
    rate: float = 200.0  # trades/s per symbol (a quote follows each trade); 0 = as fast as possible
    total: int | None = None  # stop after this many trades per symbol (None: forever)
    drop_after: list[int] = field(default_factory=list)  # close connection k after drop_after[k] frames
    skip_ids: set[int] = field(default_factory=set)  # trade ids never sent on the websocket
    garbage_every: int = 0  # a malformed/unknown frame after every N frames
    silent_after: int | None = None  # first connection: stop sending after N frames, stay open


class _Market:
    def __init__(self, symbol: str, price: float) -> None:
        self.symbol = symbol  # BASE-QUOTE
        self.price = price
        self.next_id = 1
        self.update_id = 1000
        self.history: deque[dict[str, Any]] = deque(maxlen=2000)

    def trade(self, rng: random.Random) -> dict[str, Any]:
        self.price = round(self.price * (1 + rng.gauss(0, 0.0002)), 2)
        t = {
            "id": self.next_id,
            "price": self.price,
            "size": round(rng.uniform(0.001, 1.0), 6),
            "buy": rng.random() < 0.5,
            "ms": int(time.time() * 1000),
        }
        self.next_id += 1
        self.history.append(t)
        return t

    def quote(self) -> dict[str, Any]:
        self.update_id += 1
        return {"u": self.update_id, "bid": round(self.price - 0.5, 2), "ask": round(self.price + 0.5, 2)}


@dataclass
class _Conn:
    ws: web.WebSocketResponse
    symbols: list[str]
    channels: set[str]
    limit: int | None
    silent: int | None
    frames: int = 0


class ExchangeSim:
    """Runs in its own thread with its own event loop; ``url`` is ``http://127.0.0.1:<port>``."""

    venue = ""

    def __init__(self, symbols: list[str], scenario: Scenario | None = None, seed: int = 7) -> None:
        self.scenario = scenario or Scenario()
        self.markets = {s: _Market(s, 100.0 * (i + 1)) for i, s in enumerate(symbols)}
        self.rng = random.Random(seed)
        self.connections = 0
        self.sent_trades = 0
        self.first_sent = self.last_sent = 0.0
        self.rest_calls: list[str] = []
        self.sockets: set[web.WebSocketResponse] = set()
        self._conns: list[_Conn] = []
        self._ticker: asyncio.Future[None] | None = None
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name=f"{self.venue}-sim")
        self._runner: web.AppRunner | None = None

    # -- lifecycle -------------------------------------------------------------------
    def __enter__(self) -> ExchangeSim:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"{self.venue} simulator did not start")
        return self

    def __exit__(self, *_: Any) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        self.routes(app)
        self.stats_routes(app)
        self._runner = web.AppRunner(app)
        self.loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        self.loop.run_forever()

    async def _stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        for ws in list(self.sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def drop_all(self) -> None:
        """Close every open websocket now (as an exchange restarting its gateways would)."""

        async def close() -> None:
            for ws in list(self.sockets):
                await ws.close()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def stats_routes(self, app: web.Application) -> None:
        """``GET /_sim/stats``: what the stand-in sent (benchmarks compare the feed's rate with it)."""

        async def stats(_: web.Request) -> web.Response:
            return web.json_response({"sent": self.sent_trades, "first": self.first_sent, "last": self.last_sent})

        app.router.add_get("/_sim/stats", stats)

    # -- streaming -------------------------------------------------------------------
    def _subscribe(self, ws: web.WebSocketResponse, symbols: list[str], channels: set[str]) -> None:
        """Register a subscribed connection; one ticker task makes the market for all of them."""
        sc, conn = self.scenario, self.connections
        if not any(c.ws is ws for c in self._conns):
            self.connections += 1
            limit = sc.drop_after[conn] if conn < len(sc.drop_after) else None
            self._conns.append(_Conn(ws, symbols, channels, limit, sc.silent_after if conn == 0 else None))
        if self._ticker is None:
            self._ticker = asyncio.ensure_future(self._tick())

    async def _tick(self) -> None:
        sc = self.scenario
        interval = 1.0 / sc.rate if sc.rate else 0.0
        start, sent = time.monotonic(), 0
        while sc.total is None or sent < sc.total:
            for market in self.markets.values():
                trade, quote = market.trade(self.rng), market.quote()
                for conn in list(self._conns):
                    if market.symbol in conn.symbols:
                        await self._send(conn, market, trade, quote)
            sent += 1
            self.sent_trades += len(self.markets)
            self.first_sent = self.first_sent or time.time()
            self.last_sent = time.time()
            if interval:
                delay = start + sent * interval - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            elif sent % 16 == 0:
                await asyncio.sleep(0)

    async def _send(self, conn: _Conn, market: _Market, trade: dict[str, Any], quote: dict[str, Any]) -> None:
        sc, ws = self.scenario, conn.ws
        out = []
        if "trades" in conn.channels and trade["id"] not in sc.skip_ids:
            out.append(self.trade_frame(market, trade))
        elif "trades" in conn.channels:
            self.number(ws, {})  # lost on the way: the connection's sequence moves on
        if "quotes" in conn.channels:
            out.append(self.quote_frame(market, quote))
        try:
            for frame in out:
                if ws.closed or (conn.silent is not None and conn.frames >= conn.silent):
                    return
                if sc.garbage_every and conn.frames and conn.frames % sc.garbage_every == 0:
                    await ws.send_str(GARBAGE[(conn.frames // sc.garbage_every) % len(GARBAGE)])
                await ws.send_str(json.dumps(self.number(ws, frame)))
                conn.frames += 1
                if conn.limit is not None and conn.frames >= conn.limit:
                    await ws.close()
                    return
        except (ConnectionError, RuntimeError):
            pass  # the client went away mid-send (aiohttp raises either, depending on the moment)

    def number(self, ws: Any, frame: dict[str, Any]) -> dict[str, Any]:
        """Stamp a per-connection sequence number where the exchange has one."""
        return frame

    def trade_frame(self, market: _Market, trade: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def quote_frame(self, market: _Market, quote: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError


class BinanceSim(ExchangeSim):
    venue = "binance"

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/api/v3/exchangeInfo", self.exchange_info)
        app.router.add_get("/api/v3/trades", self.recent_trades)
        app.router.add_get("/api/v3/ticker/bookTicker", self.book_ticker)
        app.router.add_get("/ws", self.websocket)
        app.router.add_get("/ws/{n}", self.websocket)

    @staticmethod
    def market_id(symbol: str) -> str:
        return symbol.replace("-", "")

    async def exchange_info(self, request: web.Request) -> web.Response:
        self.rest_calls.append(request.path)
        symbols = []
        for sym in self.markets:
            base, quote = sym.split("-")
            symbols.append(
                {
                    "symbol": self.market_id(sym),
                    "status": "TRADING",
                    "baseAsset": base,
                    "baseAssetPrecision": 8,
                    "quoteAsset": quote,
                    "quotePrecision": 8,
                    "quoteAssetPrecision": 8,
                    "baseCommissionPrecision": 8,
                    "quoteCommissionPrecision": 8,
                    "orderTypes": ["LIMIT", "MARKET"],
                    "icebergAllowed": True,
                    "ocoAllowed": True,
                    "quoteOrderQtyMarketAllowed": True,
                    "isSpotTradingAllowed": True,
                    "isMarginTradingAllowed": False,
                    "filters": [
                        {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000", "tickSize": "0.01"},
                        {"filterType": "LOT_SIZE", "minQty": "0.00001", "maxQty": "9000", "stepSize": "0.00001"},
                    ],
                    "permissions": ["SPOT"],
                    "permissionSets": [["SPOT"]],
                    "defaultSelfTradePreventionMode": "NONE",
                    "allowedSelfTradePreventionModes": ["NONE"],
                }
            )
        now = int(time.time() * 1000)
        return web.json_response({"timezone": "UTC", "serverTime": now, "rateLimits": [], "symbols": symbols})

    def _market(self, request: web.Request) -> _Market:
        wanted = request.query.get("symbol", "")
        for sym, market in self.markets.items():
            if self.market_id(sym) == wanted:
                return market
        raise web.HTTPBadRequest(text=json.dumps({"code": -1121, "msg": "Invalid symbol."}))

    async def recent_trades(self, request: web.Request) -> web.Response:
        self.rest_calls.append(request.path)
        market = self._market(request)
        limit = int(request.query.get("limit", "500"))
        rows = list(market.history)[-limit:]
        return web.json_response(
            [
                {
                    "id": t["id"],
                    "price": f"{t['price']:.2f}",
                    "qty": f"{t['size']:.6f}",
                    "quoteQty": f"{t['price'] * t['size']:.6f}",
                    "time": t["ms"],
                    "isBuyerMaker": not t["buy"],
                    "isBestMatch": True,
                }
                for t in rows
            ]
        )

    async def book_ticker(self, request: web.Request) -> web.Response:
        self.rest_calls.append(request.path)
        market = self._market(request)
        q = market.quote()
        return web.json_response(
            {
                "symbol": self.market_id(market.symbol),
                "bidPrice": f"{q['bid']:.2f}",
                "bidQty": "1.0",
                "askPrice": f"{q['ask']:.2f}",
                "askQty": "1.0",
            }
        )

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        self.sockets.add(ws)
        symbols: list[str] = []
        channels: set[str] = set()
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            req = json.loads(msg.data)
            if req.get("method") == "SUBSCRIBE":
                for param in req.get("params", []):
                    market_id, _, stream = param.partition("@")
                    sym = next(s for s in self.markets if self.market_id(s).lower() == market_id)
                    symbols.append(sym) if sym not in symbols else None
                    channels.add({"trade": "trades", "bookTicker": "quotes"}[stream])
                await ws.send_str(json.dumps({"result": None, "id": req.get("id")}))
                self._subscribe(ws, symbols, channels)
        self._conns = [c for c in self._conns if c.ws is not ws]
        self.sockets.discard(ws)
        return ws

    def trade_frame(self, market: _Market, t: dict[str, Any]) -> dict[str, Any]:
        return {
            "e": "trade",
            "E": int(time.time() * 1000),
            "s": self.market_id(market.symbol),
            "t": t["id"],
            "p": f"{t['price']:.2f}",
            "q": f"{t['size']:.6f}",
            "T": t["ms"],
            "m": not t["buy"],
            "M": True,
        }

    def quote_frame(self, market: _Market, q: dict[str, Any]) -> dict[str, Any]:
        return {
            "u": q["u"],
            "s": self.market_id(market.symbol),
            "b": f"{q['bid']:.2f}",
            "B": "1.5",
            "a": f"{q['ask']:.2f}",
            "A": "2.5",
        }


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


class CoinbaseSim(ExchangeSim):
    venue = "coinbase"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._seq: dict[int, int] = {}

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/v2/currencies", self.fiat_currencies)
        app.router.add_get("/v2/currencies/crypto", self.crypto_currencies)
        app.router.add_get("/v2/exchange-rates", self.exchange_rates)
        app.router.add_get("/api/v3/brokerage/market/products", self.products)
        app.router.add_get("/api/v3/brokerage/market/products/{product_id}/ticker", self.ticker)
        app.router.add_get("/", self.websocket)

    def _assets(self) -> tuple[set[str], set[str]]:
        fiat = {"USD", "EUR", "GBP"}
        assets = {a for sym in self.markets for a in sym.split("-")}
        return assets & fiat, assets - fiat

    async def fiat_currencies(self, request: web.Request) -> web.Response:
        self.rest_calls.append(request.path)
        fiat, _ = self._assets()
        return web.json_response({"data": [{"id": c, "name": c, "min_size": "0.01"} for c in sorted(fiat)]})

    async def crypto_currencies(self, request: web.Request) -> web.Response:
        self.rest_calls.append(request.path)
        _, crypto = self._assets()
        rows = [
            {
                "asset_id": f"00000000-0000-0000-0000-{i:012d}",
                "code": c,
                "name": c,
                "color": "#000000",
                "sort_index": str(i),
                "exponent": "8",
                "type": "crypto",
                "address_regex": "^.+$",
            }
            for i, c in enumerate(sorted(crypto))
        ]
        return web.json_response({"data": rows})

    async def exchange_rates(self, request: web.Request) -> web.Response:
        self.rest_calls.append(request.path)
        fiat, crypto = self._assets()
        return web.json_response({"data": {"currency": "USD", "rates": dict.fromkeys(sorted(fiat | crypto), "1.0")}})

    async def products(self, request: web.Request) -> web.Response:
        self.rest_calls.append(request.path)
        products = []
        for sym, market in self.markets.items():
            base, quote = sym.split("-")
            products.append(
                {
                    "product_id": sym,
                    "price": f"{market.price:.2f}",
                    "base_increment": "0.00000001",
                    "quote_increment": "0.01",
                    "quote_min_size": "1",
                    "quote_max_size": "150000000",
                    "base_min_size": "0.00000001",
                    "base_max_size": "3400",
                    "base_name": base,
                    "quote_name": quote,
                    "status": "online",
                    "cancel_only": False,
                    "limit_only": False,
                    "post_only": False,
                    "trading_disabled": False,
                    "auction_mode": False,
                    "product_type": "SPOT",
                    "quote_currency_id": quote,
                    "base_currency_id": base,
                    "base_display_symbol": base,
                    "quote_display_symbol": quote,
                    "display_name": sym,
                    "product_venue": "CBE",
                    "price_increment": "0.01",
                    "alias": "",
                    "alias_to": [],
                }
            )
        return web.json_response({"products": products, "num_products": len(products)})

    async def ticker(self, request: web.Request) -> web.Response:
        self.rest_calls.append(request.path)
        market = self.markets.get(request.match_info["product_id"])
        if market is None:
            raise web.HTTPNotFound(text=json.dumps({"error": "NOT_FOUND", "message": "product not found"}))
        limit = int(request.query.get("limit", "100"))
        rows = list(market.history)[-limit:][::-1]  # newest first, as Coinbase answers
        q = market.quote()
        return web.json_response(
            {
                "trades": [self._trade(market, t) for t in rows],
                "best_bid": f"{q['bid']:.2f}",
                "best_ask": f"{q['ask']:.2f}",
            }
        )

    def _trade(self, market: _Market, t: dict[str, Any]) -> dict[str, Any]:
        return {
            "trade_id": str(t["id"]),
            "product_id": market.symbol,
            "price": f"{t['price']:.2f}",
            "size": f"{t['size']:.6f}",
            "side": "BUY" if t["buy"] else "SELL",
            "time": _iso(t["ms"]),
        }

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        self.sockets.add(ws)
        symbols: list[str] = []
        channels: set[str] = set()
        self._seq[id(ws)] = 0
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            req = json.loads(msg.data)
            if req.get("type") == "subscribe":
                channel = req.get("channel")
                channels.add({"market_trades": "trades", "ticker": "quotes", "ticker_batch": "quotes"}[channel])
                for pid in req.get("product_ids", []):
                    symbols.append(pid) if pid not in symbols else None
                ack = {"subscriptions": {channel: req.get("product_ids", [])}}
                await ws.send_str(json.dumps(self._envelope(ws, "subscriptions", [ack])))
                self._subscribe(ws, symbols, channels)
        self._conns = [c for c in self._conns if c.ws is not ws]
        self.sockets.discard(ws)
        return ws

    def _envelope(self, ws: Any, channel: str, events: list[dict[str, Any]]) -> dict[str, Any]:
        frame = {"channel": channel, "client_id": "", "timestamp": _iso(int(time.time() * 1000)), "events": events}
        return self.number(ws, frame)

    def number(self, ws: Any, frame: dict[str, Any]) -> dict[str, Any]:
        seq = self._seq.get(id(ws), 0)
        self._seq[id(ws)] = seq + 1
        frame["sequence_num"] = seq
        return frame

    def trade_frame(self, market: _Market, t: dict[str, Any]) -> dict[str, Any]:
        return {
            "channel": "market_trades",
            "client_id": "",
            "timestamp": _iso(int(time.time() * 1000)),
            "events": [{"type": "update", "trades": [self._trade(market, t)]}],
        }

    def quote_frame(self, market: _Market, q: dict[str, Any]) -> dict[str, Any]:
        ticker = {
            "type": "ticker",
            "product_id": market.symbol,
            "price": f"{market.price:.2f}",
            "volume_24_h": "1000",
            "low_24_h": "1",
            "high_24_h": "1000000",
            "low_52_w": "1",
            "high_52_w": "1000000",
            "price_percent_chg_24_h": "0",
            "best_bid": f"{q['bid']:.2f}",
            "best_bid_quantity": "1.5",
            "best_ask": f"{q['ask']:.2f}",
            "best_ask_quantity": "2.5",
        }
        return {
            "channel": "ticker",
            "client_id": "",
            "timestamp": _iso(int(time.time() * 1000)),
            "events": [{"type": "update", "tickers": [ticker]}],
        }


def main() -> None:
    """Run a stand-in as a process: ``python exchange_sim.py binance|coinbase SYMBOL... [--rate R] [--total N]``."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("venue", choices=["binance", "coinbase"])
    parser.add_argument("symbols", nargs="+")
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--total", type=int, default=None)
    args = parser.parse_args()
    sim_cls = BinanceSim if args.venue == "binance" else CoinbaseSim
    with sim_cls(args.symbols, Scenario(rate=args.rate, total=args.total)) as sim:
        print(sim.url, flush=True)
        threading.Event().wait()  # until killed


if __name__ == "__main__":
    main()
