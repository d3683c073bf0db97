"""Run a strategy's own code over recorded data in a sandboxed executor; collect its signals.

The strategy is untrusted, so it runs where a live executor runs: `python -m executor` with a
data-clock config (executor.replay), launched through the local runtime's sandbox
(generator.runtime.sandbox: cgroups or rlimits, private network namespace, die with the
parent), with the spec's memory and one core. This process (trusted) publishes the data on
an XPUB socket with XPUB_NODROP (a slow strategy slows the backtest, nothing is lost), reads
the signals on a PULL socket, and checks each one again: what comes back from the sandbox is
data, never trusted.

A strategy could read its socket ahead of the event it is handling (the engine keeps up to
SNDHWM messages in flight); it would only fool its own backtest. Signals stamped before an
earlier signal or after the data sent so far are refused.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import msgpack
import zmq

from executor import wire
from executor.api import SIDES
from executor.replay import CONTROL, DONE_TOPIC
from executor.topics import TopicFilter

from ..errors import Problem, UserError
from ..runtime import sandbox
from ..runtime.jail import FEED_DIR, SINK_DIR
from ..spec import Strategy

SNDHWM = 20_000
MAX_SIGNAL_BYTES = 64 * 1024
MAX_SIGNALS = 1_000_000
START_TIMEOUT = 30.0
TICK_NS = 10**9


@dataclass
class RunLimits:
    seconds: float = 600.0  # wall time for the whole run
    memory: str | None = None  # default: the spec's
    handler_timeout: float = 5.0
    netns: bool = True


@dataclass
class StrategyRun:
    signals: list[dict[str, Any]]
    summary: dict[str, Any]
    refused: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0
    messages: int = 0


def run_strategy(
    strategy: Strategy,
    records: Sequence[dict[str, Any]],
    params: dict[str, Any] | None = None,
    limits: RunLimits | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> StrategyRun:
    limits = limits or RunLimits()
    work = Path(tempfile.mkdtemp(prefix="stratops-bt-"))
    ident = "bt" + secrets.token_hex(5)
    isolation: sandbox.Isolation | None = None
    proc: subprocess.Popen | None = None
    ctx = zmq.Context()
    try:
        try:
            isolation = sandbox.detect(ident, work / "probe", limits.netns)
        except sandbox.SandboxUnavailable as exc:
            what, fix = (list(exc.args) + ["", ""])[:2]
            raise UserError("cannot sandbox the strategy here", [Problem("sandbox", str(what), str(fix))]) from None
        feed, sink = _sockets(ctx, work)
        config = _write_config(work, strategy, params if params is not None else strategy.params, limits, isolation)
        proc = _spawn(isolation, strategy, work, config, limits)
        started = time.monotonic()
        session = _Session(proc, feed, sink, work / "executor.log", started + limits.seconds)
        prefixes = TopicFilter(strategy.subscriptions).prefixes()
        session.wait_subscribed([*prefixes, CONTROL])
        sent = session.stream(records, tuple(prefixes), progress)
        summary = session.collect()
        return StrategyRun(session.signals, summary, session.refused, time.monotonic() - started, sent)
    finally:
        if proc is not None:
            _stop(proc)
        ctx.destroy(linger=0)
        if isolation is not None:
            isolation.release(strategy.key)
            if isolation.cgroups:
                isolation.cgroups.clear()
        shutil.rmtree(work, ignore_errors=True)


# Where the executor sees its files inside the sandbox: the paths of the live executor's container.
CODE_DIR, STATE_DIR, CONFIG_DIR = "/opt/stratops/code", "/var/lib/stratops/state", "/etc/stratops"


def _sockets(ctx: zmq.Context, work: Path) -> tuple[zmq.Socket, zmq.Socket]:
    """The engine's ends, in their own folders (each bound into the sandbox like a live feed's and sink's)."""
    for folder in ("feed", "sink"):
        (work / folder).mkdir(mode=0o755)
    feed = ctx.socket(zmq.XPUB)
    feed.setsockopt(zmq.XPUB_NODROP, 1)
    feed.setsockopt(zmq.SNDHWM, SNDHWM)
    feed.bind(f"ipc://{work / 'feed' / 'feed.sock'}")
    sink = ctx.socket(zmq.PULL)
    sink.setsockopt(zmq.MAXMSGSIZE, MAX_SIGNAL_BYTES)
    sink.setsockopt(zmq.RCVHWM, 100_000)
    sink.bind(f"ipc://{work / 'sink' / 'sink.sock'}")
    for path in (work / "feed" / "feed.sock", work / "sink" / "sink.sock"):
        os.chmod(path, 0o666)  # the executor's uid connects; only its own sandbox sees these folders
    return feed, sink


def _write_config(
    work: Path, strategy: Strategy, params: dict[str, Any], limits: RunLimits, isolation: sandbox.Isolation
) -> Path:
    """Code (read-only), state and /tmp folders and executor.json, in sandbox paths when there is a sandbox."""
    code, state, tmp, etc = work / "code", work / "state", work / "tmp", work / "etc"
    for folder in (code, state, tmp, etc):
        folder.mkdir(mode=0o755 if folder in (code, etc) else 0o700)
    (code / strategy.code_file).write_text(strategy.source, encoding="utf-8")
    os.chmod(code / strategy.code_file, 0o444)
    jailed = isolation.jail is not None
    if jailed and os.geteuid() == 0:  # as the pod's fsGroup would: its state and /tmp are the executor's
        for folder in (state, tmp):
            os.chown(folder, sandbox.DEFAULT_UID, sandbox.DEFAULT_UID)
    where = {
        "code": CODE_DIR if jailed else str(code),
        "state": STATE_DIR if jailed else str(state),
        "feed": f"ipc://{FEED_DIR if jailed else work / 'feed'}/feed.sock",
        "sink": f"ipc://{SINK_DIR if jailed else work / 'sink'}/sink.sock",
    }
    config = {
        "apiVersion": "stratops.io/v1",
        "kind": "ExecutorConfig",
        "strategy": {"name": strategy.name, "tenant": strategy.tenant},
        "code": {"dir": where["code"], "file": strategy.code_file, "class": strategy.code_class},
        "subscriptions": list(strategy.subscriptions),
        "params": params,
        "feed": {"endpoint": where["feed"]},
        "sink": {"endpoint": where["sink"]},
        "stateDir": where["state"],
        "limits": {
            "cpu": "1",
            "memory": limits.memory or strategy.memory,
            "handlerTimeoutSeconds": limits.handler_timeout,
            "watchdogExitDelaySeconds": 0.1,
        },
        "clock": "data",
    }
    path = etc / "executor.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    os.chmod(path, 0o444)
    return path


def _spawn(
    isolation: sandbox.Isolation, strategy: Strategy, work: Path, config: Path, limits: RunLimits
) -> subprocess.Popen:
    """The one call into the runtime's sandbox: the same launch path, and the same box, as a live executor."""
    quota = replace(isolation.limits("1", limits.memory or strategy.memory), cpu_seconds=int(limits.seconds) + 5)
    jail = isolation.jail
    if jail is None:  # --unsandboxed: host paths
        env = {"PATH": os.defpath, "LANG": "C.UTF-8", "HOME": str(work / "tmp"), "TMPDIR": str(work / "tmp")}
        argv = [sys.executable, "-m", "executor", "--config", str(config)]
        launch = isolation.launch_config(strategy.key, quota, argv, {**env, "PYTHONPATH": _package_root()}, work)
        return sandbox.spawn(launch, work / "launch.json", work / "executor.log")
    volumes = [
        (str(work / "code"), CODE_DIR, "ro"),
        (str(work / "state"), STATE_DIR, "rw"),
        (str(work / "tmp"), "/tmp", "rw"),
        (str(work / "etc"), CONFIG_DIR, "ro"),
    ]
    sockets = [(str(work / "feed"), FEED_DIR, "ro"), (str(work / "sink"), SINK_DIR, "ro")]
    box = sandbox.Box(strategy.name, sandbox.DEFAULT_UID, sandbox.DEFAULT_UID, volumes, sockets)
    argv = [jail.python, "-s", "-m", "executor", "--config", f"{CONFIG_DIR}/executor.json"]
    launch = isolation.launch_config(strategy.key, quota, argv, jail.env(), work, box)
    return sandbox.spawn(launch, work / "launch.json", work / "executor.log")


def _package_root() -> str:
    import executor

    return str(Path(executor.__file__).resolve().parent.parent)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
    if proc.poll() is None:
        sandbox.kill_group(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


class _Session:
    def __init__(self, proc: subprocess.Popen, feed: zmq.Socket, sink: zmq.Socket, log: Path, deadline: float):
        self.proc, self.feed, self.sink, self.log, self.deadline = proc, feed, sink, log, deadline
        self.signals: list[dict[str, Any]] = []
        self.refused: list[str] = []
        self.summary: dict[str, Any] | None = None
        self.sent_ts = 0
        self.last_signal_ts = 0
        self.stalls = 0
        self.poller = zmq.Poller()
        self.poller.register(feed, zmq.POLLOUT)
        self.poller.register(sink, zmq.POLLIN)

    # -- failure -----------------------------------------------------------------------------
    def _check_alive(self) -> None:
        code = self.proc.poll()
        if code is not None:
            raise UserError("the strategy stopped before the end of the data", self._why(code))
        if time.monotonic() > self.deadline:
            raise UserError(
                "the backtest took too long",
                [Problem("backtest", "over its time limit", "use less data (--from/--to) or a faster strategy")],
            )

    def _why(self, code: int | None) -> list[Problem]:
        problems = [Problem("executor", f"exited with code {code}")] if code else []
        for line in _log_errors(self.log):
            problems.append(Problem("strategy", line))
        return problems or [Problem("executor", "ended without a reason in its log")]

    # -- phases ------------------------------------------------------------------------------
    def wait_subscribed(self, prefixes: list[bytes]) -> None:
        missing = set(prefixes)
        until = time.monotonic() + START_TIMEOUT
        while missing:
            self._check_alive()
            if time.monotonic() > until:
                raise UserError("the strategy did not start", self._why(None))
            if self.feed.poll(100, zmq.POLLIN):
                message = self.feed.recv()
                if message[:1] == b"\x01":
                    missing.discard(message[1:])

    def stream(
        self,
        records: Sequence[dict[str, Any]],
        prefixes: tuple[bytes, ...],
        progress: Callable[[int, int], None] | None,
    ) -> int:
        """Publish RECORDS in order; topics no subscription prefix matches are skipped here, as XPUB would."""
        seqs: dict[bytes, int] = {}
        topics: dict[tuple[str, str, str], tuple[bytes, int] | None] = {}
        pack, header, send = msgpack.Packer(use_bin_type=True).pack, wire.HEADER.pack, self._send
        part, more, last = self.feed.send, zmq.NOBLOCK | zmq.SNDMORE, zmq.NOBLOCK
        next_tick, total, sent = 0, len(records), 0
        for rec in records:
            ts = self.sent_ts = rec["ts"]
            if ts >= next_tick:
                tick = ts - ts % TICK_NS
                send([CONTROL, header(wire.VERSION, wire.HEARTBEAT, 0, 1, 0, tick), b"\x80"])
                next_tick = tick + TICK_NS
                if progress is not None:
                    progress(sent, total)
            key = (rec["type"], rec.get("venue", ""), rec["symbol"])
            entry = topics.get(key, False)
            if entry is False:
                kind = wire.RECORD_KIND[rec["type"]]
                topic = wire.record_topic(rec)
                entry = topics[key] = (topic, wire.TYPE_OF_KIND[kind]) if topic.startswith(prefixes) else None
            if entry is None:
                continue
            topic, mtype = entry
            seq = seqs[topic] = seqs.get(topic, 0) + 1
            payload = {k: v for k, v in rec.items() if k != "type"}
            head, body = header(wire.VERSION, mtype, 0, 1, seq, ts), pack(payload)
            try:  # the hot path: three frames; only the first can meet the high-water mark (XPUB_NODROP)
                part(topic, more)
            except zmq.Again:
                send([topic, head, body])
            else:
                part(head, more)
                part(body, last)
            sent += 1
        end = records[-1]["ts"] if records else 0
        send([CONTROL, header(wire.VERSION, wire.HEARTBEAT, 0, 1, 0, end), pack({"end": True})])
        if progress is not None:
            progress(total, total)
        return sent

    def _send(self, frames: list[bytes]) -> None:
        while True:
            try:
                self.feed.send_multipart(frames, zmq.NOBLOCK)
                return
            except zmq.Again:
                self.stalls += 1
            # the executor is behind: let it drain a batch rather than wake on every freed slot
            time.sleep(0.002)
            self._drain()
            self._check_alive()

    def collect(self) -> dict[str, Any]:
        while self.summary is None:
            self._check_alive()
            if self.sink.poll(100):
                self._drain()
        return self.summary

    def _drain(self) -> None:
        while self.summary is None:
            try:
                frames = self.sink.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            self._receive(frames)

    def _receive(self, frames: list[bytes]) -> None:
        if len(frames) != 3:
            self.refused.append(f"a message of {len(frames)} frames")
            return
        try:
            payload = msgpack.unpackb(frames[2], raw=False, strict_map_key=True)
        except Exception:
            self.refused.append("a message that is not msgpack")
            return
        if frames[0] == DONE_TOPIC and isinstance(payload, dict):
            self.summary = _clean_summary(payload)
            return
        if frames[0] != wire.SIGNAL_TOPIC:
            self.refused.append(f"a message on topic {frames[0][:40]!r}")
            return
        sig, why = _checked_signal(payload, self.last_signal_ts, self.sent_ts)
        if sig is None:
            if len(self.refused) < 1000:
                self.refused.append(why)
            return
        if len(self.signals) >= MAX_SIGNALS:
            raise UserError(
                "the strategy emitted too many signals",
                [Problem("signals", f"more than {MAX_SIGNALS}", "emit on changes of mind, not on every event")],
            )
        self.last_signal_ts = sig["ts"]
        self.signals.append(sig)


def _checked_signal(p: Any, not_before: int, not_after: int) -> tuple[dict[str, Any] | None, str]:
    if not isinstance(p, dict):
        return None, "a signal that is not a map"
    symbol, side, strength, size, ts = (p.get(k) for k in ("symbol", "side", "strength", "size", "ts"))
    if not (isinstance(symbol, str) and 0 < len(symbol) <= 64) or side not in SIDES:
        return None, f"a signal with a bad symbol or side ({str(symbol)[:64]!r}, {str(side)[:16]!r})"
    if not (_number(strength) and 0 <= strength <= 1) or not (size is None or (_number(size) and size >= 0)):
        return None, f"a signal with a bad strength or size on {symbol}"
    if not isinstance(ts, int) or isinstance(ts, bool) or not not_before <= ts <= not_after:
        return None, f"a signal on {symbol} stamped {ts!r}, outside the data sent so far"
    reason = p.get("reason")
    return {
        "symbol": symbol,
        "side": side,
        "strength": float(strength),
        "size": None if size is None else float(size),
        "ts": ts,
        "reason": reason[:200] if isinstance(reason, str) else "",
    }, ""


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _clean_summary(p: dict[str, Any]) -> dict[str, Any]:
    def count(value: Any) -> int:
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0

    events = p.get("events") if isinstance(p.get("events"), dict) else {}
    failed = p.get("failed")
    return {
        "events": {k: count(events.get(k)) for k in ("trades", "quotes", "bars")},
        "handler_errors": count(p.get("handler_errors")),
        "decode_errors": count(p.get("decode_errors")),
        "timer_ticks": count(p.get("timer_ticks")),
        "signals": count(p.get("signals")),
        "max_rss_kib": count(p.get("max_rss_kib")),
        "failed": failed[:500] if isinstance(failed, str) else None,
    }


def _log_errors(log: Path, keep: int = 5) -> list[str]:
    """The executor's error lines (JSON logs), last KEEP, each cut to one readable line."""
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()[-400:]
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            if line.strip() and ("Error" in line or "error" in line):
                out.append(line.strip()[:300])
            continue
        if isinstance(entry, dict) and entry.get("level") in ("ERROR", "error", "CRITICAL"):
            out.append(str(entry.get("message", entry.get("msg", "")))[:300])
    return out[-keep:]
