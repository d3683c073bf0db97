"""Live exchange adapters against local Binance/Coinbase stand-ins; output checked on the ZeroMQ side."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest
import zmq
from exchange_sim import BinanceSim, CoinbaseSim, Scenario
from feed_helpers import Received, bad_reasons, drain, metric, running_feed

from executor.live.adapter import Backoff, LiveOptions
from executor.live.venues import UnknownSymbol


def _sub(ctx: zmq.Context[Any], endpoint: str, prefix: bytes = b"") -> zmq.Socket[bytes]:
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, prefix)
    sub.setsockopt(zmq.RCVHWM, 0)
    sub.connect(endpoint)
    return sub


def _contiguous(ids: list[int]) -> bool:
    return bool(ids) and ids == list(range(ids[0], ids[0] + len(ids)))


def test_binance_normalises_and_survives_drops_gaps_and_garbage(zctx: zmq.Context[Any]) -> None:
    scenario = Scenario(rate=150, drop_after=[120], skip_ids={20, 21, 22}, garbage_every=25)
    with BinanceSim(["BTC-USDT", "ETH-USDT"], scenario) as sim:
        endpoint = "inproc://binance"
        opts = LiveOptions("binance", ["BTC-USDT", "ETHUSDT"], endpoint=sim.url, stale=2.0, backoff_base=0.05)
        with running_feed(opts, endpoint, zctx) as feed:
            sub = _sub(zctx, endpoint)
            got = drain(sub, Received(), time.monotonic() + 3.0)
        sent_by_exchange = sim.markets["BTC-USDT"].next_id - 1
    topics = got.topics()
    assert {b"trades.binance.BTC-USDT", b"quotes.binance.ETH-USDT", b"bars.binance.BTC-USDT"} <= topics
    trades = got.of(b"trades.binance.BTC-USDT")
    ids = [int(t["id"]) for t in trades]
    # every trade once, in order, across a dropped connection and ids the stream never sent
    assert _contiguous(ids), [(a, b) for a, b in itertools.pairwise(ids) if b != a + 1]
    assert len(ids) > 150 and ids[-1] <= sent_by_exchange
    first = trades[0]
    assert first["symbol"] == "BTC-USDT" and first["venue"] == "binance" and first["side"] in ("buy", "sell")
    assert abs(first["ts"] - time.time_ns()) < 30e9  # exchange time (ms precision), not the feed's
    quote = got.of(b"quotes.binance.ETH-USDT")[0]
    assert quote["bid"] < quote["ask"] and quote["ts_source"] == "local" and quote["update_id"] > 1000
    bar = got.of(b"bars.binance.BTC-USDT")[0]
    assert bar["interval"] == "1s" and bar["low"] <= bar["close"] <= bar["high"] and bar["ts"] % 10**9 == 0
    assert "/api/v3/exchangeInfo" in sim.rest_calls and "/api/v3/trades" in sim.rest_calls
    assert metric(feed, "reconnects_total") >= 1
    assert metric(feed, "gaps_total", kind="trades") >= 2  # the skipped ids (both symbols) and the drop
    assert metric(feed, "resynced_events_total") == metric(feed, "missed_events_total") > 0
    reasons = bad_reasons(feed)
    assert reasons.get("undecodable frame", 0) >= 1 and reasons.get("unknown non-object frame (list)", 0) >= 1
    assert metric(feed, "exchange_latency_seconds_count", kind="trades") > 100


def test_coinbase_sequence_gaps_and_stale_stream(zctx: zmq.Context[Any]) -> None:
    scenario = Scenario(rate=150, skip_ids={30}, garbage_every=40, silent_after=60)
    with CoinbaseSim(["BTC-USD"], scenario) as sim:
        endpoint = "inproc://coinbase"
        ws = sim.url.replace("http://", "ws://") + "/"  # given explicitly, as for an exchange with a separate host
        opts = LiveOptions("coinbase", ["BTC-USD"], sim.url, ws, stale=0.7, backoff_base=0.05)
        with running_feed(opts, endpoint, zctx) as feed:
            sub = _sub(zctx, endpoint)
            got = drain(sub, Received(), time.monotonic() + 3.0)
    ids = [int(t["id"]) for t in got.of(b"trades.coinbase.BTC-USD")]
    assert _contiguous(ids) and len(ids) > 100  # the stream went on after the silent connection
    assert metric(feed, "stale_streams_total") >= 1
    assert metric(feed, "gaps_total", kind="trades") >= 1
    quotes = got.of(b"quotes.coinbase.BTC-USD")
    assert quotes and "ts_source" not in quotes[0]  # Coinbase stamps its ticker: exchange time
    assert any("channel" in r or "non-object" in r for r in bad_reasons(feed))
    assert "/api/v3/brokerage/market/products" in sim.rest_calls and "/v2/currencies" in sim.rest_calls


def test_slow_subscriber_does_not_hold_back_the_feed(zctx: zmq.Context[Any]) -> None:
    with BinanceSim(["BTC-USDT"], Scenario(rate=2000, total=3000)) as sim:
        endpoint = "inproc://slow"
        opts = LiveOptions("binance", ["BTC-USDT"], endpoint=sim.url, kinds=("trades",))
        with running_feed(opts, endpoint, zctx):
            slow = zctx.socket(zmq.SUB)
            slow.setsockopt(zmq.RCVHWM, 10)
            slow.setsockopt(zmq.SUBSCRIBE, b"")
            slow.connect(endpoint)  # never read
            fast = _sub(zctx, endpoint, b"trades.")
            got, deadline = Received(), time.monotonic() + 15.0
            while time.monotonic() < deadline and not any(p["id"] == "3000" for _, _, p in got.events):
                drain(fast, got, time.monotonic() + 0.5)
    ids = [int(t["id"]) for t in got.of(b"trades.binance.BTC-USDT")]
    assert _contiguous(ids) and ids[-1] == 3000
    slow.close(linger=0)


def test_unknown_symbol_is_a_clear_error(zctx: zmq.Context[Any]) -> None:
    with BinanceSim(["BTC-USDT"]) as sim:
        opts = LiveOptions("binance", ["DOGE-EUR"], endpoint=sim.url)
        match = r"binance does not list DOGE-EUR .*BTC-USDT"
        with pytest.raises(UnknownSymbol, match=match), running_feed(opts, "inproc://unknown", zctx):
            time.sleep(1.0)


def test_backoff_grows_with_jitter_and_caps() -> None:
    b = Backoff(0.5, 4.0)
    delays = [b.next() for _ in range(8)]
    for n, d in enumerate(delays):
        ceiling = min(4.0, 0.5 * 2**n)
        assert ceiling / 2 <= d <= ceiling
    assert len({round(d, 6) for d in delays[4:]}) > 1  # jittered, not lockstep
    b.reset()
    assert b.next() <= 0.5
