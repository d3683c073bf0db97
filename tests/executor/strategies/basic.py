"""Well-behaved strategies used by the tests."""

from executor import Bar, Quote, Signal, Strategy, TimerEvent, Trade


class Counter(Strategy):
    """Counts events per topic in state; emits one signal per trade; keeps everything on stop."""

    def on_start(self) -> None:
        self.state.setdefault("starts", 0)
        self.state["starts"] += 1
        self.state.setdefault("counts", {})
        if self.params.get("timer"):
            self.schedule(float(self.params["timer"]), name="tick")

    def _count(self, key: str) -> None:
        self.state["counts"][key] = self.state["counts"].get(key, 0) + 1

    def on_trade(self, trade: Trade) -> None:
        self._count(f"trades.{trade.symbol}")
        if self.params.get("emit", True):
            self.emit(Signal(trade.symbol, "buy", 0.5, reason=f"seq {trade.seq}", meta={"seq": trade.seq}))

    def on_quote(self, quote: Quote) -> None:
        self._count(f"quotes.{quote.symbol}")

    def on_bar(self, bar: Bar) -> None:
        self._count(f"bars.{bar.symbol}")

    def on_timer(self, timer: TimerEvent) -> None:
        self.emit(symbol="TIMER", side="flat", strength=0.0, reason=f"timer {timer.name}")

    def on_stop(self) -> None:
        self.state["stopped"] = True
        self.emit(symbol="STOP", side="flat", strength=0.0, reason="on_stop")


class Noop(Strategy):
    def on_trade(self, trade: Trade) -> None:
        pass
