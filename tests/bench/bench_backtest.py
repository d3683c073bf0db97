"""Backtest benchmark (not a test; run: make bench AREAS=backtest).

Prints, from one run on this machine, for a synthetic day of BTC-USD trades (1M trades by
default, plus the 1s and 1m bars the shared bar builder makes from them):
1. load + bar building time;
2. the strategy run alone (data streamed into the sandboxed executor, signals back) and the
   whole backtest (plus fills, equity, statistics) in events/s, for a no-op strategy on the
   trades and for the ma-crossover example on the bars;
3. the live executor's throughput in the same run (bench_executor's consumer-bound figure)
   as the baseline, and the ratio;
4. peak RSS of this (engine) process, which holds the data, and of each sandboxed executor.
"""

from __future__ import annotations

import argparse
import math
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import zmq  # noqa: E402

from executor.bars import add_bars  # noqa: E402
from executor.records import load_records, write_records  # noqa: E402
from generator.backtest.engine import BacktestOptions, backtest  # noqa: E402
from generator.backtest.strategy_run import run_strategy  # noqa: E402
from generator.spec import load_spec  # noqa: E402
from tests.bench.bench_executor import STRATEGY, bench_throughput  # noqa: E402

NOOP = """from executor import Strategy


class Noop(Strategy):
    def on_trade(self, trade):
        pass
"""
START = 1_704_153_600 * 10**9  # 2024-01-02T00:00:00Z


def day_of_trades(n: int) -> list[dict]:
    rng, price, step = random.Random(7), 42_000.0, 86_400 * 10**9 // n
    out = []
    for i in range(n):
        price *= math.exp(rng.gauss(0, 0.0001))
        side = "buy" if rng.random() < 0.5 else "sell"
        out.append({"type": "trade", "symbol": "BTC-USD", "ts": START + i * step, "price": round(price, 2),
                    "size": round(rng.expovariate(20), 6), "side": side})  # fmt: skip
    return out


def spec_file(tmp: Path, name: str, code_file: str, cls: str, source: str, subs: list[str]) -> Path:
    (tmp / code_file).write_text(source)
    path = tmp / f"{name}.yaml"
    path.write_text(
        "apiVersion: stratops.io/v1\nkind: Strategy\n"
        f"metadata: {{name: {name}, tenant: bench}}\n"
        f"spec:\n  code: {{file: {code_file}, class: {cls}}}\n  subscriptions: {subs}\n"
        "  resources: {cpu: '1', memory: 1Gi}\n"
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trades", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-bt-") as scratch:
        tmp = Path(scratch)
        data = tmp / "day.parquet"
        write_records(data, day_of_trades(args.trades))
        started = time.perf_counter()
        records = add_bars(load_records(data))
        load_s = time.perf_counter() - started
        print(f"data: {args.trades:,} trades -> {len(records):,} events with bars; load + bars {load_s:.1f} s")
        ma_source = (REPO / "examples" / "ma-crossover" / "ma_crossover.py").read_text()
        cases = {
            "no-op on trades": spec_file(tmp, "noop", "noop.py", "Noop", NOOP, ["trades.BTC-USD"]),
            "ma-crossover on bars": spec_file(
                tmp, "ma", "ma_crossover.py", "MovingAverageCrossover", ma_source, ["bars.BTC-USD"]
            ),  # fmt: skip
        }
        rates, rss = {}, {}
        for label, path in cases.items():
            strategy = load_spec(path)
            t0 = time.perf_counter()
            run = run_strategy(strategy, records)
            run_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            result = backtest(strategy, records, BacktestOptions())
            full_s = time.perf_counter() - t0
            handled = sum(run.summary["events"].values())
            rates[label] = len(records) / run_s
            rss[label] = run.summary["max_rss_kib"] / 1024
            print(f"{label}: strategy run {run_s:.1f} s ({len(records) / run_s:,.0f} events/s of data, "
                  f"{handled:,} handled), full backtest {full_s:.1f} s, {len(result.fills.fills)} fills")  # fmt: skip
        ctx = zmq.Context()
        (tmp / "bench_strategies.py").write_text(STRATEGY)
        live = bench_throughput(tmp, ctx)
        ctx.destroy(linger=0)
        print(f"live executor (same run): {live['executor_msgs_per_s']:,.0f} msgs/s consumer-bound")
        for label, rate in rates.items():
            print(f"  {label}: backtest / live = {rate / live['executor_msgs_per_s']:.2f}")
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        executors = ", ".join(f"{label} {mib:.0f} MiB" for label, mib in rss.items())
        print(f"peak RSS: engine (data + results) {own:.0f} MiB; sandboxed executor: {executors}")


if __name__ == "__main__":
    main()
