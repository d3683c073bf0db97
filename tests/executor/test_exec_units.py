import hashlib
import json
import os
from pathlib import Path

import pytest

from executor.api import Signal, Strategy
from executor.config import ConfigError, apply_env, from_dict
from executor.loader import LoadError, load_strategy_class
from executor.sandbox import Limits
from executor.state import STATE_FILE, StateError, load_state, save_state

BASE = {
    "kind": "ExecutorConfig",
    "strategy": {"name": "s", "tenant": "t"},
    "code": {"dir": "/code", "file": "s.py", "class": "S"},
    "subscriptions": ["trades"],
    "feed": {"endpoint": "tcp://feed:5556"},
    "sink": {"endpoint": "tcp://sink:5557"},
}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"symbol": "", "side": "buy"},
        {"symbol": "X", "side": "long"},
        {"symbol": "X", "side": "buy", "strength": 2},
        {"symbol": "X", "side": "buy", "size": -1},
        {"symbol": "X", "side": "buy", "size": float("nan")},
        {"symbol": "X", "side": "buy", "meta": {"blob": "m" * 4096}},
        {"symbol": "X", "side": "buy", "meta": ["not", "a", "dict"]},
    ],
)
def test_signal_validation(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        Signal(**kwargs)


def test_signal_meta_up_to_4_kib_is_accepted() -> None:
    assert Signal("X", "buy", meta={"blob": "m" * 4000}).meta["blob"] == "m" * 4000


def test_emit_before_attach_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="on_start"):
        Strategy().emit(symbol="X", side="buy")


def test_state_save_is_atomic(tmp_path: Path) -> None:
    save_state(tmp_path, {"a": 1})
    with pytest.raises(StateError):
        save_state(tmp_path, {"bad": object()})
    assert load_state(tmp_path) == {"a": 1}  # the failed save left the old state intact
    save_state(tmp_path, {"a": 2})
    assert json.loads((tmp_path / STATE_FILE).read_text()) == {"a": 2}
    assert sorted(os.listdir(tmp_path)) == [STATE_FILE]  # no temp files left behind


def test_corrupt_state_is_reported(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).write_text("[1, 2")
    with pytest.raises(StateError):
        load_state(tmp_path)


def test_config_env_overrides() -> None:
    cfg = apply_env(
        from_dict(BASE),
        {
            "STRATOPS_FEED_ENDPOINT": "ipc:///f",
            "STRATOPS_SINK_ENDPOINT": "ipc:///s",
            "STRATOPS_HTTP_PORT": "9999",
            "STRATOPS_STATE_DIR": "/st",
            "STRATOPS_CODE_DIR": "/c",
        },
    )
    assert (cfg.feed_endpoint, cfg.sink_endpoint, cfg.http_port) == ("ipc:///f", "ipc:///s", 9999)
    assert (cfg.state_dir, cfg.code_dir) == (Path("/st"), Path("/c"))
    with pytest.raises(ConfigError, match="subscriptions"):
        from_dict({k: v for k, v in BASE.items() if k != "subscriptions"})


def test_loader(tmp_path: Path) -> None:
    src = "from executor import Strategy\nclass S(Strategy):\n    pass\nNOT_A_STRATEGY = 1\n"
    (tmp_path / "s.py").write_text(src)
    digest = hashlib.sha256(src.encode()).hexdigest()
    assert issubclass(load_strategy_class(tmp_path, "s.py", "S", digest), Strategy)
    for file, cls, sha, msg in [
        ("../s.py", "S", None, "plain"),
        ("s.py", "NOT_A_STRATEGY", None, "no Strategy"),
        ("s.py", "S", "0" * 64, "digest"),
        ("missing.py", "S", None, "not found"),
    ]:
        with pytest.raises(LoadError, match=msg):
            load_strategy_class(tmp_path, file, cls, sha)


def test_sandbox_limits_from_quantities() -> None:
    import resource

    lim = Limits.from_quantities("250m", "256Mi", cpu_seconds=30, open_files=64, nproc=32)
    assert lim.cpu == 0.25 and lim.memory == 256 * 1024**2
    r = lim.rlimits()
    assert r[resource.RLIMIT_AS][0] == 256 * 1024**2 + lim.overhead
    assert r[resource.RLIMIT_CPU] == (30, 35)
    assert r[resource.RLIMIT_NOFILE] == (64, 64) and r[resource.RLIMIT_NPROC] == (32, 32)
    with pytest.raises(ValueError):
        Limits.from_quantities(memory="-1Mi")
