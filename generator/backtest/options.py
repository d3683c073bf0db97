"""Backtest options from text (the CLI's flags, the API's JSON): times, durations, parameter values."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from ..errors import Problem, UserError


def parse_time(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UserError(
            f"invalid {option}",
            [Problem(option, repr(text), "give an ISO 8601 time, e.g. 2024-01-02T14:31:00Z")],
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ns|us|ms|s|min|m|h|d)?\s*")
_UNIT_NS = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9, "min": 60 * 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
_UNIT_NS["d"] = 86400 * 10**9


def parse_duration(text: str, option: str, default_unit: str) -> int:
    """'50ms', '1min', '0.5s' -> nanoseconds; a bare number is in DEFAULT_UNIT."""
    match = _DURATION.fullmatch(text)
    if not match:
        raise UserError(f"invalid {option}", [Problem(option, repr(text), "write e.g. 50ms, 2s, 1min or 1h")])
    return int(float(match.group(1)) * _UNIT_NS[match.group(2) or default_unit])


def parse_value(text: str) -> Any:
    """A grid or --param value: an int, a float, true/false, else the string itself."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip()


def parse_assignments(items: tuple[str, ...], option: str, many: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        name, eq, values = item.partition("=")
        if not eq or not name.strip() or not values.strip():
            example = "fast=5,10,20" if many else "fast=5"
            raise UserError(f"invalid {option}", [Problem(option, repr(item), f"write NAME=VALUE, e.g. {example}")])
        parsed = [parse_value(v) for v in values.split(",")] if many else parse_value(values)
        out[name.strip()] = parsed
    return out


NUMBERS = ("unit", "fee_maker", "fee_taker", "slippage", "max_position", "max_notional", "capital", "risk_free")
TEXTS = ("mode", "latency", "sample", "from", "to")


def from_json(doc: Any, seconds: float) -> tuple[Any, dict[str, Any]]:
    """The API's `options` map -> (BacktestOptions, parameter overrides); every problem at once."""
    from .engine import BacktestOptions
    from .fills import MODES, FillOptions
    from .strategy_run import RunLimits

    doc = {} if doc is None else doc
    if not isinstance(doc, dict):
        raise UserError("invalid options", [Problem("options", "must be a map")])
    problems = [
        Problem(f"options.{k}", "unknown option", f"allowed: {', '.join((*NUMBERS, *TEXTS, 'params'))}")
        for k in doc
        if k not in (*NUMBERS, *TEXTS, "params")
    ]
    for key in NUMBERS:
        value = doc.get(key)
        if value is not None and not (isinstance(value, int | float) and not isinstance(value, bool) and value >= 0):
            problems.append(Problem(f"options.{key}", f"{value!r} is not a number >= 0"))
    for key in TEXTS:
        if doc.get(key) is not None and not isinstance(doc[key], str):
            problems.append(Problem(f"options.{key}", f"{doc[key]!r} is not a string"))
    if doc.get("mode", "long-only") not in MODES:
        problems.append(Problem("options.mode", f"{doc.get('mode')!r}", f"one of {', '.join(MODES)}"))
    params = doc.get("params", {})
    if not isinstance(params, dict):
        problems.append(Problem("options.params", "must be a map of parameter values"))
    if problems:
        raise UserError("invalid backtest options", problems)
    fills = FillOptions(
        doc.get("mode", "long-only"),
        float(doc.get("unit") or 1.0),
        parse_duration(doc.get("latency") or "0ms", "options.latency", "ms"),
        float(doc.get("fee_maker") or 0.0),
        float(doc.get("fee_taker") or 0.0),
        float(doc.get("slippage") or 0.0),
        doc.get("max_position"),
        doc.get("max_notional"),
        float(doc.get("capital") or 100_000.0),
    )
    sample = parse_duration(doc.get("sample") or "1min", "options.sample", "s")
    if sample < 10**9:
        raise UserError("invalid backtest options", [Problem("options.sample", "under 1s", "sample every 1s or more")])
    options = BacktestOptions(
        fills=fills,
        start=parse_time(doc.get("from"), "options.from"),
        end=parse_time(doc.get("to"), "options.to"),
        sample_seconds=sample / 1e9,
        risk_free=float(doc.get("risk_free") or 0.0),
        limits=RunLimits(seconds=seconds),
    )
    return options, params
