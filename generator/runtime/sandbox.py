"""How an executor is confined on this machine, detected once: sandbox, cgroups, rlimits.

* Sandbox: bubblewrap as the pod's runAsUser (jail.py says what it sees, seccomp.py what it may
  call, launch.py the order of the steps). Without bubblewrap or user namespaces `stratops up`
  refuses to run strategies (SandboxUnavailable says how to fix it) unless told --unsandboxed.
Limits, best first (`stratops up` prints the one in use):
* CPU and memory: cgroup v2 (`cpu.max`, `memory.max`, `pids.max`) or cgroup v1 (`cpu.cfs_quota_us`,
  `memory.limit_in_bytes`, `pids.max`) where this user may create groups; otherwise `nice` plus
  the CPU% shown in the status (accounting only). RLIMIT_AS and the other rlimits of
  executor.sandbox.Limits apply at every level.
  Without a pids cgroup, RLIMIT_NPROC (it holds: the executor's uid is unprivileged).
* Unsandboxed only: a private network namespace (`unshare(CLONE_NEWNET)`) where allowed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from executor.sandbox import Limits

from . import seccomp
from .jail import Bind, Jail

CGROUP_ROOT = Path("/sys/fs/cgroup")
# Run as a script in isolated mode without `site` (it needs only the standard library): ~70 ms less per start.
LAUNCHER = str(Path(__file__).with_name("launch.py"))
CFS_PERIOD_US = 100_000
PIDS_MAX = 256  # threads count as pids: the probe server starts one per request
FALLBACK_NICE = 10
DEFAULT_UID = 10001  # the executor image's user, when the pod names none
UNSANDBOXED_WARNING = "WARNING: UNSANDBOXED (--unsandboxed): strategies run as root and can read and write this machine"
INSTALL_HINT = "install it: `apt-get install bubblewrap` (as root, `make install` does it), or run with --unsandboxed"
SECCOMP_HINT = "install libseccomp2 (`apt-get install libseccomp2`) and pyseccomp (`make install`), or --unsandboxed"
USERNS_HINT = (
    "let unprivileged users create user namespaces: `sysctl -w kernel.unprivileged_userns_clone=1` (Debian),"
    " `sysctl -w user.max_user_namespaces=15000`, on Ubuntu 24.04 `sysctl -w"
    " kernel.apparmor_restrict_unprivileged_userns=0`; or run with --unsandboxed"
)


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

    def members(self, key: str) -> set[int]:
        pids: set[int] = set()
        for controller in self.controllers:
            pids |= {int(p) for p in _read(self.group(controller, key) / "cgroup.procs").split()}
        return pids

    def kill(self, key: str, timeout: float = 2.0) -> int:
        """SIGKILL every process in the executor's groups, however it left its session or process group."""
        killed, deadline = 0, time.monotonic() + timeout
        while (pids := self.members(key)) and time.monotonic() < deadline:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
            time.sleep(0.01)
        return killed

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

    def clear(self) -> int:
        """Remove the (empty) groups of this runtime, its parent group included; returns how many executors' groups."""
        removed = 0
        for controller in self.controllers:
            for group in self.parents[controller].glob("*/"):
                removed += _rmdir(group) and controller == self.controllers[0]
            _rmdir(self.parents[controller])
        return removed


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _rmdir(path: Path) -> bool:
    try:
        path.rmdir()
    except OSError:  # still has processes (removed on the next cleanup) or already gone
        return False
    return True


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


@dataclass(frozen=True)
class Box:
    """One pod's sandbox: who it runs as on the host, and what it sees (host path, sandbox path, ro|rw)."""

    name: str
    uid: int
    gid: int
    volumes: list[Bind]
    sockets: list[Bind]


@dataclass
class Isolation:
    cgroups: Cgroups | None
    netns: bool  # unsandboxed runs only: bwrap always makes a network namespace
    jail: Jail | None = None  # None: --unsandboxed
    seccomp: str = ""

    @property
    def sandboxed(self) -> bool:
        return self.jail is not None

    def describe(self) -> str:
        if self.cgroups:
            cpu = f"cgroup v{self.cgroups.version} ({', '.join(self.cgroups.controllers)}) + rlimits"
        else:
            cpu = (
                f"NO WRITABLE CGROUP: rlimits only (RLIMIT_AS, RLIMIT_NPROC {PIDS_MAX} per uid), nice {FALLBACK_NICE},"
                " no CPU cap"
            )
        if self.jail is not None:
            box = (
                "bubblewrap (user, PID, IPC, UTS, network, cgroup and mount namespaces; the pod's runAsUser on the"
                f" host; no capabilities; seccomp {self.seccomp})"
            )
            return f"sandbox: {box}; limits by {cpu}"
        net = "private network namespace" if self.netns else "HOST NETWORK"
        return f"{UNSANDBOXED_WARNING}; {net}; limits by {cpu}"

    def limits(self, cpu: str | None, memory: str | None) -> Limits:
        """rlimits for one executor: RLIMIT_NPROC only where no pids cgroup counts its processes."""
        pids = self.cgroups is not None and "pids" in self.cgroups.controllers
        return Limits.from_quantities(cpu, memory, nproc=None if pids else PIDS_MAX)

    def launch_config(
        self,
        key: str,
        limits: Limits,
        argv: list[str],
        env: dict[str, str],
        cwd: Path,
        box: Box | None = None,
        pass_fds: tuple[int, ...] = (),
    ) -> dict:
        cgroups = self.cgroups.create(key, limits) if self.cgroups else []
        config = {
            "parent": os.getpid(),
            "cgroups": cgroups,
            "rlimits": [[which, soft, hard] for which, (soft, hard) in limits.rlimits().items()],
            "nice": 0 if self.cgroups else FALLBACK_NICE,
            "netns": self.netns,
            "cwd": str(cwd),
            "argv": argv,
            "env": limits.env(env),
            "pass_fds": list(pass_fds),
        }
        if box is not None and self.jail is not None:
            config["sandbox"] = {
                "uid": box.uid,
                "gid": box.gid,
                "seccomp": str(self.jail.seccomp),
                "head": self.jail.head(box.name, box.uid, box.gid),
                "binds": [list(b) for b in self.jail.binds(box.volumes, box.sockets)],
                "tail": self.jail.tail(),
            }
        return config

    def release(self, key: str) -> None:
        if self.cgroups:
            self.cgroups.kill(key)
            self.cgroups.remove(key)


def spawn(config: dict, config_path: Path, output: Path | int, pass_fds: tuple[int, ...] = ()) -> subprocess.Popen:
    """Start `launch` with CONFIG in its own session (process group); its output goes to OUTPUT (a file or fd)."""
    fd = os.open(config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(config, fh)
    out = open(output, "ab") if isinstance(output, Path) else output  # noqa: SIM115 - closed below
    try:
        return subprocess.Popen(
            [sys.executable, "-I", "-S", LAUNCHER, str(config_path)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            pass_fds=pass_fds,
        )
    finally:
        if isinstance(output, Path):
            out.close()


def detect_netns(scratch: Path) -> bool:
    config = {"parent": os.getpid(), "netns": True, "argv": ["/bin/true"], "env": {}, "cwd": "/"}
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        proc = spawn(config, scratch / "netns-probe.json", scratch / "netns-probe.log")
        return proc.wait(timeout=30) == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


class SandboxUnavailable(Exception):
    """The namespaces cannot be made here; args: what is missing, how to fix it."""


def detect_jail(scratch: Path, uid: int = DEFAULT_UID) -> tuple[Jail, str]:
    """bubblewrap, the seccomp filter, and one real sandboxed start; SandboxUnavailable says what to do."""
    bwrap = os.environ.get("STRATOPS_BWRAP") or shutil.which("bwrap") or "/usr/bin/bwrap"
    if not os.access(bwrap, os.X_OK):
        raise SandboxUnavailable(f"bubblewrap is not installed (no {bwrap})", INSTALL_HINT)
    scratch.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        basis = seccomp.export(scratch / "seccomp.bpf")
    except (ImportError, OSError) as exc:
        raise SandboxUnavailable(f"cannot build the seccomp filter: {exc}", SECCOMP_HINT) from None
    jail = Jail.detect(bwrap, scratch / "seccomp.bpf")
    code = "import zmq, msgpack, prometheus_client, executor.runner; print('sandbox ok')"
    try:
        status, output = run_python(jail, scratch / "sandbox-probe", code, uid)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxUnavailable(f"the sandbox probe did not run: {exc}", USERNS_HINT) from None
    if status != 0 or "sandbox ok" not in output:
        last = output.strip().splitlines()[-1] if output.strip() else "no output"
        raise SandboxUnavailable(f"bubblewrap cannot make the sandbox here: {last}", USERNS_HINT)
    return jail, basis


def run_python(jail: Jail, scratch: Path, code: str, uid: int = DEFAULT_UID, timeout: float = 60) -> tuple[int, str]:
    """Run CODE in a sandbox like an executor's (SCRATCH as its /tmp); returns its exit status and output."""
    scratch.mkdir(parents=True, exist_ok=True, mode=0o700)
    if os.geteuid() == 0:
        os.chown(scratch, uid, uid)
    box = Box("probe", uid, uid, [(str(scratch), "/tmp", "rw")], [])
    config = Isolation(None, False, jail).launch_config(
        "probe", Limits(), [jail.python, "-s", "-c", code], jail.env(), scratch, box
    )
    log = scratch.with_name(scratch.name + ".log")
    log.unlink(missing_ok=True)
    proc = spawn(config, scratch.with_name(scratch.name + ".json"), log)
    try:
        status = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc.pid)
        proc.wait()
        raise
    return status, log.read_text(errors="replace")


def detect(ident: str, scratch: Path, want_netns: bool = True, sandboxed: bool = True) -> Isolation:
    """The isolation to use; sandboxed, raises SandboxUnavailable rather than run strategies without it."""
    cgroups = detect_cgroups(ident)
    if not sandboxed:
        return Isolation(cgroups, want_netns and detect_netns(scratch))
    jail, basis = detect_jail(scratch)
    return Isolation(cgroups, False, jail, basis)


def kill_group(pid: int, sig: int = signal.SIGKILL) -> bool:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True
