"""Hostile: read the host's secrets, another tenant's code and params, other processes' memory."""

import os

from executor import Strategy


def attempt(fn):
    try:
        return "ok: " + repr(fn())[:300]
    except Exception as exc:  # any failure is what we hope for
        return f"denied: {type(exc).__name__}: {exc}"[:300]


def read(path):
    with open(path, "rb") as fh:
        return fh.read(4096)


class Attack(Strategy):
    def on_start(self):
        t = self.params["targets"]
        paths = [t[k] for k in ("shadow", "victim_config", "victim_code", "host_environ", "checkout_file")]
        paths += [t["victim_mem"], f"/proc/{t['up_pid']}/environ"]
        self.state["report"] = {
            "ran": True,
            "reads": {p: attempt(lambda p=p: read(p)) for p in paths},
            "root": sorted(os.listdir("/")),
            "pids": sorted(p for p in os.listdir("/proc") if p.isdigit()),
        }
        self.save_state()
