"""The seccomp filter every sandboxed executor runs under, built with libseccomp (PyPI `pyseccomp`).

Where the container tools' default profile is installed (Debian `golang-github-containers-common`:
/usr/share/containers/seccomp.json, the profile podman and CRI-O apply as `RuntimeDefault`; or
the file STRATOPS_SECCOMP_PROFILE names), its allowlist is read as data: any syscall it does not
allow a process without capabilities fails with EPERM. Either way DENIED below
holds: the syscalls Flatpak's and the container runtimes' profiles refuse to untrusted code
(tracing other processes, mounts, namespaces, kernel keyrings, eBPF, io_uring, clocks, modules).
Namespace-creating `clone` flags are refused by argument; `clone3` answers ENOSYS so that libc
falls back to `clone`, whose flags a filter can see. Other architectures' syscall ABIs (i386,
x32) kill the process, libseccomp's default for a foreign architecture.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import platform
from pathlib import Path

CONTAINERS_PROFILE = Path("/usr/share/containers/seccomp.json")

DENIED = (
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "process_madvise",
    "mount",
    "umount2",
    "pivot_root",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "chroot",
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
    "quotactl_fd",
    "open_by_handle_at",
    "name_to_handle_at",
    "iopl",
    "ioperm",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "syslog",
    "vhangup",
    "lookup_dcookie",
    "fanotify_init",
    "personality",
    "uselib",
    "nfsservctl",
)
CLONE_NAMESPACE_FLAGS = {
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
    "CLONE_NEWTIME": 0x00000080,
}
ARCHES = {"x86_64": "amd64", "aarch64": "arm64", "i686": "x86", "ppc64le": "ppc64le", "s390x": "s390x"}
TIOCSTI = 0x5412  # push characters into a terminal's input (Flatpak refuses it)


def allowlist(profile: Path = CONTAINERS_PROFILE, machine: str = "") -> set[str] | None:
    """The syscalls the container tools' default profile allows a process without capabilities, or None.

    Groups that need a capability are left out (the sandbox has none), and so are groups for other
    architectures. A group allowing a syscall only for some arguments (`socket`, `personality`)
    allows it whole here; the deny list still overrides.
    """
    try:
        doc = json.loads(profile.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("defaultAction") not in ("SCMP_ACT_ERRNO", "SCMP_ACT_KILL"):
        return None
    arch = ARCHES.get(machine or platform.machine(), machine or platform.machine())
    names: set[str] = set()
    for group in doc.get("syscalls") or []:
        if not isinstance(group, dict) or group.get("action") != "SCMP_ACT_ALLOW":
            continue
        includes = group.get("includes") or {}
        if includes.get("caps") or (includes.get("arches") and arch not in includes["arches"]):
            continue
        names.update(n for n in group.get("names") or [] if isinstance(n, str))
    return names or None


def build(allowed: set[str] | None = None):
    """The filter: EPERM for DENIED (and, with ALLOWED, for every syscall outside it)."""
    import pyseccomp as sc

    eperm = sc.ERRNO(errno.EPERM)
    denied = set(DENIED)
    filt = sc.SyscallFilter(eperm if allowed else sc.ALLOW)
    with contextlib.suppress(ValueError, RuntimeError, OSError):  # libseccomp >= 2.5: a binary tree, not a list
        filt.set_attr(sc.Attr.CTL_OPTIMIZE, 2)
    if allowed:
        for name in sorted(allowed - denied - {"clone", "clone3", "ioctl"}):
            _try_rule(filt, sc.ALLOW, name)
        _try_rule(filt, sc.ALLOW, "ioctl", sc.Arg(1, sc.NE, TIOCSTI))
        mask = sum(CLONE_NAMESPACE_FLAGS.values())
        filt.add_rule(sc.ALLOW, "clone", sc.Arg(0, sc.MASKED_EQ, mask, 0))
    else:
        for name in sorted(denied):
            _try_rule(filt, eperm, name)
        filt.add_rule(eperm, "ioctl", sc.Arg(1, sc.EQ, TIOCSTI))
        for flag in CLONE_NAMESPACE_FLAGS.values():
            filt.add_rule(eperm, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    filt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    return filt


def _try_rule(filt, action: int, name: str, *args) -> None:
    """A name this libseccomp or architecture does not know is skipped (it cannot be called here either)."""
    with contextlib.suppress(ValueError, RuntimeError, OSError):
        filt.add_rule(action, name, *args)


def export(path: Path) -> str:
    """Write the compiled BPF program (what bwrap's --seccomp reads) to PATH; returns what it is based on."""
    profile = Path(os.environ.get("STRATOPS_SECCOMP_PROFILE") or CONTAINERS_PROFILE)
    allowed = allowlist(profile)
    filt = build(allowed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        filt.export_bpf(fh)
    path.chmod(0o600)
    return f"allowlist of {profile} + deny list" if allowed else "deny list"
