"""Executor metrics: plain ints on the hot path, exported through a prometheus-client collector.

prometheus-client's own Histogram takes a lock per observation; the executor observes two
values per event, so it keeps lock-free counters here (single writer: the event loop thread)
and converts them into metric families only when /metrics is scraped.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence

from prometheus_client import ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

PREFIX = "stratops_executor_"
LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.002,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class FastHistogram:
    """Nanosecond observations, second-valued buckets; one writer thread."""

    __slots__ = ("bounds_ns", "buckets", "counts", "sum_ns")

    def __init__(self, buckets: Sequence[float] = LATENCY_BUCKETS) -> None:
        self.buckets = tuple(buckets)
        self.bounds_ns = [int(b * 1e9) for b in self.buckets]
        self.counts = [0] * (len(self.buckets) + 1)
        self.sum_ns = 0

    def observe_ns(self, value_ns: int) -> None:
        self.counts[bisect_left(self.bounds_ns, value_ns)] += 1
        self.sum_ns += value_ns

    def cumulative(self) -> list[tuple[str, float]]:
        out, running = [], 0
        for bound, count in zip(self.buckets, self.counts, strict=False):
            running += count
            out.append((repr(float(bound)), float(running)))
        out.append(("+Inf", float(running + self.counts[-1])))
        return out

    def quantile(self, q: float) -> float:
        """Upper bucket bound that covers quantile ``q`` (seconds); inf when past the last bucket."""
        total = sum(self.counts)
        if total == 0:
            return 0.0
        target, running = q * total, 0
        for bound, count in zip(self.buckets, self.counts, strict=False):
            running += count
            if running >= target:
                return bound
        return float("inf")


class ExecutorMetrics(Collector):
    COUNTERS = {
        "handler_errors": "Handler calls that raised.",
        "sequence_gaps": "Per-topic sequence gaps detected.",
        "missed_messages": "Messages missing according to per-topic sequence numbers.",
        "feed_sessions": "Feed sessions seen (a new session id means the feed restarted).",
        "reconnects": "Times the executor re-created its feed connection after silence.",
        "heartbeats": "Heartbeats received from the feed.",
        "decode_errors": "Messages dropped because they do not follow the wire format.",
        "filtered": "Messages dropped by the exact-topic check after the prefix filter.",
        "duplicates_dropped": "Messages dropped because their topic's seq was delivered already (snapshot overlap).",
        "snapshots": "Last values received from the feed's cache on joining.",
        "signals": "Signals pushed to the sink.",
        "signals_dropped": "Signals dropped because the sink did not accept them in time.",
        "watchdog_trips": "Handlers that ran past the deadline.",
        "timer_ticks": "on_timer calls.",
    }

    def __init__(self, strategy: str, tenant: str) -> None:
        self.labels = {"strategy": strategy, "tenant": tenant}
        self.events: dict[str, int] = {"trades": 0, "quotes": 0, "bars": 0}
        self.counts: dict[str, int] = dict.fromkeys(self.COUNTERS, 0)
        self.consecutive_errors = 0
        self.handler = FastHistogram()
        self.lag = FastHistogram()
        self.ready = 0
        self.failed = 0
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)
        # CPU seconds, resident memory and start time of this process (from /proc/self): dashboards chart CPU and
        # memory, and count restarts as changes of the start time, from the executor's own endpoint.
        ProcessCollector(registry=self.registry)

    def inc(self, name: str, by: int = 1) -> None:
        self.counts[name] += by

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        names, values = list(self.labels), list(self.labels.values())
        ev = CounterMetricFamily(PREFIX + "events", "Market events delivered to handlers.", labels=[*names, "kind"])
        for kind, count in self.events.items():
            ev.add_metric([*values, kind], count)
        yield ev
        for key, doc in self.COUNTERS.items():
            fam = CounterMetricFamily(PREFIX + key, doc, labels=names)
            fam.add_metric(values, self.counts[key])
            yield fam
        yield from self._gauges(names, values)
        yield from self._histograms(names, values)

    def _gauges(self, names: list[str], values: list[str]) -> Iterator[GaugeMetricFamily]:
        for key, value, doc in (
            ("consecutive_errors", self.consecutive_errors, "Handler errors since the last success."),
            ("ready", self.ready, "1 when the executor is ready."),
            ("failed", self.failed, "1 when the strategy was marked failed."),
        ):
            fam = GaugeMetricFamily(PREFIX + key, doc, labels=names)
            fam.add_metric(values, value)
            yield fam

    def _histograms(self, names: list[str], values: list[str]) -> Iterator[HistogramMetricFamily]:
        for key, hist, doc in (
            ("handler_seconds", self.handler, "Time spent in one handler call."),
            ("feed_lag_seconds", self.lag, "Feed publish to handler start (same-clock hosts)."),
        ):
            fam = HistogramMetricFamily(PREFIX + key, doc, labels=names)
            fam.add_metric(values, hist.cumulative(), hist.sum_ns / 1e9)
            yield fam
