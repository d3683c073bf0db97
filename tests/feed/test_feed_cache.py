"""Last-value cache (Clone pattern) and redundant feeds behind the caching proxy, with real executors."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import zmq
from exec_helpers import Env, wait_for

from executor import wire
from executor.feed import Publisher
from executor.proxy import CachingProxy

PROBE = Path(__file__).resolve().parent / "strategies"
BTC, ETH = b"trades.sample.BTC-USD", b"trades.sample.ETH-USD"


class Proxy:
    def __init__(self, root: Path, ctx: zmq.Context[Any], **kw: Any) -> None:
        self.front, self.back, self.snap = (f"ipc://{root}/{n}" for n in ("front", "back", "snap"))
        self.proxy = CachingProxy(self.front, self.back, self.snap, ctx=ctx, **kw)
        self.thread = threading.Thread(target=self.proxy.run, daemon=True)

    def __enter__(self) -> Proxy:
        self.thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.proxy.stop.set()
        self.thread.join(5)


def _feed(ctx: zmq.Context[Any], endpoint: str) -> Publisher:
    sock = ctx.socket(zmq.PUB)
    sock.connect(endpoint)
    return Publisher(sock, heartbeat=0.2)


def _trade(pub: Publisher, topic: bytes, n: int) -> None:
    symbol = topic.rsplit(b".", 1)[1].decode()
    pub.publish(
        topic,
        wire.TRADE,
        {"symbol": symbol, "venue": "sample", "ts": time.time_ns(), "price": 1.0 + n, "size": 1.0, "id": str(n)},
    )


def _state(ex: Any) -> dict[str, Any]:
    return json.loads((ex.state_dir / "state.json").read_text())


def _flagged(sub: zmq.Socket[bytes]) -> list[int]:
    flags = []
    while sub.poll(50):
        frames = sub.recv_multipart()
        flags.append(wire.unpack_header(frames[1]).flags)
    return flags


def test_late_joiner_gets_last_values_at_once_then_the_stream(env: Env, zctx: zmq.Context[Any]) -> None:
    with Proxy(env.root, zctx) as proxy:
        pub = _feed(zctx, proxy.front)
        existing = zctx.socket(zmq.SUB)
        existing.setsockopt(zmq.SUBSCRIBE, b"trades.")
        existing.connect(proxy.back)
        time.sleep(0.3)  # the PUB -> XSUB connection and the subscription settle
        for n in range(1, 51):
            _trade(pub, BTC, n)
            _trade(pub, ETH, n)
        pub.publish(
            b"quotes.sample.BTC-USD",
            wire.QUOTE,
            {"symbol": "BTC-USD", "ts": time.time_ns(), "bid": 1.0, "bid_size": 1.0, "ask": 2.0, "ask_size": 1.0},
        )
        wait_for(lambda: len(proxy.proxy.cache) == 3, what="the cache to hold three topics")
        ex = env.start(
            "late",
            "probe.py",
            "Probe",
            ["trades.sample.BTC-USD", "quotes"],
            code_dir=PROBE,
            extra_env={"STRATOPS_SNAPSHOT_ENDPOINT": proxy.snap, "STRATOPS_FEED_ENDPOINT": proxy.back},
        )
        ex.wait_ready()
        # a slow market: the next trade comes long after the executor started
        time.sleep(1.5)
        for n in range(51, 61):
            _trade(pub, BTC, n)
            time.sleep(0.01)
        time.sleep(0.5)
        assert ex.metric("snapshots_total") == 2
        assert ex.stop() == 0
        state = _state(ex)
        events = state["events"]
        assert [e["snapshot"] for e in events[:2]] == [True, True]
        assert {(e["kind"], e["symbol"], e["seq"]) for e in events[:2]} == {
            ("trades", "BTC-USD", 50),
            ("quotes", "BTC-USD", 1),
        }
        first_ms = (events[0]["receive_ts"] - state["started_ns"]) / 1e6
        assert first_ms < 250, f"first event {first_ms:.1f} ms after on_start"  # typically a few ms
        live = [e for e in events[2:] if e["kind"] == "trades"]
        assert [e["seq"] for e in live] == list(range(51, 61)) and not any(e["snapshot"] for e in live)
        # the subscriber that was there all along got the stream once, and no snapshot
        flags = _flagged(existing)
        assert len(flags) == 110 and not any(f & wire.FLAG_SNAPSHOT for f in flags)


def test_snapshot_and_stream_merge_without_gap_or_duplicate_under_load(env: Env, zctx: zmq.Context[Any]) -> None:
    with Proxy(env.root, zctx) as proxy:
        pub = _feed(zctx, proxy.front)
        time.sleep(0.3)
        stop, sent = threading.Event(), [0]

        def stream() -> None:
            while not stop.is_set():
                sent[0] += 1
                _trade(pub, BTC, sent[0])
                time.sleep(0.0005)

        thread = threading.Thread(target=stream, daemon=True)
        wait_for(lambda: True)
        thread.start()
        wait_for(lambda: sent[0] > 200, what="trades flowing")
        ex = env.start(
            "busy",
            "probe.py",
            "Probe",
            ["trades.sample.BTC-USD"],
            code_dir=PROBE,
            extra_env={"STRATOPS_SNAPSHOT_ENDPOINT": proxy.snap, "STRATOPS_FEED_ENDPOINT": proxy.back},
        )
        ex.wait_ready()
        time.sleep(1.0)
        stop.set()
        thread.join(5)
        time.sleep(0.3)
        assert ex.stop() == 0
    seqs = [e["seq"] for e in _state(ex)["events"]]
    assert _state(ex)["events"][0]["snapshot"] is True
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "gap or duplicate between snapshot and stream"
    assert seqs[-1] == sent[0]


def test_redundant_feeds_merge_and_survive_one_dying(env: Env, zctx: zmq.Context[Any]) -> None:
    with Proxy(env.root, zctx, dedupe=True, heartbeat=0.2) as proxy:
        a, b = _feed(zctx, proxy.front), _feed(zctx, proxy.front)
        ex = env.start(
            "merged",
            "probe.py",
            "Probe",
            ["trades.sample.BTC-USD"],
            code_dir=PROBE,
            extra_env={"STRATOPS_FEED_ENDPOINT": proxy.back},
        )
        ex.wait_ready()
        time.sleep(0.5)
        for n in range(1, 101):  # both feeds see the same exchange trades, b a little behind
            _trade(a, BTC, n)
            if n > 3:
                _trade(b, BTC, n - 3)
            time.sleep(0.002)
        a.socket.close(linger=0)  # feed a dies; b carries on, catching up and going past it
        for n in range(98, 151):
            _trade(b, BTC, n)
            time.sleep(0.002)
        time.sleep(0.5)
        assert ex.stop() == 0
        assert proxy.proxy.counts["duplicates"] >= 97
    events = _state(ex)["events"]
    assert [int(e["id"]) for e in events] == list(range(1, 151))  # each trade once, in order
    assert [e["seq"] for e in events] == list(range(1, 151))  # the proxy's own numbering: no gap, no restart
    logs = ex.logs()
    assert not any(r.get("event") in ("feed_restart", "sequence_gap") for r in logs)


def test_deduper_rules_per_kind() -> None:
    from executor.proxy import Deduper

    d, q, b = Deduper(), b"quotes.binance.BTC-USDT", b"bars.coinbase.BTC-USD"
    assert d.fresh(BTC, wire.TRADE, {"id": "7"}) and not d.fresh(BTC, wire.TRADE, {"id": "7"})
    assert d.fresh(ETH, wire.TRADE, {"id": "7"})  # ids are per topic
    assert d.fresh(BTC, wire.TRADE, {"id": "5"})  # late but unseen: delivered, not lost
    assert d.fresh(BTC, wire.TRADE, {}) and d.fresh(BTC, wire.TRADE, {})  # nothing to recognise: passed on
    assert d.fresh(q, wire.QUOTE, {"update_id": 10, "ts": 1}) and not d.fresh(q, wire.QUOTE, {"update_id": 10, "ts": 2})
    assert not d.fresh(q, wire.QUOTE, {"update_id": 9, "ts": 3}) and d.fresh(q, wire.QUOTE, {"update_id": 11, "ts": 0})
    cq = b"quotes.coinbase.BTC-USD"  # no update id: the exchange's time orders them
    assert d.fresh(cq, wire.QUOTE, {"ts": 100}) and not d.fresh(cq, wire.QUOTE, {"ts": 100})
    assert d.fresh(b, wire.BAR, {"interval": "1s", "ts": 2_000}) and d.fresh(
        b, wire.BAR, {"interval": "1m", "ts": 60_000}
    )
    assert not d.fresh(b, wire.BAR, {"interval": "1s", "ts": 2_000}) and d.fresh(
        b, wire.BAR, {"interval": "1s", "ts": 3_000}
    )
