"""Recorded data: Parquet round trip, every bad row named (file, line/row, field), bars from trades, the sample."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from executor.bars import BarBuilder, add_bars
from executor.feed import sample_path
from executor.records import PARQUET_COLUMNS, DataError, load_records, write_records

S = 10**9


def test_parquet_round_trip_keeps_every_record(tmp_path: Path) -> None:
    records = load_records(sample_path())
    path = tmp_path / "sample.parquet"
    assert write_records(path, records) == len(records)
    assert [name for name, _ in PARQUET_COLUMNS] == pq.read_schema(path).names
    assert load_records(path) == records


def test_ndjson_errors_name_line_and_field_all_at_once(tmp_path: Path) -> None:
    path = tmp_path / "bad.ndjson"
    rows = [
        {"type": "trade", "symbol": "BTC-USD", "ts": 1, "price": 1.0, "size": 1.0},
        {"type": "trade", "symbol": "BTC-USD", "ts": 2, "price": "abc", "size": 1.0},
        {"type": "quote", "symbol": "btc usd", "ts": 3, "bid": 1, "bid_size": 1, "ask": 2},
        {"type": "tick", "symbol": "BTC-USD", "ts": 4},
        {"type": "bar", "symbol": "BTC-USD", "ts": -5, "open": 1, "high": 1, "low": 1, "close": 1, "volume": 0},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n{not json\n")
    with pytest.raises(DataError) as info:
        load_records(path)
    where = [w for w, _ in info.value.problems]
    assert where == [
        "bad.ndjson: line 2, field 'price'",
        "bad.ndjson: line 3, field 'symbol'",
        "bad.ndjson: line 3, field 'ask_size'",
        "bad.ndjson: line 4, field 'type'",
        "bad.ndjson: line 5, field 'ts'",
        "bad.ndjson: line 6",
    ]
    assert "'abc' is not a finite number" in str(info.value)


def test_csv_and_parquet_errors_name_line_and_row(tmp_path: Path) -> None:
    csv_path = tmp_path / "d.csv"
    csv_path.write_text("type,symbol,ts,price,size\ntrade,BTC-USD,1,100,1\ntrade,BTC-USD,2,-3,1\n")
    with pytest.raises(DataError, match=r"d.csv: line 3, field 'price': '-3' must be > 0"):
        load_records(csv_path)
    table = pa.table({"type": ["trade", "trade"], "symbol": ["ETH-USD", "ETH-USD"], "ts": [1, 2],
                      "price": [1.0, float("nan")], "size": [1.0, 1.0]})  # fmt: skip
    pq_path = tmp_path / "d.parquet"
    pq.write_table(table, pq_path)
    with pytest.raises(DataError, match=r"d.parquet: row 2, field 'price': nan is not a finite number"):
        load_records(pq_path)


def test_unknown_file_type_and_garbage_parquet(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="unknown file type"):
        load_records(tmp_path / "data.xlsx")
    garbage = tmp_path / "x.parquet"
    garbage.write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="not a readable Parquet file"):
        load_records(garbage)


def test_bar_builder_by_hand() -> None:
    builder = BarBuilder(["1s"])
    assert builder.add("A", int(0.1 * S), 10.0, 1.0) == []
    assert builder.add("A", int(0.5 * S), 12.0, 2.0) == []
    assert builder.add("A", int(0.9 * S), 9.0, 1.0) == []
    closed = builder.add("A", int(3.2 * S), 11.0, 1.0)  # closes [0,1) and two empty bars [1,2), [2,3)
    assert [(b["ts"], b["open"], b["high"], b["low"], b["close"], b["volume"], b["trades"]) for b in closed] == [
        (1 * S, 10.0, 12.0, 9.0, 9.0, 4.0, 3),
        (2 * S, 9.0, 9.0, 9.0, 9.0, 0.0, 0),
        (3 * S, 9.0, 9.0, 9.0, 9.0, 0.0, 0),
    ]
    assert [(b["ts"], b["close"], b["trades"]) for b in builder.flush()] == [(4 * S, 11.0, 1)]


def test_add_bars_only_where_the_data_has_none() -> None:
    trades = [{"type": "trade", "symbol": "X-USD", "ts": t * S // 2, "price": 1.0 + t, "size": 1.0} for t in range(5)]
    out = add_bars(trades, ["1s"])
    bars = [r for r in out if r["type"] == "bar"]
    assert [(b["ts"], b["close"]) for b in bars] == [(S, 2.0), (2 * S, 4.0), (3 * S, 5.0)]
    assert [r["ts"] for r in out] == sorted(r["ts"] for r in out)
    sample = load_records(sample_path())
    assert add_bars(sample) is sample  # the sample has its own bars


def test_sample_loops_without_a_price_jump() -> None:
    records = load_records(sample_path())
    for symbol in ("BTC-USD", "ETH-USD", "SOL-USD", "DOGE-USD"):
        mids = [(r["bid"] + r["ask"]) / 2 for r in records if r["type"] == "quote" and r["symbol"] == symbol]
        assert abs(mids[-1] / mids[0] - 1) < 0.003, symbol  # a loop continues where it started
