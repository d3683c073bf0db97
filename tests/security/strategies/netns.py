"""Hostile: join `stratops up`'s network namespace, make a new one, and reach a canary port on 127.0.0.1."""

import ctypes
import os
import socket

from executor import Strategy

CLONE_NEWNET, CLONE_NEWUSER = 0x40000000, 0x10000000


class Attack(Strategy):
    def on_start(self):
        libc = ctypes.CDLL(None, use_errno=True)
        t = self.params["targets"]
        report = {"ran": True}
        try:
            fd = os.open(f"/proc/{t['up_pid']}/ns/net", os.O_RDONLY)
            report["setns"] = f"rc {libc.setns(fd, CLONE_NEWNET)} errno {ctypes.get_errno()}"
        except OSError as exc:
            report["setns"] = f"denied: {exc}"
        own = os.open("/proc/self/ns/net", os.O_RDONLY)
        report["setns_own"] = f"rc {libc.setns(own, CLONE_NEWNET)} errno {ctypes.get_errno()}"
        report["unshare"] = f"rc {libc.unshare(CLONE_NEWNET | CLONE_NEWUSER)} errno {ctypes.get_errno()}"
        try:
            socket.create_connection(("127.0.0.1", t["canary_port"]), timeout=2).close()
            report["connect"] = "connected"
        except OSError as exc:
            report["connect"] = f"denied: {exc}"
        self.state["report"] = report
        self.save_state()
