"""The Grafana dashboard (charts/strategy-executor/dashboards/stratops.json) asks only for metrics that exist:
every PromQL expression is parsed with a real PromQL parser (promql-parser), and each metric it names must be
one that a really running executor or signal sink serves on /metrics (a real feed, sink and executor process)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import promql_parser
import pytest
from exec_helpers import REPO, Env, free_port, wait_for
from prometheus_client.parser import text_string_to_metric_families

DASHBOARD = REPO / "charts" / "strategy-executor" / "dashboards" / "stratops.json"
# Grafana's interval macros are not PromQL: a duration stands in for them before parsing.
MACROS = re.compile(r"\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}")
LABEL_VALUES = re.compile(r"^label_values\((.*),\s*\w+\)$", re.S)


def expressions(node: Any, where: str = "") -> list[tuple[str, str]]:
    """(where, PromQL) of every panel target (rows' panels too) and every query variable of the dashboard."""
    found: list[tuple[str, str]] = []
    if isinstance(node, dict):
        if isinstance(node.get("expr"), str):
            found.append((where, node["expr"]))
        query = node.get("query")
        if node.get("type") == "query" and isinstance(query, dict | str):
            text = query.get("query", "") if isinstance(query, dict) else query
            inner = LABEL_VALUES.match(text.strip())
            found.append((f"{where}.query", inner.group(1) if inner else text))
        for key, value in node.items():
            found += expressions(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += expressions(value, f"{where}[{i}]")
    return found


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (by name or by a __name__ matcher)."""
    names: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                names.add(node.name)
            names.update(m.value for m in node.matchers.matchers if m.name == "__name__")

    promql_parser.walk(promql_parser.parse(MACROS.sub("5m", expr)), visit)
    return names


def scraped(port: int) -> set[str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}


def test_the_parser_finds_every_metric_of_an_expression() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le) (rate(a_bucket{x=~"$v"}[$__rate_interval]))) '
        '/ on() group_left sum(b_total) + count({__name__="c"}) > bool scalar(d offset 5m)'
    )
    assert metric_names(expr) == {"a_bucket", "b_total", "c", "d"}
    with pytest.raises(ValueError):
        metric_names("sum(rate(a_total[5m])")  # unbalanced: the parser refuses it, nothing is guessed


@pytest.fixture
def endpoints(short_tmp: Path) -> tuple[int, int]:
    """A real feed, a real sink serving /metrics, and a real executor that receives events and emits signals."""
    env = Env(short_tmp, f"ipc://{short_tmp}/feed", f"ipc://{short_tmp}/sink")
    sink_port = free_port()
    python = [sys.executable, "-m", "executor.commands"]
    services = [
        subprocess.Popen(
            [*python, "sink", "--bind", env.sink_endpoint, "--no-follow", "--metrics-port", str(sink_port)],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [*python, "feed", "--bind", env.feed_endpoint, "--speed", "fixed", "--rate", "2000", "--loop"],
            cwd=REPO,
            stderr=subprocess.DEVNULL,
        ),
    ]
    try:
        executor = env.start("dashboard", "basic.py", "Counter", ["trades", "bars"])
        executor.wait_ready()
        wait_for(lambda: executor.metric("signals_total") > 0, 30, what="signals from the executor")
        wait_for(lambda: "stratops_sink_signals_total" in scraped(sink_port), 15, what="the sink's /metrics")
        yield executor.port, sink_port
    finally:
        for proc in [*services, *(ex.proc for ex in env.executors)]:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_every_dashboard_query_names_a_metric_the_executor_or_sink_exports(endpoints: tuple[int, int]) -> None:
    executor_port, sink_port = endpoints
    exported = scraped(executor_port) | scraped(sink_port)
    dashboard = json.loads(DASHBOARD.read_text())
    found = expressions(dashboard)
    assert len(found) >= 15, found  # every panel's targets and the variables were read
    asked = {name: where for where, expr in found for name in metric_names(expr)}
    unknown = {name: where for name, where in asked.items() if name not in exported}
    assert not unknown, f"the dashboard asks for metrics nobody exports: {unknown}; exported: {sorted(exported)}"
    # Each family the issue names is on the dashboard: events, lag, CPU, memory, restarts, signals, the sink.
    for needed in (
        "stratops_executor_events_total",
        "stratops_executor_feed_lag_seconds_bucket",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_start_time_seconds",
        "stratops_executor_signals_total",
        "stratops_sink_signals_total",
    ):
        assert needed in asked, needed
