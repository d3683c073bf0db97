"""Moving-average crossover on 1-second bars: buy when the fast SMA crosses above the slow one."""

from collections import deque

from executor import Bar, Signal, Strategy


class MovingAverageCrossover(Strategy):
    parameters = {
        "fast": {"type": "integer", "default": 10, "minimum": 1, "maximum": 1000, "description": "fast SMA (bars)"},
        "slow": {"type": "integer", "default": 30, "minimum": 2, "maximum": 5000, "description": "slow SMA (bars)"},
        "interval": {"type": "string", "enum": ["1s", "1m"], "default": "1s", "description": "bar interval"},
    }

    def on_start(self) -> None:
        self.fast = int(self.params.get("fast", 10))
        self.slow = int(self.params.get("slow", 30))
        self.interval = str(self.params.get("interval", "1s"))
        if not 0 < self.fast < self.slow:
            raise ValueError("params: need 0 < fast < slow")
        self.closes: dict[str, deque[float]] = {}
        self.state.setdefault("position", {})  # symbol -> "buy" | "sell", survives restarts

    def on_bar(self, bar: Bar) -> None:
        if bar.interval != self.interval:
            return
        closes = self.closes.setdefault(bar.symbol, deque(maxlen=self.slow))
        closes.append(bar.close)
        if len(closes) < self.slow:
            return
        fast_ma = sum(list(closes)[-self.fast :]) / self.fast
        slow_ma = sum(closes) / self.slow
        side = "buy" if fast_ma > slow_ma else "sell"
        if self.state["position"].get(bar.symbol) == side:
            return
        first = bar.symbol not in self.state["position"]
        self.state["position"][bar.symbol] = side
        if first:
            return  # no crossover yet, just the starting regime
        gap = abs(fast_ma - slow_ma) / slow_ma
        self.emit(
            Signal(
                bar.symbol,
                side,
                strength=min(1.0, gap * 1e3),
                reason=f"SMA{self.fast} {'above' if side == 'buy' else 'below'} SMA{self.slow}",
                meta={"fast_ma": round(fast_ma, 6), "slow_ma": round(slow_ma, 6)},
            )
        )
