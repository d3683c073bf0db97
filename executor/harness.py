"""Run a strategy over recorded data in-process, without ZeroMQ: for unit tests and quick checks.

signals = replay(MyStrategy, load_records(sample_path()), params={...}, subscriptions=["bars"])
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from executor.api import Signal, Strategy
from executor.events import bar_from, quote_from, trade_from
from executor.topics import TopicFilter
from executor.wire import record_topic

_BUILD = {"trade": (trade_from, "on_trade"), "quote": (quote_from, "on_quote"), "bar": (bar_from, "on_bar")}


class _Context:
    def __init__(self) -> None:
        self.signals: list[Signal] = []

    def emit(self, signal: Signal) -> None:
        self.signals.append(signal)

    def schedule(self, name: str, interval: float) -> None:
        """Timers do not fire in a replay (there is no wall clock)."""

    def save_state(self) -> None:
        """Nothing to persist in a replay."""


def replay(
    cls: type[Strategy],
    records: Iterable[dict[str, Any]],
    params: dict[str, Any] | None = None,
    subscriptions: Iterable[str] = ("trades", "quotes", "bars"),
    state: dict[str, Any] | None = None,
) -> list[Signal]:
    strategy, ctx = cls(), _Context()
    strategy.params, strategy.state = dict(params or {}), state if state is not None else {}
    strategy.log, strategy._ctx = logging.getLogger("strategy.replay"), ctx
    filt = TopicFilter(subscriptions)
    strategy.on_start()
    seq = 0
    for rec in records:
        topic = record_topic(rec)
        if not filt.accepts(topic):
            continue
        seq += 1
        build, name = _BUILD[rec["type"]]
        getattr(strategy, name)(build(rec, rec["ts"], rec["ts"], seq))
    strategy.on_stop()
    return ctx.signals
