"""The last step before an executor runs: `python -m generator.runtime.launch CONFIG.json`.

Run as a fresh process (not a Popen preexec_fn, which is unsafe in a threaded parent), so it
imports only the standard library. In order: die with the parent (PR_SET_PDEATHSIG, and
exit if the parent is already gone), join the cgroups, set rlimits and niceness, enter a
private network namespace (only loopback, down), then exec the command. Everything here
survives exec, so the executor starts already confined.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import sys

PR_SET_PDEATHSIG = 1
CLONE_NEWNET = 0x40000000


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def die_with_parent(parent: int) -> None:
    if _libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def unshare_network() -> None:
    if _libc().unshare(CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"unshare(CLONE_NEWNET): {os.strerror(errno)}")


def apply(config: dict) -> None:
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
    if config.get("netns"):
        unshare_network()
    os.umask(0o077)
    os.chdir(config.get("cwd") or "/")


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as handle:
        config = json.load(handle)
    try:
        apply(config)
    except OSError as exc:
        print(f"stratops sandbox: {exc}", file=sys.stderr, flush=True)
        os._exit(126)
    argv = config["argv"]
    os.execve(argv[0], argv, config["env"])


if __name__ == "__main__":
    main()
