"""A backtest's result as a rich terminal summary, a JSON document, and a self-contained HTML report."""

from __future__ import annotations

import html
import io
import json
import math
from typing import Any

from .engine import BacktestResult, fill_rows

ROWS = (  # key, label, format
    ("total_return", "total return", "pct"),
    ("annualised_return", "annualised return", "pct"),
    ("sharpe", "Sharpe (annualised, 365 d)", "num"),
    ("sortino", "Sortino (annualised, 365 d)", "num"),
    ("max_drawdown", "max drawdown", "pct"),
    ("max_drawdown_duration_s", "max drawdown duration", "dur"),
    ("pnl", "PnL", "money"),
    ("fees", "fees", "money"),
    ("turnover", "turnover (x capital)", "num"),
    ("hit_rate", "hit rate (round trips)", "pct"),
    ("exposure", "exposure (time in market)", "pct"),
    ("fills", "fills", "int"),
    ("round_trips", "round trips", "int"),
    ("signals", "signals", "int"),
    ("events", "events handled", "int"),
)


def fmt(value: Any, kind: str) -> str:
    if value is None:
        return "n/a"
    if kind == "pct":
        return f"{value * 100:.2f} %"
    if kind == "money":
        return f"{value:,.2f}"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "dur":
        return _duration(value)
    return f"{value:.3f}"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    return " ".join(f"{n}{u}" for n, u in parts if n) or "0s"


def terminal(result: BacktestResult, console: Any) -> None:
    from rich.table import Table

    s = result.stats
    table = Table(title=f"backtest {result.strategy} on {result.data}", show_header=False)
    table.add_column("statistic")
    table.add_column("value", justify="right")
    table.add_row("period", f"{s['start'][:19]} .. {s['end'][:19]} UTC")
    table.add_row("params", json.dumps(result.params, sort_keys=True)[:80])
    for key, label, kind in ROWS:
        table.add_row(label, fmt(s.get(key), kind))
    console.print(table)
    positions = {k: v for k, v in result.fills.positions.items() if v}
    if positions:
        console.print("open positions at the end: " + ", ".join(f"{k} {v:g}" for k, v in sorted(positions.items())))
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)


def to_json(result: BacktestResult, full: bool = True) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "strategy": result.strategy,
        "params": result.params,
        "data": result.data,
        "records": result.records,
        "stats": _finite(result.stats),
        "executor": result.run.summary,
        "positions": result.fills.positions,
        "warnings": result.warnings,
    }
    if full:
        curve = result.curve
        doc["fills"] = fill_rows(result.fills.fills)
        doc["unfilled"] = result.fills.unfilled
        doc["round_trips"] = [vars(t) for t in result.fills.round_trips]
        doc["equity"] = [[t.isoformat(), float(v)] for t, v in zip(curve.index, curve["equity"], strict=True)]
    return doc


def _finite(stats: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in stats.items()}


# --- HTML ------------------------------------------------------------------------------------


def _svg(fig: Any) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def plots(result: BacktestResult) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    curve = result.curve
    fig, ax = plt.subplots(figsize=(10, 3))
    ax.plot(curve.index, curve["equity"], color="#1f6feb", linewidth=1)
    ax.set_title("equity")
    ax.grid(alpha=0.3)
    out.append(("Equity", _svg(fig)))
    plt.close(fig)
    peak = curve["equity"].cummax().clip(lower=result.stats["capital"])
    fig, ax = plt.subplots(figsize=(10, 2.2))
    ax.fill_between(curve.index, (curve["equity"] / peak - 1) * 100, 0, color="#d1242f", alpha=0.5)
    ax.set_title("drawdown (%)")
    ax.grid(alpha=0.3)
    out.append(("Drawdown", _svg(fig)))
    plt.close(fig)
    for symbol in sorted({f.symbol for f in result.fills.fills})[:6]:
        out.append((f"{symbol}: price and fills", _price_plot(plt, result, symbol)))
    return out


def _price_plot(plt: Any, result: BacktestResult, symbol: str) -> str:
    series = result.marks.get(symbol)
    fig, ax = plt.subplots(figsize=(10, 3))
    if series is not None and len(series):
        step = max(1, len(series) // 4000)  # a readable, small SVG
        ax.plot(series.index[::step], series.to_numpy()[::step], color="#57606a", linewidth=0.8)
    import pandas as pd

    own = [f for f in result.fills.fills if f.symbol == symbol]
    for sign, marker, color in ((1, "^", "#1a7f37"), (-1, "v", "#d1242f")):
        chosen = [f for f in own if (f.qty > 0) == (sign > 0)]
        if chosen:
            times = pd.to_datetime([f.ts for f in chosen], utc=True)
            ax.scatter(times, [f.price for f in chosen], marker=marker, color=color, s=28, zorder=3)
    ax.set_title(f"{symbol}: mark price, buys ▲ and sells ▼")
    ax.grid(alpha=0.3)
    text = _svg(fig)
    plt.close(fig)
    return text


def to_html(result: BacktestResult) -> str:
    s = result.stats
    rows = "".join(
        f"<tr><th>{html.escape(label)}</th><td>{html.escape(fmt(s.get(key), kind))}</td></tr>"
        for key, label, kind in ROWS
    )
    warnings = "".join(f"<li>{html.escape(w)}</li>" for w in result.warnings)
    figures = "".join(f"<h2>{html.escape(title)}</h2><figure>{svg}</figure>" for title, svg in plots(result))
    columns = ("ts", "symbol", "qty", "price", "fee")
    fills = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(row[k]))}</td>" for k in columns) + "</tr>"
        for row in fill_rows(result.fills.fills[:500])
    )
    title = html.escape(f"backtest {result.strategy} on {result.data}")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #1f2328; }}
table {{ border-collapse: collapse; margin: 1em 0; }} th, td {{ padding: 2px 12px; text-align: right; }}
th {{ text-align: left; font-weight: normal; color: #57606a; }} figure {{ margin: 0; }} svg {{ max-width: 100%; }}
</style></head><body>
<h1>{title}</h1>
<p>{html.escape(s["start"][:19])} to {html.escape(s["end"][:19])} UTC; params
<code>{html.escape(json.dumps(result.params, sort_keys=True))}</code>; capital {s["capital"]:,.2f}</p>
<table>{rows}</table>
{f"<h2>Warnings</h2><ul>{warnings}</ul>" if warnings else ""}
{figures}
<h2>Fills{" (first 500)" if len(result.fills.fills) > 500 else ""}</h2>
<table><tr><th>time</th><th>symbol</th><th>qty</th><th>price</th><th>fee</th></tr>{fills}</table>
</body></html>
"""
