"""The bundled examples: valid spec files, signals on the bundled sample, same signals end to end."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from exec_helpers import REPO, Env, sync_feed, wait_for

from executor.feed import FeedOptions, Publisher, Replayer, load_records, sample_path
from executor.harness import replay
from executor.loader import load_strategy_class

EXAMPLES = sorted(p.parent for p in (REPO / "examples").glob("*/strategy.yaml"))
DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return load_records(sample_path())


def _spec(d: Path) -> dict[str, Any]:
    return yaml.safe_load((d / "strategy.yaml").read_text())


def test_there_are_three_examples() -> None:
    assert {d.name for d in EXAMPLES} >= {"ma-crossover", "quote-imbalance", "vwap-breakout"}


@pytest.mark.parametrize("d", EXAMPLES, ids=lambda d: d.name)
def test_spec_shape(d: Path) -> None:
    doc = _spec(d)
    assert (doc["apiVersion"], doc["kind"]) == ("stratops.io/v1", "Strategy")
    assert DNS1123.match(doc["metadata"]["name"]) and DNS1123.match(doc["metadata"]["tenant"])
    assert doc["metadata"]["name"] == d.name
    spec = doc["spec"]
    assert (d / spec["code"]["file"]).is_file()
    assert set(spec["resources"]) == {"cpu", "memory"} and spec["subscriptions"]


@pytest.mark.parametrize("d", EXAMPLES, ids=lambda d: d.name)
def test_emits_signals_on_sample(d: Path, records: list[dict[str, Any]]) -> None:
    spec = _spec(d)["spec"]
    cls = load_strategy_class(d, spec["code"]["file"], spec["code"]["class"])
    signals = replay(cls, records, spec["params"], spec["subscriptions"])
    assert len(signals) >= 3
    subscribed = {s.rsplit(".", 1)[1] for s in spec["subscriptions"]}
    assert {s.symbol for s in signals} <= subscribed
    assert {s.side for s in signals} == {"buy", "sell"}


def test_ma_crossover_end_to_end_matches_replay(
    env: Env, publisher: Publisher, sink: list, records: list[dict[str, Any]]
) -> None:
    d = REPO / "examples" / "ma-crossover"
    spec = _spec(d)["spec"]
    cls = load_strategy_class(d, spec["code"]["file"], spec["code"]["class"])
    expected = [(s.symbol, s.side, s.reason) for s in replay(cls, records, spec["params"], spec["subscriptions"])]
    ex = env.start(
        "ma-crossover",
        spec["code"]["file"],
        spec["code"]["class"],
        spec["subscriptions"],
        params=spec["params"],
        code_dir=d,
    )
    ex.wait_ready()
    topics = [s.encode() for s in spec["subscriptions"]]
    sync_feed(publisher, [ex], topics)
    replayer = Replayer(records, publisher, FeedOptions(speed="max", heartbeat=0.5))
    t = threading.Thread(target=replayer.run, daemon=True)
    t.start()
    t.join(30)
    wait_for(lambda: len(sink) >= len(expected), timeout=20, what="all signals")
    assert [(s["symbol"], s["side"], s["reason"]) for s in sink] == expected
    assert ex.metric("missed_messages_total") == 0
    assert ex.metric("filtered_total") > 0  # bars.BTC-USDT reached the socket and was dropped
