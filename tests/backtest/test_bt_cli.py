"""`stratops backtest` end to end: the real CLI, the strategy in its sandboxed executor, real files."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from executor.feed import sample_path
from executor.records import load_records, write_records

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent / "strategies"
MA = REPO / "examples" / "ma-crossover" / "strategy.yaml"


def stratops(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    cmd = [sys.executable, "-m", "generator.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env)


def test_ma_crossover_json_is_consistent() -> None:
    out = stratops("backtest", str(MA), "--json", "--mode", "long-short", "--fee-taker", "10", "--slippage", "2")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    stats = doc["stats"]
    assert doc["executor"]["events"]["bars"] > 0 and doc["executor"]["handler_errors"] == 0
    assert stats["fills"] == len(doc["fills"]) > 0
    assert stats["final_equity"] == pytest.approx(doc["equity"][-1][1])
    assert stats["fees"] == pytest.approx(sum(f["fee"] for f in doc["fills"]))
    assert stats["fees"] == pytest.approx(sum(abs(f["qty"]) * f["price"] * 10 / 1e4 for f in doc["fills"]))
    # independent PnL: cash flows plus the open positions at the last mark equal the equity change
    assert stats["pnl"] == pytest.approx(doc["equity"][-1][1] - doc["equity"][0][1])
    assert {f["symbol"] for f in doc["fills"]} <= {"BTC-USD", "ETH-USD"}


def test_timers_run_on_data_time_and_html_report(tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    out = stratops("backtest", str(HERE / "timed.yaml"), "--json", "--param", "every=60", "--html", str(report))
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    first = load_records(sample_path())[0]["ts"]
    start = first - first % 10**9  # the clock starts at the first second of data
    signal_times = [int(f["reason"]) for f in doc["fills"]]
    assert signal_times == [start + 60 * 10**9 * k for k in range(1, len(signal_times) + 1)]
    assert len(signal_times) == 4 and doc["params"] == {"every": 60}
    # the fifth tick falls on the last record (bars close at 14:35:00): no price after it to fill against
    assert doc["executor"]["timer_ticks"] == 5 and len(doc["unfilled"]) == 1
    text = report.read_text()
    assert text.count("<svg") >= 3 and "Sharpe" in text and "http" not in text.split("<body>")[1].split("<svg")[0]


def test_own_parquet_data_from_to_and_bars_built_from_trades(tmp_path: Path) -> None:
    trades = [r for r in load_records(sample_path()) if r["type"] == "trade"]
    data = tmp_path / "trades.parquet"
    write_records(data, trades)
    out = stratops("backtest", str(MA), "--data", str(data), "--from", "2024-01-02T14:31:00Z",
                   "--to", "2024-01-02T14:34:00Z", "--json")  # fmt: skip
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["stats"]["start"].startswith("2024-01-02T14:31:00")
    assert doc["stats"]["end"] <= "2024-01-02T14:34:00+00:00"
    assert doc["executor"]["events"]["bars"] > 0  # built from the trades: the data had none


def test_user_mistakes_are_clear_errors(tmp_path: Path) -> None:
    broken = stratops("backtest", str(HERE / "broken.yaml"))
    assert broken.returncode == 2 and "Traceback" not in broken.stderr
    assert "cannot start: missing threshold" in broken.stderr
    bad_param = stratops("backtest", str(HERE / "timed.yaml"), "--param", "every=soon")
    assert bad_param.returncode == 2 and "params.every: 'soon' is not a number" in bad_param.stderr
    bad_time = stratops("backtest", str(MA), "--from", "yesterday")
    assert bad_time.returncode == 2 and "ISO 8601" in bad_time.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("type,symbol,ts,price,size\ntrade,BTC-USD,1,x,1\n")
    bad_data = stratops("backtest", str(MA), "--data", str(bad))
    assert bad_data.returncode == 2 and "bad.csv: line 2, field 'price'" in bad_data.stderr


def test_grid_sweep_ranked_and_written_as_csv(tmp_path: Path) -> None:
    out_csv = tmp_path / "sweep.csv"
    out = stratops("backtest", str(MA), "--grid", "fast=5,10", "--grid", "slow=20,30", "--grid-out", str(out_csv),
                   "--json", "--jobs", "2")  # fmt: skip
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert sorted((r["params"]["fast"], r["params"]["slow"]) for r in rows) == [(5, 20), (5, 30), (10, 20), (10, 30)]
    sharpes = [r["sharpe"] for r in rows if r["sharpe"] is not None]
    assert sharpes == sorted(sharpes, reverse=True)
    with out_csv.open() as fh:
        table = list(csv.DictReader(fh))
    assert [int(r["rank"]) for r in table] == [1, 2, 3, 4] and {"fast", "slow", "sharpe"} <= set(table[0])
