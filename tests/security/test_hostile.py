"""Hostile strategies under one `stratops up`: each attack ran (its report), and the host shows it failed.

The last test stops `up` and checks that nothing of any strategy outlived it; keep it last.
"""

from __future__ import annotations

import errno
import json
import os
import time
from pathlib import Path

import pytest

from generator.runtime import metrics
from generator.runtime.sandbox import PIDS_MAX
from tests.runtime.rt_helpers import alive, processes_in_cgroups, row
from tests.security.conftest import HOSTILE, Hostile, host_uids, processes_named, wait_status

pytestmark = pytest.mark.xdist_group("security")
UID = 10001


def _ran(hostile: Hostile, name: str) -> dict:
    report = hostile.report(name)
    assert report.get("ran"), f"{name} did not run; up log:\n{hostile.up.output()[-3000:]}"
    return report


def _denied(outcomes: dict) -> None:
    for target, outcome in outcomes.items():
        assert str(outcome).startswith("denied"), f"{target}: {outcome}"


def test_every_hostile_strategy_ran_as_the_unprivileged_uid(hostile: Hostile) -> None:
    assert set(hostile.reports) == set(HOSTILE), f"no report from {set(HOSTILE) - set(hostile.reports)}"
    status = hostile.status()
    assert not status["unsandboxed"] and status["sandbox"].startswith("sandbox: bubblewrap")
    seen = 0
    for key, strategy in status["strategies"].items():
        if strategy["pid"] is None:
            continue
        outer = metrics.tree(strategy["pid"])
        for pid in outer:
            uids = host_uids(pid) if alive(pid) else {UID}
            assert uids == {UID}, f"{key}: pid {pid} runs as {uids}"
            seen += 1
    assert seen >= len(HOSTILE)


def test_reads_of_host_secrets_other_tenants_and_other_processes_fail(hostile: Hostile) -> None:
    report = _ran(hostile, "reader")
    _denied(report["reads"])
    text = json.dumps(report)
    for secret in (hostile.host_secret, hostile.victim_secret, "root:"):
        assert secret not in text
    assert report["pids"] == ["1"]  # its own PID namespace: no other process to read
    assert "work" not in report["root"] and "home" not in report["root"] and "sys" not in report["root"]


def test_writes_into_the_fleet_repo_fail(hostile: Hostile) -> None:
    report = _ran(hostile, "writer")
    _denied(report["writes"])
    config = Path(hostile.targets["writes"][0]).read_text()
    assert "fsmonitor" not in config
    assert not Path(hostile.targets["writes"][1]).exists()


def test_host_processes_cannot_be_killed(hostile: Hostile) -> None:
    report = _ran(hostile, "killer")
    assert report["kills"][str(hostile.targets["host_victim_pid"])].startswith("denied")
    assert report["kills"][str(hostile.targets["up_pid"])].startswith("denied")
    assert alive(hostile.host_victim.pid) and hostile.up.proc.poll() is None
    assert row(hostile.status(), "alice/victim")["restarts"] == 0


def test_no_way_into_the_hosts_network(hostile: Hostile) -> None:
    report = _ran(hostile, "netns")
    assert report["setns"].startswith("denied")
    assert report["setns_own"].startswith("rc -1") and report["unshare"].startswith("rc -1")
    assert report["connect"].startswith("denied")
    assert hostile.canary.connections == 0


def test_cgroups_cannot_be_left(hostile: Hostile) -> None:
    report = _ran(hostile, "cgroup_escape")
    _denied(report["escape"])
    pid = row(hostile.status(), "mallory/cgroup-escape")["pid"]
    groups = Path(f"/proc/{pid}/cgroup").read_text()
    ident, v1 = hostile.paths.ident, "cgroup v1" in hostile.status()["sandbox"]
    checked = 0
    for line in groups.splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers in (("memory", "pids", "cpu") if v1 else ("",)):
            assert f"stratops/{ident}/" in path or f"stratops-{ident}/" in path, line
            checked += 1
    assert checked == (3 if v1 else 1)


def test_neighbours_probe_cannot_be_drained(hostile: Hostile) -> None:
    report = _ran(hostile, "drainer")
    assert report["drains"][hostile.targets["victim_probe"]].startswith("denied")
    assert not any(outcome.startswith("sent: HTTP") for outcome in report["drains"].values())
    status = wait_status(hostile, lambda s: row(s, "alice/victim")["events_per_s"] > 0, what="victim events")
    victim = row(status, "alice/victim")
    assert victim["state"] == "Running" and victim["ready"] and victim["restarts"] == 0


def test_signals_cannot_be_forged_for_another_tenant(hostile: Hostile) -> None:
    _ran(hostile, "forger")
    deadline, forged = time.monotonic() + 10, []
    while time.monotonic() < deadline and not forged:
        forged = [r for r in _signals(hostile) if r.get("reason") == "forged by mallory"]
        time.sleep(0.2)
    assert forged, "the forged signal never reached the sink through the forger's own socket"
    assert all((r["tenant"], r["strategy"]) == ("mallory", "forger") for r in forged)
    assert not [r for r in _signals(hostile) if r.get("tenant") == "alice"]


def test_the_feed_socket_cannot_be_replaced(hostile: Hostile) -> None:
    report = _ran(hostile, "feed_hijack")
    _denied({k: v for k, v in report.items() if k != "ran"})
    assert (hostile.paths.feed_dir / "feed.sock").stat().st_ino == hostile.feed_inode
    assert sorted(os.listdir(hostile.paths.feed_dir)) == ["feed.sock"]
    status = wait_status(hostile, lambda s: row(s, "alice/victim")["events_per_s"] > 0, what="victim events")
    assert row(status, "alice/victim")["feed_sessions"] == 1  # no second (fake) publisher was seen


def test_a_log_flood_is_capped_and_counted(hostile: Hostile) -> None:
    _ran(hostile, "flood")
    status = wait_status(hostile, lambda s: row(s, "mallory/flood")["log_dropped_bytes"] > 1024**2, 30, "drops")
    log = hostile.paths.strategy_dir("mallory/flood") / "executor.log"
    kept = sum(p.stat().st_size for p in (log, log.with_name("executor.log.1")) if p.exists())
    assert kept <= 10 * 1024**2 + 65536
    assert row(status, "mallory/flood")["log_dropped_bytes"] > 1024**2


def test_oversized_signal_meta_is_refused(hostile: Hostile) -> None:
    report = _ran(hostile, "big_meta")
    assert report["emit"].startswith("refused")  # the executor's friendly check ...
    status = wait_status(hostile, lambda s: row(s, "mallory/big-meta")["signals_dropped"] >= 1, what="drop")
    records = [r for r in _signals(hostile) if r.get("strategy") == "big-meta"]
    assert [r["reason"] for r in records] == ["small"]  # ... and the sink's, which the strategy cannot bypass
    assert row(status, "mallory/big-meta")["signals_dropped"] >= 1
    assert hostile.paths.signals_file.stat().st_size < 2 * 1024**2


def test_signal_rate_is_capped_at_the_sink(hostile: Hostile) -> None:
    report = _ran(hostile, "spammer")
    assert report["sent"] == 5000

    def kept() -> int:
        return len([r for r in _signals(hostile) if r.get("strategy") == "spammer"])

    # The sink may still be draining the socket when the strategy reports: wait until every
    # sent signal is either kept or counted as dropped, then check the split.
    status = wait_status(
        hostile, lambda s: row(s, "mallory/spammer")["signals_dropped"] + kept() >= 5000 - 10, 60, "all accounted"
    )
    elapsed = time.time() - hostile.paths.strategy_dir("mallory/spammer").stat().st_mtime
    assert 1000 <= kept() <= 1000 + 100 * (elapsed + 5)
    assert row(status, "mallory/spammer")["signals_dropped"] >= 3000


def test_memory_cap_kills_the_hog(hostile: Hostile) -> None:
    report = _ran(hostile, "hog")
    assert report["reached_mib"] < 256
    status = wait_status(hostile, lambda s: row(s, "mallory/hog")["restarts"] >= 1, 30, "hog restarted")
    if "cgroup" in status["sandbox"] and "memory" in status["sandbox"]:
        assert "mallory/hog: CrashLoopBackOff (exited with code -9" in hostile.up.output()
    else:
        assert report.get("memory_error")


def test_fork_is_refused_at_the_pids_cap(hostile: Hostile) -> None:
    report = _ran(hostile, "forker")
    assert report["errno"] == errno.EAGAIN and 0 < report["forks"] < PIDS_MAX
    pid = row(hostile.status(), "mallory/forker")["pid"]
    assert len(metrics.tree(pid)) <= PIDS_MAX
    assert all(host_uids(p) == {UID} for p in metrics.tree(pid) if alive(p))


def test_nothing_outlives_up(hostile: Hostile) -> None:
    """Last: stops the shared `up`. The survivor forked, setsid'd and renamed itself; it must be gone too."""
    _ran(hostile, "survivor")
    survivors = processes_named("stratops-evade")
    assert survivors and all(host_uids(p) == {UID} for p in survivors)
    pids = [p for s in hostile.status()["strategies"].values() if s["pid"] for p in metrics.tree(s["pid"])]
    assert hostile.up.stop() == 0
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(alive(p) for p in [*pids, *processes_named("stratops-evade")]):
        time.sleep(0.1)  # killed processes may linger a moment as zombies, which alive() does not count
    assert not [p for p in [*pids, *survivors] if alive(p)]
    assert not [p for p in processes_named("stratops-evade") if alive(p)]
    assert processes_in_cgroups(hostile.paths.ident) == []


def _signals(hostile: Hostile) -> list[dict]:
    try:
        lines = hostile.paths.signals_file.read_text().splitlines()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in lines if line.strip()]
