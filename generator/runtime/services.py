"""The feed (bundled sample data, looping) and the sink (signals.ndjson), kept running by `up`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from . import metrics, sandbox
from .paths import RuntimePaths

RESTART_DELAY = 1.0


@dataclass
class Service:
    name: str
    argv: list[str]
    endpoint: str
    dir: Path
    proc: subprocess.Popen | None = None
    restarts: int = 0
    next_start: float = 0.0
    message: str = ""
    events: list[str] = field(default_factory=list)

    def tick(self, now: float) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            self.message = f"exited with code {self.proc.returncode}; restarting in {RESTART_DELAY:g}s"
            self.events.append(f"{self.name} {self.message}")
            self.proc = None
            self.restarts += 1
            self.next_start = now + RESTART_DELAY
        if self.proc is None and now >= self.next_start:
            self._start()

    def _start(self) -> None:
        config = {"parent": os.getpid(), "argv": self.argv, "env": dict(os.environ), "cwd": str(self.dir)}
        self.proc = sandbox.spawn(config, self.dir / f"{self.name}.json", self.dir / f"{self.name}.log")
        (self.dir / f"{self.name}.pid").write_text(f"{self.proc.pid} {metrics.start_time(self.proc.pid) or 0}\n")

    def stop(self, timeout: float = 5.0) -> None:
        if self.proc is None:
            return
        sandbox.kill_group(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            sandbox.kill_group(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None
        (self.dir / f"{self.name}.pid").unlink(missing_ok=True)

    def status(self) -> dict:
        return {
            "endpoint": self.endpoint,
            "state": "Running" if self.proc is not None and self.proc.poll() is None else "Restarting",
            "restarts": self.restarts,
            "pid": self.proc.pid if self.proc is not None else None,
        }


def feed(paths: RuntimePaths, speed: str, rate: float, data: Path | None = None) -> Service:
    argv = [sys.executable, "-m", "generator.cli", "feed", "--bind", paths.feed_endpoint, "--loop"]
    argv += ["--speed", speed, "--rate", str(rate), "--warmup", "0.5", "--clock", str(paths.feed_clock)]
    if data is not None:
        argv += ["--data", str(data)]
    return Service("feed", argv, paths.feed_endpoint, paths.root)


def sink(paths: RuntimePaths) -> Service:
    """One socket per strategy (generator.runtime.sinkd): whose a signal is comes from where it arrived."""
    argv = [sys.executable, "-m", "generator.runtime.sinkd", str(paths.sink_routes), str(paths.signals_file)]
    argv += [str(paths.sink_stats)]
    return Service("sink", argv, str(paths.sockets / "sink"), paths.root)
