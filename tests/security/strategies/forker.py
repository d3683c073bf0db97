"""Hostile: fork until refused (a fork bomb), children parked; says how many forks succeeded and why it stopped."""

import ctypes

from executor import Strategy


class Attack(Strategy):
    def on_start(self):
        libc = ctypes.PyDLL(None, use_errno=True)
        forks, error = 0, 0
        while forks < 2000:
            pid = libc.fork()
            if pid == 0:
                while True:
                    libc.pause()
            if pid < 0:
                error = ctypes.get_errno()
                break
            forks += 1
        self.state["report"] = {"ran": True, "forks": forks, "errno": error}
        self.save_state()
