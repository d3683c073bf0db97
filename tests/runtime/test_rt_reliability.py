"""Real processes killed with SIGKILL: executor, feed, and `stratops up` itself."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from generator.fleet import Fleet
from generator.runtime import metrics
from generator.runtime.paths import RuntimePaths
from generator.runtime.status import read_status
from tests.runtime.rt_helpers import (
    Up,
    alive,
    deploy,
    processes_in_cgroups,
    processes_mentioning,
    row,
    running,
    wait_for,
)

CRASHING = """from executor import Strategy

raise RuntimeError("bad release")


class Momentum(Strategy):
    pass
"""


def test_killed_executor_is_restarted(one: Fleet, up: Up) -> None:
    repo = one.path
    pid = row(wait_for(repo, running("alice/alpha")), "alice/alpha")["pid"]
    os.kill(pid, signal.SIGKILL)
    status = wait_for(repo, lambda s: running("alice/alpha")(s) and row(s, "alice/alpha")["pid"] != pid)
    assert row(status, "alice/alpha")["restarts"] == 1
    assert "exited with code -9" in up.output()


def test_killed_feed_is_restarted_and_executors_report_the_new_session(one: Fleet, up: Up) -> None:
    repo = one.path
    wait_for(repo, lambda s: running("alice/alpha")(s) and row(s, "alice/alpha")["events_per_s"] > 0)
    status = wait_for(repo, lambda s: row(s, "alice/alpha")["feed_sessions"] == 1, what="first feed session seen")
    feed_pid = status["feed"]["pid"]
    os.kill(feed_pid, signal.SIGKILL)
    status = wait_for(
        repo,
        lambda s: (
            s["feed"]["restarts"] == 1
            and s["feed"]["state"] == "Running"
            and row(s, "alice/alpha")["feed_sessions"] == 2
        ),
        what="feed restarted and its new session seen",
    )
    assert status["feed"]["pid"] != feed_pid
    wait_for(repo, lambda s: row(s, "alice/alpha")["events_per_s"] > 0, what="events flowing again")
    assert row(status, "alice/alpha")["restarts"] == 0  # the executor reconnected by itself


def test_kill_9_of_up_leaves_no_orphans_and_a_restart_runs_again(one: Fleet, up: Up, tmp_path: Path) -> None:
    repo = one.path
    status = wait_for(repo, running("alice/alpha"))
    executor, feed, sink = row(status, "alice/alpha")["pid"], status["feed"]["pid"], status["sink"]["pid"]
    os.killpg(up.proc.pid, signal.SIGKILL)
    up.proc.wait()
    deadline = time.monotonic() + 5
    while any(alive(p) for p in (executor, feed, sink)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(p) for p in (executor, feed, sink))
    assert _runtime_processes(repo) == []
    assert read_status(repo) is None  # the pid in status.json is dead

    again = Up(repo, tmp_path / "up2.log")
    try:
        status = wait_for(repo, running("alice/alpha"))
        if "cgroup v" in status["sandbox"]:  # the killed executor's (empty) groups were left: found and said
            assert "cgroup(s) left by a previous `stratops up`" in again.output()
        assert row(status, "alice/alpha")["pid"] != executor
        assert len([p for p in _runtime_processes(repo) if p != again.proc.pid]) == 4  # feed, sink, bwrap, executor
    finally:
        assert again.stop() == 0
    assert _runtime_processes(repo) == []


def test_orphans_that_escaped_are_cleaned_up_on_restart(one: Fleet, tmp_path: Path) -> None:
    """An executor that survived its `up` (here: SIGSTOPped so it cannot act) is found by its pid file and killed."""
    repo = one.path
    first = Up(repo, tmp_path / "up1.log")
    status = wait_for(repo, running("alice/alpha"))
    executor = row(status, "alice/alpha")["pid"]
    first.proc.send_signal(signal.SIGSTOP)  # `up` frozen: its children stay, as if the death signal were lost
    pid_file = RuntimePaths.of(repo).strategy_dir("alice/alpha") / "executor.pid"
    assert executor in metrics.tree(int(pid_file.read_text().split()[0]))  # the sandbox (bwrap) holds the executor
    os.kill(first.proc.pid, signal.SIGKILL)
    first.proc.wait()
    second = Up(repo, tmp_path / "up2.log")
    try:
        wait_for(repo, running("alice/alpha"))
        assert not alive(executor)
    finally:
        second.stop()


def test_second_up_on_the_same_repo_is_refused(one: Fleet, up: Up, tmp_path: Path) -> None:
    wait_for(one.path, running("alice/alpha"))
    other = Up(one.path, tmp_path / "other.log")
    assert other.proc.wait(30) == 2
    assert "already running" in other.output()


def test_crash_loop_backs_off_exponentially(one: Fleet, up: Up, tmp_path: Path) -> None:
    repo = one.path
    deploy(one, tmp_path / "specs", "crashy", code=CRASHING)
    status = wait_for(repo, lambda s: row(s, "alice/crashy")["restarts"] >= 3, 30, "three restarts")
    crashy = row(status, "alice/crashy")
    assert crashy["state"] in ("CrashLoopBackOff", "Pending")
    delays = [float(m) for m in _restart_delays(up.output(), "alice/crashy")]
    assert delays[:3] == [0.5, 1.0, 2.0]
    assert "bad release" in up.output()
    assert row(status, "alice/alpha")["state"] == "Running"


def _runtime_processes(repo: Path) -> list[int]:
    """Processes naming the runtime's folders, and sandboxed executors (in its cgroups, under a pid file)."""
    paths = RuntimePaths.of(repo)
    found = set(processes_mentioning(str(paths.root))) | set(processes_mentioning(str(paths.sockets)))
    for pid_file in paths.root.glob("strategies/*/*/executor.pid"):
        try:
            found |= {p for p in metrics.tree(int(pid_file.read_text().split()[0])) if alive(p)}
        except (OSError, ValueError, IndexError):  # removed meanwhile
            continue
    return sorted(found | set(processes_in_cgroups(paths.ident)))


def _restart_delays(output: str, key: str) -> list[str]:
    import re

    return re.findall(rf"{re.escape(key)}: CrashLoopBackOff \(exited with code \d+; restarting in ([\d.]+)s", output)
