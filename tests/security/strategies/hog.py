"""Hostile: hold ever more memory (the issue's 529 MB against a 256Mi cap), saying how far it got."""

from executor import Strategy

STEP = 16 * 1024 * 1024


class Attack(Strategy):
    def on_start(self):
        hoard = []
        self.state["report"] = {"ran": True, "reached_mib": 0}
        try:
            while len(hoard) * STEP < 1024**3:
                hoard.append(bytearray(b"\x01" * STEP))
                self.state["report"]["reached_mib"] = len(hoard) * STEP // 2**20
                self.save_state()
        except MemoryError:
            self.state["report"]["memory_error"] = True
            hoard.clear()
            self.save_state()
