"""Helpers for the runtime tests: a real `stratops up` subprocess and waits on its status.json."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from generator import actions
from generator.fleet import Fleet
from generator.runtime.status import read_status
from tests.support import AUTHOR, MOMENTUM, write_spec

TIMEOUT = 20.0


class Up:
    """`stratops up REPO` as a child process (kill -9 needs a real process), output in a log file."""

    def __init__(self, repo: Path, log: Path, *extra: str) -> None:
        self.repo, self.log = repo, log
        argv = [sys.executable, "-m", "generator.cli", "up", str(repo), "--backoff", "0.5"]
        argv += ["--feed-speed", "fixed", "--feed-rate", "200", *extra]
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait()


def wait_for(
    repo: Path, predicate: Callable[[dict[str, Any]], Any], timeout: float = TIMEOUT, what: str = ""
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        status = read_status(repo)
        if status is not None:
            try:
                if predicate(status):
                    return status
            except (KeyError, TypeError):
                pass
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}; last status: {status}")


def row(status: dict[str, Any], key: str) -> dict[str, Any]:
    return status["strategies"][key]


def running(key: str, ready: bool = True) -> Callable[[dict[str, Any]], bool]:
    def check(status: dict[str, Any]) -> bool:
        r = status["strategies"].get(key)
        return bool(r) and r["state"] == "Running" and (r["ready"] or not ready)

    return check


def deploy(fleet: Fleet, folder: Path, name: str, code: str = MOMENTUM, extra: str = "") -> str:
    spec = write_spec(folder / name, name=name, code=code, extra=extra)
    return actions.deploy(fleet, actions.load_strategy(fleet, spec), AUTHOR).commit or ""


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "Hand Editor", "GIT_AUTHOR_EMAIL": "hand@example.com"}
    env |= {"GIT_COMMITTER_NAME": "Hand Editor", "GIT_COMMITTER_EMAIL": "hand@example.com"}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line contains `text` (the repo path names every executor's config)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and alive(int(entry.name)):
            out.append(int(entry.name))
    return out


def processes_in_cgroups(ident: str) -> list[int]:
    """Live processes in a runtime's cgroups (v1 or v2), whatever session or process group they made."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            groups = (entry / "cgroup").read_text()
        except OSError:
            continue
        if (f"/stratops/{ident}/" in groups or f"/stratops-{ident}/" in groups) and alive(int(entry.name)):
            out.append(int(entry.name))
    return out
