"""Sandbox benchmark: what bubblewrap + seccomp cost, against `--unsandboxed` in the same run.

`python -m tests.bench sandbox` (options: python tests/bench/bench_sandbox.py [STARTS] [STRATEGIES] [RUNS]):
1. executor start to ready (its /startupz answers 200), polled every 5 ms, STARTS times each way
   (default 15), p50 and p90 (target: sandboxed p50 < 300 ms);
2. idle RSS per executor, 10 executors each way (sandboxed: bwrap and the executor, summed), median
   (target: sandboxed - unsandboxed < 5 MB);
3. feed-lag p99 of STRATEGIES strategies (default 100, 0 to skip) under one runtime, median over the
   strategies, RUNS runs each way alternating (default 3), ratio sandboxed / unsandboxed (target <= 1.1).
"""

from __future__ import annotations

import dataclasses
import shutil
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from generator import actions  # noqa: E402
from generator.runtime import metrics, probes, sandbox  # noqa: E402
from generator.runtime.admission import Admission, folders_at  # noqa: E402
from generator.runtime.paths import RuntimePaths  # noqa: E402
from generator.runtime.pod import Backoff, Pod  # noqa: E402
from generator.runtime.runtime import Options, Runtime  # noqa: E402
from tests.bench.bench_runtime import AUTHOR, CODE, WINDOW, bulk_commit, pods, wait  # noqa: E402

MODES = (("sandboxed", True), ("unsandboxed", False))


def pod_spec(fleet):
    names = ["s000"]
    bulk_commit(fleet, names, CODE)
    head = fleet.head()
    admission = Admission(fleet)
    folders = folders_at(fleet, head)
    verdict = admission.submit(head, folders)["bench/s000"].result()
    admission.close()
    assert verdict.pod is not None, verdict.error
    return verdict.pod


def start_to_ready(pod: Pod) -> float:
    started = time.monotonic()
    pod.tick(started)
    assert pod.proc is not None, pod.message
    while probes.get(pod.socket, "/startupz", 1.0)[0] != 200:
        if time.monotonic() - started > 30:
            raise SystemExit(f"not ready after 30 s: {pod.last_log_line()}")
        time.sleep(0.005)
    return time.monotonic() - started


def stop(pod: Pod) -> None:
    pod.kill_now()


def single_executors(fleet, starts: int) -> None:
    spec = pod_spec(fleet)
    paths = RuntimePaths.of(fleet.path)
    paths.create()
    results: dict[str, dict[str, float]] = {}
    with ThreadPoolExecutor(4) as pool:
        for mode, sandboxed in MODES:
            isolation = sandbox.detect(paths.ident, paths.root / "sandbox", True, sandboxed)
            times = []
            for i in range(starts):
                pod = Pod(dataclasses.replace(spec, key=f"bench/t{i:03d}"), "rev", paths, isolation, pool, Backoff(1))
                times.append(start_to_ready(pod))
                stop(pod)
            idle = [
                Pod(dataclasses.replace(spec, key=f"bench/i{i:03d}"), "rev", paths, isolation, pool, Backoff(1))
                for i in range(10)
            ]
            for pod in idle:
                start_to_ready(pod)
            time.sleep(3)
            rss = [metrics.tree_sample(p.proc.pid, time.monotonic()).rss_bytes for p in idle if p.proc]
            for pod in idle:
                stop(pod)
            if isolation.cgroups:
                isolation.cgroups.clear()
            times.sort()
            results[mode] = {
                "p50": statistics.median(times),
                "p90": times[int(len(times) * 0.9)],
                "rss": statistics.median(rss),
            }
            r = results[mode]
            print(
                f"{mode:12} start to ready over {starts}: p50 {r['p50'] * 1000:.0f} ms, "
                f"p90 {r['p90'] * 1000:.0f} ms; idle RSS per executor {r['rss'] / 2**20:.1f} MiB"
            )
    s, u = results["sandboxed"], results["unsandboxed"]
    print(
        f"start p50 sandboxed / unsandboxed = {s['p50'] / u['p50']:.2f} (+{(s['p50'] - u['p50']) * 1000:.0f} ms); "
        f"idle RSS delta per executor {(s['rss'] - u['rss']) / 2**20:+.1f} MiB"
    )


def lag_run(count: int, sandboxed: bool) -> float:
    tmp = Path(tempfile.mkdtemp(prefix="bench-sandbox-"))
    fleet = actions.init(tmp / "fleet", "local", AUTHOR)
    names = [f"s{i:03d}" for i in range(count)]
    bulk_commit(fleet, names, CODE)
    stop_event = threading.Event()
    runtime = Runtime(
        fleet.path, Options(feed_speed="fixed", feed_rate=1000.0, sandboxed=sandboxed), say=lambda _: None
    )
    thread = threading.Thread(target=runtime.run, args=(stop_event,), daemon=True)
    thread.start()
    try:
        wait(lambda: len(pods(runtime)) == count and all(p.ready for p in pods(runtime)), 900)
        time.sleep(6)
        before = {p.spec.key: p.scrape for p in pods(runtime)}
        time.sleep(WINDOW)
        lags = []
        for p in pods(runtime):
            old = before.get(p.spec.key)
            if p.scrape is not None and old is not None:
                lag = metrics.lag_p99_ms(p.scrape, old)
                if lag is not None:
                    lags.append(lag)
        return statistics.median(lags)
    finally:
        stop_event.set()
        thread.join(180)
        shutil.rmtree(tmp, ignore_errors=True)


def feed_lag(count: int, runs: int) -> None:
    results: dict[str, list[float]] = {"sandboxed": [], "unsandboxed": []}
    for run in range(runs):
        for mode, sandboxed in MODES if run % 2 == 0 else MODES[::-1]:
            median = lag_run(count, sandboxed)
            results[mode].append(median)
            print(f"run {run + 1} {mode:12} {count} strategies: feed-lag p99, median over strategies {median:.1f} ms")
    s, u = statistics.median(results["sandboxed"]), statistics.median(results["unsandboxed"])
    print(f"feed-lag p99 over {runs} runs: sandboxed {s:.1f} ms, unsandboxed {u:.1f} ms, ratio {s / u:.2f}")


def main() -> None:
    starts = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    tmp = Path(tempfile.mkdtemp(prefix="bench-sandbox-"))
    try:
        single_executors(actions.init(tmp / "fleet", "local", AUTHOR), starts)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if count:
        feed_lag(count, runs)


if __name__ == "__main__":
    main()
