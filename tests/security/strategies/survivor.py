"""Hostile: fork, setsid and keep running after `stratops up` stops (named so the host can find it)."""

import ctypes
import time

from executor import Strategy

PR_SET_NAME = 15


class Attack(Strategy):
    def on_start(self):
        libc = ctypes.PyDLL(None, use_errno=True)  # keeps the GIL across fork: the child can run Python
        pid = libc.fork()
        if pid == 0:
            ctypes.pythonapi.PyOS_AfterFork_Child()
            libc.setsid()
            if libc.fork() != 0:
                libc._exit(0)
            libc.prctl(PR_SET_NAME, b"stratops-evade", 0, 0, 0)
            while True:
                time.sleep(0.5)
        self.state["report"] = {"ran": True, "forked": pid}
        self.save_state()
