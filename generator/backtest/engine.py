"""A backtest from start to end: data -> sandboxed strategy -> signals -> fills -> equity -> statistics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from executor.bars import add_bars
from executor.feed import sample_path
from executor.records import DataError, load_records

from ..errors import Problem, UserError
from ..spec import Strategy
from .fills import Fill, FillOptions, FillResult, price_books, simulate
from .strategy_run import RunLimits, StrategyRun, run_strategy


@dataclass
class BacktestOptions:
    fills: FillOptions = field(default_factory=FillOptions)
    start: datetime | None = None
    end: datetime | None = None
    sample_seconds: float = 60.0
    risk_free: float = 0.0
    limits: RunLimits = field(default_factory=RunLimits)


@dataclass
class BacktestResult:
    strategy: str
    params: dict[str, Any]
    data: str
    records: int
    run: StrategyRun
    fills: FillResult
    curve: Any  # pandas DataFrame: equity, cash, gross, position <symbol>...
    stats: dict[str, Any]
    marks: dict[str, Any]  # symbol -> pandas Series of mark prices
    warnings: list[str]


def load_data(path: Path | None, start: datetime | None, end: datetime | None) -> list[dict[str, Any]]:
    """The records of PATH (the bundled sample by default) between START and END, bars added where missing."""
    source = path or sample_path()
    try:
        records = load_records(source)
    except DataError as exc:
        raise UserError(f"cannot use {source} as market data", [Problem(w, what) for w, what in exc.problems]) from None
    lo = int(start.timestamp() * 1e9) if start else None
    hi = int(end.timestamp() * 1e9) if end else None
    if lo is not None or hi is not None:
        records = [r for r in records if (lo is None or r["ts"] >= lo) and (hi is None or r["ts"] < hi)]
    if not records:
        first, last = _span(load_records(source))
        raise UserError(
            "no market data in the chosen time range",
            [Problem("--from/--to", f"the data covers {first} to {last}", "choose times inside it")],
        )
    return add_bars(records)


def _span(records: list[dict[str, Any]]) -> tuple[str, str]:
    return _iso(records[0]["ts"]), _iso(records[-1]["ts"])


def _iso(ns: int) -> str:
    from datetime import UTC

    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat().replace("+00:00", "Z")


def backtest(
    strategy: Strategy,
    records: list[dict[str, Any]],
    options: BacktestOptions,
    params: dict[str, Any] | None = None,
    data_name: str = "sample",
    progress: Callable[[int, int], None] | None = None,
) -> BacktestResult:
    from . import stats as st  # pandas: only where the statistics are computed

    params = dict(strategy.params if params is None else params)
    run = run_strategy(strategy, records, params, options.limits, progress)
    if (run.summary["failed"] or "").startswith("on_start"):
        raise UserError(
            f"{strategy.key} did not start", [Problem("strategy", run.summary["failed"], "fix on_start or the params")]
        )
    warnings = _warnings(run, records, strategy)
    books = price_books(records)
    result = simulate(run.signals, books, options.fills)
    if result.unfilled:
        warnings.append(f"{len(result.unfilled)} signal(s) not filled: {result.unfilled[0]['why']} (first one)")
    every = int(options.sample_seconds * 1e9)
    times = st.sample_times(records[0]["ts"], records[-1]["ts"], every)
    traded = {f.symbol for f in result.fills}
    marks = st.marks(records, traded)
    curve = st.equity_curve(result.fills, marks, times, options.fills.capital)
    stats = st.statistics(
        curve, result.fills, result.round_trips, options.fills.capital, options.sample_seconds, options.risk_free
    )
    stats.update(signals=len(run.signals), unfilled=len(result.unfilled), events=sum(run.summary["events"].values()))
    return BacktestResult(
        f"{strategy.key}", params, data_name, len(records), run, result, curve, stats, marks, warnings
    )


def _warnings(run: StrategyRun, records: list[dict[str, Any]], strategy: Strategy) -> list[str]:
    out = []
    summary = run.summary
    if summary["failed"]:
        out.append(f"the strategy was marked failed and stopped handling events: {summary['failed']}")
    if summary["handler_errors"]:
        out.append(f"{summary['handler_errors']} handler call(s) raised (counted as failed events, as live)")
    if run.refused:
        out.append(f"{len(run.refused)} message(s) from the strategy refused, first: {run.refused[0]}")
    if not sum(summary["events"].values()):
        symbols = sorted({r["symbol"] for r in records})
        out.append(
            f"the strategy received no event: its subscriptions {list(strategy.subscriptions)} "
            f"match nothing in the data (symbols: {', '.join(symbols[:10])})"
        )
    return out


def fill_rows(fills: list[Fill]) -> list[dict[str, Any]]:
    return [
        {
            "ts": _iso(f.ts),
            "symbol": f.symbol,
            "qty": f.qty,
            "price": f.price,
            "fee": f.fee,
            "liquidity": f.liquidity,
            "position": f.position,
            "signal_ts": _iso(f.signal_ts),
            "reason": f.reason,
        }
        for f in fills
    ]
