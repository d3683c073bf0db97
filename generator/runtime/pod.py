"""One strategy run like the kubelet runs its pod: start, probe, restart with back-off, terminate.

States (status.json): Pending (started, startup probe not passed yet), Running, Failed (the
executor reports the strategy failed: running but never ready), CrashLoopBackOff (exited or
killed by its liveness probe, waiting to restart), Terminating. emptyDir volumes live as long
as the pod (one PodSpec); they survive container restarts, as in Kubernetes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import metrics, probes, sandbox
from .jail import FEED_DIR, SINK_DIR
from .logpipe import LogPipes
from .paths import RuntimePaths
from .podspec import CONTRACT_ENV, PodSpec, Probe, local_argv

SCRAPE_SECONDS = 2.0


@dataclass(frozen=True)
class Backoff:
    """CrashLoopBackOff: base, doubling, capped at 30x base; reset after 60x base of healthy running.

    The kubelet's numbers are base 10 s (cap 300 s, reset 600 s); the demo and tests use a smaller base.
    """

    base: float = 10.0

    def delay(self, crashes: int) -> float:
        return min(self.base * 2 ** max(0, crashes - 1), self.base * 30)

    @property
    def reset_after(self) -> float:
        return self.base * 60


@dataclass
class _ProbeState:
    probe: Probe
    due: float
    failures: int = 0
    future: Future | None = None


class Pod:
    def __init__(
        self,
        spec: PodSpec,
        revision: str,
        paths: RuntimePaths,
        isolation: sandbox.Isolation,
        pool: ThreadPoolExecutor,
        backoff: Backoff,
        logs: LogPipes | None = None,
    ) -> None:
        self.spec, self.revision, self.paths = spec, revision, paths
        self.isolation, self.pool, self.backoff, self.logs = isolation, pool, backoff, logs
        self.dir = paths.strategy_dir(spec.key)
        self.socket = str(paths.http_socket(spec.key))
        self.state, self.ready, self.message = "Pending", False, ""
        self.restarts, self.crashes = 0, 0
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0
        self.next_start = 0.0
        self.term: dict[str, Any] | None = None  # termination in progress: deadline, preStop future, why
        self.probes: dict[str, _ProbeState] = {}
        self.started = False
        self.failed_reason = ""
        self.scrape: metrics.Scrape | None = None
        self.prev_scrape: metrics.Scrape | None = None
        self.scrape_future: Future | None = None
        self.next_scrape = 0.0
        self.proc_now: metrics.ProcSample | None = None
        self.proc_prev: metrics.ProcSample | None = None
        self._prepare_volumes()

    # --- lifecycle -------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def gone(self) -> bool:
        """Terminated and reaped: the runtime may drop it."""
        return self.term is not None and self.proc is None

    def tick(self, now: float) -> None:
        if self.term is not None:
            self._terminating(now)
        elif self.proc is None:
            if now >= self.next_start:
                self._try_start(now)
        elif self.proc.poll() is not None:
            self._exited(now, f"exited with code {self._exit_code(self.proc.returncode)}")
        else:
            self._probe(now)
            self._collect(now)

    def terminate(self, now: float, why: str = "") -> None:
        """preStop, then SIGTERM, then SIGKILL after the grace period (idempotent)."""
        if self.term is not None:
            return
        self.state, self.ready, self.message = "Terminating", False, why
        if not self.running:
            self._reap()
            self.term = {"deadline": now}
            return
        pre_stop: Future | None = None
        if self.spec.pre_stop:  # its own thread: never queued behind the probes of other pods
            pre_stop = Future()
            hook = (pre_stop, self.socket, self.spec.pre_stop, self.spec.grace)
            threading.Thread(target=_run_hook, args=hook, daemon=True).start()
        self.term = {"deadline": now + self.spec.grace, "pre_stop": pre_stop, "sigterm": False}

    def kill_now(self) -> None:
        """Shutdown of `up` itself took too long: SIGKILL everything of the pod."""
        if self.proc is not None:
            self._signal(signal.SIGKILL)
            self._reap()

    @property
    def executor_pid(self) -> int | None:
        """The executor's pid on the host: in a sandbox, the only child of bwrap (PID 1 inside)."""
        if self.proc is None:
            return None
        if not self.isolation.sandboxed:
            return self.proc.pid
        children = metrics.children(self.proc.pid)
        return children[0] if children else None

    def _signal(self, sig: int) -> None:
        """SIGTERM to the executor itself; SIGKILL to the pod's session and every process in its cgroups."""
        if self.proc is None:
            return
        if sig != signal.SIGKILL:
            pid = self.executor_pid
            if pid is not None and pid != self.proc.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
                return
        sandbox.kill_group(self.proc.pid, sig)
        if sig == signal.SIGKILL and self.isolation.cgroups:
            self.isolation.cgroups.kill(self.spec.key, timeout=0.5)

    def _terminating(self, now: float) -> None:
        assert self.term is not None
        if self.proc is None:
            return
        if self.proc.poll() is not None:
            self._reap()
            return
        pre_stop = self.term.get("pre_stop")
        if not self.term["sigterm"] and (pre_stop is None or pre_stop.done() or now >= self.term["deadline"]):
            self._signal(signal.SIGTERM)
            self.term["sigterm"] = True
        if now >= self.term["deadline"]:
            self._signal(signal.SIGKILL)
            self.message = f"killed after the {self.spec.grace:g}s grace period"

    def _try_start(self, now: float) -> None:
        """A start that fails (a limit the machine refuses, a full disk) backs off like a crash."""
        try:
            self._start(now)
        except (OSError, ValueError) as exc:
            self._signal(signal.SIGKILL)
            self.started_at = now
            self._exited(now, f"could not start: {exc}")

    def _start(self, now: float) -> None:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        limits = self.isolation.limits(self.spec.cpu, self.spec.memory)
        self.paths.sink_dir(self.spec.key).mkdir(parents=True, exist_ok=True, mode=0o755)
        listener = self._listen()
        output: Path | int = self.dir / "executor.log"
        try:
            fd = listener.fileno()
            argv, env, box = self._command(fd)
            config = self.isolation.launch_config(self.spec.key, limits, argv, env, self.dir, box, (fd,))
            output = self.logs.open(self.spec.key, output) if self.logs is not None else output
            self.proc = sandbox.spawn(config, self.dir / "launch.json", output, (fd,))
        finally:
            listener.close()
            if isinstance(output, int):
                os.close(output)
        (self.dir / "executor.pid").write_text(f"{self.proc.pid} {metrics.start_time(self.proc.pid) or 0}\n")
        self.started_at, self.started, self.failed_reason = now, False, ""
        self.state, self.ready = "Pending", False
        self.message = "starting" if not self.restarts else self.message
        self.probes = {
            name: _ProbeState(p, now + p.initial_delay)
            for name, p in (
                ("startup", self.spec.startup),
                ("liveness", self.spec.liveness),
                ("readiness", self.spec.readiness),
            )
            if p is not None
        }
        self.started = "startup" not in self.probes
        self.scrape = self.prev_scrape = None
        self.proc_now = self.proc_prev = None
        self.next_scrape = now + 1.0

    def _exit_code(self, code: int) -> int:
        """bwrap reports an executor killed by signal N as 128 + N: shown as -N, as for a direct child."""
        return 128 - code if self.isolation.sandboxed and 128 < code < 160 else code

    def _listen(self) -> socket.socket:
        """The probe endpoint, bound here and handed over listening: the executor never names a path."""
        Path(self.socket).unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(self.socket)
            listener.listen(16)
        except OSError:
            listener.close()
            raise
        return listener

    def _command(self, http_fd: int) -> tuple[list[str], dict[str, str], sandbox.Box | None]:
        """argv, environment and sandbox of the executor: container paths in a sandbox, host paths without."""
        spec, jail = self.spec, self.isolation.jail
        if jail is not None:
            volumes = [
                (str(self._volume_dir(v)), path, "ro" if v.kind == "configMap" or path in spec.read_only else "rw")
                for path, v in spec.mounts.items()
            ]
            sockets = [(str(self.paths.feed_dir), FEED_DIR, "ro"), (str(self.paths.sink_dir(spec.key)), SINK_DIR, "ro")]
            env = {**spec.env, **jail.env(), "STRATOPS_HTTP_FD": str(http_fd)}
            box = sandbox.Box(spec.key.split("/")[1], spec.run_as_user, spec.run_as_group, volumes, sockets)
            return [jail.python, "-s", *spec.argv[1:]], env, box
        mounts = self._mount_paths()
        env = {
            "PATH": os.defpath,
            "LANG": "C.UTF-8",
            "HOME": mounts.get("/tmp", str(self.dir)),
            **spec.env,
            **{var: mounts[path] for path, var in CONTRACT_ENV.items() if path in mounts},
            "STRATOPS_FEED_ENDPOINT": self.paths.feed_endpoint,
            "STRATOPS_SINK_ENDPOINT": self.paths.sink_endpoint(spec.key),
            "STRATOPS_HTTP_FD": str(http_fd),
        }
        return local_argv(spec.argv, mounts), env, None

    def _exited(self, now: float, why: str) -> None:
        ran = now - self.started_at
        self._reap()
        if ran >= self.backoff.reset_after:
            self.crashes = 0
        self.crashes += 1
        self.restarts += 1
        delay = self.backoff.delay(self.crashes)
        self.next_start = now + delay
        last = self.last_log_line()
        self.state, self.ready = "CrashLoopBackOff", False
        self.message = f"{why}; restarting in {delay:g}s" + (f" (last log: {last})" if last else "")

    def _reap(self) -> None:
        if self.proc is not None:
            self._signal(signal.SIGKILL)  # anything the executor left in its session or its cgroups
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
            self.proc = None
        (self.dir / "executor.pid").unlink(missing_ok=True)
        self.isolation.release(self.spec.key)
        self.ready = False

    # --- probes, like the kubelet's prober -------------------------------------------

    def _probe(self, now: float) -> None:
        for name, ps in self.probes.items():
            if ps.future is not None:
                if not ps.future.done():
                    continue
                self._probe_result(name, ps, ps.future.result(), now)
                ps.future = None
            if now >= ps.due and self._probe_active(name) and self.proc is not None:
                ps.due = now + ps.probe.period
                ps.future = self.pool.submit(probes.get, self.socket, ps.probe.path, ps.probe.timeout)
            if self.proc is None:
                return

    def _probe_active(self, name: str) -> bool:
        return (name == "startup") != self.started

    def _probe_result(self, name: str, ps: _ProbeState, result: tuple[int, bytes], now: float) -> None:
        ok = 200 <= result[0] < 400
        ps.failures = 0 if ok else ps.failures + 1
        self._note_health(result[1])
        if name == "startup" and ok:
            self.started = True
            for other in self.probes.values():
                other.due = now  # probe liveness and readiness right away, as the kubelet does
        elif name == "readiness":
            if ok:
                self.ready = True
            elif ps.failures >= ps.probe.failure_threshold:
                self.ready = False
        elif not ok and ps.failures >= ps.probe.failure_threshold:
            what = "startup probe" if name == "startup" else "liveness probe"
            self._kill_for(now, f"{what} failed {ps.failures} times")
            return
        self._update_state()

    def _note_health(self, body: bytes) -> None:
        try:
            snapshot = json.loads(body)
        except ValueError:
            return
        if isinstance(snapshot, dict):
            self.failed_reason = str(snapshot.get("failed") or "")

    def _update_state(self) -> None:
        if self.failed_reason:
            self.state, self.message = "Failed", self.failed_reason
        elif self.started:
            self.state = "Running"
            self.message = "" if self.ready else "not ready"

    def _kill_for(self, now: float, why: str) -> None:
        self._signal(signal.SIGKILL)
        self._exited(now, why)

    # --- figures ----------------------------------------------------------------------

    def _collect(self, now: float) -> None:
        if self.scrape_future is not None and self.scrape_future.done():
            text = self.scrape_future.result()
            self.scrape_future = None
            if text is not None:
                self.prev_scrape, self.scrape = self.scrape, metrics.parse(text, now)
                assert self.proc is not None
                self.proc_prev, self.proc_now = self.proc_now, metrics.tree_sample(self.proc.pid, now)
        if self.scrape_future is None and now >= self.next_scrape:
            self.next_scrape = now + SCRAPE_SECONDS
            self.scrape_future = self.pool.submit(_scrape, self.socket)

    def figures(self) -> dict[str, Any]:
        new, old = self.scrape, self.prev_scrape
        counters = new.counters if new else {}
        lag = metrics.lag_p99_ms(new, old) if new else None
        return {
            "events_per_s": round(metrics.rate(new, old, "events"), 1) if new else 0.0,
            "lag_ms_p99": None if lag is None else round(lag, 2),
            "errors": int(counters.get("handler_errors", 0) + counters.get("decode_errors", 0)),
            "feed_sessions": int(counters.get("feed_sessions", 0)),
            "feed_gaps": int(counters.get("sequence_gaps", 0)),
            "feed_reconnects": int(counters.get("reconnects", 0)),
            "rss_mb": round(self.proc_now.rss_bytes / 2**20, 1) if self.proc_now else 0.0,
            "cpu_pct": round(metrics.cpu_percent(self.proc_now, self.proc_prev), 1) if self.proc_now else 0.0,
        }

    # --- files ---------------------------------------------------------------------------

    def _mount_paths(self) -> dict[str, str]:
        out = {}
        for mount, volume in self.spec.mounts.items():
            out[mount] = str(self._volume_dir(volume))
        return out

    def _volume_dir(self, volume) -> Path:
        if volume.kind == "persistentVolumeClaim":
            return self.dir / "pvc" / volume.claim
        return self.dir / "volumes" / volume.name

    def _prepare_volumes(self) -> None:
        """A new pod: fresh emptyDirs, ConfigMaps written read-only; claims kept."""
        volumes_dir = self.dir / "volumes"
        if volumes_dir.exists():
            _remove_tree(volumes_dir)
        for volume in self.spec.mounts.values():
            target = self._volume_dir(volume)
            target.mkdir(parents=True, exist_ok=True, mode=0o700)
            if volume.kind != "configMap" and self.isolation.sandboxed and os.geteuid() == 0:
                os.chown(target, self.spec.run_as_user, self.spec.run_as_group)  # as fsGroup makes it writable
            for rel, data in volume.files.items():
                file = target / rel
                file.parent.mkdir(parents=True, exist_ok=True)
                file.write_bytes(data)
                file.chmod(0o444)
            if volume.kind == "configMap":  # read-only, as the kubelet mounts ConfigMaps
                for root, dirs, _ in os.walk(target):
                    for name in dirs:
                        os.chmod(os.path.join(root, name), 0o555)
                target.chmod(0o555)

    def last_log_line(self) -> str:
        """The last error the executor logged (JSON logs: its msg), else the last line."""
        try:
            with open(self.dir / "executor.log", "rb") as fh:
                fh.seek(max(0, fh.seek(0, os.SEEK_END) - 8192))
                lines = fh.read().decode(errors="replace").splitlines()
        except OSError:
            return ""
        for line in reversed(lines):
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if isinstance(doc, dict) and doc.get("level") in ("error", "critical"):
                return str(doc.get("msg", ""))[:300]
        return lines[-1][:300] if lines else ""


def _run_hook(future: Future, socket_path: str, path: str, timeout: float) -> None:
    future.set_result(probes.get(socket_path, path, timeout))


def _scrape(socket_path: str) -> str | None:
    status, body = probes.get(socket_path, "/metrics", 1.0)
    return body.decode(errors="replace") if status == 200 else None


def _remove_tree(path: Path) -> None:
    def writable(func, p, _exc) -> None:
        os.chmod(os.path.dirname(p), stat.S_IRWXU)
        os.chmod(p, stat.S_IRWXU)
        func(p)

    for root, dirs, _ in os.walk(path):
        for d in dirs:
            os.chmod(os.path.join(root, d), stat.S_IRWXU)
    shutil.rmtree(path, onerror=writable)
