"""`stratops status`, `stratops signals` and `stratops demo` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from generator.fleet import Fleet
from generator.runtime.paths import RuntimePaths
from tests.runtime.rt_helpers import Up, deploy, running, wait_for

SIGNALLING = """from executor import Signal, Strategy


class Momentum(Strategy):
    def on_trade(self, trade):
        self.emit(Signal(trade.symbol, "buy", strength=0.5, reason="every trade"))
"""


def stratops(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "generator.cli", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def test_status_and_signals_against_a_running_up(fleet: Fleet, tmp_path: Path) -> None:
    deploy(fleet, tmp_path / "specs", "loud", code=SIGNALLING)
    up = Up(fleet.path, tmp_path / "up.log")
    try:
        wait_for(fleet.path, lambda s: running("alice/loud")(s) and s["strategies"]["alice/loud"]["signals"] >= 3)
        result = stratops("status", str(fleet.path), "--json")
        assert result.returncode == 0, result.stderr
        status = json.loads(result.stdout)
        loud = status["strategies"]["alice/loud"]
        assert loud["state"] == "Running" and loud["last_signal"]["side"] == "buy"
        assert status["kind"] == "RuntimeStatus" and status["pid"] == up.proc.pid
        table = stratops("status", str(fleet.path))
        assert table.returncode == 0 and "strategy=alice/loud state=Running" in table.stdout

        last = stratops("signals", str(fleet.path), "-n", "2", "--strategy", "alice/loud")
        assert last.returncode == 0 and last.stdout.count("alice/loud  BUY") == 2

        follow = subprocess.Popen(
            [sys.executable, "-m", "generator.cli", "signals", str(fleet.path), "--follow", "-n", "0", "--json"],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            line = follow.stdout.readline() if follow.stdout else ""
        finally:
            follow.terminate()
            follow.wait(10)
        record = json.loads(line)
        assert record["strategy"] == "loud" and record["received_ts"] >= (time.time() - 30) * 1e9
    finally:
        assert up.stop() == 0
    paths = RuntimePaths.of(fleet.path)
    assert not paths.status_file.exists() and not paths.sockets.exists()
    assert not Path("/sys/fs/cgroup/cpu/stratops", paths.ident).exists()


def test_status_without_a_running_up_is_a_user_error(fleet: Fleet, tmp_path: Path) -> None:
    result = stratops("status", str(fleet.path))
    assert result.returncode == 2 and "not running" in result.stderr and "stratops up" in result.stderr
    assert "Traceback" not in result.stderr
    missing = stratops("status", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "not a fleet repo" in missing.stderr


def test_bad_strategy_filter_is_a_user_error(fleet: Fleet) -> None:
    result = stratops("signals", str(fleet.path), "--strategy", "../etc")
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_up_on_a_folder_that_is_not_a_fleet(tmp_path: Path) -> None:
    result = stratops("up", str(tmp_path))
    assert result.returncode == 2 and "not a fleet repo" in result.stderr


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    started = time.monotonic()
    env = {**os.environ, "COLUMNS": "200"}
    result = subprocess.run(
        [sys.executable, "-m", "generator.cli", "demo", "--dir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=150,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert time.monotonic() - started < 120
    out = result.stdout
    for expected in (
        "all three Running and ready",
        "require-resources-within-caps",
        "CrashLoopBackOff",
        "healthy again after `stratops rollback`",
        "all steps passed",
    ):
        assert expected in out
    assert "FAILED" not in out
