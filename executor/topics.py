"""Subscriptions: ZeroMQ prefix filters plus the exact-topic check behind them.

A subscription is a kind (``trades``: every symbol) or a full topic (``trades.BTC-USD``).
ZeroMQ filters by byte prefix, so ``trades.BTC-USD`` also lets ``trades.BTC-USDT`` through;
:meth:`TopicFilter.accepts` drops those.
"""

from __future__ import annotations

from collections.abc import Iterable

from executor.wire import KINDS

_CACHE_MAX = 65536


class TopicFilter:
    def __init__(self, subscriptions: Iterable[str]) -> None:
        self.kinds: set[str] = set()
        self.topics: set[str] = set()
        for sub in subscriptions:
            kind, dot, symbol = sub.partition(".")
            if kind not in KINDS or (dot and not symbol):
                raise ValueError(f"subscription {sub!r} must be a kind {KINDS} or '<kind>.<SYMBOL>'")
            (self.topics.add(sub) if symbol else self.kinds.add(kind))
        self._cache: dict[bytes, bool] = {}

    def prefixes(self) -> list[bytes]:
        """What to pass to ``zmq.SUBSCRIBE`` (covered topics are not subscribed twice)."""
        out = [f"{k}.".encode() for k in sorted(self.kinds)]
        out += [t.encode() for t in sorted(self.topics) if t.partition(".")[0] not in self.kinds]
        return out

    def accepts(self, topic: bytes) -> bool:
        hit = self._cache.get(topic)
        if hit is None:
            hit = self._match(topic)
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[topic] = hit
        return hit

    def _match(self, topic: bytes) -> bool:
        try:
            text = topic.decode("ascii")
        except UnicodeDecodeError:
            return False
        kind, dot, symbol = text.partition(".")
        return bool(dot and symbol) and (kind in self.kinds or text in self.topics)
