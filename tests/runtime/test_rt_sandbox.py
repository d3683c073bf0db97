"""What an executor can and cannot do locally: network, cgroup limits, read-only code, its own files."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from executor.sandbox import Limits
from generator.fleet import Fleet
from generator.runtime import sandbox, seccomp
from generator.runtime.paths import RuntimePaths
from generator.runtime.view import plain
from tests import needs
from tests.runtime.rt_helpers import Up, row, running, wait_for


def _launch(isolation: sandbox.Isolation, tmp_path: Path, code: str, key: str = "t/probe") -> tuple[int, str]:
    tmp_path = Path(tempfile.mkdtemp(dir=tmp_path))
    config = isolation.launch_config(
        key, Limits.from_quantities("250m", "128Mi"), [sys.executable, "-c", code], {}, tmp_path
    )
    proc = sandbox.spawn(config, tmp_path / "launch.json", tmp_path / "out.log")
    code_ = proc.wait(30)
    isolation.release(key)
    return code_, (tmp_path / "out.log").read_text()


def test_private_network_namespace_has_no_route_to_the_host(tmp_path: Path) -> None:
    if not sandbox.detect_netns(tmp_path / "probe"):
        needs.missing("unshare(CLONE_NEWNET) is not permitted on this machine", "enable unprivileged user namespaces")
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    try:
        code = (
            "import socket\n"
            "try:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
            "except OSError as e:\n"
            "    print('refused', e)\n"
            "else:\n"
            "    print('connected')"
        )
        outside = _launch(sandbox.Isolation(None, netns=False), tmp_path, code)
        inside = _launch(sandbox.Isolation(None, netns=True), tmp_path, code)
    finally:
        listener.close()
    assert outside[1].strip() == "connected"
    assert inside[0] == 0 and inside[1].startswith("refused")


def test_rlimits_end_a_runaway_allocation(tmp_path: Path) -> None:
    code = "b = bytearray(2 * 1024**3)\nprint('allocated')"
    status, out = _launch(sandbox.Isolation(None, netns=False), tmp_path, code)
    assert status != 0 and "MemoryError" in out


def test_launcher_refuses_to_run_without_its_parent(tmp_path: Path) -> None:
    config = {"parent": 1, "argv": ["/bin/echo", "ran"], "env": {}, "cwd": str(tmp_path)}
    (tmp_path / "c.json").write_text(json.dumps(config))
    result = subprocess.run(
        [sys.executable, "-I", "-S", sandbox.LAUNCHER, str(tmp_path / "c.json")], capture_output=True, text=True
    )
    assert result.returncode == 1 and "ran" not in result.stdout


def test_running_executor_is_confined(one: Fleet, up: Up) -> None:
    """Seen from the host: the pod's uid, no capabilities, no_new_privs, seccomp, its cgroups, container paths."""
    repo = one.path
    status = wait_for(repo, running("alice/alpha"))
    assert status["sandbox"].startswith("sandbox: bubblewrap") and not status["unsandboxed"]
    pid = row(status, "alice/alpha")["pid"]
    pod_dir = RuntimePaths.of(repo).strategy_dir("alice/alpha")
    code = pod_dir / "volumes" / "code"
    assert (code / "momentum.py").stat().st_mode & 0o777 == 0o444 and code.stat().st_mode & 0o777 == 0o555
    proc = _status_fields(pid)
    assert proc["Uid"].split() == ["10001"] * 4 and proc["Gid"].split() == ["10001"] * 4
    assert int(proc["CapEff"], 16) == 0 and int(proc["CapPrm"], 16) == 0
    assert proc["NoNewPrivs"] == "1" and proc["Seccomp"] == "2"
    assert proc["NSpid"].split()[-1] == "1"  # PID 1 of its own PID namespace
    for ns in ("user", "pid", "net", "ipc", "uts", "mnt", "cgroup"):
        assert os.readlink(f"/proc/{pid}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}"), ns
    environ = dict(
        item.split("=", 1) for item in Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0") if "=" in item
    )
    assert environ["STRATOPS_FEED_ENDPOINT"] == "ipc:///run/stratops/feed/feed.sock"
    assert environ["HOME"] == environ["TMPDIR"] == "/tmp" and "STRATOPS_HTTP_FD" in environ
    assert not any(k.startswith(("GIT_", "STRATOPS_HELM")) for k in environ)  # up's own environment stays out
    limits = Path(f"/proc/{pid}/limits").read_text()
    assert "Max address space" in limits and "unlimited" not in _limit_line(limits, "Max address space")
    cgroups = Path(f"/proc/{pid}/cgroup").read_text()
    if "cgroup v1" in status["sandbox"]:
        cpu_group = next(line.split(":", 2)[2] for line in cgroups.splitlines() if line.split(":")[1] == "cpu")
        quota = Path("/sys/fs/cgroup/cpu" + cpu_group, "cpu.cfs_quota_us").read_text().strip()
        assert quota == "25000"  # 250m of a 100 ms period
    elif "cgroup v2" in status["sandbox"]:
        group = cgroups.strip().splitlines()[-1].split(":", 2)[2]
        assert Path("/sys/fs/cgroup" + group, "cpu.max").read_text().split()[0] == "25000"
    runtime_root = RuntimePaths.of(repo).root
    assert runtime_root.stat().st_mode & 0o777 == 0o700 and runtime_root.stat().st_uid == 0


def _status_fields(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {k: v.strip() for k, _, v in (line.partition(":") for line in lines)}


def _limit_line(limits: str, name: str) -> str:
    return next(line for line in limits.splitlines() if line.startswith(name))


# The syscalls the container runtimes' and Flatpak's default profiles refuse (written out here, not imported).
MUST_DENY = (
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "mount",
    "umount2",
    "pivot_root",
    "setns",
    "unshare",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "quotactl",
    "open_by_handle_at",
    "iopl",
    "ioperm",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
)


def _pfc(filt) -> str:
    with tempfile.TemporaryFile("w+") as fh:
        filt.export_pfc(fh)
        fh.seek(0)
        return fh.read()


def _actions(pfc: str) -> dict[str, str]:
    """syscall name -> the first action libseccomp compiled for it (its own pseudo filter code)."""
    out, name = {}, None
    for line in pfc.splitlines():
        line = line.strip()
        if line.startswith('# filter for syscall "'):
            name = line.split('"')[1]
        elif line.startswith("action ") and name and name not in out:
            out[name] = line.removeprefix("action ").rstrip(";")
    return out


def test_seccomp_filter_denies_the_listed_syscalls_and_namespace_clones() -> None:
    pfc = _pfc(seccomp.build())
    actions = _actions(pfc)
    missing = [name for name in MUST_DENY if actions.get(name) != "ERRNO(1)"]
    assert not missing, f"not denied: {missing}"
    assert actions["clone3"] == "ERRNO(38)"  # ENOSYS: libc falls back to clone, whose flags are checked
    assert actions["clone"] == "ERRNO(1)" and "$a0.lo32 & 0x10000000 == 268435456" in pfc  # CLONE_NEWUSER


def test_allowlist_is_read_from_a_containers_profile(tmp_path: Path) -> None:
    profile = tmp_path / "seccomp.json"
    profile.write_text(
        json.dumps(
            {
                "defaultAction": "SCMP_ACT_ERRNO",
                "syscalls": [
                    {"names": ["read", "write", "ptrace", "bpf"], "action": "SCMP_ACT_ALLOW"},
                    {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 0}]},
                    {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                    {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
                    {"names": ["set_tls"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm"]}},
                ],
            }
        )
    )
    allowed = seccomp.allowlist(profile, machine="x86_64")
    assert allowed == {"read", "write", "ptrace", "bpf", "personality", "arch_prctl"}  # no caps, other arches
    actions = _actions(_pfc(seccomp.build(allowed)))
    assert actions["read"] == actions["write"] == "ALLOW"
    assert not {"ptrace", "bpf", "mount", "personality"} & set(actions)  # the default: EPERM
    assert seccomp.allowlist(tmp_path / "absent.json") is None


def test_seccomp_holds_inside_the_sandbox_where_privileges_would_not(tmp_path: Path) -> None:
    """io_uring needs no privilege on the host; inside, the filter refuses it (EPERM), as it does new namespaces."""
    jail, _ = sandbox.detect_jail(tmp_path / "sandbox")
    code = (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "params = ctypes.create_string_buffer(120)\n"
        "print('io_uring', libc.syscall(425, 4, params), ctypes.get_errno())\n"
        "print('unshare', libc.unshare(0x10000000), ctypes.get_errno())\n"
        "print('uid', os.getuid(), 'pids', sorted(p for p in os.listdir('/proc') if p.isdigit()))\n"
    )
    status, out = sandbox.run_python(jail, tmp_path / "box", code)
    assert status == 0, out
    assert "io_uring -1 1\n" in out and "unshare -1 1\n" in out and "uid 10001 pids ['1']" in out
    host = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert not host.startswith("io_uring -1")  # the host allows it: the refusal above is the filter's


def test_up_refuses_without_bubblewrap_and_says_how_to_fix_it(one: Fleet, tmp_path: Path) -> None:
    env = {**os.environ, "STRATOPS_BWRAP": str(tmp_path / "no-bwrap")}
    result = subprocess.run(
        [sys.executable, "-m", "generator.cli", "up", str(one.path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 2
    assert "refusing to run strategies without a sandbox" in result.stderr + result.stdout
    assert "apt-get install bubblewrap" in result.stderr + result.stdout and "--unsandboxed" in result.stderr


def test_unsandboxed_status_warns_on_every_line() -> None:
    status = {"revision": "abc", "updated": 0, "unsandboxed": True, "feed": {}, "sink": {}}
    status["strategies"] = {k: {"state": "Running", "ready": True} for k in ("a/x", "b/y")}
    lines = plain(status).splitlines()
    assert len(lines) == 3 and all("UNSANDBOXED" in line for line in lines)
    assert "UNSANDBOXED" not in plain({**status, "unsandboxed": False})


def test_the_container_tools_default_profile_runs_an_executor_and_still_denies(tmp_path: Path) -> None:
    """Allowlist mode on the real podman/CRI-O profile (extracted by `make install`): Python, threads, fork,
    sockets and ZeroMQ work; the deny list still wins where the profile would allow."""
    profile = Path(__file__).resolve().parents[2] / ".tools" / "containers" / "seccomp.json"
    assert profile.exists(), "run `make install`: it extracts the container tools' seccomp profile"
    allowed = seccomp.allowlist(profile)
    assert allowed and {"read", "futex", "clone", "socket"} <= allowed and "kexec_load" not in allowed
    jail, _ = sandbox.detect_jail(tmp_path / "sandbox")
    with open(tmp_path / "allow.bpf", "wb") as fh:
        seccomp.build(allowed).export_bpf(fh)
    jail = dataclasses.replace(jail, seccomp=tmp_path / "allow.bpf")
    code = (
        "import ctypes, os, socket, threading, zmq, executor.runner\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "t = threading.Thread(target=lambda: None); t.start(); t.join()\n"
        "pid = os.fork()\n"
        "if pid == 0: os._exit(0)\n"
        "os.waitpid(pid, 0)\n"
        "ctx = zmq.Context(); s = ctx.socket(zmq.PUSH); s.bind('ipc:///tmp/x.sock'); s.close(); ctx.term()\n"
        "print('ptrace', libc.ptrace(0, 0, 0, 0), ctypes.get_errno())\n"
        "print('unshare', libc.unshare(0x10000000), ctypes.get_errno())\n"
    )
    status, out = sandbox.run_python(jail, tmp_path / "box", code)
    assert status == 0, out
    assert "ptrace -1 1\n" in out and "unshare -1 1\n" in out
