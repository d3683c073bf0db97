"""Live feed benchmarks against the local exchange stand-ins (not a test; `make bench AREAS=feed`).

Prints, from one run on this machine:
1. adapter throughput: trades normalised and published per second by `stratops feed --source binance`
   (one process, one core) against the local exchange's send rate in the same run;
2. exchange -> handler latency p50/p99 through feed, caching proxy and executor (exchange time is
   Binance's millisecond trade time, so figures carry up to 1 ms of quantisation), next to
   exchange -> feed publish in the same run;
3. late-joiner time to first event (on_start -> first handler call) on a quiet market, with and
   without the proxy's last-value cache.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
for extra in (REPO, REPO / "tests" / "executor", REPO / "tests" / "feed"):
    sys.path.insert(0, str(extra))

import zmq  # noqa: E402
from exec_helpers import Env, free_port, wait_for  # noqa: E402

from executor import wire  # noqa: E402
from executor.feed import Publisher  # noqa: E402
from executor.proxy import CachingProxy  # noqa: E402
from executor.sink import Sink  # noqa: E402

N_TRADES = 30_000
SIM = REPO / "tests" / "feed" / "exchange_sim.py"
STRATEGY = '''
import time
from executor import Strategy

class Clock(Strategy):
    """Latency of each trade (exchange and feed time to handler) and time to the first event."""
    def on_start(self):
        self.started, self.first, self.lat, self.feed = time.time_ns(), 0, [], []
    def on_trade(self, t):
        now = time.time_ns()
        if not self.first:
            self.first = now
        self.lat.append(now - t.exchange_ts)
        self.feed.append(t.feed_ts - t.exchange_ts)
    def on_stop(self):
        def q(xs, p):
            xs = sorted(xs)
            return xs[min(len(xs) - 1, int(p * len(xs)))] if xs else None
        meta = {"first_ms": (self.first - self.started) / 1e6 if self.first else None, "n": len(self.lat),
                "p50": q(self.lat, 0.5), "p99": q(self.lat, 0.99),
                "pub50": q(self.feed, 0.5), "pub99": q(self.feed, 0.99)}
        self.emit(symbol="BENCH", side="flat", strength=0.0, meta=meta)
'''


def _sim(rate: float, total: int | None, symbols: list[str]) -> tuple[subprocess.Popen[str], str]:
    args = [sys.executable, str(SIM), "binance", *symbols, "--rate", str(rate)]
    if total:
        args += ["--total", str(total)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def _feed(url: str, flag: str, endpoint: str) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "executor.commands", "feed", "--source", "binance", "--symbols", "BTC-USDT"]
    args += ["--endpoint", url, flag, endpoint, "--metrics-port", str(free_port())]
    return subprocess.Popen(args, cwd=REPO, stderr=subprocess.DEVNULL)


def _stop(*procs: subprocess.Popen[Any]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def throughput(root: Path) -> None:
    endpoint = f"ipc://{root}/tp"
    ctx = zmq.Context.instance()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.RCVHWM, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"trades.")
    sub.connect(endpoint)
    sim, url = _sim(0, None, ["BTC-USDT"])  # waits for the first subscriber before sending
    feed = _feed(url, "--bind", endpoint)
    try:
        first = last = 0.0
        count = 0
        deadline = time.monotonic() + 120
        while count < N_TRADES and time.monotonic() < deadline:
            if sub.poll(200):
                sub.recv_multipart()
                last = time.perf_counter()
                first = first or last
                count += 1
        with urllib.request.urlopen(f"{url}/_sim/stats", timeout=5) as resp:
            stats = json.load(resp)
    finally:
        _stop(feed, sim)
        sub.close(linger=0)
    adapter = count / (last - first) if last > first else 0.0
    sent = stats["sent"] / (stats["last"] - stats["first"]) if stats["last"] > stats["first"] else 0.0
    print(f"  adapter: {count} trades normalised and published at {adapter:,.0f}/s (one process)")
    print(f"  local exchange send rate in the same run: {sent:,.0f} trades/s")
    print(f"  ratio adapter/exchange: {adapter / sent:.2f}" if sent else "  (no send rate)")


def _clock_executor(env: Env, name: str, code: Path, snapshot: str | None, back: str) -> Any:
    extra = {"STRATOPS_FEED_ENDPOINT": back, **({"STRATOPS_SNAPSHOT_ENDPOINT": snapshot} if snapshot else {})}
    ex = env.start(name, "clock.py", "Clock", ["trades.binance.BTC-USDT"], code_dir=code, extra_env=extra)
    ex.wait_ready(60)
    return ex


def latency(root: Path, env: Env, code: Path, sink_out: list[dict[str, Any]]) -> None:
    front, back, snap = (f"ipc://{root}/{n}" for n in ("lf", "lb", "ls"))
    proxy = subprocess.Popen(
        [sys.executable, "-m", "executor.commands", "feed", "--proxy", front, "--bind", back, "--snapshot", snap],
        cwd=REPO,
        stderr=subprocess.DEVNULL,
    )
    sim, url = _sim(500, None, ["BTC-USDT"])
    ex = _clock_executor(env, "latency", code, None, back)
    feed = _feed(url, "--connect", front)
    try:
        time.sleep(12)
        ex.stop(30)
        wait_for(lambda: any(s.get("symbol") == "BENCH" for s in sink_out), 30, what="the latency signal")
    finally:
        _stop(feed, sim, proxy)
    meta = next(s for s in sink_out if s.get("symbol") == "BENCH")["meta"]
    print(f"  {meta['n']} trades at 500/s: sim -> feed -> proxy -> executor")
    print(f"  exchange -> handler p50 {meta['p50'] / 1e6:.2f} ms, p99 {meta['p99'] / 1e6:.2f} ms")
    print(f"  exchange -> feed publish p50 {meta['pub50'] / 1e6:.2f} ms, p99 {meta['pub99'] / 1e6:.2f} ms (same run)")
    sink_out.clear()


def late_joiner(root: Path, env: Env, code: Path, sink_out: list[dict[str, Any]]) -> None:
    front, back, snap = (f"ipc://{root}/{n}" for n in ("jf", "jb", "js"))
    ctx = zmq.Context.instance()
    proxy = CachingProxy(front, back, snap, ctx=ctx)
    thread = threading.Thread(target=proxy.run, daemon=True)
    thread.start()
    pub_sock = ctx.socket(zmq.PUB)
    pub_sock.connect(front)
    pub = Publisher(pub_sock)
    topic = b"trades.binance.BTC-USDT"
    stop = threading.Event()

    def quiet_market() -> None:  # one trade every 2 s
        n = 0
        while not stop.wait(0 if n == 0 else 2.0):
            n += 1
            pub.publish(topic, wire.TRADE, {"symbol": "BTC-USDT", "ts": time.time_ns(), "price": 1.0, "size": 1.0})

    market = threading.Thread(target=quiet_market, daemon=True)
    market.start()
    time.sleep(0.5)
    results: dict[str, list[float]] = {"with cache": [], "without cache": []}
    try:
        for i in range(3):
            for label, endpoint in (("with cache", snap), ("without cache", None)):
                ex = _clock_executor(env, f"join{i}{label[0:4]}", code, endpoint, back)
                time.sleep(2.5)
                ex.stop(30)
                wait_for(lambda: any(s.get("symbol") == "BENCH" for s in sink_out), 30, what="signal")
                first = next(s for s in sink_out if s.get("symbol") == "BENCH")["meta"]["first_ms"]
                sink_out.clear()
                if first is not None:
                    results[label].append(first)
    finally:
        stop.set()
        proxy.stop.set()
        thread.join(5)
        pub_sock.close(linger=0)
    for label, values in results.items():
        shown = ", ".join(f"{v:.1f}" for v in values)
        print(f"  time to first event {label}: median {statistics.median(values):.1f} ms ({shown})")
    with_cache, without = statistics.median(results["with cache"]), statistics.median(results["without cache"])
    print(f"  ratio without/with cache: {without / with_cache:.0f}x (quiet market: one trade every 2 s)")


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="bf-", dir="/tmp"))
    try:
        print("1. adapter throughput", flush=True)
        throughput(root)
        code = root / "code"
        code.mkdir()
        (code / "clock.py").write_text(STRATEGY)
        env = Env(root, f"ipc://{root}/unused", f"ipc://{root}/sink")
        received: list[dict[str, Any]] = []
        sink = Sink(env.sink_endpoint, None, on_signal=received.append)
        threading.Thread(target=sink.run, daemon=True).start()
        print("2. exchange -> handler latency", flush=True)
        latency(root, env, code, received)
        print("3. late joiner", flush=True)
        late_joiner(root, env, code, received)
        sink.stop.set()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
