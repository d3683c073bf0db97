"""`stratops backtest SPEC`: the strategy's own code over recorded data, with fills, PnL and statistics."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from ..backtest.options import parse_assignments, parse_duration, parse_time
from ..errors import Problem, UserError

HEAVY = ("numpy", "pandas", "pyarrow", "matplotlib")
INSTALL = "pip install 'stratops[backtest]'"


def require_backtest_extra() -> None:
    import importlib.util

    missing = [name for name in HEAVY if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(
            "backtests need the backtest extra",
            [Problem("python", f"missing {', '.join(missing)}", f"install it: {INSTALL}")],
        )


def _non_negative(value: float | None, option: str) -> None:
    if value is not None and not value >= 0:
        raise UserError(f"invalid {option}", [Problem(option, f"{value}", "give a number >= 0")])


@click.command()
@click.argument("spec", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--data",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Recorded data: .ndjson[.gz], .csv[.gz] or .parquet (default: the bundled synthetic sample).",
)
@click.option("--from", "start", default=None, metavar="TIME", help="ISO 8601 start time (inclusive).")
@click.option("--to", "end", default=None, metavar="TIME", help="ISO 8601 end time (exclusive).")
@click.option(
    "--mode",
    type=click.Choice(["long-only", "long-short"]),
    default="long-only",
    show_default=True,
    help="What `sell` means: go flat (long-only) or short (long-short).",
)
@click.option("--unit", type=float, default=1.0, show_default=True, help="Position per unit of strength.")
@click.option("--latency", default="0ms", show_default=True, help="Signal-to-order delay (data time), e.g. 50ms.")
@click.option("--fee-maker", type=float, default=0.0, show_default=True, help="Maker fee, bps of notional.")
@click.option("--fee-taker", type=float, default=0.0, show_default=True, help="Taker fee, bps of notional.")
@click.option("--slippage", type=float, default=0.0, show_default=True, help="Price moved against each order, bps.")
@click.option("--max-position", type=float, default=None, help="Cap on |position| per symbol, in units.")
@click.option("--max-notional", type=float, default=None, help="Cap on |position| x price per symbol.")
@click.option("--capital", type=float, default=100_000.0, show_default=True, help="Starting equity.")
@click.option("--sample", default="1min", show_default=True, help="Return sampling for Sharpe/Sortino, e.g. 1min.")
@click.option("--risk-free", type=float, default=0.0, show_default=True, help="Annual risk-free rate, e.g. 0.04.")
@click.option("--param", "param_items", multiple=True, metavar="NAME=VALUE", help="Override a parameter.")
@click.option(
    "--grid",
    "grid_items",
    multiple=True,
    metavar="NAME=V1,V2,...",
    help="Sweep parameters (repeatable; one backtest per combination, in parallel processes).",
)
@click.option(
    "--grid-out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the ranked sweep as .json or .csv.",
)
@click.option("--jobs", type=int, default=None, help="Parallel backtests in a sweep (default: cores - 1).")
@click.option("--timeout", type=float, default=600.0, show_default=True, help="Wall-time limit per backtest (s).")
@click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON.")
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write a self-contained HTML report with plots.",
)
def backtest(spec: Path, data: Path | None, start: str | None, end: str | None, mode: str, unit: float,
             latency: str, fee_maker: float, fee_taker: float, slippage: float, max_position: float | None,
             max_notional: float | None, capital: float, sample: str, risk_free: float,
             param_items: tuple[str, ...], grid_items: tuple[str, ...], grid_out: Path | None, jobs: int | None,
             timeout: float, as_json: bool, html_path: Path | None) -> None:  # fmt: skip
    """Backtest SPEC's strategy: its own code, sandboxed like a live executor, with a fill model and statistics.

    Signals set target positions, filled at the next quote (or trade) after --latency, with fees and
    slippage; see docs/backtest.md for every assumption.
    """
    require_backtest_extra()
    from ..backtest.engine import BacktestOptions, load_data
    from ..backtest.fills import FillOptions
    from ..backtest.strategy_run import RunLimits
    from ..params import check_params
    from ..spec import load_spec

    for value, option in ((fee_maker, "--fee-maker"), (fee_taker, "--fee-taker"), (slippage, "--slippage"),
                          (max_position, "--max-position"), (max_notional, "--max-notional")):  # fmt: skip
        _non_negative(value, option)
    if not unit > 0 or not capital > 0 or not timeout > 0:
        raise UserError("invalid option", [Problem("--unit/--capital/--timeout", "must be > 0")])
    strategy = load_spec(spec)
    sample_ns = parse_duration(sample, "--sample", "s")
    if sample_ns < 10**9:
        raise UserError("invalid --sample", [Problem("--sample", repr(sample), "sample every 1s or more")])
    options = BacktestOptions(
        fills=FillOptions(
            mode,
            unit,
            parse_duration(latency, "--latency", "ms"),
            fee_maker,
            fee_taker,
            slippage,
            max_position,
            max_notional,
            capital,
        ),  # fmt: skip
        start=parse_time(start, "--from"),
        end=parse_time(end, "--to"),
        sample_seconds=sample_ns / 1e9,
        risk_free=risk_free,
        limits=RunLimits(seconds=timeout),
    )
    params = {**strategy.params, **parse_assignments(param_items, "--param", many=False)}
    grid = parse_assignments(grid_items, "--grid", many=True)
    check_params(strategy, [params] if not grid else _combinations(params, grid))
    records = load_data(data, options.start, options.end)
    name = data.name if data else "the bundled synthetic sample"
    if grid:
        _sweep(strategy, records, options, params, grid, name, grid_out, jobs, as_json)
    else:
        _single(strategy, records, options, params, name, as_json, html_path)


def _combinations(base: dict[str, Any], grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    from itertools import product

    names = list(grid)
    return [{**base, **dict(zip(names, combo, strict=True))} for combo in product(*(grid[n] for n in names))]


def _single(strategy, records, options, params, name, as_json: bool, html_path: Path | None) -> None:
    from rich.console import Console

    from ..backtest.engine import backtest as run
    from ..backtest.report import terminal, to_html, to_json

    console = Console(stderr=as_json)
    with console.status("running the strategy in its sandbox...") if console.is_terminal else _null():
        result = run(strategy, records, options, params, name)
    if html_path is not None:
        html_path.write_text(to_html(result), encoding="utf-8")
    if as_json:
        click.echo(json.dumps(to_json(result), indent=1))
    else:
        terminal(result, console)
        if html_path is not None:
            console.print(f"report: {html_path}")


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _sweep(strategy, records, options, base, grid, name, grid_out: Path | None, jobs: int | None, as_json) -> None:
    from rich.console import Console

    from ..backtest.sweep import rank, run_grid, sweep_table, write_sweep

    combos = _combinations(base, grid)
    workers = jobs if jobs and jobs > 0 else max(1, (os.cpu_count() or 2) - 1)
    console = Console(stderr=as_json)
    rows = rank(run_grid(strategy, records, options, combos, workers))
    if grid_out is not None:
        write_sweep(grid_out, rows, list(grid))
    if as_json:
        click.echo(json.dumps(rows, indent=1))
    else:
        console.print(sweep_table(rows, list(grid), f"sweep of {strategy.key} on {name}"))
        if grid_out is not None:
            console.print(f"written: {grid_out}")
