"""The executor as a real process: probes, signals, sequence gaps, feed restarts, stop, drain, failures."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import zmq
from exec_helpers import STRATEGIES, Env, wait_for

from executor import wire
from executor.feed import Publisher

TOPIC = b"trades.BTC-USD"


def trade(i: int, symbol: str = "BTC-USD") -> dict[str, Any]:
    return {
        "symbol": symbol,
        "ts": time.time_ns(),
        "price": 100.0 + i,
        "size": 1.0,
        "side": "buy",
        "id": str(i),
    }


def started(env: Env, publisher: Publisher, subs: list[str], **kw: Any):
    from exec_helpers import sync_feed

    ex = env.start(kw.pop("name", "counter"), kw.pop("file", "basic.py"), kw.pop("cls", "Counter"), subs, **kw)
    ex.wait_ready()
    sync_feed(publisher, [ex], [TOPIC])
    return ex


def test_probes_signals_and_exact_topics(env: Env, publisher: Publisher, sink: list) -> None:
    ex = started(env, publisher, ["trades.BTC-USD"])
    assert ex.get("/livez")[0] == ex.get("/startupz")[0] == 200
    for i in range(50):
        publisher.publish(TOPIC, wire.TRADE, trade(i))
        publisher.publish(b"trades.BTC-USDT", wire.TRADE, trade(i, "BTC-USDT"))
    wait_for(lambda: len([s for s in sink if s["symbol"] == "BTC-USD"]) == 50, what="50 signals")
    m = ex.metrics()
    assert m["stratops_executor_events_total"] == 50
    assert m["stratops_executor_filtered_total"] == 50  # BTC-USDT passed the prefix filter, then was dropped
    assert m["stratops_executor_handler_seconds_count"] >= 50 and m["stratops_executor_feed_lag_seconds_count"] == 50
    sig = sink[0]
    assert (sig["strategy"], sig["tenant"], sig["side"]) == ("counter", "test", "buy")
    assert sig["ts"] >= sig["event_receive_ts"] >= sig["event_ts"] > 0 and sig["signal_seq"] == 1
    assert [s["meta"]["seq"] for s in sink] == list(range(1, 51))


def test_sigterm_runs_on_stop_saves_state_exit_zero(env: Env, publisher: Publisher, sink: list) -> None:
    ex = started(env, publisher, ["trades"])
    for i in range(10):
        publisher.publish(TOPIC, wire.TRADE, trade(i))
    wait_for(lambda: ex.metric("events_total") == 10, what="10 events")
    t0 = time.monotonic()
    ex.proc.send_signal(signal.SIGTERM)
    assert ex.proc.wait(10) == 0
    assert time.monotonic() - t0 < 5
    state = json.loads((ex.state_dir / "state.json").read_text())
    assert state["stopped"] is True and state["counts"] == {"trades.BTC-USD": 10}
    wait_for(lambda: any(s["symbol"] == "STOP" for s in sink), what="signal from on_stop")


def test_state_survives_restart(env: Env, publisher: Publisher, sink: list) -> None:
    ex = started(env, publisher, ["trades"], name="restart")
    assert ex.stop() == 0
    ex2 = env.start("restart", "basic.py", "Counter", ["trades"])
    ex2.wait_ready()
    assert ex2.stop() == 0
    assert json.loads((ex2.state_dir / "state.json").read_text())["starts"] == 2


def test_drainz_stops_consuming_then_sigterm(env: Env, publisher: Publisher, sink: list) -> None:
    ex = started(env, publisher, ["trades"])
    code, body = ex.get("/drainz")
    assert code == 200 and json.loads(body)["drained"] is True
    assert json.loads((ex.state_dir / "state.json").read_text())["stopped"] is True
    assert ex.get("/readyz")[0] == 503 and ex.get("/livez")[0] == 200
    publisher.publish(TOPIC, wire.TRADE, trade(1))
    time.sleep(0.3)  # nothing to poll for: asserting that an event is NOT consumed
    assert ex.metric("events_total") == 0
    assert ex.stop() == 0
    assert sum(1 for s in sink if s["symbol"] == "STOP") == 1  # on_stop ran once, not again on SIGTERM


def test_sequence_gap_is_counted_and_logged(env: Env, publisher: Publisher, sink: list) -> None:
    ex = started(env, publisher, ["trades"], params={"emit": False})
    publisher.publish(TOPIC, wire.TRADE, trade(1))
    publisher.seqs[TOPIC] += 3  # three messages "lost"
    publisher.publish(TOPIC, wire.TRADE, trade(2))
    wait_for(lambda: ex.metric("sequence_gaps_total") == 1, what="gap metric")
    assert ex.metric("missed_messages_total") == 3
    gaps = [r for r in ex.logs() if r.get("event") == "sequence_gap"]
    assert gaps and gaps[0]["missed"] == 3 and gaps[0]["topic"] == "trades.BTC-USD"


def test_feed_restart_is_detected_and_stream_resumes(
    env: Env, publisher: Publisher, zctx: zmq.Context, sink: list
) -> None:
    ex = started(env, publisher, ["trades"], params={"emit": False})
    publisher.publish(TOPIC, wire.TRADE, trade(1))
    wait_for(lambda: ex.metric("events_total") == 1, what="first event")
    publisher.socket.close(linger=0)  # the feed goes away ...
    sock = zctx.socket(zmq.PUB)
    sock.bind(env.feed_endpoint)  # ... and comes back with a new session and seq 1
    restarted = Publisher(sock, heartbeat=0.05)
    wait_for(
        lambda: restarted.send_heartbeats([TOPIC], force=True) and ex.metric("feed_sessions_total") == 2,
        interval=0.05,
        what="new feed session",
    )
    for i in range(5):
        restarted.publish(TOPIC, wire.TRADE, trade(i))
    wait_for(lambda: ex.metric("events_total") == 6, what="events after restart")
    assert ex.metric("sequence_gaps_total") == 0
    assert any(r.get("event") == "feed_restart" for r in ex.logs())
    sock.close(linger=0)


def test_timer(env: Env, publisher: Publisher, sink: list) -> None:
    started(env, publisher, ["trades"], params={"timer": 0.05})
    wait_for(lambda: sum(1 for s in sink if s["symbol"] == "TIMER") >= 3, what="3 timer signals")


def test_raising_strategy_is_marked_failed(env: Env, publisher: Publisher, sink: list) -> None:
    ex = started(
        env,
        publisher,
        ["trades"],
        name="raiser",
        file="bad.py",
        cls="Raiser",
        limits={"maxConsecutiveErrors": 3},
    )
    for i in range(10):
        publisher.publish(TOPIC, wire.TRADE, trade(i))
    wait_for(lambda: ex.get("/readyz")[0] == 503, what="readyz 503")
    body = json.loads(ex.get("/readyz")[1])
    assert "3 consecutive handler errors" in body["failed"] and "RuntimeError: boom" in body["failed"]
    assert ex.get("/livez")[0] == 200
    wait_for(lambda: ex.metric("handler_errors_total") == 3, what="3 errors")
    errors = [r for r in ex.logs() if r.get("event") == "handler_error"]
    assert len(errors) == 3 and "Traceback" in errors[0]["exc"] and "boom at seq" in errors[0]["exc"]
    assert ex.stop() == 0


def test_hung_handler_trips_watchdog(env: Env, publisher: Publisher, sink: list) -> None:
    ex = started(
        env,
        publisher,
        ["trades"],
        name="looper",
        file="bad.py",
        cls="Looper",
        limits={"handlerTimeoutSeconds": 0.5, "watchdogExitDelaySeconds": 2},
    )
    publisher.publish(TOPIC, wire.TRADE, trade(1))
    wait_for(lambda: ex.get("/livez")[0] == 503, timeout=5, what="livez 503")
    assert "on_trade exceeded its deadline" in json.loads(ex.get("/livez")[1])["liveReason"]
    assert ex.proc.wait(10) == 3
    trip = [r for r in ex.logs() if r.get("event") == "watchdog_trip"]
    assert trip and "while True" in trip[0]["stack"]


def test_bad_code_exits_with_clear_error(env: Env, short_tmp: Path) -> None:
    ex = env.start("broken", "basic.py", "DoesNotExist", ["trades"])
    assert ex.proc.wait(15) == 2
    assert any("no Strategy subclass named 'DoesNotExist'" in r.get("msg", "") for r in ex.logs())


def test_code_dir_is_the_one_from_config(env: Env) -> None:
    assert env.start("x", "basic.py", "Noop", ["trades"]).config["code"]["dir"] == str(STRATEGIES)
