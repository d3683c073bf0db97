"""Hostile: write logs as fast as it can (the issue's 629 MB in 10 s)."""

import os
import threading
import time

from executor import Strategy


class Attack(Strategy):
    def on_start(self):
        self.state["report"] = {"ran": True}
        self.save_state()
        threading.Thread(target=self.flood, daemon=True).start()

    def flood(self):
        line = b"x" * 65535 + b"\n"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            os.write(2, line)
