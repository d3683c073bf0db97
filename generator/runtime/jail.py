"""What a sandboxed executor sees: bubblewrap's command line, built from the rendered Pod.

The root is an empty read-only tmpfs holding only
* the interpreter, its standard library and the shared libraries it loads (found in this
  process's own memory map; the interpreter's global site-packages is hidden by an empty tmpfs),
* the executor package and the distributions it imports, each bound alone below
  /opt/stratops/python (never the checkout: the package may be an editable install of one),
* the pod's volumes at their mountPaths (ConfigMaps and `readOnly` mounts read-only, emptyDir
  and claims read-write, `/tmp` an emptyDir),
* /run/stratops/feed (the feed's socket folder) and /run/stratops/sink (this executor's own sink
  socket folder), both read-only: the sockets can be connected to, not replaced,
* a minimal /dev and the /proc of its own PID namespace.
The probe endpoint is a listening socket the runtime hands over as a file descriptor.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import executor

PYTHONPATH = "/opt/stratops/python"
FEED_DIR, SINK_DIR = "/run/stratops/feed", "/run/stratops/sink"
EXECUTOR_DISTRIBUTIONS = ("pyzmq", "msgpack", "prometheus-client")  # what `python -m executor` imports
ROOT_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
NAMESPACES = ("--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net", "--unshare-cgroup")

Bind = tuple[str, str, str]  # host path, sandbox path, "ro" | "rw"


@dataclass(frozen=True)
class Jail:
    bwrap: str
    seccomp: Path  # the compiled filter (root-only file of the runtime)
    runtime_binds: tuple[Bind, ...]  # interpreter, libraries, executor package and its dependencies
    links: tuple[tuple[str, str], ...]  # (target, path) for bwrap --symlink
    hidden: tuple[str, ...]  # folders inside the binds covered by an empty tmpfs
    python: str

    @classmethod
    def detect(cls, bwrap: str, seccomp: Path) -> Jail:
        binds = {path: (path, path, "ro") for path in _interpreter_paths()}
        packages = _package_paths()
        binds |= {dest: (src, dest, "ro") for dest, src in packages.items()}
        links = tuple((os.readlink(p), p) for p in ROOT_LINKS if os.path.islink(p))
        site = Path(sysconfig.get_paths(vars={"base": sys.base_prefix})["purelib"])
        hidden = (str(site),) if site.is_dir() and any(str(site).startswith(b + "/") for b in binds) else ()
        return cls(bwrap, seccomp, tuple(binds.values()), links, hidden, os.path.realpath(sys.executable))

    def head(self, name: str, uid: int, gid: int) -> list[str]:
        """bwrap and its options; the launcher adds --seccomp and the binds (from its staged copies)."""
        out = [self.bwrap, *NAMESPACES, "--disable-userns", "--uid", str(uid), "--gid", str(gid)]
        out += ["--hostname", name, "--cap-drop", "ALL", "--die-with-parent", "--new-session", "--as-pid-1"]
        out += ["--proc", "/proc", "--dev", "/dev"]
        for target, path in self.links:
            out += ["--symlink", target, path]
        return out

    def binds(self, volumes: list[Bind], sockets: list[Bind]) -> list[Bind]:
        return [*self.runtime_binds, *volumes, *sockets]

    def tail(self) -> list[str]:
        """Options after the binds: the hidden folders, and where the command starts."""
        out = []
        for path in self.hidden:
            out += ["--tmpfs", path]
        return [*out, "--dir", "/tmp", "--chdir", "/tmp"]  # /tmp stays read-only unless the pod mounts one

    def env(self) -> dict[str, str]:
        return {
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "HOME": "/tmp",
            "TMPDIR": "/tmp",
            "PYTHONPATH": PYTHONPATH,
            "PYTHONNOUSERSITE": "1",
            "STRATOPS_FEED_ENDPOINT": f"ipc://{FEED_DIR}/feed.sock",
            "STRATOPS_SINK_ENDPOINT": f"ipc://{SINK_DIR}/sink.sock",
        }


def _interpreter_paths() -> list[str]:
    """The interpreter, its standard library, and the folders of the shared libraries this process loaded."""
    paths = {os.path.realpath(sys.executable), os.path.realpath(sysconfig.get_paths()["stdlib"])}
    checkout = os.path.realpath(Path(executor.__file__).parents[1]) + "/"
    with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
        for line in maps:
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and fields[5].startswith("/") and ".so" in fields[5]:
                real = os.path.realpath(fields[5].strip())
                if "-packages/" not in real and not real.startswith(checkout):
                    paths.add(os.path.dirname(real))
    for link in ROOT_LINKS:  # the ELF interpreter's path (/lib64/ld-linux...) through the merged-/usr links
        real = os.path.realpath(link)
        if os.path.islink(link) and any(Path(real).glob("ld-*.so*")):
            paths.add(real)
    return _outermost(paths)


def _outermost(paths: set[str]) -> list[str]:
    out: list[str] = []
    for path in sorted(paths):
        if not any(path.startswith(kept + "/") for kept in out):
            out.append(path)
    return out


def _package_paths() -> dict[str, str]:
    """Sandbox path -> host path of the executor package and every top-level entry of its distributions."""
    out = {f"{PYTHONPATH}/executor": str(Path(executor.__file__).parent)}
    for name in EXECUTOR_DISTRIBUTIONS:
        dist = importlib.metadata.distribution(name)
        tops = {f.parts[0] for f in dist.files or [] if f.parts and f.parts[0] != ".."}
        for top in sorted(tops):
            if top.endswith(".dist-info") or top == "__pycache__":
                continue
            host = Path(str(dist.locate_file(top)))
            if host.exists():
                out[f"{PYTHONPATH}/{top}"] = str(host)
    return out
