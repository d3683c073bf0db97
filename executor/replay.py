"""The executor on a data clock, for backtests: the live Runner fed by a trusted backtest engine.

A backtest runs the strategy exactly as live: this same executor process, started in the
same sandbox, loads the code with the same loader, subscribes with the same ZeroMQ SUB
prefixes, decodes every message through the live hot path (``Runner._on_message``: exact
topic check, sequence check, handler call, error counting, failure after consecutive errors,
hung-handler watchdog) and emits signals through the live ``emit`` (same validation) on the
same PUSH socket. What differs is the clock:

* "now" is the data's time: the header time of the message being handled (the engine puts
  the record's exchange time there), so events' ``receive_ts`` and signals' ``ts`` are data
  times and a backtest is deterministic;
* timers fire on data time: before any message at or after a timer's due time, the timer
  runs with the clock set to its due time. The engine sends a clock tick on the control topic
  every second of data, so timers run even when no subscribed event arrives.

Control messages (topic ``CONTROL``, header type heartbeat) carry ``{"end": true}`` at the end
of the data: the runner then runs ``on_stop``, saves state, and answers on its PUSH socket
with ``[DONE_TOPIC, header, summary]`` after its last signal. The feed side is an XPUB with
``XPUB_NODROP`` on the engine's side, so nothing is dropped and a slow strategy slows the
backtest down instead.
"""

from __future__ import annotations

import logging
from typing import Any

import msgpack
import zmq

from executor import wire
from executor.api import TimerEvent
from executor.runner import BATCH, Runner

log = logging.getLogger("executor")
CONTROL = b"\x00control"
DONE_TOPIC = b"\x00done"


class ReplayRunner(Runner):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.data_ns = 0
        self.now_ns = self._data_now
        self.ended = False
        self.next_due = float("inf")
        self.data_timers: dict[str, list[int]] = {}  # name -> [interval ns, due ns]

    def _data_now(self) -> int:
        return self.data_ns

    def run(self) -> int:
        self._connect()
        self._attach_strategy()
        self.watchdog.start()
        self._call("on_start", self.strategy.on_start)
        self.health.started = True
        self._loop()
        self._stop_strategy()
        self._send_done()
        self.watchdog.stop()
        for sock in (self.sub, self.push):
            if sock is not None:
                sock.close(linger=-1 if sock is self.push else 0)
        return 0

    def _connect(self) -> None:
        self.cfg.sndhwm = 0  # signals queue instead of being dropped: the engine reads them all
        super()._connect()
        assert self.sub is not None
        self.sub.setsockopt(zmq.SUBSCRIBE, CONTROL)

    def _loop(self) -> None:
        sub, handle = self.sub, self._on_message
        assert sub is not None
        while not self.ended:
            if not sub.poll(1000):
                continue
            for _ in range(BATCH):
                try:
                    frames = sub.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                ts = int.from_bytes(frames[1][20:28], "big") if len(frames) == 3 else self.data_ns
                if not self.data_ns:
                    self._start_clock(ts)
                if ts >= self.next_due:
                    self._run_data_timers(ts)
                self.data_ns = max(self.data_ns, ts)
                if frames[0] == CONTROL:
                    self._control(frames)
                    if self.ended:
                        return
                else:
                    handle(frames)

    def _control(self, frames: list[bytes]) -> None:
        try:
            message = msgpack.unpackb(frames[2])
        except Exception:  # the engine is trusted; a bad control frame is a bug worth a log line
            log.error("bad control message from the backtest engine")
            return
        if isinstance(message, dict) and message.get("end"):
            self.ended = True

    # -- timers on data time ---------------------------------------------------------------
    def _start_clock(self, ts: int) -> None:
        """The first message starts the clock: timers set in on_start count from it."""
        self.data_ns = ts
        for timer in self.data_timers.values():
            timer[1] += ts
        self.next_due = min((t[1] for t in self.data_timers.values()), default=float("inf"))

    def schedule(self, name: str, interval: float) -> None:
        interval_ns = max(1, int(interval * 1e9))
        self.data_timers[name] = [interval_ns, self.data_ns + interval_ns]
        self.next_due = min(t[1] for t in self.data_timers.values())

    def _run_data_timers(self, until: int) -> None:
        timers = self.data_timers
        while timers and not self.health.failed_reason:
            name, timer = min(timers.items(), key=lambda item: item[1][1])
            interval, due = timer
            if due > until:
                break
            timer[1] = due + interval
            self.data_ns = max(self.data_ns, due)
            self.metrics.inc("timer_ticks")
            self._call("on_timer", self.strategy.on_timer, TimerEvent(name, interval / 1e9, due))
        self.next_due = min((t[1] for t in timers.values()), default=float("inf"))

    def _send_done(self) -> None:
        m = self.metrics
        summary = {
            "events": dict(m.events),
            "handler_errors": m.counts["handler_errors"],
            "decode_errors": m.counts["decode_errors"],
            "timer_ticks": m.counts["timer_ticks"],
            "signals": self.signal_seq,
            "failed": self.health.failed_reason or None,
            "data_ns": self.data_ns,
            "max_rss_kib": _peak_rss_kib(),
        }
        assert self.push is not None
        self.push.send_multipart(wire.encode(DONE_TOPIC, wire.HEARTBEAT, self.session, 0, self.data_ns, summary))


def _peak_rss_kib() -> int:
    """VmHWM: the peak of this program's own memory (getrusage's ru_maxrss also counts the forked parent's)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0
