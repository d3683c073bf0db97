"""stratops executor: runs one strategy against the ZeroMQ market feed (see docs/strategy-api.md)."""

from executor.api import Signal, Strategy, TimerEvent
from executor.events import Bar, Quote, Trade

__all__ = ["Bar", "Quote", "Signal", "Strategy", "TimerEvent", "Trade"]
__version__ = "0.1.0"
