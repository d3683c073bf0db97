"""Feed replay modes, heartbeats, proxy, sink output and the click commands."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import zmq
from click.testing import CliRunner
from exec_helpers import REPO, wait_for

from executor import wire
from executor.commands import feed_command, sink_command
from executor.feed import FeedOptions, Publisher, Replayer, load_records, run_proxy, sample_path

CSV = (
    "type,symbol,ts,price,size,side,bid,bid_size,ask,ask_size\n"
    "trade,BTC-USD,2000000000,100.5,0.1,buy,,,,\n"
    "quote,ETH-USD,1000000000,,,,10.0,1.0,10.1,2.0\n"
)


def test_sample_is_small_and_realistic() -> None:
    path = sample_path()
    assert path.stat().st_size < 2 * 1024 * 1024
    recs = load_records(path)
    symbols = {r["symbol"] for r in recs}
    assert len(symbols) == 10 and {"BTC-USD", "BTC-USDT"} <= symbols
    kinds = {(r["type"], r.get("interval")) for r in recs}
    assert {("trade", None), ("quote", None), ("bar", "1s"), ("bar", "1m")} <= kinds
    assert all(r["ask"] > r["bid"] > 0 for r in recs if r["type"] == "quote")
    assert [r["ts"] for r in recs] == sorted(r["ts"] for r in recs)


def test_generator_is_deterministic(tmp_path: Path) -> None:
    out = tmp_path / "s.ndjson.gz"
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_sample_data.py"), str(out)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    assert gzip.decompress(out.read_bytes()) == gzip.decompress(sample_path().read_bytes())


def test_csv_records_are_typed_and_sorted(tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    p.write_text(CSV)
    recs = load_records(p)
    assert [r["type"] for r in recs] == ["quote", "trade"]
    assert recs[1] == {
        "type": "trade",
        "symbol": "BTC-USD",
        "ts": 2000000000,
        "price": 100.5,
        "size": 0.1,
        "side": "buy",
    }


def _sub(ctx: zmq.Context[Any], endpoint: str, prefix: bytes = b"") -> zmq.Socket[bytes]:
    s = ctx.socket(zmq.SUB)
    s.setsockopt(zmq.SUBSCRIBE, prefix)
    s.connect(endpoint)
    return s


def _recv_all(sub: zmq.Socket[bytes], until: float) -> list[list[bytes]]:
    out = []
    while sub.poll(max(1, int((until - time.monotonic()) * 1000))):
        out.append(sub.recv_multipart())
    return out


def test_fixed_rate_sequences_and_heartbeats(short_tmp: Path, zctx: zmq.Context[Any]) -> None:
    endpoint = f"ipc://{short_tmp}/f"
    pub_sock = zctx.socket(zmq.PUB)
    pub_sock.bind(endpoint)
    sub = _sub(zctx, endpoint)
    recs = [
        {
            "type": "quote",
            "symbol": "ETH-USD",
            "ts": 0,
            "bid": 1.0,
            "bid_size": 1.0,
            "ask": 2.0,
            "ask_size": 1.0,
        }
    ]
    recs += [{"type": "trade", "symbol": "BTC-USD", "ts": i, "price": 1.0, "size": 1.0} for i in range(40)]
    rep = Replayer(
        recs,
        Publisher(pub_sock, heartbeat=0.05),
        FeedOptions(speed="fixed", rate=200, heartbeat=0.05, warmup=0.3),
    )
    t0 = time.monotonic()
    rep.run()
    elapsed = time.monotonic() - t0
    msgs = _recv_all(sub, time.monotonic() + 0.2)
    assert 0.3 + 40 / 200 * 0.8 < elapsed < 3.0  # paced, not instant
    data = [(m[0], wire.unpack_header(m[1])) for m in msgs if wire.unpack_header(m[1]).type != wire.HEARTBEAT]
    assert [h.seq for t, h in data if t == b"trades.sample.BTC-USD"] == list(range(1, 41))
    hbs = [(m[0], wire.unpack_header(m[1]).seq) for m in msgs if wire.unpack_header(m[1]).type == wire.HEARTBEAT]
    assert (b"quotes.sample.ETH-USD", 1) in hbs  # the idle topic got heartbeats carrying its last seq
    assert len({wire.unpack_header(m[1]).session for m in msgs}) == 1


def test_loop_keeps_numbering_and_recorded_speed(short_tmp: Path, zctx: zmq.Context[Any]) -> None:
    endpoint = f"ipc://{short_tmp}/f"
    pub_sock = zctx.socket(zmq.PUB)
    pub_sock.bind(endpoint)
    sub = _sub(zctx, endpoint, b"trades.")
    recs = [{"type": "trade", "symbol": "X", "ts": i * 100_000_000, "price": 1.0, "size": 1.0} for i in range(3)]
    rep = Replayer(recs, Publisher(pub_sock), FeedOptions(speed="recorded", rate=1.0, loop=True, warmup=0.3))
    threading.Timer(1.4, rep.stop.set).start()
    rep.run()
    seqs = [
        wire.unpack_header(m[1]).seq
        for m in _recv_all(sub, time.monotonic() + 0.2)
        if wire.unpack_header(m[1]).type == wire.TRADE
    ]
    assert 12 <= len(seqs) <= 21 and seqs == list(range(1, len(seqs) + 1))  # ~0.2 s per loop at recorded speed


def test_proxy_fans_in_and_out(short_tmp: Path, zctx: zmq.Context[Any]) -> None:
    front, back = f"ipc://{short_tmp}/xsub", f"ipc://{short_tmp}/xpub"
    control = "inproc://proxy-control"
    proxy = threading.Thread(target=run_proxy, args=(front, back, zctx, control), daemon=True)
    proxy.start()
    subs = [_sub(zctx, back, b"trades.A"), _sub(zctx, back, b"trades.B")]
    pubs = []
    for sym in "AB":
        p = zctx.socket(zmq.PUB)
        p.connect(front)
        pubs.append((sym, Publisher(p)))

    def flow() -> bool:
        for sym, pub in pubs:
            pub.publish(f"trades.{sym}".encode(), wire.TRADE, {"symbol": sym, "ts": 1, "price": 1.0, "size": 1.0})
        return all(s.poll(50) for s in subs)

    wait_for(flow, timeout=10, what="messages through the proxy")
    assert subs[0].recv_multipart()[0] == b"trades.A" and subs[1].recv_multipart()[0] == b"trades.B"
    ctl = zctx.socket(zmq.PAIR)
    ctl.connect(control)
    ctl.send(b"TERMINATE")
    proxy.join(5)
    assert not proxy.is_alive()


def test_feed_and_sink_commands(short_tmp: Path, zctx: zmq.Context[Any]) -> None:
    data = short_tmp / "d.csv"
    data.write_text(CSV)
    feed_ep = f"ipc://{short_tmp}/feed"
    sub = _sub(zctx, feed_ep)
    result = CliRunner().invoke(
        feed_command,
        ["--data", str(data), "--bind", feed_ep, "--speed", "max", "--warmup", "0.5", "--heartbeat", "0.1"],
    )
    assert result.exit_code == 0, result.output
    topics = {m[0] for m in _recv_all(sub, time.monotonic() + 0.3)}
    assert topics == {b"trades.sample.BTC-USD", b"quotes.sample.ETH-USD", b"bars.sample.BTC-USD"}  # bars from trades

    out, sink_ep = short_tmp / "signals.ndjson", f"ipc://{short_tmp}/sink"
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    code = (
        "import sys; from executor.commands import sink_command; sink_command.main(sys.argv[1:], standalone_mode=True)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "--bind", sink_ep, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        push = zctx.socket(zmq.PUSH)
        push.connect(sink_ep)
        payload = {
            "strategy": "s",
            "tenant": "t",
            "symbol": "BTC-USD",
            "side": "buy",
            "strength": 0.5,
            "size": None,
            "reason": "because",
        }
        push.send_multipart(wire.encode(wire.SIGNAL_TOPIC, wire.SIGNAL, 7, 1, time.time_ns(), payload))
        push.send_multipart([b"garbage", b"x", b"y"])
        wait_for(lambda: out.exists() and out.read_text().count("\n") == 1, what="sink file")
        rec = json.loads(out.read_text())
        assert rec["reason"] == "because" and rec["executor_session"] == 7 and rec["signal_seq"] == 1
    finally:
        proc.terminate()
        stdout, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0 and b"t/s BUY  BTC-USD strength=0.50 because" in stdout
    assert sink_command.name == "sink" and feed_command.name == "feed"
