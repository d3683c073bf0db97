"""VWAP breakout on trades: a trade printing ``threshold_bps`` away from the rolling VWAP of
the last ``window_s`` seconds, in the direction of the aggressor, signals a breakout."""

from collections import deque

from executor import Signal, Strategy, Trade


class VwapBreakout(Strategy):
    def on_start(self) -> None:
        self.window_ns = int(float(self.params.get("window_s", 30)) * 1e9)
        self.threshold = float(self.params.get("threshold_bps", 8)) / 1e4
        self.min_trades = int(self.params.get("min_trades", 20))
        self.cooldown_ns = int(float(self.params.get("cooldown_s", 10)) * 1e9)
        self.size = float(self.params.get("size", 0.1))
        self.trades: dict[str, deque[tuple[int, float, float]]] = {}
        self.sums: dict[str, list[float]] = {}  # symbol -> [sum(px*qty), sum(qty)]
        self.last_signal: dict[str, int] = {}

    def _vwap(self, t: Trade) -> float:
        window = self.trades.setdefault(t.symbol, deque())
        sums = self.sums.setdefault(t.symbol, [0.0, 0.0])
        window.append((t.exchange_ts, t.price, t.size))
        sums[0] += t.price * t.size
        sums[1] += t.size
        while window and window[0][0] < t.exchange_ts - self.window_ns:
            _, px, qty = window.popleft()
            sums[0] -= px * qty
            sums[1] -= qty
        return sums[0] / sums[1] if sums[1] > 0 else t.price

    def on_trade(self, t: Trade) -> None:
        vwap = self._vwap(t)
        if len(self.trades[t.symbol]) < self.min_trades:
            return
        dev = (t.price - vwap) / vwap
        if dev > self.threshold and t.side == "buy":
            side = "buy"
        elif dev < -self.threshold and t.side == "sell":
            side = "sell"
        else:
            return
        if t.exchange_ts - self.last_signal.get(t.symbol, 0) < self.cooldown_ns:
            return
        self.last_signal[t.symbol] = t.exchange_ts
        self.emit(
            Signal(
                t.symbol,
                side,
                strength=min(1.0, abs(dev) / (4 * self.threshold)),
                size=self.size,
                reason=f"trade {dev * 1e4:+.1f} bps from {self.window_ns // 10**9}s VWAP",
                meta={"vwap": round(vwap, 6), "price": t.price},
            )
        )
