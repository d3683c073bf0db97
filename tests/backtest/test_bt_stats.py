"""Statistics against an independent computation (the statistics module, plain loops) on small series."""

from __future__ import annotations

import math
import statistics as pystats

import pandas as pd
import pytest

from generator.backtest.fills import Fill, RoundTrip
from generator.backtest.stats import equity_curve, sample_times, statistics

M = 60 * 10**9
EQUITY = [100.0, 101.0, 99.0, 98.0, 102.0, 103.0, 101.0]


def curve_of(values: list[float]) -> pd.DataFrame:
    index = pd.to_datetime([i * M for i in range(len(values))], utc=True)
    return pd.DataFrame({"equity": values, "gross": [0, 1, 1, 0, 0, 1, 1]}, index=index)


def test_sharpe_sortino_drawdown_against_plain_python() -> None:
    rf = 0.05
    got = statistics(curve_of(EQUITY), [], [], 100.0, 60.0, rf)
    returns = [b / a - 1 for a, b in zip(EQUITY, EQUITY[1:], strict=False)]
    periods = 365 * 24 * 60
    rf_period = (1 + rf) ** (1 / periods) - 1
    excess = [r - rf_period for r in returns]
    sharpe = pystats.mean(excess) / pystats.stdev(returns) * math.sqrt(periods)
    downside = math.sqrt(sum(min(0.0, e) ** 2 for e in excess) / len(excess))
    assert got["sharpe"] == pytest.approx(sharpe)
    assert got["sortino"] == pytest.approx(pystats.mean(excess) / downside * math.sqrt(periods))
    assert got["total_return"] == pytest.approx(0.01)
    assert got["max_drawdown"] == pytest.approx(98 / 101 - 1)  # peak 101 (minute 1) to 98 (minute 3)
    assert got["max_drawdown_duration_s"] == 180  # under water from minute 1 until back above it at minute 4
    assert got["exposure"] == pytest.approx(4 / 7)
    assert got["annualised_return"] is None  # six minutes of data: not annualised


def test_annualised_return_and_hit_rate_turnover() -> None:
    index = pd.to_datetime([0, 73 * 86400 * 10**9], utc=True)  # a fifth of a year
    curve = pd.DataFrame({"equity": [100.0, 110.0], "gross": [1, 1]}, index=index)
    fills = [Fill(0, "A", 2, 50, 0.1, "taker", 2, 0), Fill(1, "A", -2, 55, 0.1, "taker", 0, 0)]
    trips = [RoundTrip("A", 0, 1, "long", 9.8), RoundTrip("A", 0, 1, "long", -1), RoundTrip("A", 0, 1, "long", 2)]
    got = statistics(curve, fills, trips, 100.0, 60.0)
    assert got["annualised_return"] == pytest.approx(1.1**5 - 1)
    assert got["hit_rate"] == pytest.approx(2 / 3)
    assert got["turnover"] == pytest.approx((100 + 110) / 100)
    assert got["fees"] == pytest.approx(0.2)


def test_equity_curve_marks_positions_to_market() -> None:
    fills = [Fill(1 * M, "A", 2, 10.0, 0.5, "taker", 2, 0), Fill(3 * M, "A", -2, 12.0, 0.5, "taker", 0, 0)]
    marks = {"A": pd.Series([9.0, 11.0, 13.0], index=pd.to_datetime([0, 2 * M, 3 * M], utc=True))}
    curve = equity_curve(fills, marks, sample_times(0, 4 * M, M), 100.0)
    # t0: 100; t1: cash 100-20.5=79.5 + 2*9 = 97.5; t2: 79.5+22 = 101.5; t3: sold at 12: 79.5+24-0.5 = 103
    assert list(curve["equity"]) == pytest.approx([100, 97.5, 101.5, 103, 103])
    assert list(curve["position A"]) == [0, 2, 2, 0, 0]
