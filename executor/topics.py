"""Subscriptions: ZeroMQ prefix filters plus the exact-topic check behind them.

A subscription is one of

* a kind, ``trades``: every venue, every symbol;
* a kind and venue, ``trades.binance``: every symbol of that venue;
* a topic, ``trades.binance.BTC-USDT``;
* the v1 shorthand ``trades.BTC-USD``, read as ``trades.sample.BTC-USD`` (the replayed sample's venue).

ZeroMQ filters by byte prefix, so ``trades.binance.BTC-USD`` also lets ``trades.binance.BTC-USDT``
through; :meth:`TopicFilter.accepts` drops those. A v1 feed's topics (``trades.BTC-USD``) are read
as venue ``sample``, so a v2 executor also follows a v1 feed.
"""

from __future__ import annotations

from collections.abc import Iterable

from executor.wire import DEFAULT_VENUE, KINDS, SYMBOL_RE, VENUE_RE, WireError, parse_topic

_CACHE_MAX = 65536
GRAMMAR = "'<kind>', '<kind>.<venue>' or '<kind>.<venue>.<SYMBOL>' (kind: trades, quotes, bars; venue: lowercase)"


def parse_subscription(sub: str) -> tuple[str, str | None, str | None]:
    """-> (kind, venue or None, symbol or None); ValueError naming the grammar otherwise."""
    parts = sub.split(".")
    if len(parts) == 2 and SYMBOL_RE.fullmatch(parts[1]) and not VENUE_RE.fullmatch(parts[1]):
        parts.insert(1, DEFAULT_VENUE)  # v1 shorthand: an upper-case symbol right after the kind
    ok = (
        1 <= len(parts) <= 3
        and parts[0] in KINDS
        and (len(parts) < 2 or bool(VENUE_RE.fullmatch(parts[1])))
        and (len(parts) < 3 or bool(SYMBOL_RE.fullmatch(parts[2])))
    )
    if not ok:
        raise ValueError(f"subscription {sub!r} must be {GRAMMAR}")
    return parts[0], (parts[1] if len(parts) > 1 else None), (parts[2] if len(parts) > 2 else None)


def canonical(sub: str) -> str:
    """The subscription in v2 form (``trades.BTC-USD`` -> ``trades.sample.BTC-USD``)."""
    return ".".join(p for p in parse_subscription(sub) if p)


class TopicFilter:
    def __init__(self, subscriptions: Iterable[str]) -> None:
        self.kinds: set[str] = set()
        self.venues: set[tuple[str, str]] = set()
        self.topics: set[tuple[str, str, str]] = set()
        for sub in subscriptions:
            kind, venue, symbol = parse_subscription(sub)
            if symbol and venue:
                self.topics.add((kind, venue, symbol))
            elif venue:
                self.venues.add((kind, venue))
            else:
                self.kinds.add(kind)
        self._cache: dict[bytes, bool] = {}

    def prefixes(self) -> list[bytes]:
        """What to pass to ``zmq.SUBSCRIBE`` (covered topics are not subscribed twice).

        Subscriptions on the ``sample`` venue also subscribe to the v1 topic form.
        """
        out = {f"{k}.".encode() for k in self.kinds}
        for kind, venue in self.venues:
            if kind not in self.kinds:
                out.add(f"{kind}.{venue}.".encode())
                if venue == DEFAULT_VENUE:
                    out.add(f"{kind}.".encode())  # v1 topics carry no venue to filter on
        for kind, venue, symbol in self.topics:
            if kind not in self.kinds and (kind, venue) not in self.venues:
                out.add(f"{kind}.{venue}.{symbol}".encode())
                if venue == DEFAULT_VENUE:
                    out.add(f"{kind}.{symbol}".encode())
        return sorted(out)

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
            kind, venue, symbol = parse_topic(topic.decode("ascii"))
        except (UnicodeDecodeError, WireError):
            return False
        return kind in self.kinds or (kind, venue) in self.venues or (kind, venue, symbol) in self.topics
