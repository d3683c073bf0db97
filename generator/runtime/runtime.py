"""`stratops up`: reconcile the fleet repo's main branch onto local processes, like Flux plus the kubelet.

One loop (the thread that calls `run`; executors get PR_SET_PDEATHSIG, which follows the
spawning thread): poll the branch ref every 0.25 s; on a new commit, admit the folders whose
inputs changed (rendered in a thread pool, so the loop keeps supervising meanwhile) and make
the running set match: start new strategies, replace changed ones (Recreate: the old pod is
terminated first), terminate removed ones. A folder the cluster would refuse is marked
Invalid and its last good version keeps running, as a failed Helm upgrade leaves the release.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..errors import Problem, UserError
from ..fleet import Fleet
from . import metrics, restarts, sandbox, services
from .admission import Admission, Folder, Verdict, folders_at
from .logpipe import LogPipes
from .paths import RuntimePaths
from .pod import Backoff, Pod
from .podspec import PodSpec
from .signals import SignalTail, key_of, last_signal
from .status import write_status

POLL_SECONDS = 0.25
STATUS_SECONDS = 1.0
SHUTDOWN_SECONDS = 45.0


@dataclass
class Options:
    backoff_base: float = 10.0
    feed_speed: str = "recorded"
    feed_rate: float = 1.0
    feed_data: Path | None = None
    netns: bool = True  # unsandboxed only
    sandboxed: bool = True


@dataclass
class Slot:
    """One strategy of the fleet: the pod running it, the commit it came from, what waits to replace it."""

    key: str
    revision: str = ""
    error: str = ""
    pod: Pod | None = None
    next: tuple[PodSpec, str] | None = None
    removed: bool = False
    signals: int = 0
    last_signal: dict[str, Any] | None = None
    last_state: str = ""


@dataclass
class _Reconcile:
    head: str
    folders: list[Folder]
    jobs: dict[str, Future[Verdict]]
    started: float


@dataclass
class Runtime:
    repo: Path
    options: Options = field(default_factory=Options)
    say: Callable[[str], None] = print
    reconcile_seconds: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.fleet = Fleet(self.repo)
        self.paths = RuntimePaths.of(self.fleet.path)
        self.slots: dict[str, Slot] = {}
        self.head = ""
        self.applied: dict[str, tuple[str | None, ...]] = {}
        self.pending: _Reconcile | None = None
        self.pool = ThreadPoolExecutor(8, thread_name_prefix="probe")
        self.backoff = Backoff(self.options.backoff_base)
        self._lock_handle: IO[str] | None = None
        self.stopping = threading.Event()

    # --- lifecycle ---------------------------------------------------------------------

    def run(self, stop: threading.Event, on_tick: Callable[[dict[str, Any]], None] | None = None) -> None:
        self._acquire()
        try:
            self._cleanup_leftovers()
            self.isolation = self._isolation()
            self.say(self.isolation.describe())
            self.logs = LogPipes()
            self.routes: set[str] = set()
            self.admission = Admission(self.fleet)
            self.feed = services.feed(
                self.paths, self.options.feed_speed, self.options.feed_rate, self.options.feed_data
            )
            self.sink = services.sink(self.paths)
            self.tail = SignalTail(self.paths.signals_file)
            next_status = 0.0
            while not stop.is_set():
                now = time.monotonic()
                self.tick(now)
                if now >= next_status:
                    next_status = now + STATUS_SECONDS
                    status = self.status()
                    write_status(self.paths, status)
                    if on_tick is not None:
                        on_tick(status)
                stop.wait(max(0.0, POLL_SECONDS - (time.monotonic() - now)))
            self.shutdown(stop)
        finally:
            self._release()

    def _isolation(self) -> sandbox.Isolation:
        scratch = self.paths.root / "sandbox"
        try:
            return sandbox.detect(self.paths.ident, scratch, self.options.netns, self.options.sandboxed)
        except sandbox.SandboxUnavailable as exc:
            what, fix = exc.args
            raise UserError(
                "refusing to run strategies without a sandbox", [Problem("stratops up", what, fix)]
            ) from None

    def _route_signals(self) -> None:
        """Give each strategy its own sink socket (the sink learns them from this file)."""
        keys = set(self.slots)
        if keys != self.routes:
            routes = {key: str(self.paths.sink_dir(key) / "sink.sock") for key in sorted(keys)}
            tmp = self.paths.sink_routes.with_name(".sink-routes.tmp")
            tmp.write_text(json.dumps(routes), encoding="utf-8")
            os.replace(tmp, self.paths.sink_routes)
            self.routes = keys

    def tick(self, now: float) -> None:
        for service in (self.sink, self.feed):
            service.tick(now)
            while service.events:
                self.say(service.events.pop(0))
        self._watch(now)
        for key in restarts.take(self.paths):
            self._restart(key, now)
        for slot in list(self.slots.values()):
            self._tick_slot(slot, now)
        self._route_signals()
        for record in self.tail.read():
            slot = self.slots.get(key_of(record))
            if slot is not None:
                slot.signals += 1
                slot.last_signal = last_signal(record)

    def shutdown(self, stop: threading.Event) -> None:
        """Terminate every executor (preStop, SIGTERM, SIGKILL after grace), then the sink and the feed."""
        self.say("shutting down: stopping strategies")
        now = time.monotonic()
        for slot in self.slots.values():
            slot.next, slot.removed = None, True
            if slot.pod is not None:
                slot.pod.terminate(now, "runtime shutting down")
        deadline = now + SHUTDOWN_SECONDS
        while any(s.pod is not None for s in self.slots.values()) and time.monotonic() < deadline:
            for slot in self.slots.values():
                if slot.pod is not None:
                    slot.pod.tick(time.monotonic())
                    if slot.pod.gone:
                        slot.pod = None
            time.sleep(0.05)
        for slot in self.slots.values():
            if slot.pod is not None:
                slot.pod.kill_now()
        for service in (self.feed, self.sink):
            service.stop()
        self.logs.close()
        self.paths.sink_routes.unlink(missing_ok=True)
        self.admission.close()
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.paths.status_file.unlink(missing_ok=True)
        shutil.rmtree(self.paths.sockets, ignore_errors=True)
        if self.isolation.cgroups:
            self.isolation.cgroups.clear()
        self.say("stopped")

    def _acquire(self) -> None:
        self.paths.create()
        handle = open(self.paths.pid_file, "a+")  # noqa: SIM115 - held for the life of `up`
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            pid = handle.read().strip()
            handle.close()
            raise UserError(
                "the local runtime is already running for this repo",
                [Problem(str(self.fleet.path), f"`stratops up` runs as pid {pid}", "stop it first (Ctrl-C)")],
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._lock_handle = handle

    def _release(self) -> None:
        if self._lock_handle is not None:
            self._lock_handle.seek(0)
            self._lock_handle.truncate()
            fcntl.flock(self._lock_handle, fcntl.LOCK_UN)
            self._lock_handle.close()
            self._lock_handle = None

    def _cleanup_leftovers(self) -> None:
        """After a kill -9 of `up`: end what it left running (pid files checked against start times, cgroups)."""
        pid_files = [*self.paths.root.glob("strategies/*/*/executor.pid"), *self.paths.root.glob("*.pid")]
        killed = 0
        for pid_file in pid_files:
            if pid_file == self.paths.pid_file:
                continue
            try:
                pid, started = (int(x) for x in pid_file.read_text().split())
            except (OSError, ValueError):
                pid, started = 0, 0
            if pid and metrics.start_time(pid) == started and sandbox.kill_group(pid):
                killed += 1
            pid_file.unlink(missing_ok=True)
        cgroups = sandbox.detect_cgroups(self.paths.ident)
        groups = 0
        if cgroups is not None:
            for pid in cgroups.leftover_pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
            time.sleep(0.1 if killed else 0)
            groups = cgroups.clear()
        if killed or groups:
            self.say(f"cleaned up {killed} process(es) and {groups} cgroup(s) left by a previous `stratops up`")

    # --- reconcile -----------------------------------------------------------------------

    def _watch(self, now: float) -> None:
        if self.pending is None:
            head = self.fleet.head() or ""
            if head and head != self.head:
                folders = folders_at(self.fleet, head)
                self.pending = _Reconcile(head, folders, self.admission.submit(head, folders), time.perf_counter())
        if self.pending is not None and all(job.done() for job in self.pending.jobs.values()):
            pending, self.pending = self.pending, None
            for folder in pending.folders:
                if folder.key in pending.jobs:
                    self.admission.store(folder, pending.jobs[folder.key].result())
            self._apply(pending, now)
            self.admission.prune(pending.folders)
            self.reconcile_seconds.append(time.perf_counter() - pending.started)

    def _apply(self, pending: _Reconcile, now: float) -> None:
        self.head = pending.head
        wanted = {f.key: f for f in pending.folders}
        for key, slot in self.slots.items():
            if key not in wanted and not slot.removed:
                slot.removed, slot.next, slot.error = True, None, ""
                if slot.pod is not None:
                    slot.pod.terminate(now, "removed from main")
                self.say(f"{key}: removed at {pending.head[:12]}, stopping")
        for key, folder in wanted.items():
            if self.applied.get(key) == folder.cache_key and key in self.slots and not self.slots[key].removed:
                continue
            self.applied[key] = folder.cache_key
            verdict = self.admission.cached(folder)
            assert verdict is not None
            slot = self.slots.get(key)
            if slot is None or slot.removed and slot.pod is None:
                slot = self.slots[key] = Slot(key)
            slot.removed = False
            self._place(slot, verdict, self._revision(pending.head, folder), now)
        for key in [k for k in self.applied if k not in wanted]:
            del self.applied[key]

    def _place(self, slot: Slot, verdict: Verdict, revision: str, now: float) -> None:
        if verdict.pod is None:
            slot.error = verdict.error
            self.say(f"{slot.key}: revision {revision[:12]} refused: {verdict.error}")
            return
        slot.error = ""
        current = slot.pod.spec if slot.pod is not None and slot.pod.term is None else None
        if current is not None and current.template_hash == verdict.pod.template_hash:
            slot.revision = slot.pod.revision = revision
            slot.next = None
            return
        slot.revision = revision
        slot.next = (verdict.pod, revision)
        if slot.pod is not None:
            slot.pod.terminate(now, f"replaced by {revision[:12]}")
            self.say(f"{slot.key}: changed at {revision[:12]}, restarting")
        else:
            self.say(f"{slot.key}: starting revision {revision[:12]}")

    def _restart(self, key: str, now: float) -> None:
        """A fresh pod from the same spec (asked for with `stratops restart`): no commit, nothing re-rendered."""
        slot = self.slots.get(key)
        if slot is None or slot.removed or slot.pod is None:
            return  # gone, or its new pod starts anyway
        if slot.next is None:
            slot.next = (slot.pod.spec, slot.pod.revision)
        slot.pod.terminate(now, "restart requested")
        self.say(f"{key}: restart requested, replacing its pod")

    def _revision(self, head: str, folder: Folder) -> str:
        """The last commit that changed the folder (what `stratops history` shows first)."""
        return self.fleet.repo.git.log("-1", "--format=%H", head, "--", str(folder.path)).strip() or head

    def _tick_slot(self, slot: Slot, now: float) -> None:
        if slot.pod is not None:
            slot.pod.tick(now)
            if slot.pod.gone:
                slot.pod = None
        if slot.pod is None and slot.next is not None:
            spec, revision = slot.next
            slot.next = None
            try:
                slot.pod = Pod(spec, revision, self.paths, self.isolation, self.pool, self.backoff, self.logs)
            except OSError as exc:  # its volumes could not be written (disk full, permissions)
                slot.error = f"cannot prepare the pod's volumes: {exc}"
            else:
                slot.pod.tick(now)
        if slot.removed and slot.pod is None:
            del self.slots[slot.key]
            self.say(f"{slot.key}: stopped")
            return
        state = self._state(slot)
        if state != slot.last_state:
            pod = slot.pod
            detail = f" ({pod.message})" if pod is not None and pod.message and state != "Running" else ""
            if state == "Invalid":
                detail = ""
            self.say(f"{slot.key}: {state}{detail}")
            slot.last_state = state

    # --- status --------------------------------------------------------------------------

    def _state(self, slot: Slot) -> str:
        if slot.error:
            return "Invalid"
        if slot.pod is None:
            return "Pending"
        return slot.pod.state

    def status(self) -> dict[str, Any]:
        drops = self._sink_drops()
        return {
            "apiVersion": "stratops.io/v1",
            "kind": "RuntimeStatus",
            "updated": time.time(),
            "pid": os.getpid(),
            "revision": self.head,
            "sandbox": self.isolation.describe(),
            "unsandboxed": not self.isolation.sandboxed,
            "feed": self.feed.status(),
            "sink": {**self.sink.status(), "signals": sum(s.signals for s in self.slots.values())},
            "strategies": {key: self._slot_status(slot, drops) for key, slot in sorted(self.slots.items())},
        }

    def _sink_drops(self) -> dict[str, int]:
        """Signals the sink refused per strategy (too large, too fast, malformed): its counts, not the executor's."""
        try:
            stats = json.loads(self.paths.sink_stats.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {
            key: sum(int(c.get(n, 0)) for n in ("dropped_rate", "dropped_size", "malformed"))
            for key, c in stats.items()
            if isinstance(c, dict)
        }

    def _slot_status(self, slot: Slot, drops: dict[str, int]) -> dict[str, Any]:
        pod = slot.pod
        message = pod.message if pod is not None else "waiting to start"
        if slot.error:
            running = f"; still running {pod.revision[:12]}" if pod is not None and pod.running else ""
            message = slot.error + running
        now = time.monotonic()
        return {
            "state": self._state(slot),
            "ready": bool(pod and pod.ready),
            "revision": slot.revision,
            "running_revision": pod.revision if pod is not None and pod.running and pod.term is None else None,
            "restarts": pod.restarts if pod else 0,
            "message": message,
            **(pod.figures() if pod is not None and pod.running else _idle_figures()),
            "signals": slot.signals,
            "last_signal": slot.last_signal,
            "backoff_s": round(max(0.0, pod.next_start - now), 1) if pod and pod.proc is None else 0,
            "pid": pod.executor_pid if pod is not None else None,
            "signals_dropped": drops.get(slot.key, 0),
            "log_dropped_bytes": self.logs.dropped.get(slot.key, 0),
        }


def _idle_figures() -> dict[str, Any]:
    return {
        "events_per_s": 0.0,
        "lag_ms_p99": None,
        "errors": 0,
        "feed_sessions": 0,
        "feed_gaps": 0,
        "feed_reconnects": 0,
        "rss_mb": 0.0,
        "cpu_pct": 0.0,
    }
