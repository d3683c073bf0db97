"""Equity curve and statistics of a backtest, with numpy and pandas (definitions in docs/backtest.md)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .fills import Fill, RoundTrip

YEAR_SECONDS = 365 * 86400  # crypto trades every day


def marks(records: Sequence[dict[str, Any]], symbols: set[str]) -> dict[str, pd.Series]:
    """Mark price per symbol over time: quote mid, else last trade, else bar close."""
    by_kind: dict[str, dict[str, tuple[list[int], list[float]]]] = {}
    for r in records:
        sym = r["symbol"]
        if sym not in symbols:
            continue
        kind = r["type"]
        ts, px = by_kind.setdefault(sym, {}).setdefault(kind, ([], []))
        ts.append(r["ts"])
        px.append((r["bid"] + r["ask"]) / 2 if kind == "quote" else r["price"] if kind == "trade" else r["close"])
    out = {}
    for sym, kinds in by_kind.items():
        ts, px = kinds.get("quote") or kinds.get("trade") or kinds["bar"]
        out[sym] = pd.Series(px, index=pd.to_datetime(np.asarray(ts, dtype="int64"), utc=True), name=sym)
    return out


def sample_times(start_ns: int, end_ns: int, every_ns: int) -> pd.DatetimeIndex:
    grid = np.arange(start_ns, end_ns + 1, every_ns, dtype="int64")
    if grid[-1] != end_ns:
        grid = np.append(grid, end_ns)
    return pd.to_datetime(grid, utc=True)


def _asof(series: pd.Series, times: pd.DatetimeIndex, before: float) -> np.ndarray:
    """Value of SERIES at or before each time (BEFORE where it has none yet)."""
    if series.empty:
        return np.full(len(times), before)
    idx = series.index.searchsorted(times, side="right") - 1
    values = series.to_numpy(dtype=float)
    return np.where(idx >= 0, values[np.clip(idx, 0, None)], before)


def equity_curve(
    fills: Sequence[Fill], price: dict[str, pd.Series], times: pd.DatetimeIndex, capital: float
) -> pd.DataFrame:
    """Columns: equity, cash, gross (sum of |position| x mark), and one position column per traded symbol."""
    fill_ts = pd.to_datetime(np.asarray([f.ts for f in fills], dtype="int64"), utc=True)
    flows = np.asarray([-(f.qty * f.price) - f.fee for f in fills], dtype=float)
    cash = _asof(pd.Series(capital + np.cumsum(flows), index=fill_ts), times, capital)
    frame = pd.DataFrame(index=times)
    value, gross = np.zeros(len(times)), np.zeros(len(times))
    for sym in sorted({f.symbol for f in fills}):
        own = [f for f in fills if f.symbol == sym]
        index = pd.to_datetime(np.asarray([f.ts for f in own], dtype="int64"), utc=True)
        pos = _asof(pd.Series([f.position for f in own], index=index), times, 0.0)
        mark = _asof(price[sym], times, own[0].price) if sym in price else np.full(len(times), own[-1].price)
        frame[f"position {sym}"] = pos
        value += pos * mark
        gross += np.abs(pos * mark)
    frame["cash"] = cash
    frame["gross"] = gross
    frame["equity"] = cash + value
    return frame


def statistics(
    curve: pd.DataFrame,
    fills: Sequence[Fill],
    trips: Sequence[RoundTrip],
    capital: float,
    sample_seconds: float,
    risk_free: float = 0.0,
) -> dict[str, Any]:
    equity = curve["equity"]
    start, end = equity.index[0], equity.index[-1]
    years = (end - start).total_seconds() / YEAR_SECONDS
    total = equity.iloc[-1] / capital - 1
    returns = equity.pct_change().dropna()
    periods = YEAR_SECONDS / sample_seconds
    excess = returns - ((1 + risk_free) ** (1 / periods) - 1)
    wins = [t for t in trips if t.pnl > 0]
    dd = equity / np.maximum(equity.cummax(), capital) - 1
    turnover = sum(f.notional for f in fills)
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "capital": capital,
        "final_equity": float(equity.iloc[-1]),
        "pnl": float(equity.iloc[-1] - capital),
        "total_return": float(total),
        "annualised_return": _annualise(total, years),
        "sharpe": _ratio(excess.mean(), returns.std(ddof=1), periods),
        "sortino": _ratio(excess.mean(), float(np.sqrt(np.mean(np.minimum(excess, 0.0) ** 2))), periods),
        "max_drawdown": float(dd.min()) if len(dd) else 0.0,
        "max_drawdown_duration_s": _underwater_seconds(dd),
        "turnover": turnover / capital,
        "traded_notional": turnover,
        "fees": float(sum(f.fee for f in fills)),
        "fills": len(fills),
        "round_trips": len(trips),
        "hit_rate": len(wins) / len(trips) if trips else None,
        "exposure": float((curve["gross"] > 0).mean()),
        "return_periods": len(returns),
        "sample_seconds": sample_seconds,
        "risk_free": risk_free,
    }


def _annualise(total: float, years: float) -> float | None:
    """Compound annual growth; None for less than a day of data (meaningless) or a loss of 100 %."""
    if years < 1 / 365 or total <= -1:
        return None
    try:
        value = math.exp(math.log1p(total) / years) - 1
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


def _ratio(mean: float, spread: float, periods: float) -> float | None:
    if not (math.isfinite(mean) and math.isfinite(spread)) or spread <= 1e-15:
        return None
    return float(mean / spread * math.sqrt(periods))


def _underwater_seconds(dd: pd.Series) -> float:
    """Longest time from a peak until equity is back at it (or the end of the data)."""
    longest, since = 0.0, None
    for ts, value in dd.items():
        if value < -1e-12:
            since = since if since is not None else _previous(dd, ts)
            longest = max(longest, (ts - since).total_seconds())
        elif since is not None:  # back at the peak: the drawdown lasted until now
            longest = max(longest, (ts - since).total_seconds())
            since = None
    return longest


def _previous(dd: pd.Series, ts: pd.Timestamp) -> pd.Timestamp:
    position = dd.index.get_loc(ts)
    return dd.index[position - 1] if position > 0 else ts
