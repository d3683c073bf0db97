"""Output caps enforced outside the executor: the log pipe (rate, rotation) and the routed sink (identity, caps)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import msgpack
import pytest
import zmq

from executor import wire
from generator.runtime import logpipe, sinkd
from generator.runtime.rate import TokenBucket


def _signal(payload: dict) -> list[bytes]:
    base = {"symbol": "BTC-USD", "side": "buy", "strength": 1.0, "reason": "", "meta": {}, "ts": time.time_ns()}
    return wire.encode(wire.SIGNAL_TOPIC, wire.SIGNAL, 1, 1, time.time_ns(), base | payload)


def test_token_bucket_allows_the_burst_then_the_rate() -> None:
    bucket = TokenBucket(100, 1000, stamp=0.0)
    assert sum(bucket.take(1, now=0.0) for _ in range(1500)) == 1000
    assert bucket.take(50, now=0.25) == 25  # 0.25 s at 100/s


def _wait_quiet(pipes: logpipe.LogPipes, path: Path) -> None:
    deadline, size = time.monotonic() + 5, -1
    while time.monotonic() < deadline:
        now = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
        if now == size:
            return
        size = now
        time.sleep(0.2)


def test_log_pipe_keeps_the_burst_drops_and_counts_the_rest(tmp_path: Path) -> None:
    pipes = logpipe.LogPipes()
    log = tmp_path / "executor.log"
    write = pipes.open("t/flood", log)
    chunk = b"y" * 65535 + b"\n"
    for _ in range(64):  # 4 MiB at once
        os.write(write, chunk)
    os.close(write)
    _wait_quiet(pipes, log)
    pipes.close()
    data = log.read_bytes()
    assert logpipe.BURST <= len(data) <= logpipe.BURST + 2 * logpipe.RATE
    payload = b"".join(line for line in data.split(b"\n") if b"stratops.runtime" not in line)
    assert abs(pipes.dropped["t/flood"] + payload.count(b"y") - 64 * 65535) <= 64  # every byte kept or counted
    assert b"bytes dropped" in data  # a note where writing resumed


def test_log_pipe_rotates_to_one_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logpipe, "ROTATE_BYTES", 100_000)
    pipes = logpipe.LogPipes()
    log = tmp_path / "executor.log"
    write = pipes.open("t/rot", log)
    for _ in range(12):
        os.write(write, b"z" * 19_999 + b"\n")
        time.sleep(0.01)
    os.close(write)
    _wait_quiet(pipes, log)
    pipes.close()
    previous = log.with_name("executor.log.1")
    assert previous.exists() and previous.stat().st_size <= 100_000 and log.stat().st_size <= 100_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["executor.log", "executor.log.1"]


def test_routed_sink_stamps_the_sender_from_its_socket_and_counts_drops(tmp_path: Path) -> None:
    sink = sinkd.RoutedSink(tmp_path / "routes.json", tmp_path / "out.ndjson", tmp_path / "stats.json")
    sink.counts["bob/b"] = dict.fromkeys(sinkd.COUNTERS, 0)
    sink.buckets["bob/b"] = TokenBucket(sinkd.RATE, 3)
    forged = sink.accept("bob/b", _signal({"tenant": "alice", "strategy": "a", "reason": "forged"}))
    assert forged is not None and (forged["tenant"], forged["strategy"]) == ("bob", "b")
    assert sink.accept("bob/b", _signal({"meta": {"x": "m" * 5000}})) is None
    assert sink.accept("bob/b", [b"junk"]) is None
    assert [sink.accept("bob/b", _signal({})) is not None for _ in range(3)] == [True, True, False]
    assert sink.counts["bob/b"] == {"received": 3, "dropped_rate": 1, "dropped_size": 1, "malformed": 1}


def test_routed_sink_binds_one_socket_per_strategy_and_refuses_huge_messages(tmp_path: Path) -> None:
    routes = {key: str(tmp_path / f"{key.replace('/', '-')}.sock") for key in ("a/x", "b/y")}
    (tmp_path / "routes.json").write_text(json.dumps(routes))
    sink = sinkd.RoutedSink(tmp_path / "routes.json", tmp_path / "out.ndjson", tmp_path / "stats.json")
    sink.sync()
    assert sorted(sink.sockets) == ["a/x", "b/y"]
    assert all(Path(p).stat().st_mode & 0o777 == 0o666 for p in routes.values())
    ctx = zmq.Context()
    push = ctx.socket(zmq.PUSH)
    push.connect(f"ipc://{routes['b/y']}")
    push.send_multipart(_signal({"meta": {"blob": "m" * (sinkd.MAX_MESSAGE * 2)}}))
    push.send_multipart(_signal({"reason": "ok"}))
    received = []
    deadline = time.monotonic() + 5
    sock = sink.sockets["b/y"][0]
    while time.monotonic() < deadline and not received:
        if sock.poll(100):
            received.append(msgpack.unpackb(sock.recv_multipart()[2]))
    assert [r["reason"] for r in received] in ([], ["ok"])  # the huge one never arrives (its connection is cut)
    assert not any(len(r.get("meta", {}).get("blob", "")) for r in received)
    (tmp_path / "routes.json").write_text(json.dumps({"a/x": routes["a/x"]}))
    os.utime(tmp_path / "routes.json", (time.time() + 5, time.time() + 5))
    sink.sync()
    assert sorted(sink.sockets) == ["a/x"] and not Path(routes["b/y"]).exists()
    push.close(linger=0)
    for s, _ in sink.sockets.values():
        s.close(linger=0)
    ctx.term()
