"""Hostile: leave its limits by writing its pid into the root cgroups, or by mounting cgroupfs."""

import ctypes
import os

from executor import Strategy


class Attack(Strategy):
    def on_start(self):
        libc = ctypes.CDLL(None, use_errno=True)
        results = {}
        pid = str(os.getpid()).encode()
        for path in self.params["targets"]["cgroup_procs"]:
            fd = libc.open(path.encode(), os.O_WRONLY)
            if fd < 0:
                results[path] = f"denied: errno {ctypes.get_errno()}"
                continue
            rc = libc.write(fd, pid, len(pid))
            results[path] = f"written {rc}" if rc > 0 else f"denied: errno {ctypes.get_errno()}"
        os.makedirs("/tmp/cg", exist_ok=True)
        rc = libc.mount(b"cgroup", b"/tmp/cg", b"cgroup", 0, b"memory")
        results["mount"] = "mounted" if rc == 0 else f"denied: errno {ctypes.get_errno()}"
        self.state["report"] = {"ran": True, "escape": results}
        self.save_state()
