from executor import Strategy, TimerEvent


class Timed(Strategy):
    """Alternates long and flat every `every` seconds of data time, from a timer."""

    parameters = {"every": {"type": "number", "default": 30.0, "minimum": 1, "description": "seconds between flips"}}

    def on_start(self) -> None:
        self.flips = 0
        self.schedule(self.params["every"], "flip")

    def on_timer(self, timer: TimerEvent) -> None:
        self.flips += 1
        self.emit(symbol="BTC-USD", side="buy" if self.flips % 2 else "flat", size=0.5, reason=str(timer.ts))
