"""Backtest jobs for the HTTP API: one worker process each, bounded in time, memory and number.

At most one job per tenant is queued or running (a second is refused), and at most
``slots`` run at once (default: cores - 1, at least 1), so deploys keep a core; the others wait
in order. Each job runs `python -m generator.backtest.worker JOBDIR` in its own session with an
address-space limit (the strategy itself runs in its sandboxed executor below it, with the
spec's memory); a job over its time is killed with its process group. Jobs live in
``root/<id>/`` (job.json, data, progress.json, result.json or error.json) and are forgotten
``keep`` seconds after they end.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from executor.sandbox import Limits

from ..errors import Problem, UserError

MiB = 1024 * 1024
MAX_UPLOAD = 100 * MiB
WORKER_MEMORY = 4096 * MiB


class Busy(UserError):
    exit_code = 409


@dataclass
class Job:
    id: str
    tenant: str
    dir: Path
    created: float
    state: str = "queued"  # queued | running | done | failed
    proc: subprocess.Popen | None = None
    started: float = 0.0
    ended: float = 0.0
    error: dict[str, Any] | None = None


class BacktestJobs:
    def __init__(self, root: Path, slots: int | None = None, seconds: float = 600.0, keep: float = 3600.0):
        self.root = root
        self.slots = slots or max(1, (os.cpu_count() or 2) - 1)
        self.seconds, self.keep = seconds, keep
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        shutil.rmtree(root, ignore_errors=True)  # jobs of a previous run have no process any more
        root.mkdir(parents=True, exist_ok=True)
        threading.Thread(target=self._loop, name="backtest-jobs", daemon=True).start()

    def submit(self, tenant: str, job: dict[str, Any], data: bytes | None, data_name: str | None) -> str:
        with self.lock:
            busy = [j for j in self.jobs.values() if j.tenant == tenant and j.state in ("queued", "running")]
            if busy:
                raise Busy(
                    "a backtest of this tenant is already queued or running",
                    [Problem("tenant", f"backtest {busy[0].id} is {busy[0].state}", "wait for it to end")],
                )
            ident = secrets.token_hex(8)
            folder = self.root / ident
            folder.mkdir(mode=0o700)
            if data is not None and data_name is not None:
                (folder / data_name).write_bytes(data)
                job = {**job, "data": data_name}
            (folder / "job.json").write_text(json.dumps({**job, "seconds": self.seconds}), encoding="utf-8")
            self.jobs[ident] = Job(ident, tenant, folder, time.time())
        self.tick()
        return ident

    def get(self, tenant: str, ident: str) -> dict[str, Any] | None:
        self.tick()
        job = self.jobs.get(ident)
        if job is None or job.tenant != tenant:
            return None
        out: dict[str, Any] = {"id": job.id, "state": job.state, "created": job.created}
        if job.state == "queued":
            out["position"] = 1 + sum(1 for j in self.jobs.values() if j.state == "queued" and j.created < job.created)
        if job.state in ("running", "done"):
            out["progress"] = 1.0 if job.state == "done" else _read(job.dir / "progress.json", {}).get("progress", 0.0)
        if job.state == "done":
            out["result"] = _read(job.dir / "result.json", None)
        if job.state == "failed":
            out["error"] = job.error
        return out

    def tick(self) -> None:
        with self.lock:
            now = time.time()
            for job in self.jobs.values():
                if job.state == "running":
                    self._check(job, now)
            running = sum(1 for j in self.jobs.values() if j.state == "running")
            for job in sorted((j for j in self.jobs.values() if j.state == "queued"), key=lambda j: j.created):
                if running >= self.slots:
                    break
                self._start(job, now)
                running += 1
            for ident in [i for i, j in self.jobs.items() if j.ended and now - j.ended > self.keep]:
                shutil.rmtree(self.jobs.pop(ident).dir, ignore_errors=True)

    def close(self) -> None:
        self.stopping.set()
        with self.lock:
            for job in self.jobs.values():
                if job.proc is not None and job.proc.poll() is None:
                    _kill(job.proc)

    def _loop(self) -> None:
        while not self.stopping.wait(0.5):
            self.tick()

    def _start(self, job: Job, now: float) -> None:
        limits = Limits(memory=WORKER_MEMORY, overhead=0, nproc=None, open_files=1024)
        with open(job.dir / "worker.log", "wb") as log:
            job.proc = subprocess.Popen(
                [sys.executable, "-m", "generator.backtest.worker", str(job.dir)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=limits.preexec_fn(),  # noqa: PLW1509 - setrlimit only
            )
        job.state, job.started = "running", now

    def _check(self, job: Job, now: float) -> None:
        assert job.proc is not None
        code = job.proc.poll()
        if code is None and now - job.started > self.seconds + 30:
            _kill(job.proc)
            self._end(job, now, {"title": "the backtest took too long", "problems": [f"over {self.seconds:g} s"]})
        elif code is not None:
            error = _read(job.dir / "error.json", None)
            if code == 0 and error is None and (job.dir / "result.json").exists():
                self._end(job, now, None)
            else:
                self._end(job, now, error or {"title": f"the backtest worker ended with code {code}", "problems": []})

    def _end(self, job: Job, now: float, error: dict[str, Any] | None) -> None:
        job.state, job.ended, job.error = ("failed" if error else "done"), now, error
        for name in os.listdir(job.dir):  # keep only what GET serves
            if name not in ("result.json", "error.json", "progress.json", "worker.log"):
                (job.dir / name).unlink(missing_ok=True)


def _kill(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def _read(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default
