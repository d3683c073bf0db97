"""Parameter sweeps: one sandboxed backtest per combination, in parallel processes, ranked by Sharpe."""

from __future__ import annotations

import csv
import json
import math
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..spec import Strategy
from .engine import BacktestOptions, backtest

RANK_KEYS = ("sharpe", "total_return")
COLUMNS = ("sharpe", "sortino", "total_return", "max_drawdown", "fills", "hit_rate", "turnover")
_records: list[dict[str, Any]] = []


def _init(records: list[dict[str, Any]]) -> None:
    global _records
    _records = records


def _one(strategy: Strategy, options: BacktestOptions, params: dict[str, Any]) -> dict[str, Any]:
    try:
        result = backtest(strategy, _records, options, params)
    except UserError as exc:
        return {"params": params, "error": exc.render()}
    return {"params": params, **{k: result.stats.get(k) for k in COLUMNS}, "warnings": result.warnings}


def run_grid(
    strategy: Strategy, records: list[dict[str, Any]], options: BacktestOptions, combos: list[dict], workers: int
) -> list[dict[str, Any]]:
    """Each combination in a worker process (which starts its own sandboxed executor)."""
    with ProcessPoolExecutor(max_workers=min(workers, len(combos)), initializer=_init, initargs=(records,)) as pool:
        return list(pool.map(_one, [strategy] * len(combos), [options] * len(combos), combos))


def rank(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Best first: highest Sharpe, then total return; failed and undefined ones last."""

    def key(row: dict[str, Any]) -> tuple:
        values = [row.get(k) for k in RANK_KEYS]
        return tuple((v is None or (isinstance(v, float) and math.isnan(v)), -(v or 0.0)) for v in values)

    ranked = sorted(rows, key=key)
    for n, row in enumerate(ranked, 1):
        row["rank"] = n
    return ranked


def flat(row: dict[str, Any], names: list[str]) -> dict[str, Any]:
    return {
        "rank": row["rank"],
        **{n: row["params"].get(n) for n in names},
        **{k: row.get(k) for k in COLUMNS},
        "error": row.get("error", ""),
    }


def write_sweep(path: Path, rows: list[dict[str, Any]], names: list[str]) -> None:
    if path.suffix.lower() == ".csv":
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, ["rank", *names, *COLUMNS, "error"])
            writer.writeheader()
            writer.writerows(flat(r, names) for r in rows)
    else:
        path.write_text(json.dumps(rows, indent=1), encoding="utf-8")


def sweep_table(rows: list[dict[str, Any]], names: list[str], title: str) -> Any:
    from rich.table import Table

    from .report import fmt

    kinds = {"sharpe": "num", "sortino": "num", "turnover": "num", "fills": "int"}
    table = Table(title=title)
    for column in ("#", *names, *COLUMNS):
        table.add_column(column, justify="right")
    for row in rows:
        cells = [str(row["params"].get(n)) for n in names]
        if "error" in row:
            table.add_row(str(row["rank"]), *cells, f"[red]{row['error'].splitlines()[0]}[/red]")
            continue
        table.add_row(str(row["rank"]), *cells, *(fmt(row.get(k), kinds.get(k, "pct")) for k in COLUMNS))
    return table
