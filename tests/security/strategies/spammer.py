"""Hostile: 5,000 signals at once, far above 100/s with bursts of 1,000."""

from executor import Strategy


class Attack(Strategy):
    def on_start(self):
        for n in range(5000):
            self.emit(symbol="BTC-USD", side="buy", strength=0.5, reason=f"spam {n}")
        self.state["report"] = {"ran": True, "sent": 5000}
        self.save_state()
