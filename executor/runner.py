"""The executor event loop: feed SUB -> exact-topic check -> sequence check -> handler -> signals."""

from __future__ import annotations

import logging
import os
import random
import secrets
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import msgpack
import zmq

from executor import guard, sequence, wire
from executor import snapshot as snapshots
from executor.api import Signal, Strategy, TimerEvent
from executor.config import ExecutorConfig
from executor.events import bar_from, quote_from, trade_from
from executor.health import Health, start_http
from executor.metrics import ExecutorMetrics
from executor.state import load_state, save_state
from executor.topics import TopicFilter
from executor.watchdog import Watchdog

log = logging.getLogger("executor")
BATCH = 512
POLL_MS = 100
_unpackb = msgpack.unpackb
_time_ns = time.time_ns
_monotonic_ns = time.monotonic_ns
_HEADER_UNPACK = wire.HEADER.unpack
_READABLE = wire.READABLE_VERSIONS
_SNAPSHOT = wire.FLAG_SNAPSHOT


class Runner:
    def __init__(self, cfg: ExecutorConfig, strategy_cls: type[Strategy]) -> None:
        self.cfg = cfg
        self.metrics = ExecutorMetrics(cfg.name, cfg.tenant)
        self.health = Health()
        self.filter = TopicFilter(cfg.subscriptions)
        self.seq = sequence.SequenceTracker()
        self.watchdog = Watchdog(cfg.handler_timeout, cfg.watchdog_exit_delay, self._on_watchdog)
        self.strategy = strategy_cls()
        self.session = random.getrandbits(63)
        self.signal_seq = 0
        self.timers: dict[str, list[float]] = {}  # name -> [interval, next due (monotonic)]
        self.next_timer = float("inf")
        self.current_event: Any = None
        self.stop_requested = False
        self.drain_requested = threading.Event()
        self.zctx = zmq.Context.instance()
        self.sub: zmq.Socket[bytes] | None = None
        self.push: zmq.Socket[bytes] | None = None
        self.http: Any = None
        self.dispatch: dict[int, tuple[Callable[..., Any], str, Callable[[Any], None]]] = {}
        self._last_rx = time.monotonic()
        self._sync_token = b""
        self._kinds: dict[bytes, str] = {}
        self._seq_last = self.seq._last
        self.now_ns: Callable[[], int] = _time_ns  # the clock events and signals are stamped with

    # -- lifecycle -------------------------------------------------------------------
    def run(self) -> int:
        self._install_signals()
        cfg = self.cfg
        self.http = start_http(
            cfg.http_host, cfg.http_port, self.health, self.metrics, self.drain, cfg.http_socket, cfg.http_fd
        )
        self._connect()
        self._attach_strategy()
        self.watchdog.start()
        self._call("on_start", self.strategy.on_start)
        self._join_snapshot()
        self.health.started = True
        self._update_gauges()
        log.info(
            "executor started",
            extra={
                "fields": {
                    "event": "started",
                    "subscriptions": self.cfg.subscriptions,
                    "feed": self.cfg.feed_endpoint,
                }
            },
        )
        self._loop()
        return self._shutdown()

    def request_stop(self, *_: Any) -> None:
        self.stop_requested = True

    def drain(self) -> bool:
        """Called from the HTTP thread (/drainz): stop consuming, run on_stop, save state."""
        self.drain_requested.set()
        return self.health.drained.wait(timeout=max(1.0, self.cfg.handler_timeout + 2))

    def _install_signals(self) -> None:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.request_stop)
            signal.signal(signal.SIGINT, self.request_stop)

    def _attach_strategy(self) -> None:
        s = self.strategy
        s.params, s.name, s.tenant = dict(self.cfg.params), self.cfg.name, self.cfg.tenant
        s.state = load_state(self.cfg.state_dir)
        s.log = logging.getLogger(f"strategy.{self.cfg.name}")
        s._ctx = self
        self.dispatch = {
            wire.TRADE: (trade_from, "on_trade", s.on_trade),
            wire.QUOTE: (quote_from, "on_quote", s.on_quote),
            wire.BAR: (bar_from, "on_bar", s.on_bar),
        }

    def _shutdown(self) -> int:
        if not self.health.drained.is_set():
            self._stop_strategy()
        self.watchdog.stop()
        for sock in (self.sub, self.push):
            if sock is not None:
                sock.close(linger=2000 if sock is self.push else 0)
        if self.http is not None:
            self.http.shutdown()
            self.http.server_close()
        log.info("executor stopped", extra={"fields": {"event": "stopped"}})
        return 0

    def _stop_strategy(self) -> None:
        self.health.draining = True
        self._update_gauges()
        if self.sub is not None:
            self.sub.close(linger=0)
            self.sub = None
        self._call("on_stop", self.strategy.on_stop)
        self.save_state()
        self.health.drained.set()

    # -- sockets ---------------------------------------------------------------------
    def _connect(self) -> None:
        sub = self.zctx.socket(zmq.SUB)
        sub.setsockopt(zmq.RCVHWM, self.cfg.rcvhwm)
        sub.setsockopt(zmq.RECONNECT_IVL, 100)
        sub.setsockopt(zmq.RECONNECT_IVL_MAX, 2000)
        sub.setsockopt(zmq.HEARTBEAT_IVL, 2000)
        sub.setsockopt(zmq.HEARTBEAT_TIMEOUT, 6000)
        for prefix in self.filter.prefixes():
            sub.setsockopt(zmq.SUBSCRIBE, prefix)
        if self.cfg.snapshot_endpoint:
            self._sync_token = secrets.token_hex(8).encode()
            sub.setsockopt(zmq.SUBSCRIBE, wire.SYNC_PREFIX + self._sync_token)
        sub.connect(self.cfg.feed_endpoint)
        self.sub = sub
        if self.push is None:
            push = self.zctx.socket(zmq.PUSH)
            push.setsockopt(zmq.SNDHWM, self.cfg.sndhwm)
            push.connect(self.cfg.sink_endpoint)
            self.push = push

    def _reconnect(self) -> None:
        if self.sub is not None:
            self.sub.close(linger=0)
        self.metrics.inc("reconnects")
        log.warning(
            "no feed traffic for %gs; reconnecting",
            self.cfg.stale_seconds,
            extra={"fields": {"event": "reconnect", "feed": self.cfg.feed_endpoint}},
        )
        self._connect()
        self._join_snapshot()

    def _join_snapshot(self) -> None:
        """Last values from the feed's cache first (flagged snapshot), then the stream, merged by seq."""
        if not self.cfg.snapshot_endpoint or self.sub is None:
            return
        prefixes = self.filter.prefixes()
        snapshot, stream = snapshots.join(self.zctx, self.sub, self.cfg.snapshot_endpoint, self._sync_token, prefixes)
        if snapshot is None:
            log.warning(
                "no snapshot from %s within %gs; starting with the stream",
                self.cfg.snapshot_endpoint,
                snapshots.WAIT,
                extra={"fields": {"event": "no_snapshot"}},
            )
        self.metrics.inc("snapshots", len(snapshot or ()))
        for frames in (snapshot or []) + stream:
            self._on_message(frames)  # stream messages the snapshot covers are dropped by seq
        self._last_rx = time.monotonic()

    # -- loop ------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self.stop_requested:
            if self.drain_requested.is_set() and not self.health.drained.is_set():
                self._stop_strategy()
            if self.sub is None:
                time.sleep(0.05)
                continue
            timeout = POLL_MS
            if self.timers:
                timeout = max(0, min(POLL_MS, int((self.next_timer - time.monotonic()) * 1000) + 1))
            if self.sub.poll(timeout):
                self._receive_batch()
            now = time.monotonic()
            if now >= self.next_timer:
                self._run_timers(now)
            if now - self._last_rx > self.cfg.stale_seconds:
                self._last_rx = now
                self._reconnect()

    def _receive_batch(self) -> None:
        sub, handle = self.sub, self._on_message
        assert sub is not None
        for _ in range(BATCH):
            try:
                frames = sub.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            handle(frames)
        self._last_rx = time.monotonic()

    def _on_message(self, frames: list[bytes]) -> None:
        """The hot path, kept in one function on purpose (each call costs ~0.1 us in CPython)."""
        receive_ts = self.now_ns()
        if len(frames) != 3:
            self._bad_message(f"expected 3 frames, got {len(frames)}")
            return
        topic, raw_header, raw_payload = frames
        kind = self._kinds.get(topic)
        if kind is None:
            kind = self._classify(topic)
        if not kind:
            self.metrics.counts["filtered"] += 1
            return
        try:
            version, mtype, flags, session, seq, ts_ns = _HEADER_UNPACK(raw_header)
        except Exception as exc:  # struct.error on a short header
            self._bad_message(f"bad header: {exc}")
            return
        if version not in _READABLE:
            self._bad_message(f"unsupported wire version {version}")
            return
        last = self._seq_last.get(topic)
        if last is not None and last[0] == session and seq == last[1] + 1 and mtype != wire.HEARTBEAT:
            last[1] = seq
        elif not self._track(topic, session, seq, mtype == wire.HEARTBEAT):
            return  # already delivered (snapshot/stream overlap, or a duplicate)
        entry = self.dispatch.get(mtype)
        if entry is None:
            if mtype == wire.HEARTBEAT:
                self.metrics.counts["heartbeats"] += 1
            else:
                self._bad_message(f"unknown message type {mtype}")
            return
        if self.health.failed_reason:
            return
        build, name, handler = entry
        try:
            event = build(_unpackb(raw_payload), ts_ns, receive_ts, seq)
        except Exception as exc:
            self._bad_message(f"bad {name[3:]} payload on {topic!r}: {exc}")
            return
        if flags & _SNAPSHOT:
            event.snapshot = True
        metrics, wd = self.metrics, self.watchdog
        metrics.events[kind] += 1
        metrics.lag.observe_ns(receive_ts - ts_ns)
        self.current_event = event
        wd.busy_what = name
        wd.busy_since = start = _monotonic_ns()
        try:
            handler(event)
        except (Exception, SystemExit) as exc:
            wd.busy_since = 0
            self._handler_failed(name, exc)
        else:
            wd.busy_since = 0
            metrics.handler.observe_ns(_monotonic_ns() - start)
            if metrics.consecutive_errors:
                metrics.consecutive_errors = 0
        self.current_event = None

    def _classify(self, topic: bytes) -> str:
        """Exact-topic check behind the ZeroMQ prefix filter; result cached per topic ('' = drop)."""
        kind = topic.partition(b".")[0].decode("ascii", "replace") if self.filter.accepts(topic) else ""
        if len(self._kinds) > 65536:
            self._kinds.clear()
        self._kinds[topic] = kind
        return kind

    def _track(self, topic: bytes, session: int, seq: int, heartbeat: bool) -> bool:
        """Sequence check off the fast path; False: drop the message (seen already)."""
        verdict = self.seq.check(topic, session, seq, heartbeat)
        if verdict.status is sequence.OK:
            return True
        if verdict.status == sequence.DUPLICATE:
            self.metrics.inc("duplicates_dropped")
            return False
        self._sequence_event(topic, session, seq, verdict)
        return True

    def _sequence_event(self, topic: bytes, session: int, seq: int, verdict: sequence.Verdict) -> None:
        fields = {
            "topic": topic.decode(errors="replace"),
            "session": session,
            "seq": seq,
            "previous": verdict.previous,
        }
        if verdict.status == sequence.GAP:
            self.metrics.inc("sequence_gaps")
            self.metrics.inc("missed_messages", verdict.missed)
            log.warning(
                "sequence gap on %s: %d message(s) missed",
                fields["topic"],
                verdict.missed,
                extra={"fields": {"event": "sequence_gap", "missed": verdict.missed, **fields}},
            )
        elif verdict.status == sequence.RESTART:
            log.warning(
                "feed restarted (new session) on %s",
                fields["topic"],
                extra={"fields": {"event": "feed_restart", **fields}},
            )
        self.metrics.counts["feed_sessions"] = len(self.seq.sessions)

    def _bad_message(self, why: str) -> None:
        self.metrics.inc("decode_errors")
        if self.metrics.counts["decode_errors"] <= 10 or self.metrics.counts["decode_errors"] % 1000 == 0:
            log.warning("dropped message: %s", why, extra={"fields": {"event": "decode_error"}})

    # -- handlers --------------------------------------------------------------------
    def _call(self, name: str, fn: Callable[..., Any], *args: Any) -> bool:
        wd, metrics = self.watchdog, self.metrics
        wd.busy_what = name
        wd.busy_since = start = _monotonic_ns()
        try:
            fn(*args)
        except (Exception, SystemExit) as exc:
            wd.busy_since = 0
            self._handler_failed(name, exc)
            return False
        wd.busy_since = 0
        metrics.handler.observe_ns(_monotonic_ns() - start)
        if metrics.consecutive_errors:
            metrics.consecutive_errors = 0
        return True

    def _handler_failed(self, name: str, exc: BaseException) -> None:
        m = self.metrics
        m.inc("handler_errors")
        m.consecutive_errors += 1
        log.error(
            "%s raised %s: %s",
            name,
            type(exc).__name__,
            exc,
            exc_info=exc,
            extra={"fields": {"event": "handler_error", "handler": name, "consecutive": m.consecutive_errors}},
        )
        if name == "on_start":
            self._fail(f"on_start raised {type(exc).__name__}: {exc}")
        elif m.consecutive_errors >= self.cfg.max_consecutive_errors and not self.health.failed_reason:
            self._fail(
                f"{m.consecutive_errors} consecutive handler errors; last in {name}: {type(exc).__name__}: {exc}"
            )

    def _fail(self, reason: str) -> None:
        self.health.failed_reason = reason[:500]
        self._update_gauges()
        log.error("strategy marked failed: %s", reason, extra={"fields": {"event": "strategy_failed"}})

    def _on_watchdog(self, reason: str) -> None:
        self.metrics.inc("watchdog_trips")
        self.health.live = False
        self.health.live_reason = reason
        self._update_gauges()

    def _update_gauges(self) -> None:
        self.metrics.ready = int(self.health.ready)
        self.metrics.failed = int(bool(self.health.failed_reason))

    # -- timers ----------------------------------------------------------------------
    def schedule(self, name: str, interval: float) -> None:
        self.timers[name] = [interval, time.monotonic() + interval]
        self.next_timer = min(t[1] for t in self.timers.values())

    def _run_timers(self, now: float) -> None:
        for name, timer in list(self.timers.items()):
            if now >= timer[1] and not self.health.failed_reason:
                timer[1] = max(timer[1] + timer[0], now)
                self.metrics.inc("timer_ticks")
                self._call("on_timer", self.strategy.on_timer, TimerEvent(name, timer[0], time.time_ns()))
        self.next_timer = min((t[1] for t in self.timers.values()), default=float("inf"))

    # -- strategy services -----------------------------------------------------------
    def emit(self, sig: Signal) -> None:
        self.signal_seq += 1
        now = self.now_ns()
        ev = self.current_event
        payload = {
            "strategy": self.cfg.name,
            "tenant": self.cfg.tenant,
            "symbol": sig.symbol,
            "side": sig.side,
            "strength": sig.strength,
            "size": sig.size,
            "reason": sig.reason,
            "meta": sig.meta,
            "ts": now,
            "event_ts": getattr(ev, "exchange_ts", None),
            "event_seq": getattr(ev, "seq", None),
            "event_receive_ts": getattr(ev, "receive_ts", None),
        }
        try:
            frames = wire.encode(wire.SIGNAL_TOPIC, wire.SIGNAL, self.session, self.signal_seq, now, payload)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"signal meta is not serialisable: {exc}") from exc
        assert self.push is not None
        try:
            self.push.send_multipart(frames, zmq.NOBLOCK)
        except zmq.Again:
            self.metrics.inc("signals_dropped")
            return
        self.metrics.inc("signals")

    def save_state(self) -> None:
        try:
            save_state(self.cfg.state_dir, self.strategy.state)
        except Exception as exc:
            log.error("saving state failed: %s", exc, extra={"fields": {"event": "state_error"}})


def install_guard(cfg: ExecutorConfig) -> None:
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    if cfg.audit_hook:
        guard.install([str(cfg.state_dir), os.environ.get("TMPDIR", "/tmp")])
