"""The backtested strategy runs confined like a live executor: own network namespace, memory limit, and
what comes back from it is checked."""

from __future__ import annotations

from pathlib import Path

import yaml

from executor.feed import sample_path
from executor.records import load_records
from executor.sandbox import DEFAULT_OVERHEAD
from generator.backtest.strategy_run import _checked_signal, run_strategy
from generator.runtime import sandbox
from generator.spec import parse_spec
from tests import needs

PROBE = """import resource, socket
from executor import Strategy


class Probe(Strategy):
    def on_trade(self, trade):
        if not getattr(self, "done", False):
            self.done = True
            names = ",".join(name for _, name in socket.if_nameindex())
            limit = resource.getrlimit(resource.RLIMIT_AS)[0]
            self.emit(symbol=trade.symbol, side="flat", reason=f"{names}|{limit}")
"""


def test_the_strategy_runs_in_the_runtime_sandbox(tmp_path: Path) -> None:
    if not sandbox.detect_netns(tmp_path / "probe"):
        needs.missing("unshare(CLONE_NEWNET) is not permitted on this machine", "enable unprivileged user namespaces")
    doc = {
        "apiVersion": "stratops.io/v1",
        "kind": "Strategy",
        "metadata": {"name": "probe", "tenant": "test"},
        "spec": {
            "code": {"inline": PROBE, "class": "Probe"},
            "subscriptions": ["trades.BTC-USD"],
            "resources": {"memory": "128Mi"},
        },
    }
    records = [r for r in load_records(sample_path()) if r["symbol"] == "BTC-USD"][:200]
    run = run_strategy(parse_spec(yaml.safe_dump(doc)), records)
    (signal,) = run.signals
    interfaces, limit = signal["reason"].split("|")
    assert interfaces == "lo"  # a private network namespace: no way out
    assert int(limit) == 128 * 1024 * 1024 + DEFAULT_OVERHEAD


def test_signals_from_the_sandbox_are_checked_again() -> None:
    good = {"symbol": "BTC-USD", "side": "buy", "strength": 0.5, "size": None, "ts": 5, "reason": "x"}
    assert _checked_signal(good, 0, 10)[0] is not None
    for bad in ({"side": "moon"}, {"strength": 2}, {"size": -1}, {"ts": 11}, {"ts": True}, {"symbol": ""}):
        sig, why = _checked_signal({**good, **bad}, 0, 10)
        assert sig is None and why, bad
    assert _checked_signal({**good, "ts": 4}, 5, 10)[0] is None  # before an earlier signal: refused
