"""The fill model on hand-computed scenarios (docs/backtest.md states the model)."""

from __future__ import annotations

import pytest

from generator.backtest.fills import FillOptions, price_books, simulate, target_of

S = 10**9


def quote(ts: float, bid: float, ask: float, symbol: str = "BTC-USD") -> dict:
    book = {"bid": bid, "bid_size": 1.0, "ask": ask, "ask_size": 1.0}
    return {"type": "quote", "symbol": symbol, "ts": int(ts * S), **book}


def trade(ts: float, price: float, side: str, symbol: str = "ETH-USD") -> dict:
    return {"type": "trade", "symbol": symbol, "ts": int(ts * S), "price": price, "size": 1.0, "side": side}


def signal(ts: float, side: str, size: float | None = None, strength: float = 1.0, symbol: str = "BTC-USD") -> dict:
    return {"symbol": symbol, "side": side, "strength": strength, "size": size, "ts": int(ts * S), "reason": ""}


QUOTES = [quote(0.5, 99, 101), quote(1.0, 100, 102), quote(1.2, 103, 105), quote(2.0, 110, 112), quote(3.0, 90, 92)]


def test_buy_fills_at_the_ask_of_the_next_quote_with_slippage_and_taker_fee() -> None:
    opts = FillOptions(fee_taker_bps=5, fee_maker_bps=1, slippage_bps=10)
    result = simulate([signal(1.0, "buy", size=2)], price_books(QUOTES), opts)
    (fill,) = result.fills
    assert fill.ts == int(1.2 * S)  # strictly after the decision time: the 1.0 s quote is the one it saw
    assert fill.price == pytest.approx(105 * 1.001)
    assert fill.qty == 2 and fill.position == 2
    assert fill.fee == pytest.approx(2 * 105 * 1.001 * 5 / 1e4)
    assert fill.liquidity == "taker"


def test_latency_moves_the_fill_to_a_later_quote() -> None:
    result = simulate([signal(1.0, "buy", size=1)], price_books(QUOTES), FillOptions(latency_ns=300_000_000))
    assert [(f.ts, f.price) for f in result.fills] == [(2 * S, 112)]


def test_long_only_sell_goes_flat_and_long_short_sell_goes_short() -> None:
    sigs = [signal(0.5, "buy", size=1), signal(1.5, "sell", size=3)]
    long_only = simulate(sigs, price_books(QUOTES), FillOptions())
    assert [(f.qty, f.price, f.position) for f in long_only.fills] == [(1, 102, 1), (-1, 110, 0)]
    long_short = simulate(sigs, price_books(QUOTES), FillOptions(mode="long-short"))
    assert [(f.qty, f.price, f.position) for f in long_short.fills] == [(1, 102, 1), (-4, 110, -3)]
    # round trip: bought 1 at 102, sold at 110 -> +8; a flip closes it and opens a short
    assert [(t.side, t.pnl) for t in long_short.round_trips] == [("long", 8)]
    assert long_short.positions == {"BTC-USD": -3}


def test_size_is_strength_times_unit_when_the_signal_has_none() -> None:
    assert target_of(signal(0, "buy", strength=0.25), FillOptions(unit=4)) == 1.0
    assert target_of(signal(0, "buy", size=3, strength=0.25), FillOptions(unit=4)) == 3.0
    assert target_of(signal(0, "flat", size=3), FillOptions(mode="long-short")) == 0.0


def test_repeated_signal_to_the_same_target_does_not_trade() -> None:
    result = simulate([signal(0.5, "buy", size=1), signal(1.1, "buy", size=1)], price_books(QUOTES), FillOptions())
    assert len(result.fills) == 1


def test_position_and_notional_caps() -> None:
    capped = simulate([signal(0.5, "buy", size=10)], price_books(QUOTES), FillOptions(max_position=2))
    assert capped.fills[0].qty == 2
    by_notional = simulate([signal(0.5, "buy", size=10)], price_books(QUOTES), FillOptions(max_notional=510))
    assert by_notional.fills[0].qty == pytest.approx(510 / 102)


def test_trade_only_symbols_fill_at_the_trade_price_maker_when_the_aggressor_was_opposite() -> None:
    trades = [trade(1.0, 50, "buy"), trade(2.0, 51, "sell"), trade(3.0, 49, "buy")]
    opts = FillOptions(fee_maker_bps=1, fee_taker_bps=10)
    sigs = [signal(1.0, "buy", size=1, symbol="ETH-USD"), signal(2.0, "flat", symbol="ETH-USD")]
    result = simulate(sigs, price_books(trades), opts)
    first, second = result.fills
    # our buy rests on the bid and is hit by the sell-aggressor trade at 51: maker
    assert (first.price, first.liquidity, first.fee) == (51, "maker", pytest.approx(51 * 1 / 1e4))
    # our sell meets a buy aggressor at 49: it would have rested on the ask -> maker too
    assert (second.price, second.liquidity) == (49, "maker")
    assert result.round_trips[0].pnl == pytest.approx(49 - 51 - 51e-4 - 49e-4)


def test_quotes_are_preferred_to_trades_and_unpriced_signals_are_reported() -> None:
    books = price_books([*QUOTES, trade(1.1, 1.0, "buy", symbol="BTC-USD")])
    result = simulate([signal(1.0, "buy", size=1), signal(5.0, "buy", size=2), signal(1, "buy", symbol="X")], books,
                      FillOptions())  # fmt: skip
    assert [f.price for f in result.fills] == [105]
    assert sorted(u["why"] for u in result.unfilled) == [
        "no price after the signal",
        "no price for this symbol in the data",
    ]
