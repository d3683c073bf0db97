"""Local runtime benchmark (not a test; run: python tests/bench/bench_runtime.py [N]).

One run on this machine:
1. bulk-create N strategies (default 100) in one commit, start `up` in this process, time to all Running and ready;
2. with the feed at 1,000 events/s (10 symbols) and each strategy subscribed to the trades, quotes and
   bars of one symbol (~100 events/s each; `all` as 2nd argument: every topic, 1,000 events/s each):
   per-strategy feed-lag p99 over a 20 s window (from each executor's own histogram), events/s each
   executor handled, total RSS (executors + up + feed + sink) and CPU;
3. reconcile of a 1-strategy change with N running (render + admit + apply, and commit -> new process
   started), against the cold reconcile of all N folders at start (the baseline).
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path, PurePosixPath

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import git  # noqa: E402

from generator import actions  # noqa: E402
from generator.render import folder_files, strategy_dir  # noqa: E402
from generator.runtime import metrics  # noqa: E402
from generator.runtime.runtime import Options, Runtime  # noqa: E402
from generator.spec import UNCAPPED, strategy_from_document  # noqa: E402

AUTHOR = git.Actor("Bench", "bench@example.com")
CODE = """from executor import Strategy


class Noop(Strategy):
    def on_trade(self, trade):
        pass

    def on_quote(self, quote):
        pass
"""
WINDOW = 20.0
PROBE = """
import sys, time, zmq
from executor import wire
sock = zmq.Context.instance().socket(zmq.SUB)
for kind in ("trades", "quotes", "bars"):
    sock.setsockopt(zmq.SUBSCRIBE, f"{kind}.{sys.argv[2]}".encode())
sock.connect(sys.argv[1])
lags, end = [], time.monotonic() + float(sys.argv[3])
while time.monotonic() < end:
    if sock.poll(100):
        topic, header, _ = sock.recv_multipart()
        now = time.time_ns()
        if wire.HEADER.unpack(header)[1] != wire.HEARTBEAT:
            lags.append(now - wire.HEADER.unpack(header)[5])
lags.sort()
print(len(lags), lags[int(len(lags) * 0.99)] / 1e6 if lags else -1)
"""


SYMBOLS = (
    "ADA-USD",
    "AVAX-USD",
    "BTC-USD",
    "BTC-USDT",
    "DOGE-USD",
    "ETH-USD",
    "LINK-USD",
    "LTC-USD",
    "SOL-USD",
    "XRP-USD",
)
TOPICS = "symbol"


def subscriptions(name: str) -> list[str]:
    if TOPICS == "all":
        return ["trades", "quotes", "bars"]
    symbol = SYMBOLS[int(name[1:]) % len(SYMBOLS)]
    return [f"trades.{symbol}", f"quotes.{symbol}", f"bars.{symbol}"]


def spec(name: str, code: str) -> object:
    doc = {
        "apiVersion": "stratops.io/v1",
        "kind": "Strategy",
        "metadata": {"name": name, "tenant": "bench"},
        "spec": {
            "code": {"file": "noop.py", "class": "Noop"},
            "subscriptions": subscriptions(name),
            "resources": {"cpu": "250m", "memory": "256Mi"},
        },
    }
    return strategy_from_document(doc, name, {"noop.py": code.encode()}, UNCAPPED)


def bulk_commit(fleet, names: list[str], code: str) -> float:
    started = time.perf_counter()
    changes = {strategy_dir("bench", n): folder_files(spec(n, code)) for n in names}
    with fleet.lock():
        fleet.commit_folders(changes, f"bench: {len(names)} strategies", AUTHOR)
    return time.perf_counter() - started


def wait(predicate, timeout: float) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise SystemExit(f"gave up after {timeout}s")
        time.sleep(0.05)
    return time.monotonic() - started


def main() -> None:
    global TOPICS
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    TOPICS = sys.argv[2] if len(sys.argv) > 2 else "symbol"
    tmp = Path(tempfile.mkdtemp(prefix="bench-runtime-"))
    fleet = actions.init(tmp / "fleet", "local", AUTHOR)
    names = [f"s{i:03d}" for i in range(count)]
    print(f"bulk commit of {count} strategies: {bulk_commit(fleet, names, CODE):.2f} s")

    stop = threading.Event()
    options = Options(feed_speed="fixed", feed_rate=1000.0)
    runtime = Runtime(fleet.path, options, say=lambda line: None)
    thread = threading.Thread(target=runtime.run, args=(stop,), daemon=True)
    started = time.monotonic()
    thread.start()
    try:
        measure(runtime, names, started, fleet)
    finally:
        stop.set()
        t = time.monotonic()
        thread.join(120)
        print(f"shutdown of {count} executors: {time.monotonic() - t:.1f} s")
        shutil.rmtree(tmp, ignore_errors=True)


def pods(runtime: Runtime):
    return [s.pod for s in list(runtime.slots.values()) if s.pod is not None]


def measure(runtime: Runtime, names: list[str], started: float, fleet) -> None:
    count = len(names)

    def all_ready() -> bool:
        live = pods(runtime)
        return len(live) == count and all(p.ready and p.state == "Running" for p in live)

    wait(all_ready, 600)
    print(f"start to all {count} Running and ready: {time.monotonic() - started:.1f} s")
    cold = runtime.reconcile_seconds[0]
    print(f"cold reconcile of {count} folders (render + admit + apply): {cold:.2f} s")
    time.sleep(6)  # let every executor settle after the start storm
    before = {p.spec.key: p.scrape for p in pods(runtime)}
    procs_before = {p.spec.key: metrics.tree_sample(p.proc.pid, time.monotonic()) for p in pods(runtime) if p.proc}
    up_before = metrics.proc_sample(_pid(), time.monotonic())
    probe = subprocess.Popen(
        [sys.executable, "-c", PROBE, runtime.paths.feed_endpoint, SYMBOLS[0], str(WINDOW)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    time.sleep(WINDOW)
    after = {p.spec.key: p.scrape for p in pods(runtime)}
    now = time.monotonic()
    lags, rates = [], []
    for key, new in after.items():
        old = before.get(key)
        if new is None or old is None:
            continue
        lag = metrics.lag_p99_ms(new, old)
        if lag is not None:
            lags.append(lag)
        rates.append(metrics.rate(new, old, "events"))
    rss = [p.proc_now.rss_bytes for p in pods(runtime) if p.proc_now]
    services = [runtime.feed.proc, runtime.sink.proc]
    service_rss = sum((metrics.proc_sample(s.pid, now) or metrics.ProcSample(0, 0, 0)).rss_bytes for s in services if s)
    up_now = metrics.proc_sample(_pid(), now)
    cpu_exec = sum(
        metrics.cpu_percent(metrics.tree_sample(p.proc.pid, now), procs_before.get(p.spec.key))
        for p in pods(runtime)
        if p.proc and metrics.tree_sample(p.proc.pid, now)
    )
    lags.sort()
    probe_count, probe_p99 = probe.communicate(timeout=30)[0].split()
    what = "every topic" if TOPICS == "all" else "one symbol (trades, quotes, bars)"
    print(f"window {WINDOW:.0f} s, feed at 1,000 events/s, each strategy subscribed to {what}:")
    print(
        f"  feed-lag p99 per strategy: median {statistics.median(lags):.1f} ms, worst {lags[-1]:.1f} ms, "
        f"{sum(1 for x in lags if x < 100)}/{len(lags)} under 100 ms"
    )
    print(
        f"  baseline, same window: a bare pyzmq SUB on one symbol (no executor, no sandbox): "
        f"p99 {float(probe_p99):.1f} ms over {probe_count} events; "
        f"executor median / baseline = {statistics.median(lags) / float(probe_p99):.2f}"
    )
    print(f"  events/s per executor: median {statistics.median(rates):.0f}, min {min(rates):.0f}")
    total_rss = sum(rss) + service_rss + (up_now.rss_bytes if up_now else 0)
    print(
        f"  RSS: executors {sum(rss) / 2**20:.0f} MiB ({statistics.median(rss) / 2**20:.1f} MiB each), "
        f"total with up, feed, sink {total_rss / 2**30:.2f} GiB"
    )
    up_cpu = metrics.cpu_percent(up_now, up_before) if up_now and up_before else 0.0
    print(f"  CPU: executors {cpu_exec:.0f}% in total (of 200%), up {up_cpu:.0f}%")
    reconcile_one(runtime, fleet, names[count // 2], cold)


def reconcile_one(runtime: Runtime, fleet, name: str, cold: float) -> None:
    key = f"bench/{name}"
    old_pid = runtime.slots[key].pod.proc.pid
    done = len(runtime.reconcile_seconds)
    t0 = time.monotonic()
    with fleet.lock():
        commit = fleet.commit_folders(
            {PurePosixPath(strategy_dir("bench", name)): folder_files(spec(name, CODE + "# v2\n"))}, "bench: v2", AUTHOR
        )
    committed = time.monotonic() - t0
    wait(lambda: len(runtime.reconcile_seconds) > done, 30)
    applied = time.monotonic() - t0
    incremental = runtime.reconcile_seconds[done]

    def restarted() -> bool:
        slot = runtime.slots.get(key)
        pod = slot.pod if slot else None
        return bool(pod and pod.revision == commit and pod.proc and pod.proc.pid != old_pid)

    wait(restarted, 60)
    spawned = time.monotonic() - t0
    print(f"1-strategy change with {len(runtime.slots)} running:")
    print(
        f"  reconcile (render + admit + apply): {incremental * 1000:.0f} ms ({incremental / cold:.3f} x the cold one)"
    )
    print(f"  commit {committed * 1000:.0f} ms; commit -> applied {applied * 1000:.0f} ms;", end=" ")
    print(f"commit -> new process started (old one drained first) {spawned * 1000:.0f} ms")


def _pid() -> int:
    import os

    return os.getpid()


if __name__ == "__main__":
    main()
