"""Misbehaving strategies run next to a healthy one, each its own sandboxed process.

Every bad executor must be contained (failed / restarted / refused), and the healthy executor must
still receive every event with no sequence gap.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

from exec_helpers import Env, Executor, sync_feed, wait_for

from executor import wire
from executor.feed import Publisher
from executor.sandbox import Limits

TOPICS = [b"trades.BTC-USD", b"quotes.BTC-USD", b"bars.BTC-USD"]
N_TRADES = 600


def _children(pid: int) -> list[str]:
    out: list[str] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            out += (task / "children").read_text().split()
    return out


def _publish_stream(pub: Publisher) -> int:
    sent = 0
    for i in range(N_TRADES):
        ts = time.time_ns()
        pub.publish(
            TOPICS[0],
            wire.TRADE,
            {"symbol": "BTC-USD", "ts": ts, "price": 100.0 + i % 7, "size": 1.0, "side": "buy"},
        )
        pub.publish(
            TOPICS[1],
            wire.QUOTE,
            {"symbol": "BTC-USD", "ts": ts, "bid": 99.9, "bid_size": 2.0, "ask": 100.1, "ask_size": 3.0},
        )
        sent += 2
        if i % 10 == 0:
            pub.publish(
                TOPICS[2],
                wire.BAR,
                {
                    "symbol": "BTC-USD",
                    "ts": ts,
                    "interval": "1s",
                    "open": 1.0,
                    "high": 2.0,
                    "low": 0.5,
                    "close": 1.5,
                    "volume": 10.0,
                },
            )
            sent += 1
        if i % 50 == 0:
            time.sleep(0.005)  # ~20k msg/s: a busy but realistic feed
    pub.send_heartbeats(TOPICS, force=True)
    return sent


def _start_all(env: Env, outside: Path) -> dict[str, Executor]:
    box = Limits.from_quantities(cpu="250m", memory="256Mi", cpu_seconds=60, open_files=128, nproc=64)
    subs = ["trades.BTC-USD", "quotes", "bars.BTC-USD"]
    fast = {"handlerTimeoutSeconds": 1, "watchdogExitDelaySeconds": 1, "maxConsecutiveErrors": 5}
    specs = {
        "healthy": ("basic.py", "Counter", {"emit": False}),
        "raiser": ("bad.py", "Raiser", {}),
        "looper": ("bad.py", "Looper", {}),
        "hog": ("bad.py", "Hog", {}),
        "forker": ("bad.py", "ForkBomb", {}),
        "escaper": (
            "bad.py",
            "Escaper",
            {"outside": str(outside), "inside": str(env.root / "escaper" / "state")},
        ),
    }
    exes = {}
    for name, (file, cls, params) in specs.items():
        # the hog gets a long deadline so that it is stopped by its memory limit, not by the watchdog
        limits = {**fast, "handlerTimeoutSeconds": 30} if name == "hog" else fast
        exes[name] = env.start(name, file, cls, subs, params=params, limits=limits, sandbox=box)
    for ex in exes.values():
        ex.wait_ready()
    return exes


def test_bad_strategies_are_contained(env: Env, publisher: Publisher, sink: list, tmp_path: Path) -> None:
    outside = tmp_path / "escaped.txt"
    exes = _start_all(env, outside)
    sync_feed(publisher, list(exes.values()), TOPICS)
    sent = _publish_stream(publisher)

    healthy = exes["healthy"]
    wait_for(lambda: healthy.metric("events_total") == sent, timeout=20, what="healthy executor to get every event")
    assert healthy.metric("missed_messages_total") == 0 and healthy.metric("sequence_gaps_total") == 0
    assert healthy.get("/readyz")[0] == 200

    _assert_raiser(exes["raiser"])
    _assert_looper(exes["looper"])
    _assert_hog(exes["hog"])
    _assert_forker(exes["forker"])
    _assert_escaper(exes["escaper"], outside, sink)

    assert healthy.stop() == 0
    counts = json.loads((healthy.state_dir / "state.json").read_text())["counts"]
    assert counts == {"trades.BTC-USD": N_TRADES, "quotes.BTC-USD": N_TRADES, "bars.BTC-USD": N_TRADES // 10}


def _assert_raiser(ex: Executor) -> None:
    wait_for(lambda: ex.get("/readyz")[0] == 503, what="raiser not ready")
    assert "consecutive handler errors" in json.loads(ex.get("/readyz")[1])["failed"]
    assert ex.proc.poll() is None and ex.get("/livez")[0] == 200


def _assert_looper(ex: Executor) -> None:
    assert ex.proc.wait(15) == 3  # watchdog: liveness false, then exit so a supervisor restarts it


def _assert_hog(ex: Executor) -> None:
    wait_for(lambda: ex.metric("handler_errors_total") >= 1, what="hog MemoryError")
    errors = [r for r in ex.logs() if r.get("event") == "handler_error"]
    assert errors and "MemoryError" in errors[0]["msg"]
    status = Path(f"/proc/{ex.proc.pid}/status").read_text().splitlines()
    peak_kb = int(next(line for line in status if line.startswith("VmPeak")).split()[1])
    assert peak_kb <= (256 + 384) * 1024  # address space capped at memory + overhead: nowhere near 2 GB
    assert ex.get("/livez")[0] == 200


def _assert_forker(ex: Executor) -> None:
    wait_for(lambda: ex.get("/readyz")[0] == 503, what="forker failed")
    errors = [r for r in ex.logs() if r.get("event") == "handler_error"]
    assert "PermissionError" in errors[0]["msg"] and "os.fork" in errors[0]["msg"]
    assert _children(ex.proc.pid) == []


def _assert_escaper(ex: Executor, outside: Path, sink: list) -> None:
    wait_for(lambda: any(s["symbol"] == "INSIDE" for s in sink), what="escaper signals")
    escape = next(s for s in sink if s["symbol"] == "ESCAPE")
    assert escape["reason"].startswith("PermissionError: stratops sandbox: opening")
    assert not outside.exists() and not os.path.exists(outside)
    assert (ex.state_dir / "scratch.txt").read_text() == "fine"
    assert ex.get("/readyz")[0] == 200
