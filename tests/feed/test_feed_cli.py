"""`stratops feed --source ...` as a process: ZeroMQ output, recording in the shared data format, metrics, errors."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import zmq
from click.testing import CliRunner
from exchange_sim import BinanceSim, CoinbaseSim, Scenario
from exec_helpers import REPO, free_port, wait_for
from feed_helpers import Received, drain

from executor.commands import feed_command
from executor.records import load_records


def test_live_feed_process_publishes_records_and_serves_metrics(short_tmp: Path, zctx: zmq.Context[Any]) -> None:
    out, port, endpoint = short_tmp / "live.parquet", free_port(), f"ipc://{short_tmp}/feed"
    with BinanceSim(["BTC-USDT", "ETH-USDT"], Scenario(rate=100, drop_after=[150])) as sim:
        proc = subprocess.Popen(
            [sys.executable, "-m", "executor.commands", "feed", "--source", "binance", "--symbols", "BTC-USDT,ETH-USDT"]
            + ["--endpoint", sim.url, "--bind", endpoint, "--record", str(out), "--metrics-port", str(port)],
            cwd=REPO,
            stderr=subprocess.PIPE,
        )
        sub = zctx.socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"trades.binance.")
        sub.connect(endpoint)
        got = Received()
        wait_for(lambda: drain(sub, got, time.monotonic() + 0.2).events, timeout=60, what="live trades")
        drain(sub, got, time.monotonic() + 2.0)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            metrics = resp.read().decode()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    assert 'stratops_feed_messages_total{kind="trades",venue="binance"}' in metrics
    assert 'stratops_feed_reconnects_total{venue="binance"}' in metrics
    records = load_records(out)  # the shared data format: what backtest and `up --data` read
    kinds = {r["type"] for r in records}
    assert kinds == {"trade", "quote", "bar"} and {r["venue"] for r in records} == {"binance"}
    # the file is ordered by exchange time (trades recovered after the dropped connection sort back in)
    ids = sorted(int(r["id"]) for r in records if r["type"] == "trade" and r["symbol"] == "BTC-USDT")
    assert ids == list(range(ids[0], ids[0] + len(ids))) and len(ids) > 100
    published = {int(p["id"]) for t, _, p in got.events if t == b"trades.binance.BTC-USDT"}
    assert published <= set(ids)  # recorded what it published


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "coinbase"], "--source coinbase needs --symbols"),
        (["--source", "binance", "--symbols", "BTC-USDT", "--endpoint", "ftp://x"], "must be an http:// or https://"),
        (["--symbols", "BTC-USDT"], "need --source binance|coinbase"),
        (["--source", "binance", "--symbols", "X", "--ws-endpoint", "http://x"], "must be a ws:// or wss:// URL"),
        (["--source", "binance", "--symbols", "BTC-USDT", "--record", "out.txt"], "unknown file type"),
    ],
)
def test_bad_options_are_named(args: list[str], message: str) -> None:
    result = CliRunner().invoke(feed_command, args)
    assert result.exit_code == 2 and message in result.output, result.output


def test_unknown_symbol_exits_with_the_listed_ones(short_tmp: Path) -> None:
    with CoinbaseSim(["BTC-USD", "ETH-USD"]) as sim:
        result = CliRunner().invoke(
            feed_command,
            ["--source", "coinbase", "--symbols", "BTC-USD,NOPE-USD", "--endpoint", sim.url]
            + ["--bind", f"ipc://{short_tmp}/f"],
        )
    assert result.exit_code == 2, result.output
    assert "coinbase does not list NOPE-USD" in result.output and "BTC-USD, ETH-USD" in result.output
    assert "Traceback" not in result.output


def _live_feed(url: str, connect: str) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "executor.commands", "feed", "--source", "binance", "--symbols", "BTC-USDT"]
    return subprocess.Popen([*args, "--endpoint", url, "--connect", connect], cwd=REPO, stderr=subprocess.DEVNULL)


def test_two_live_feeds_behind_the_deduping_proxy_survive_a_kill(short_tmp: Path, zctx: zmq.Context[Any]) -> None:
    front, back = f"ipc://{short_tmp}/front", f"ipc://{short_tmp}/back"
    proxy = subprocess.Popen(
        [sys.executable, "-m", "executor.commands", "feed", "--proxy", front, "--bind", back, "--dedupe"],
        cwd=REPO,
        stderr=subprocess.DEVNULL,
    )
    sub = zctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"trades.binance.BTC-USDT")
    sub.connect(back)
    got = Received()
    with BinanceSim(["BTC-USDT"], Scenario(rate=100)) as sim:
        feeds = [_live_feed(sim.url, front), _live_feed(sim.url, front)]
        try:
            wait_for(lambda: sim.connections >= 2 and drain(sub, got, time.monotonic() + 0.2).events, 60, what="both")
            drain(sub, got, time.monotonic() + 1.0)
            feeds[0].send_signal(signal.SIGKILL)  # one feed dies mid-stream
            feeds[0].wait(10)
            drain(sub, got, time.monotonic() + 2.0)
        finally:
            for proc in (*feeds, proxy):
                proc.terminate()
                proc.wait(15)
    ids = [int(p["id"]) for _, _, p in got.events]
    # each trade once, none lost (two feeds racing may swap neighbours: whichever delivers first wins)
    assert sorted(ids) == list(range(min(ids), min(ids) + len(ids))) and len(ids) > 200
    assert len({h.session for _, h, _ in got.events}) == 1  # the proxy's session: no restart downstream
    assert [h.seq for _, h, _ in got.events] == list(range(1, len(ids) + 1))
