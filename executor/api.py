"""The strategy API: subclass :class:`Strategy`, override the handlers you need.

See docs/strategy-api.md for the full contract.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from typing import Any, Protocol

from executor.events import Bar, Quote, Trade

SIDES = ("buy", "sell", "flat")
META_MAX = 4096


@dataclass(slots=True, frozen=True)
class Signal:
    """A trading signal. ``strength`` in [0, 1] is conviction; ``size`` is an optional quantity."""

    symbol: str
    side: str
    strength: float = 1.0
    size: float | None = None
    reason: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.symbol, str) or not self.symbol:
            raise ValueError("Signal.symbol must be a non-empty string")
        if self.side not in SIDES:
            raise ValueError(f"Signal.side must be one of {SIDES}, got {self.side!r}")
        if not (isinstance(self.strength, int | float) and 0.0 <= self.strength <= 1.0):
            raise ValueError(f"Signal.strength must be a number in [0, 1], got {self.strength!r}")
        if self.size is not None and not (
            isinstance(self.size, int | float) and math.isfinite(self.size) and self.size >= 0
        ):
            raise ValueError(f"Signal.size must be a finite number >= 0, got {self.size!r}")
        if not isinstance(self.reason, str) or len(self.reason) > 1024:
            raise ValueError("Signal.reason must be a string of at most 1024 characters")
        if not isinstance(self.meta, dict) or len(json.dumps(self.meta, default=str)) > META_MAX:
            raise ValueError(f"Signal.meta must be a dict of at most {META_MAX} bytes as JSON (the sink drops larger)")


@dataclass(slots=True, frozen=True)
class TimerEvent:
    name: str
    interval: float
    ts: int  # wall clock, ns


class Context(Protocol):
    """What the runner gives a strategy (internal; strategies use the Strategy methods)."""

    def emit(self, signal: Signal) -> None: ...

    def schedule(self, name: str, interval: float) -> None: ...

    def save_state(self) -> None: ...


class Strategy:
    """Base class of every strategy. Handlers run one at a time on one thread.

    Attributes set by the executor before ``on_start``:
    ``params`` (dict from the spec), ``state`` (dict, persisted atomically to the state
    directory on stop and by :meth:`save_state`), ``log`` (a :class:`logging.Logger`),
    ``name`` and ``tenant``.
    """

    params: dict[str, Any]
    state: dict[str, Any]
    log: logging.Logger
    name: str = ""
    tenant: str = ""
    # Typed parameter declarations, read statically (never imported) by validate/deploy/backtest:
    # name -> {"type": integer|number|string|boolean, "default", "minimum", "maximum", "enum", "description"}
    parameters: dict[str, dict[str, Any]] = {}  # noqa: RUF012 - a literal the AST reader parses

    def __init__(self) -> None:
        self.params = {}
        self.state = {}
        self.log = logging.getLogger("strategy")
        self._ctx: Context | None = None

    # -- handlers (override) -------------------------------------------------------
    def on_start(self) -> None:
        """Called once, after params and state are loaded, before the first event."""

    def on_trade(self, trade: Trade) -> None:
        """Called for every trade on a subscribed topic."""

    def on_quote(self, quote: Quote) -> None:
        """Called for every top-of-book quote on a subscribed topic."""

    def on_bar(self, bar: Bar) -> None:
        """Called for every bar (1s and 1m) on a subscribed topic."""

    def on_timer(self, timer: TimerEvent) -> None:
        """Called for every tick of a timer set with :meth:`schedule`."""

    def on_stop(self) -> None:
        """Called once on shutdown (SIGTERM or /drainz); state is saved right after."""

    # -- services (call) -----------------------------------------------------------
    def emit(self, signal: Signal | None = None, /, **fields: Any) -> Signal:
        """Send a signal to the sink: ``emit(Signal(...))`` or ``emit(symbol=..., side=...)``."""
        sig = signal if signal is not None else Signal(**fields)
        if not isinstance(sig, Signal):
            raise TypeError("emit() takes a Signal or Signal fields as keywords")
        self._context().emit(sig)
        return sig

    def schedule(self, interval: float, name: str = "timer") -> None:
        """Call ``on_timer`` every ``interval`` seconds (>= 0.01); same name replaces a timer."""
        if not isinstance(interval, int | float) or not interval >= 0.01:
            raise ValueError("schedule() interval must be a number of seconds >= 0.01")
        self._context().schedule(name, float(interval))

    def save_state(self) -> None:
        """Persist ``self.state`` now (atomic temp file + rename); it is also saved on stop."""
        self._context().save_state()

    def _context(self) -> Context:
        if self._ctx is None:
            raise RuntimeError("strategy is not attached to an executor yet (use on_start, not __init__)")
        return self._ctx
