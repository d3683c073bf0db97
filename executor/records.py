"""Recorded market data: read and write trades, quotes and bars as NDJSON (``.gz`` ok), CSV or Parquet.

One record per line (NDJSON, CSV with a header row) or per row (Parquet), with ``type``
(``trade``/``quote``/``bar``), ``symbol``, ``ts`` (exchange time, integer ns since the epoch),
an optional ``venue`` (default ``sample``: the topic is ``<kind>.<venue>.<symbol>``) and the
payload keys of docs/wire-format.md. The feed, ``stratops up --data``, the backtest
and the feed's recorder all use this module, so what one writes the others read.

Every record is checked; the errors name the file, the line (NDJSON/CSV) or row (Parquet,
1-based) and the field, and the first ``MAX_ERRORS`` of them are reported together.
Parquet needs pyarrow (``pip install 'stratops[backtest]'``); the other formats do not.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from executor.wire import SYMBOL_RE, VENUE_RE

MAX_ERRORS = 20
SYMBOL, VENUE = SYMBOL_RE, VENUE_RE
TYPES = ("trade", "quote", "bar")
# type -> (required numeric fields, optional fields)
FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "trade": (("price", "size"), ("side", "id")),
    "quote": (("bid", "bid_size", "ask", "ask_size"), ("update_id",)),
    "bar": (("open", "high", "low", "close", "volume"), ("interval", "trades")),
}
NON_NEGATIVE = {"size", "bid_size", "ask_size", "volume"}
# Parquet columns, in this order, as written by RecordWriter (docs/wire-format.md).
PARQUET_COLUMNS = (
    ("type", "string"),
    ("venue", "string"),
    ("symbol", "string"),
    ("ts", "int64"),
    ("price", "float64"),
    ("size", "float64"),
    ("side", "string"),
    ("id", "string"),
    ("bid", "float64"),
    ("bid_size", "float64"),
    ("ask", "float64"),
    ("ask_size", "float64"),
    ("open", "float64"),
    ("high", "float64"),
    ("low", "float64"),
    ("close", "float64"),
    ("volume", "float64"),
    ("interval", "string"),
    ("trades", "int64"),
    ("update_id", "int64"),
)
_KNOWN = {name for name, _ in PARQUET_COLUMNS}
INSTALL_HINT = "install the backtest extra: pip install 'stratops[backtest]'"


class DataError(ValueError):
    """Bad recorded data; ``problems`` lists (where, what) pairs, where = 'FILE: line N, field F'."""

    def __init__(self, path: Path | str, problems: list[tuple[str, str]], more: bool = False) -> None:
        self.path = str(path)
        self.problems = problems
        self.more = more
        lines = [f"{where}: {what}" for where, what in problems]
        if more:
            lines.append(f"(stopped after {len(problems)} errors)")
        super().__init__(f"{path}: bad market data\n  " + "\n  ".join(lines))


def data_format(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".parquet") or name.endswith(".pq"):
        return "parquet"
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".ndjson", ".jsonl", ".json")):
        return "ndjson"
    raise DataError(path, [(str(path), "unknown file type: name it *.ndjson, *.csv or *.parquet (.gz for text)")])


def load_records(path: Path | str) -> list[dict[str, Any]]:
    """Read and check every record of PATH, sorted by exchange time (stable: equal times keep file order)."""
    path = Path(path)
    fmt = data_format(path)
    if not path.is_file():
        raise DataError(path, [(str(path), "no such file")])
    if fmt == "parquet":
        fast = _parquet_fast(path)
        if fast is not None:
            return fast
    checker = _Checker(path, "row" if fmt == "parquet" else "line")
    reader = {"ndjson": _ndjson_rows, "csv": _csv_rows, "parquet": _parquet_rows}[fmt]
    try:
        records = [rec for number, raw in reader(path) if (rec := checker.check(number, raw)) is not None]
    except (OSError, EOFError, gzip.BadGzipFile, UnicodeDecodeError) as exc:
        raise DataError(path, [(str(path), f"cannot read: {exc}")]) from None
    checker.raise_if_bad()
    if not records:
        raise DataError(path, [(str(path), "no records")])
    records.sort(key=_ts)
    return records


def _ts(record: dict[str, Any]) -> int:
    return record["ts"]


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")  # noqa: SIM115 - closed by the caller's with


def _ndjson_rows(path: Path) -> Iterator[tuple[int, Any]]:
    with _open_text(path) as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except ValueError as exc:
                yield number, _Unparsable(f"not JSON: {exc}")


def _csv_rows(path: Path) -> Iterator[tuple[int, Any]]:
    with _open_text(path) as fh:
        reader = csv.DictReader(fh)
        for row in reader:
            yield reader.line_num, {k: v for k, v in row.items() if k is not None and v not in (None, "")}


def _parquet_rows(path: Path) -> Iterator[tuple[int, Any]]:
    pq = _pyarrow_parquet()
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ...
        raise DataError(path, [(str(path), f"not a readable Parquet file: {exc}")]) from None
    number = 0
    for batch in table.to_batches(max_chunksize=65536):
        for row in batch.to_pylist():
            number += 1
            yield number, {k: v for k, v in row.items() if v is not None}


def _parquet_fast(path: Path) -> list[dict[str, Any]] | None:
    """Columnar checks and conversion of a valid Parquet file (~10x the row-by-row path).

    Returns None when any check fails: the row-by-row checker then names every bad row and field.
    """
    pq = _pyarrow_parquet()
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        table = pq.read_table(path)
    except Exception:
        return None  # the row path reports it
    names = set(table.column_names)
    if not {"type", "symbol", "ts"} <= names or table.num_rows == 0:
        return None
    kinds, ts = table["type"], table["ts"]
    if not pa.types.is_integer(ts.type) or ts.null_count or pc.min(ts).as_py() < 0:
        return None
    if not pa.types.is_string(kinds.type) or not pa.types.is_string(table["symbol"].type):
        return None
    valid_symbol = pc.match_substring_regex(table["symbol"], "^" + SYMBOL.pattern + "$")
    if table["symbol"].null_count or not pc.all(valid_symbol).as_py():
        return None
    if not pc.all(pc.is_in(kinds, pa.array(TYPES))).as_py() or kinds.null_count:
        return None
    for kind, (required, optional) in FIELDS.items():
        rows = table.filter(pc.equal(kinds, kind))
        if rows.num_rows and not _columns_ok(rows, kind, required, optional, names):
            return None
    table = table.take(pc.sort_indices(table, [("ts", "ascending")]))
    return _rows_of(table, names)


def _columns_ok(rows: Any, kind: str, required: tuple[str, ...], optional: tuple[str, ...], names: set[str]) -> bool:
    import pyarrow as pa
    import pyarrow.compute as pc

    for name in required:
        if name not in names:
            return False
        column = rows[name]
        if column.null_count or not (pa.types.is_floating(column.type) or pa.types.is_integer(column.type)):
            return False
        if pa.types.is_floating(column.type) and not pc.all(pc.is_finite(column)).as_py():
            return False
        low = pc.min(column).as_py()
        if low < 0 or (low == 0 and name not in NON_NEGATIVE):
            return False
    for name in optional:
        if name in names:
            column = rows[name]
            wanted = pa.types.is_integer if name == "trades" else pa.types.is_string
            if column.null_count < len(column) and not wanted(column.type):
                return False
    if kind == "trade" and "side" in names:
        sides = rows["side"].drop_null()
        if len(sides) and not pc.all(pc.is_in(sides, pa.array(["buy", "sell", ""]))).as_py():
            return False
    return not (kind == "bar" and "trades" in names and (pc.min(rows["trades"]).as_py() or 0) < 0)


def _rows_of(table: Any, names: set[str]) -> list[dict[str, Any]]:
    columns = {name: table[name].to_pylist() for name in table.column_names if name in _KNOWN}
    out: list[dict[str, Any]] = []
    append = out.append
    for i, (kind, symbol, ts) in enumerate(zip(columns["type"], columns["symbol"], columns["ts"], strict=True)):
        record = {"type": kind, "symbol": symbol, "ts": ts}
        required, optional = FIELDS[kind]
        for name in required:
            record[name] = float(columns[name][i])
        for name in optional:
            column = columns.get(name)
            if column is not None and column[i] is not None:
                record[name] = column[i]
        append(record)
    return out


def _pyarrow_parquet() -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError("parquet", [("parquet", f"reading Parquet needs pyarrow: {INSTALL_HINT}")]) from None
    return pq


class _Unparsable:
    def __init__(self, why: str) -> None:
        self.why = why


class _Checker:
    """Turns raw rows into typed records; collects errors instead of stopping at the first."""

    def __init__(self, path: Path, unit: str) -> None:
        self.path, self.unit = path, unit
        self.problems: list[tuple[str, str]] = []
        self.more = False

    def raise_if_bad(self) -> None:
        if self.problems:
            raise DataError(self.path, self.problems, self.more)

    def _bad(self, number: int, field: str | None, what: str) -> None:
        if len(self.problems) >= MAX_ERRORS:
            self.more = True
            return
        where = f"{self.path.name}: {self.unit} {number}" + (f", field {field!r}" if field else "")
        self.problems.append((where, what))

    def check(self, number: int, raw: Any) -> dict[str, Any] | None:
        if isinstance(raw, _Unparsable):
            return self._bad(number, None, raw.why)
        if not isinstance(raw, dict):
            return self._bad(number, None, "a record must be an object with type, symbol and ts")
        kind = raw.get("type")
        if kind not in TYPES:
            return self._bad(number, "type", f"{kind!r} is not one of trade, quote, bar")
        errors = len(self.problems)
        symbol = raw.get("symbol")
        if not isinstance(symbol, str) or not SYMBOL.fullmatch(symbol):
            self._bad(number, "symbol", f"{symbol!r} is not a symbol (A-Z, 0-9 and '-', e.g. BTC-USD)")
        record: dict[str, Any] = {"type": kind, "symbol": symbol, "ts": self._int(number, raw, "ts", True)}
        if "venue" in raw:
            venue = record["venue"] = raw["venue"]
            if not isinstance(venue, str) or not VENUE.fullmatch(venue):
                self._bad(number, "venue", f"{venue!r} is not a venue (lowercase letters and digits, e.g. binance)")
        required, optional = FIELDS[kind]
        for name in required:
            record[name] = self._float(number, raw, name)
        for name in optional:
            if name in raw:
                is_int = name in ("trades", "update_id")
                record[name] = self._int(number, raw, name, False) if is_int else self._text(number, raw, name)
        if record.get("side", "buy") not in ("buy", "sell", ""):
            self._bad(number, "side", f"{record['side']!r} is not buy or sell")
        return record if len(self.problems) == errors and not self.more else None

    def _int(self, number: int, raw: dict[str, Any], name: str, required: bool) -> int:
        value = raw.get(name)
        if value is None:
            if required:
                self._bad(number, name, "missing (integer nanoseconds since the Unix epoch)")
            return 0
        try:
            out = int(value) if isinstance(value, str) else value
        except ValueError:
            out = None
        if isinstance(out, float) and out.is_integer():
            out = int(out)
        if not isinstance(out, int) or isinstance(out, bool) or out < 0:
            self._bad(number, name, f"{value!r} is not a non-negative integer")
            return 0
        return out

    def _float(self, number: int, raw: dict[str, Any], name: str) -> float:
        value = raw.get(name)
        if value is None:
            self._bad(number, name, "missing")
            return 0.0
        try:
            out = float(value) if isinstance(value, str | int | float) and not isinstance(value, bool) else None
        except ValueError:
            out = None
        if out is None or not math.isfinite(out):
            self._bad(number, name, f"{value!r} is not a finite number")
            return 0.0
        if out < 0 or (out == 0 and name not in NON_NEGATIVE):
            self._bad(number, name, f"{value!r} must be {'>= 0' if name in NON_NEGATIVE else '> 0'}")
        return out

    def _text(self, number: int, raw: dict[str, Any], name: str) -> str:
        value = raw[name]
        if isinstance(value, int | float) and not isinstance(value, bool) and name == "id":
            return str(value)
        if not isinstance(value, str):
            self._bad(number, name, f"{value!r} is not a string")
            return ""
        return value


# --- writing (the feed's recorder and tools) ---------------------------------------


class RecordWriter:
    """Append records to PATH in the format its name says; ``close()`` (or ``with``) finishes the file.

    Parquet is written in row groups of ``batch`` records with the columns of PARQUET_COLUMNS.
    """

    def __init__(self, path: Path | str, batch: int = 65536) -> None:
        self.path = Path(path)
        self.format = data_format(self.path)
        self.batch = batch
        self.pending: list[dict[str, Any]] = []
        self.count = 0
        self._parquet: Any = None
        self._text: Any = None
        self._csv: Any = None
        if self.format == "parquet":
            self._schema = parquet_schema()
        elif self.path.suffix == ".gz":
            self._text = io.TextIOWrapper(gzip.open(self.path, "wb"), encoding="utf-8")  # noqa: SIM115
        else:
            self._text = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def write(self, record: dict[str, Any]) -> None:
        self.count += 1
        if self.format == "ndjson":
            self._text.write(json.dumps(record, separators=(",", ":")) + "\n")
            return
        if self.format == "csv":
            if self._csv is None:
                self._csv = csv.DictWriter(self._text, [name for name, _ in PARQUET_COLUMNS], extrasaction="ignore")
                self._csv.writeheader()
            self._csv.writerow(record)
            return
        self.pending.append(record)
        if len(self.pending) >= self.batch:
            self._flush_parquet()

    def write_all(self, records: Iterable[dict[str, Any]]) -> None:
        for record in records:
            self.write(record)

    def _flush_parquet(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self.pending:
            return
        columns = {name: [r.get(name) for r in self.pending] for name, _ in PARQUET_COLUMNS}
        table = pa.Table.from_pydict(columns, schema=self._schema)
        if self._parquet is None:
            self._parquet = pq.ParquetWriter(self.path, self._schema, compression="zstd")
        self._parquet.write_table(table)
        self.pending = []

    def close(self) -> None:
        if self.format == "parquet":
            self._flush_parquet()
            if self._parquet is None:  # no record at all: still a valid, empty file
                self._flush_empty()
            else:
                self._parquet.close()
        else:
            self._text.close()

    def _flush_empty(self) -> None:
        import pyarrow.parquet as pq

        pq.write_table(self._schema.empty_table(), self.path)

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parquet_schema() -> Any:
    pq = _pyarrow_parquet()  # noqa: F841 - a clear error when pyarrow is missing
    import pyarrow as pa

    return pa.schema([(name, getattr(pa, kind)()) for name, kind in PARQUET_COLUMNS])


def write_records(path: Path | str, records: Iterable[dict[str, Any]]) -> int:
    with RecordWriter(path) as writer:
        writer.write_all(records)
    return writer.count
