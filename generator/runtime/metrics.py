"""Per-executor figures for the status: its /metrics (Prometheus text) and /proc.

Rates and the lag p99 are over the window since the previous scrape, so they show the
present, not the average since start. p99 is interpolated inside the histogram bucket,
as Prometheus' histogram_quantile does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

PREFIX = "stratops_executor_"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Scrape:
    at: float
    counters: dict[str, float] = field(default_factory=dict)  # name without prefix -> value
    lag_buckets: list[tuple[float, float]] = field(default_factory=list)  # (upper bound s, cumulative count)


def parse(text: str, at: float) -> Scrape:
    scrape = Scrape(at)
    for family in text_string_to_metric_families(text):
        name = family.name.removeprefix(PREFIX)
        for sample in family.samples:
            if sample.name.endswith("_total") or family.type == "gauge":
                scrape.counters[name] = scrape.counters.get(name, 0.0) + sample.value
            elif name == "feed_lag_seconds" and sample.name.endswith("_bucket"):
                scrape.lag_buckets.append((float(sample.labels["le"]), sample.value))
    return scrape


def rate(new: Scrape, old: Scrape | None, counter: str) -> float:
    if old is None or new.at <= old.at:
        return 0.0
    return max(0.0, new.counters.get(counter, 0.0) - old.counters.get(counter, 0.0)) / (new.at - old.at)


def lag_p99_ms(new: Scrape, old: Scrape | None, q: float = 0.99) -> float | None:
    """p99 of the feed lag observed between two scrapes (None when no event arrived)."""
    before = dict(old.lag_buckets) if old else {}
    window = [(bound, count - before.get(bound, 0.0)) for bound, count in sorted(new.lag_buckets)]
    total = window[-1][1] if window else 0.0
    if total <= 0:
        return None
    target, lower, below = q * total, 0.0, 0.0
    for bound, cumulative in window:
        if cumulative >= target:
            if bound == float("inf"):
                return lower * 1000.0
            share = (target - below) / (cumulative - below) if cumulative > below else 1.0
            return (lower + (bound - lower) * share) * 1000.0
        lower, below = bound, cumulative
    return lower * 1000.0


@dataclass
class ProcSample:
    at: float
    cpu_seconds: float
    rss_bytes: int


def proc_sample(pid: int, at: float) -> ProcSample | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/statm", encoding="ascii") as fh:
            resident = int(fh.read().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return ProcSample(at, (int(fields[11]) + int(fields[12])) / CLOCK_TICKS, resident * PAGE_SIZE)


def cpu_percent(new: ProcSample, old: ProcSample | None) -> float:
    if old is None or new.at <= old.at:
        return 0.0
    return max(0.0, new.cpu_seconds - old.cpu_seconds) / (new.at - old.at) * 100.0


def start_time(pid: int) -> int | None:
    """The process start time in clock ticks since boot: tells a pid from a reused one."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def children(pid: int) -> list[int]:
    """Direct children of PID (/proc/PID/task/*/children)."""
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as fh:
                out += [int(c) for c in fh.read().split()]
        except (OSError, ValueError):
            continue
    return out


def tree(pid: int, limit: int = 1024) -> list[int]:
    """PID and its descendants (a sandboxed executor is bwrap, the executor, and what the strategy started)."""
    out, todo = [], [pid]
    while todo and len(out) < limit:
        current = todo.pop()
        out.append(current)
        todo += children(current)
    return out


def tree_sample(pid: int, at: float) -> ProcSample | None:
    """CPU and RSS of PID and its descendants, summed."""
    samples = [s for s in (proc_sample(p, at) for p in tree(pid)) if s is not None]
    if not samples:
        return None
    return ProcSample(at, sum(s.cpu_seconds for s in samples), sum(s.rss_bytes for s in samples))
