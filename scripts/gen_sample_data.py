#!/usr/bin/env python3
"""Generate executor/data/sample.ndjson.gz: 5 minutes of SYNTHETIC market data (not a recording).

Deterministic (fixed seed, fixed start time, no wall clock): running it twice gives the same bytes.
10 symbols (including BTC-USD and BTC-USDT, which share a topic prefix on purpose), top-of-book
quotes, trades that hit the quoted prices, 1s bars built from those trades and 1m bars built
from the 1s bars. Prices follow a random walk with slowly switching drift regimes, so trend,
breakout and mean-reversion strategies all have something to react to; the book sizes lean
with the regime (more size on the bid in an up-drift), so order-book imbalance carries some
information, as it does in real books. Each walk is pulled back to its starting price over the
file (a bridge), so a feed replaying the file in a loop continues the price where it started
instead of jumping.

Usage: python scripts/gen_sample_data.py [OUT] [--seconds N]
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import random
from pathlib import Path

START_NS = 1_704_205_800 * 10**9  # 2024-01-02T14:30:00Z
SYMBOLS = {  # symbol: (start price, tick, annualised-ish vol per second, spread in ticks, typical size)
    "BTC-USD": (42_150.0, 0.01, 0.00035, 20, 0.05),
    "BTC-USDT": (42_163.0, 0.01, 0.00035, 40, 0.04),
    "ETH-USD": (2_360.0, 0.01, 0.00045, 8, 0.8),
    "SOL-USD": (101.5, 0.001, 0.0007, 6, 12.0),
    "XRP-USD": (0.6150, 0.0001, 0.0006, 1, 2_500.0),
    "DOGE-USD": (0.0912, 0.00001, 0.0008, 2, 25_000.0),
    "ADA-USD": (0.5930, 0.0001, 0.0006, 1, 3_000.0),
    "AVAX-USD": (37.80, 0.001, 0.0008, 8, 40.0),
    "LINK-USD": (15.20, 0.001, 0.0007, 5, 90.0),
    "LTC-USD": (73.40, 0.01, 0.0005, 1, 15.0),
}


def _round(x: float, tick: float) -> float:
    decimals = max(0, -int(math.floor(math.log10(tick))))
    return round(round(x / tick) * tick, decimals)


def _second(
    rng: random.Random, sym: str, mid: float, drift: float, pull: float, t0: int
) -> tuple[float, list[dict]]:
    _, tick, vol, spread_ticks, size = SYMBOLS[sym]
    lean = math.exp(0.8 * drift / vol)  # > 1 in an up-drift: more size bid than offered
    out: list[dict] = []
    for _ in range(rng.randint(2, 4)):  # quotes
        mid *= math.exp((drift + pull) / 3 + rng.gauss(0, vol / math.sqrt(3)))
        half = max(1, int(spread_ticks * rng.uniform(0.5, 1.5))) * tick / 2
        bid_sz = _round(size * rng.lognormvariate(1.0, 0.7) * lean, size / 100)
        ask_sz = _round(size * rng.lognormvariate(1.0, 0.7) / lean, size / 100)
        out.append(
            {
                "type": "quote",
                "symbol": sym,
                "ts": t0 + rng.randrange(10**9),
                "bid": _round(mid - half, tick),
                "bid_size": bid_sz,
                "ask": _round(mid + half, tick),
                "ask_size": ask_sz,
            }
        )
    for _ in range(rng.choice((0, 1, 2, 3, 4, 5, 6, 8))):  # trades, bursty
        side = "buy" if rng.random() < 0.5 + drift * 400 else "sell"
        px = mid + (1 if side == "buy" else -1) * spread_ticks * tick / 2 + rng.gauss(0, vol * mid / 4)
        out.append(
            {
                "type": "trade",
                "symbol": sym,
                "ts": t0 + rng.randrange(10**9),
                "price": _round(px, tick),
                "size": _round(size * rng.lognormvariate(0, 1.0), size / 100),
                "side": side,
                "id": f"{sym[:3]}{t0 // 10**6 % 10**7:07d}{rng.randrange(10**4):04d}",
            }
        )
    out.sort(key=lambda r: r["ts"])
    return mid, out


def _bar(sym: str, interval: str, close_ts: int, trades: list[dict], last: float, tick: float) -> dict:
    prices = [t["price"] for t in trades] or [last]
    return {
        "type": "bar",
        "symbol": sym,
        "ts": close_ts,
        "interval": interval,
        "open": prices[0],
        "high": max(prices),
        "low": min(prices),
        "close": prices[-1],
        "volume": round(sum(t["size"] for t in trades), 6),
        "trades": len(trades),
    }


def _minute_bar(sym: str, close_ts: int, bars: list[dict]) -> dict:
    return {
        "type": "bar",
        "symbol": sym,
        "ts": close_ts,
        "interval": "1m",
        "open": bars[0]["open"],
        "high": max(b["high"] for b in bars),
        "low": min(b["low"] for b in bars),
        "close": bars[-1]["close"],
        "volume": round(sum(b["volume"] for b in bars), 6),
        "trades": sum(b["trades"] for b in bars),
    }


def generate(seconds: int, seed: int = 20240102) -> list[dict]:
    rng = random.Random(seed)
    records: list[dict] = []
    for sym, (price, tick, vol, _, _) in SYMBOLS.items():
        mid, drift, last, minute = price, 0.0, price, []
        for s in range(seconds):
            if s % 20 == 0:  # drift regime: flat, up or down trend for the next ~20 s
                drift = rng.choice((0.0, 0.0, 1.0, -1.0)) * vol * rng.uniform(0.3, 0.9)
            t0 = START_NS + s * 10**9
            pull = math.log(price / mid) / (seconds - s)  # the bridge: expected to end where it began
            mid, recs = _second(rng, sym, mid, drift, pull, t0)
            trades = [r for r in recs if r["type"] == "trade"]
            bar = _bar(sym, "1s", t0 + 10**9, trades, last, tick)
            last = bar["close"]
            records += recs + [bar]
            minute.append(bar)
            if len(minute) == 60:
                records.append(_minute_bar(sym, t0 + 10**9, minute))
                minute = []
    records.sort(key=lambda r: (r["ts"], r["symbol"], r["type"]))
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parent.parent / "executor" / "data" / "sample.ndjson.gz"
    parser.add_argument("out", nargs="?", type=Path, default=default)
    parser.add_argument("--seconds", type=int, default=300)
    args = parser.parse_args()
    lines = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in generate(args.seconds))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "wb") as fh, gzip.GzipFile(fileobj=fh, mode="wb", mtime=0, filename="") as gz:
        gz.write(lines.encode())
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes, {lines.count(chr(10))} records)")


if __name__ == "__main__":
    main()
