"""Defence in depth for untrusted strategy code: a ``sys.addaudithook`` policy.

This is NOT a sandbox. Audit hooks see only what CPython reports (ctypes, C extensions or
raw syscalls walk around them). The boundary is the container (read-only root fs, non-root,
seccomp, cgroups) or, locally, the rlimits from :mod:`executor.sandbox`. The hook exists so
that honest mistakes fail fast with a clear ``PermissionError`` instead of doing damage.

Policy once installed (cannot be removed for the life of the process):
* writes (open for write/append/create, remove, rename, mkdir, chmod, ...) only below the
  allowed directories (the state directory and /tmp);
* no new processes: fork, exec, spawn, system, subprocess, posix_spawn;
* no signals to other processes.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
PROCESS_EVENTS = frozenset(
    {
        "os.fork",
        "os.forkpty",
        "os.system",
        "os.exec",
        "os.posix_spawn",
        "os.spawn",
        "subprocess.Popen",
        "pty.spawn",
    }
)
PATH_EVENTS = {  # event -> indexes of path arguments
    "os.remove": (0,),
    "os.rmdir": (0,),
    "os.mkdir": (0,),
    "os.rename": (0, 1),
    "os.link": (0, 1),
    "os.symlink": (0, 1),
    "os.chmod": (0,),
    "os.chown": (0,),
    "os.truncate": (0,),
    "os.utime": (0,),
    "os.chflags": (0,),
    "os.lchflags": (0,),
    "shutil.rmtree": (0,),
    "os.mkfifo": (0,),
    "os.mknod": (0,),
}

_installed = False


def _is_write(mode: Any, flags: Any) -> bool:
    if isinstance(mode, str) and any(c in mode for c in "wax+"):
        return True
    return isinstance(flags, int) and bool(flags & WRITE_FLAGS)


def make_hook(allowed_dirs: Iterable[str]) -> Callable[[str, tuple[Any, ...]], None]:
    roots = tuple(os.path.realpath(d).rstrip("/") + "/" for d in allowed_dirs)
    local = threading.local()
    pid = os.getpid()

    def inside(path: Any) -> bool:
        if isinstance(path, int):
            return True  # an fd the process already holds
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not isinstance(path, str | os.PathLike):
            return True
        real = os.path.realpath(os.fspath(path)) + "/"
        return real.startswith(roots)

    def deny(what: str) -> None:
        raise PermissionError(
            f"stratops sandbox: {what} is not allowed (writes only below "
            f"{', '.join(r.rstrip('/') for r in roots)}; no new processes)"
        )

    def check(event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            if len(args) >= 3 and _is_write(args[1], args[2]) and not inside(args[0]):
                deny(f"opening {args[0]!r} for writing")
        elif event in PROCESS_EVENTS:
            deny(f"{event}()")
        elif event in PATH_EVENTS:
            for i in PATH_EVENTS[event]:
                if i < len(args) and not inside(args[i]):
                    deny(f"{event}({args[i]!r})")
        elif event in ("os.kill", "os.killpg") and args and args[0] not in (pid, 0):
            deny(f"{event}({args[0]})")

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if getattr(local, "busy", False):
            return
        local.busy = True
        try:
            check(event, args)
        finally:
            local.busy = False

    return hook


def install(allowed_dirs: Iterable[str]) -> bool:
    """Install the policy once per process; returns False if it was already installed."""
    global _installed
    if _installed:
        return False
    sys.dont_write_bytecode = True  # importing from a read-only code dir must not try to write .pyc
    sys.addaudithook(make_hook(allowed_dirs))
    _installed = True
    return True
