"""Typed parameters, every problem at once, the Strategy base class, unknown symbols, and data for `up`/the feed."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import msgpack
import pytest
import yaml
import zmq

from executor.feed import sample_path
from executor.records import load_records, write_records
from generator.errors import UserError
from generator.spec import parse_spec

REPO = Path(__file__).resolve().parents[2]
CODE = """
from executor import Strategy

class Base(Strategy):
    pass

class Crossover(Base):
    parameters = {
        "fast": {"type": "integer", "default": 10, "minimum": 1, "maximum": 100, "description": "fast SMA length"},
        "mode": {"type": "string", "enum": ["sma", "ema"], "default": "sma"},
        "threshold": {"type": "number"},
    }

class Plain:
    def on_bar(self, bar):
        pass
"""


def spec(**overrides) -> str:
    doc = {
        "apiVersion": "stratops.io/v1",
        "kind": "Strategy",
        "metadata": {"name": "x", "tenant": "t"},
        "spec": {"code": {"inline": CODE, "class": "Crossover"}, "subscriptions": ["bars"], "params": {}},
    }
    for path, value in overrides.items():
        node = doc
        *parents, last = path.split("__")
        for part in parents:
            node = node[part]
        node[last] = value
    return yaml.safe_dump(doc)


def problems(text: str) -> list[str]:
    with pytest.raises(UserError) as info:
        parse_spec(text)
    return [str(p) for p in info.value.problems]


def test_class_declarations_fill_defaults_and_check_types_statically() -> None:
    strategy = parse_spec(spec(spec__params={"threshold": 0.5}))
    assert strategy.params == {"fast": 10, "mode": "sma", "threshold": 0.5}
    found = problems(spec(spec__params={"fast": "fourteen", "mode": "wma", "window": 3}))
    assert "spec.params.fast: 'fourteen' is not a integer (fast: fast SMA length)" in found
    assert any(p.startswith("spec.params.mode: 'wma' is not one of") for p in found)
    assert any(p.startswith("spec.params.window: is not a declared parameter") for p in found)
    assert any(p.startswith("spec.params.threshold: is required") for p in found)
    assert any("out of range" in p for p in problems(spec(spec__params={"fast": 0, "threshold": 1})))


def test_spec_declarations_override_the_class() -> None:
    declared = {"fast": {"type": "integer", "default": 3, "maximum": 5}, "threshold": {"type": "number", "default": 1}}
    strategy = parse_spec(spec(spec__parameters=declared))
    assert strategy.params["fast"] == 3 and strategy.params["threshold"] == 1
    assert any("out of range" in p for p in problems(spec(spec__parameters=declared, spec__params={"fast": 7})))


def test_every_problem_at_once_and_the_base_class_is_checked() -> None:
    found = problems(spec(spec__code={"inline": CODE, "class": "Plain"}, spec__resources={"cpu": "64"},
                          spec__subscriptions=["candles"]))  # fmt: skip
    assert any(p.startswith("spec.subscriptions[0]") for p in found)
    assert any("does not subclass Strategy" in p for p in found)
    assert any(p.startswith("spec.resources.cpu: 64 is over the cap") for p in found)


def test_a_class_reaching_strategy_through_an_alias_import_is_accepted() -> None:
    code = "import executor as ex\nimport executor\nclass A(executor.Strategy):\n    pass\n"
    assert parse_spec(spec(spec__code={"inline": code, "class": "A"})).code_class == "A"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "generator.cli", *args], capture_output=True, text=True, timeout=120,
                          cwd=REPO)  # fmt: skip


def test_validate_flags_symbols_the_feed_does_not_carry(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(spec(spec__subscriptions=["bars.BTC-USD", "trades.NOPE-USD"], spec__params={"threshold": 1}))
    out = run_cli("validate", str(path))
    assert out.returncode == 0, out.stderr
    assert "trades.NOPE-USD" in out.stderr and "BTC-USD:" not in out.stderr


def test_up_refuses_bad_data_before_starting(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ndjson"
    bad.write_text('{"type": "trade", "symbol": "BTC-USD", "ts": 1, "price": 0, "size": 1}\n')
    out = run_cli("up", str(tmp_path), "--data", str(bad))
    assert out.returncode == 2 and "bad.ndjson: line 1, field 'price'" in out.stderr


def test_feed_replays_parquet_trades_with_bars_built_from_them(tmp_path: Path) -> None:
    trades = [r for r in load_records(sample_path()) if r["type"] == "trade" and r["symbol"] == "ETH-USD"]
    data = tmp_path / "eth.parquet"
    write_records(data, trades)
    endpoint = f"ipc://{tmp_path / 'feed.sock'}"
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"bars.sample.ETH-USD")
    sub.setsockopt(zmq.SUBSCRIBE, b"trades.sample.ETH-USD")
    sub.connect(endpoint)
    feed = subprocess.Popen([sys.executable, "-m", "generator.cli", "feed", "--bind", endpoint, "--data", str(data),
                             "--speed", "max", "--warmup", "1.5"], cwd=REPO)  # fmt: skip
    kinds: dict[bytes, int] = {}
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and sum(kinds.values()) < len(trades) + 305:
            if sub.poll(200):
                topic, _header, payload = sub.recv_multipart()
                kind = topic.split(b".")[0]
                if msgpack.unpackb(payload):
                    kinds[kind] = kinds.get(kind, 0) + 1
    finally:
        feed.terminate()
        feed.wait(10)
        ctx.destroy(linger=0)
    assert kinds.get(b"trades") == len(trades)
    assert kinds.get(b"bars") == 300 + 5  # 1s bars over five minutes, plus five 1m bars


def test_missing_backtest_extra_says_how_to_install(monkeypatch) -> None:
    import importlib.util

    from generator.cli.backtest_cmd import require_backtest_extra

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pandas" else real(name, *a))
    with pytest.raises(UserError) as info:
        require_backtest_extra()
    assert "missing pandas" in str(info.value) and "pip install 'stratops[backtest]'" in str(info.value)
