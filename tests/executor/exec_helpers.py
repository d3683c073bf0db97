"""Fixtures for executor tests: real ZeroMQ sockets (ipc in short tmp dirs), real subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import zmq

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from executor.feed import Publisher  # noqa: E402
from executor.sandbox import Limits  # noqa: E402
from executor.sink import Sink  # noqa: E402

STRATEGIES = Path(__file__).resolve().parent / "strategies"


def wait_for(cond: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or cond}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_metrics(text: str) -> dict[str, float]:
    """Sum samples by metric name (labels dropped; ``events_total`` summed over kinds)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        base = name.split("{", 1)[0]
        out[base] = out.get(base, 0.0) + float(value)
    return out


@dataclass
class Executor:
    proc: subprocess.Popen[bytes]
    port: int
    state_dir: Path
    log_path: Path
    config: dict[str, Any]

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=timeout) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return 0, ""

    def metrics(self) -> dict[str, float]:
        code, body = self.get("/metrics")
        return parse_metrics(body) if code == 200 else {}

    def metric(self, name: str) -> float:
        return self.metrics().get("stratops_executor_" + name, -1.0)

    def logs(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"raw": line})
        return out

    def wait_ready(self, timeout: float = 15.0) -> None:
        wait_for(lambda: self.get("/readyz")[0] == 200 or self.proc.poll() is not None, timeout, what="readyz")
        assert self.proc.poll() is None, f"executor exited {self.proc.returncode}: {self.log_path.read_text()}"

    def stop(self, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.proc.wait(timeout)


@dataclass
class Env:
    root: Path
    feed_endpoint: str
    sink_endpoint: str
    executors: list[Executor] = field(default_factory=list)

    def start(
        self,
        name: str,
        file: str,
        cls: str,
        subscriptions: list[str],
        params: dict[str, Any] | None = None,
        limits: dict[str, Any] | None = None,
        sandbox: Limits | None = None,
        code_dir: Path = STRATEGIES,
        extra_env: dict[str, str] | None = None,
    ) -> Executor:
        work = self.root / name
        state = work / "state"
        state.mkdir(parents=True, exist_ok=True)
        port = free_port()
        cfg = {
            "apiVersion": "stratops.io/v1",
            "kind": "ExecutorConfig",
            "strategy": {"name": name, "tenant": "test"},
            "code": {"dir": str(code_dir), "file": file, "class": cls},
            "subscriptions": subscriptions,
            "params": params or {},
            "feed": {"endpoint": self.feed_endpoint},
            "sink": {"endpoint": self.sink_endpoint},
            "http": {"port": port, "host": "127.0.0.1"},
            "stateDir": str(state),
            "limits": {"handlerTimeoutSeconds": 5, "maxConsecutiveErrors": 5, **(limits or {})},
        }
        cfg_path = work / "executor.json"
        cfg_path.write_text(json.dumps(cfg))
        log_path = work / "stderr.log"
        env = (sandbox or Limits()).env()
        env["PYTHONPATH"] = str(REPO)
        (work / "tmp").mkdir(exist_ok=True)
        env["TMPDIR"] = str(work / "tmp")  # locally /tmp is shared, so each executor gets its own scratch dir
        env.update(extra_env or {})
        with open(log_path, "wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "executor", "--config", str(cfg_path)],
                cwd=work,
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=env,
                preexec_fn=sandbox.preexec_fn() if sandbox else None,
            )
        ex = Executor(proc, port, state, log_path, cfg)
        self.executors.append(ex)
        return ex


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="sx-", dir="/tmp"))
    yield path
    if not os.environ.get("KEEP_TMP"):
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def zctx() -> Iterator[zmq.Context[Any]]:
    ctx = zmq.Context()
    yield ctx
    ctx.destroy(linger=0)


@pytest.fixture
def env(short_tmp: Path) -> Iterator[Env]:
    e = Env(short_tmp, f"ipc://{short_tmp}/feed", f"ipc://{short_tmp}/sink")
    yield e
    for ex in e.executors:
        if ex.proc.poll() is None:
            ex.proc.kill()
            ex.proc.wait(5)


@pytest.fixture
def publisher(env: Env, zctx: zmq.Context[Any]) -> Iterator[Publisher]:
    sock = zctx.socket(zmq.PUB)
    sock.setsockopt(zmq.SNDHWM, 0)
    sock.bind(env.feed_endpoint)
    yield Publisher(sock, heartbeat=0.05)
    sock.close(linger=0)


@pytest.fixture
def sink(env: Env, zctx: zmq.Context[Any]) -> Iterator[list[dict[str, Any]]]:
    received: list[dict[str, Any]] = []
    s = Sink(env.sink_endpoint, None, on_signal=received.append, ctx=zctx)
    t = threading.Thread(target=s.run, daemon=True)
    t.start()
    yield received
    s.stop.set()
    t.join(5)


def sync_feed(pub: Publisher, executors: list[Executor], topics: list[bytes], timeout: float = 15.0) -> None:
    """Send heartbeats until every executor has seen one (ZeroMQ slow joiner)."""

    def seen() -> bool:
        pub.send_heartbeats(topics, force=True)
        return all(ex.proc.poll() is not None or ex.metric("heartbeats_total") > 0 for ex in executors)

    wait_for(seen, timeout, interval=0.05, what="executors to receive heartbeats")
