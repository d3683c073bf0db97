"""The last step before an executor runs: `python -I -S generator/runtime/launch.py CONFIG.json`.

Run as a fresh process (not a Popen preexec_fn, which is unsafe in a threaded parent); it
imports only the standard library, so it runs without `site` and starts fast. In order: die
with the parent (PR_SET_PDEATHSIG, and exit if the parent is already gone), join the cgroups,
set rlimits and niceness. Then either

* sandboxed (`config["sandbox"]`): open the seccomp program, stage every path bubblewrap will
  bind (see `stage`), drop to the pod's uid/gid on the host, set no_new_privs and the death
  signal again (a change of credentials clears it), and exec `bwrap`, which makes the user,
  PID, IPC, UTS, network, cgroup and mount namespaces and loads the filter; or
* unsandboxed: enter a private network namespace where asked, and exec the command as is.

Everything here survives exec, so the executor starts already confined.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import stat
import sys

PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x1000, 0x4000, 0x40000
STAGE = "/tmp"  # in the launcher's own mount namespace only: a fresh tmpfs every unprivileged user can enter


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def die_with_parent(parent: int) -> None:
    _check(_libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def unshare_network() -> None:
    _check(_libc().unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")


def confine(config: dict) -> None:
    """What every executor gets, sandboxed or not: cgroups, rlimits, niceness, umask."""
    die_with_parent(int(config["parent"]))
    for procs in config.get("cgroups", []):
        with open(procs, "w") as handle:
            handle.write(str(os.getpid()))
    for which, soft, hard in config.get("rlimits", []):
        _, cur_hard = resource.getrlimit(which)
        if cur_hard != resource.RLIM_INFINITY:
            hard = min(hard, cur_hard)
            soft = min(soft, hard)
        resource.setrlimit(which, (soft, hard))
    if config.get("nice"):
        os.nice(int(config["nice"]))
    os.umask(0o077)


def stage(binds: list[list[str]]) -> list[str]:
    """Make each bind source reachable for the unprivileged uid, without opening anything up on the host.

    The sources (the pod's volumes, the interpreter, the executor package) may sit below folders
    only root can enter (a repo under /root, the runtime's 0700 folders). As root, in a private
    mount namespace, each source is bind-mounted into a fresh tmpfs at STAGE; bwrap then binds
    from there. Nothing changes outside this process's mount namespace. Returns the staged paths.
    """
    libc = _libc()
    _check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
    # opened in this namespace (a bind source must be), and before STAGE hides anything below it
    handles = [os.open(src, os.O_PATH | os.O_CLOEXEC) for src, _dest, _mode in binds]
    _check(libc.mount(b"tmpfs", STAGE.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"mode=0755"), f"mount {STAGE}")
    staged = []
    for index, handle in enumerate(handles):
        target = f"{STAGE}/{index}"
        if stat.S_ISDIR(os.fstat(handle).st_mode):
            os.mkdir(target, 0o755)
        else:
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
        source = f"/proc/self/fd/{handle}".encode()
        _check(libc.mount(source, target.encode(), None, MS_BIND | MS_REC, None), f"bind {binds[index][0]}")
        os.close(handle)
        staged.append(target)
    return staged


def drop_privileges(uid: int, gid: int, parent: int) -> None:
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    die_with_parent(parent)  # the credential change cleared it
    _check(_libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")


def bwrap_argv(config: dict) -> list[str]:
    """Stage, drop privileges, and return bwrap's command line (binds from the staged paths)."""
    box = config["sandbox"]
    seccomp = os.open(box["seccomp"], os.O_RDONLY)  # read as root: the file is the runtime's own
    binds = box["binds"]
    sources = stage(binds) if os.geteuid() == 0 else [src for src, _dest, _mode in binds]
    if os.geteuid() == 0:
        drop_privileges(int(box["uid"]), int(box["gid"]), int(config["parent"]))
    os.chdir("/")
    argv = [*box["head"], "--seccomp", str(seccomp)]
    for source, (_src, dest, mode) in zip(sources, binds, strict=True):
        argv += ["--bind" if mode == "rw" else "--ro-bind", source, dest]
    return [*argv, *box["tail"], "--remount-ro", "/", *config["argv"]]


def keep_open(fds: list[int]) -> None:
    for fd in fds:
        os.set_inheritable(fd, True)


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as handle:
        config = json.load(handle)
    try:
        confine(config)
        if config.get("sandbox"):
            argv = bwrap_argv(config)
            keep_open([int(argv[argv.index("--seccomp") + 1]), *config.get("pass_fds", [])])
        else:
            if config.get("netns"):
                unshare_network()
            os.chdir(config.get("cwd") or "/")
            argv = config["argv"]
    except OSError as exc:
        print(f"stratops sandbox: {exc}", file=sys.stderr, flush=True)
        os._exit(126)
    os.execve(argv[0], argv, config["env"])


if __name__ == "__main__":
    main()
