"""How an executor is confined on this machine, detected once: cgroups, network namespace, rlimits.

Levels, best first (`stratops up` prints the one in use):
* CPU and memory: cgroup v2 (`cpu.max`, `memory.max`, `pids.max`) or cgroup v1 (`cpu.cfs_quota_us`,
  `memory.limit_in_bytes`, `pids.max`) where this user may create groups; otherwise `nice` plus
  the CPU% shown in the status (accounting only). RLIMIT_AS and the other rlimits of
  executor.sandbox.Limits apply at every level.
* Network: a private network namespace (`unshare(CLONE_NEWNET)`) where allowed: no interface but
  a downed loopback, so the executor reaches only the unix sockets of the feed, the sink and its
  own probe endpoint. Otherwise the host network, said once.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from executor.sandbox import Limits

CGROUP_ROOT = Path("/sys/fs/cgroup")
CFS_PERIOD_US = 100_000
PIDS_MAX = 256  # threads count as pids: the probe server starts one per request
FALLBACK_NICE = 10


@dataclass
class Cgroups:
    """Per-strategy groups below stratops/<runtime id>/ in each controller this process may write."""

    version: int
    parents: dict[str, Path]  # controller -> this runtime's parent group
    controllers: list[str] = field(default_factory=list)

    def group(self, controller: str, key: str) -> Path:
        return self.parents[controller] / key.replace("/", ".")

    def create(self, key: str, limits: Limits) -> list[str]:
        """Create (or reset) the groups of one executor; returns the cgroup.procs files to join."""
        procs = []
        for controller in self.controllers:
            path = self.group(controller, key)
            path.mkdir(parents=True, exist_ok=True)
            for name, value in self._settings(controller, limits).items():
                (path / name).write_text(value)
            procs.append(str(path / "cgroup.procs"))
        return procs

    def _settings(self, controller: str, limits: Limits) -> dict[str, str]:
        quota = str(int(limits.cpu * CFS_PERIOD_US)) if limits.cpu else None
        memory = str(limits.memory) if limits.memory else None
        if controller == "cpu":
            shares = max(2, int((limits.cpu or 0.1) * 1024))  # the kubelet's requests -> shares
            if self.version == 2:
                return {"cpu.max": f"{quota or 'max'} {CFS_PERIOD_US}", "cpu.weight": str(_weight(shares))}
            return {
                "cpu.cfs_period_us": str(CFS_PERIOD_US),
                "cpu.cfs_quota_us": quota or "-1",
                "cpu.shares": str(shares),
            }
        if controller == "memory":
            if self.version == 2:
                return {"memory.max": memory or "max"}
            return {"memory.limit_in_bytes": memory or "-1"}
        return {"pids.max": str(PIDS_MAX)}

    def remove(self, key: str) -> None:
        for controller in self.controllers:
            _rmdir(self.group(controller, key))

    def leftover_pids(self) -> set[int]:
        """Processes still in this runtime's groups (after a kill -9 of `up`)."""
        pids: set[int] = set()
        for controller in self.controllers:
            for procs in self.parents[controller].glob("*/cgroup.procs"):
                pids |= {int(p) for p in _read(procs).split()}
        return pids

    def clear(self) -> None:
        """Remove the (empty) groups of this runtime, its parent group included."""
        for controller in self.controllers:
            for group in self.parents[controller].glob("*/"):
                _rmdir(group)
            _rmdir(self.parents[controller])


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _rmdir(path: Path) -> None:
    with contextlib.suppress(OSError):  # still has processes (removed on the next cleanup) or already gone
        path.rmdir()


def _weight(shares: int) -> int:
    """cgroup v1 shares -> v2 weight, as the kubelet converts them."""
    return 1 + ((shares - 2) * 9999) // 262142


def _weigh_parents(cgroups: Cgroups) -> None:
    """Give the runtime's groups the weight of all CPUs, as the kubelet does for kubepods.

    Without it the whole tree of executors competes like one process against every other
    process on the machine, and a busy machine starves all strategies at once.
    """
    shares = (os.cpu_count() or 1) * 1024
    parent = cgroups.parents["cpu"]
    with contextlib.suppress(OSError):
        if cgroups.version == 2:
            (parent / "cpu.weight").write_text(str(min(10000, _weight(shares) * 100)))
        else:
            for group in (parent.parent, parent):
                (group / "cpu.shares").write_text(str(shares))


def detect_cgroups(ident: str) -> Cgroups | None:
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        available = _read(CGROUP_ROOT / "cgroup.controllers").split()
        parent = CGROUP_ROOT / f"stratops-{ident}"
        cgroups = Cgroups(2, dict.fromkeys(("cpu", "memory", "pids"), parent))
        candidates = [c for c in ("cpu", "memory", "pids") if c in available]
        try:
            parent.mkdir(exist_ok=True)
            (parent / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in candidates))
        except OSError:
            return None
    else:
        parents = {c: CGROUP_ROOT / c / "stratops" / ident for c in ("cpu", "memory", "pids")}
        cgroups = Cgroups(1, parents)
        candidates = [c for c in parents if (CGROUP_ROOT / c / "cgroup.procs").exists()]
    cgroups.controllers = [c for c in candidates if _try(cgroups, c)]
    if "cpu" not in cgroups.controllers:
        return None
    _weigh_parents(cgroups)
    return cgroups


def _try(cgroups: Cgroups, controller: str) -> bool:
    probe = Limits(cpu=0.5, memory=64 * 1024 * 1024)
    try:
        path = cgroups.group(controller, "probe/probe")
        path.mkdir(parents=True, exist_ok=True)
        for name, value in cgroups._settings(controller, probe).items():
            (path / name).write_text(value)
    except OSError:
        return False
    finally:
        _rmdir(cgroups.group(controller, "probe/probe"))
    return True


@dataclass
class Isolation:
    cgroups: Cgroups | None
    netns: bool

    def describe(self) -> str:
        if self.cgroups:
            cpu = f"cgroup v{self.cgroups.version} ({', '.join(self.cgroups.controllers)}) + rlimits"
        else:
            cpu = f"no writable cgroup: rlimits, nice {FALLBACK_NICE} and CPU accounting only"
        net = (
            "private network namespace (no network; feed, sink and probes over unix sockets)"
            if self.netns
            else "HOST NETWORK (unshare(CLONE_NEWNET) not permitted here; strategies can reach the network)"
        )
        return f"sandbox: limits by {cpu}; {net}"

    def launch_config(self, key: str, limits: Limits, argv: list[str], env: dict[str, str], cwd: Path) -> dict:
        cgroups = self.cgroups.create(key, limits) if self.cgroups else []
        return {
            "parent": os.getpid(),
            "cgroups": cgroups,
            "rlimits": [[which, soft, hard] for which, (soft, hard) in limits.rlimits().items()],
            "nice": 0 if self.cgroups else FALLBACK_NICE,
            "netns": self.netns,
            "cwd": str(cwd),
            "argv": argv,
            "env": limits.env(env),
        }

    def release(self, key: str) -> None:
        if self.cgroups:
            self.cgroups.remove(key)


def spawn(config: dict, config_path: Path, log_path: Path) -> subprocess.Popen:
    """Start `launch` with CONFIG in its own session (process group); its output goes to LOG."""
    config_path.write_text(json.dumps(config))
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "generator.runtime.launch", str(config_path)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )


def detect_netns(scratch: Path) -> bool:
    config = {"parent": os.getpid(), "netns": True, "argv": ["/bin/true"], "env": {}, "cwd": "/"}
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        proc = spawn(config, scratch / "netns-probe.json", scratch / "netns-probe.log")
        return proc.wait(timeout=30) == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def detect(ident: str, scratch: Path, want_netns: bool = True) -> Isolation:
    return Isolation(detect_cgroups(ident), want_netns and detect_netns(scratch))


def kill_group(pid: int, sig: int = signal.SIGKILL) -> bool:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True
