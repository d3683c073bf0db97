"""Executor and feed benchmarks (not a test; run: python tests/bench/bench_executor.py).

Prints, from one run on this machine:
1. throughput of a bare pyzmq SUB loop vs. the executor with a no-op strategy on the same stream
   (200k trades queued while the consumer is SIGSTOPped, then drained: consumer-bound);
2. feed -> handler latency p50/p99 with 16 executors at 10,000 events/s in total;
3. feed publish rate (Replayer over the bundled sample, one publisher thread);
4. idle RSS of one executor.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import msgpack  # noqa: E402
import zmq  # noqa: E402

from executor import wire  # noqa: E402
from executor.feed import FeedOptions, Publisher, Replayer, load_records, sample_path  # noqa: E402
from executor.sink import decode_signal  # noqa: E402

N_THROUGHPUT = 200_000
STRATEGY = '''
import time
from executor import Strategy

class Mark(Strategy):
    """Near no-op: one counter; emits the wall time of the first and the last event."""
    def on_start(self):
        self.n, self.total, self.first = 0, int(self.params["n"]), 0
    def on_trade(self, t):
        self.n += 1
        if self.n == 1:
            self.first = time.time_ns()
        elif self.n == self.total:
            meta = {"first": self.first, "last": time.time_ns(), "n": self.n}
            self.emit(symbol="BENCH", side="flat", strength=0.0, meta=meta)

class Lag(Strategy):
    """Collects feed-publish -> handler-start lag per event; reports on a final marker trade."""
    def on_start(self):
        self.lags = []
    def on_trade(self, t):
        if t.price < 0:
            self.emit(symbol="BENCH", side="flat", strength=0.0, meta={"lags": self.lags})
            return
        self.lags.append(time.time_ns() - t.feed_ts)
'''
BARE = """
import sys, time, zmq
n = int(sys.argv[2])
s = zmq.Context().socket(zmq.SUB)
s.setsockopt(zmq.RCVHWM, 100000)
s.setsockopt(zmq.SUBSCRIBE, b"trades.BTC-USD")
s.connect(sys.argv[1])
first = 0
for i in range(n):
    frames = s.recv_multipart()
    if i == 0:
        first = time.time_ns()
print(first, time.time_ns())
"""


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), MALLOC_ARENA_MAX="2", PYTHONDONTWRITEBYTECODE="1")
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_executor(
    tmp: Path, name: str, cls: str, subs: list[str], params: dict[str, Any], feed: str, sink: str
) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    cfg = {
        "kind": "ExecutorConfig",
        "strategy": {"name": name, "tenant": "bench"},
        "code": {"dir": str(tmp), "file": "bench_strategies.py", "class": cls},
        "subscriptions": subs,
        "params": params,
        "feed": {"endpoint": feed},
        "sink": {"endpoint": sink},
        "http": {"port": port, "host": "127.0.0.1"},
        "stateDir": str(tmp / name / "state"),
    }
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(cfg))
    log = open(tmp / f"{name}.log", "wb")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen([sys.executable, "-m", "executor", "--config", str(path)], stderr=log, env=_env())
    return proc, port


def _ready(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("executor not ready")


def _xpub(ctx: zmq.Context[Any], endpoint: str) -> zmq.Socket[bytes]:
    pub = ctx.socket(zmq.XPUB)
    pub.setsockopt(zmq.SNDHWM, 0)  # unbounded: the whole stream is queued while the consumer is stopped
    pub.bind(endpoint)
    return pub


def _blast(pub: zmq.Socket[bytes], n: int, pid: int) -> None:
    """Wait for the subscription, freeze the consumer (SIGSTOP), queue n trades, thaw it (SIGCONT).

    The consumer then drains a full queue, so the figure is the consumer's speed, not the publisher's.
    """
    pub.recv()
    time.sleep(0.3)
    payload = msgpack.packb({"symbol": "BTC-USD", "ts": time.time_ns(), "price": 42000.5, "size": 0.01, "side": "buy"})
    topic, session, now = b"trades.BTC-USD", 1, time.time_ns()
    headers = [wire.pack_header(wire.TRADE, session, seq, now) for seq in range(1, n + 1)]
    os.kill(pid, signal.SIGSTOP)
    try:
        for header in headers:
            pub.send_multipart([topic, header, payload])
        time.sleep(0.2)
    finally:
        os.kill(pid, signal.SIGCONT)


def bench_throughput(tmp: Path, ctx: zmq.Context[Any]) -> dict[str, float]:
    feed = f"ipc://{tmp}/tp-feed"
    pub = _xpub(ctx, feed)
    bare = subprocess.Popen([sys.executable, "-c", BARE, feed, str(N_THROUGHPUT)], stdout=subprocess.PIPE, env=_env())
    _blast(pub, N_THROUGHPUT, bare.pid)
    first, last = map(int, bare.communicate(timeout=120)[0].split())
    bare_rate = (N_THROUGHPUT - 1) / ((last - first) / 1e9)
    pub.close(linger=0)

    pub, sink_ep = _xpub(ctx, f"ipc://{tmp}/tp-feed2"), f"ipc://{tmp}/tp-sink"
    pull = ctx.socket(zmq.PULL)
    pull.bind(sink_ep)
    proc, port = _start_executor(
        tmp, "noop", "Mark", ["trades.BTC-USD"], {"n": N_THROUGHPUT}, f"ipc://{tmp}/tp-feed2", sink_ep
    )
    _ready(port)
    _blast(pub, N_THROUGHPUT, proc.pid)
    if not pull.poll(120_000):
        raise RuntimeError("executor did not report")
    meta = decode_signal(pull.recv_multipart())["meta"]
    ex_rate = (N_THROUGHPUT - 1) / ((meta["last"] - meta["first"]) / 1e9)
    proc.terminate()
    proc.wait(10)
    pub.close(linger=0)
    pull.close(linger=0)
    return {"bare_msgs_per_s": bare_rate, "executor_msgs_per_s": ex_rate, "ratio": ex_rate / bare_rate}


def bench_latency(
    tmp: Path, ctx: zmq.Context[Any], executors: int = 16, rate: int = 10_000, seconds: float = 5.0
) -> dict[str, float]:
    feed, sink_ep = f"ipc://{tmp}/lat-feed", f"ipc://{tmp}/lat-sink"
    pub_sock = ctx.socket(zmq.PUB)
    pub_sock.setsockopt(zmq.SNDHWM, 100_000)
    pub_sock.bind(feed)
    pull = ctx.socket(zmq.PULL)
    pull.bind(sink_ep)
    topics = [f"trades.S{i:02d}-USD" for i in range(executors)]
    procs = [_start_executor(tmp, f"lag{i}", "Lag", [t], {}, feed, sink_ep) for i, t in enumerate(topics)]
    for _, port in procs:
        _ready(port)
    pub = Publisher(pub_sock, heartbeat=0.1)
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:  # heartbeats so every SUB is joined before the measured stream
        pub.send_heartbeats([t.encode() for t in topics], force=True)
        time.sleep(0.05)
    total = int(rate * seconds)
    start = time.monotonic()
    for i in range(total):
        due = start + i / rate
        delay = due - time.monotonic()
        if delay > 0.0005:
            time.sleep(delay)
        t = topics[i % executors]
        pub.publish(t.encode(), wire.TRADE, {"symbol": t[7:], "ts": time.time_ns(), "price": 1.0, "size": 1.0})
    achieved = total / (time.monotonic() - start)
    for t in topics:
        pub.publish(t.encode(), wire.TRADE, {"symbol": t[7:], "ts": time.time_ns(), "price": -1.0, "size": 0.0})
    lags: list[int] = []
    for _ in topics:
        if not pull.poll(30_000):
            raise RuntimeError("an executor did not report")
        lags += decode_signal(pull.recv_multipart())["meta"]["lags"]
    for proc, _ in procs:
        proc.terminate()
    for proc, _ in procs:
        proc.wait(10)
    pub_sock.close(linger=0)
    pull.close(linger=0)
    lags.sort()

    def q(p: float) -> float:
        return lags[min(len(lags) - 1, int(p * len(lags)))] / 1e6

    return {
        "events": len(lags),
        "sent": total,
        "rate": achieved,
        "p50_ms": q(0.50),
        "p99_ms": q(0.99),
        "max_ms": lags[-1] / 1e6,
    }


def bench_feed_rate(tmp: Path, ctx: zmq.Context[Any]) -> dict[str, float]:
    records = load_records(sample_path())
    endpoint = f"ipc://{tmp}/rate-feed"
    sock = ctx.socket(zmq.PUB)
    sock.setsockopt(zmq.SNDHWM, 0)
    sock.bind(endpoint)
    sub = subprocess.Popen(
        [sys.executable, "-c", BARE.replace('b"trades.BTC-USD"', 'b""'), endpoint, "1"],
        stdout=subprocess.PIPE,
        env=_env(),
    )
    rep = Replayer(records * 4, Publisher(sock), FeedOptions(speed="max", warmup=1.0))
    t0 = time.monotonic()
    sent = rep.run()
    elapsed = time.monotonic() - t0 - 1.0
    sub.communicate(timeout=30)
    sock.close(linger=0)
    return {"messages": sent, "msgs_per_s": sent / elapsed}


def bench_idle_rss(tmp: Path) -> dict[str, float]:
    proc, port = _start_executor(
        tmp, "idle", "Mark", ["trades.BTC-USD"], {"n": 1}, f"ipc://{tmp}/idle-feed", f"ipc://{tmp}/idle-sink"
    )
    _ready(port)
    time.sleep(1.0)
    status = Path(f"/proc/{proc.pid}/status").read_text().splitlines()
    fields = {line.split(":")[0]: int(line.split()[1]) for line in status if line.startswith(("VmRSS", "VmHWM"))}
    proc.terminate()
    proc.wait(10)
    return {"rss_mb": fields["VmRSS"] / 1024, "peak_rss_mb": fields["VmHWM"] / 1024}


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="sxb-", dir="/tmp"))
    (tmp / "bench_strategies.py").write_text(STRATEGY)
    ctx = zmq.Context()
    print(
        f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, pyzmq {zmq.__version__}, "
        f"libzmq {zmq.zmq_version()}"
    )
    tp = bench_throughput(tmp, ctx)
    print(
        f"throughput: bare SUB loop {tp['bare_msgs_per_s']:,.0f} msg/s; executor (no-op strategy) "
        f"{tp['executor_msgs_per_s']:,.0f} msg/s; ratio {tp['ratio']:.2f}"
    )
    lat = bench_latency(tmp, ctx)
    print(
        f"latency: 16 executors, {lat['rate']:,.0f} events/s total, {lat['events']:,} events: "
        f"p50 {lat['p50_ms']:.3f} ms, p99 {lat['p99_ms']:.3f} ms, max {lat['max_ms']:.3f} ms"
    )
    fr = bench_feed_rate(tmp, ctx)
    print(f"feed publish rate: {fr['msgs_per_s']:,.0f} msg/s ({fr['messages']:,} messages, one thread)")
    rss = bench_idle_rss(tmp)
    print(f"executor idle RSS: {rss['rss_mb']:.1f} MB (peak {rss['peak_rss_mb']:.1f} MB)")
    ctx.destroy(linger=0)


if __name__ == "__main__":
    main()
