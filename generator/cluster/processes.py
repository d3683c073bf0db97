"""Long-running local processes: start detached with a log file, wait for health, stop by process group.

The control plane outlives the `stratops cluster up` command that starts it, so every process gets its own
session (process group) and is stopped later from the pid recorded in the cluster's state file.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import Problem, UserError


class ClusterError(UserError):
    """A component did not start or become healthy; the message carries the end of its log."""


@dataclass
class Service:
    name: str
    argv: list[str]
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    def start(self) -> int:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
                start_new_session=True,
            )
        return process.pid


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def alive(pid: int) -> bool:
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)  # our own child (tests, `up` itself): reap a zombie
        if reaped:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop(pid: int, grace: float = 10.0) -> None:
    """SIGTERM the process group PID leads, then SIGKILL what is left after GRACE seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not alive(pid):
                return
            time.sleep(0.1)


def wait_for(
    what: str, check: Callable[[], bool], timeout: float, pid: int | None = None, log: Path | None = None
) -> None:
    """Poll CHECK until true; fail early if PID died, and quote the end of LOG either way."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 — not up yet: connection refused, TLS, 5xx...
            pass
        if pid is not None and not alive(pid):
            raise ClusterError(f"{what} exited during start-up", [_log_tail(log)])
        time.sleep(0.25)
    raise ClusterError(f"{what} not ready after {timeout:.0f}s", [_log_tail(log)])


def _log_tail(log: Path | None, lines: int = 15) -> Problem:
    if log is None or not log.exists():
        return Problem("log", "no log")
    tail = log.read_text(errors="replace").splitlines()[-lines:]
    return Problem(str(log), "last lines:\n      " + "\n      ".join(tail), "")
