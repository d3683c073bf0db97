"""Per-venue feed metrics in Prometheus format (``stratops feed --metrics-port``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

PREFIX = "stratops_feed_"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class FeedMetrics:
    """One registry per feed process; every series carries the venue."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r, p = self.registry, PREFIX
        self.frames = Counter(
            p + "exchange_frames", "Websocket frames received from the exchange.", ["venue"], registry=r
        )
        self.published = Counter(
            p + "messages", "Events normalised and published (rate() = messages/s).", ["venue", "kind"], registry=r
        )
        self.reconnects = Counter(p + "reconnects", "Websocket reconnections after an error.", ["venue"], registry=r)
        self.stale = Counter(
            p + "stale_streams", "Streams silent past --stale seconds (then reconnected).", ["venue"], registry=r
        )
        self.gaps = Counter(
            p + "gaps",
            "Exchange-side sequence gaps detected (trade ids, sequence numbers).",
            ["venue", "kind"],
            registry=r,
        )
        self.missed = Counter(
            p + "missed_events", "Events missing according to the exchange's ids.", ["venue"], registry=r
        )
        self.resynced = Counter(
            p + "resynced_events", "Missing events recovered from the REST snapshot.", ["venue"], registry=r
        )
        self.duplicates = Counter(
            p + "duplicates", "Events dropped because their id was published already.", ["venue"], registry=r
        )
        self.bad = Counter(
            p + "bad_messages", "Frames that were malformed or of an unknown kind.", ["venue", "reason"], registry=r
        )
        self.latency = Histogram(
            p + "exchange_latency_seconds",
            "Exchange event time to publish (includes clock skew between the exchange and this host).",
            ["venue", "kind"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )

    def serve(self, port: int, addr: str = "0.0.0.0") -> None:  # noqa: S104 - a metrics port is meant to be scraped
        start_http_server(port, addr, registry=self.registry)
