"""Quote-imbalance mean reversion.

When the mid price has run ``z_entry`` standard deviations away from its rolling mean and the
top-of-book size imbalance leans back toward the mean, fade the move.
"""

import math
from collections import deque

from executor import Quote, Signal, Strategy


class QuoteImbalanceReversion(Strategy):
    def on_start(self) -> None:
        self.window = int(self.params.get("window", 60))
        self.z_entry = float(self.params.get("z_entry", 2.0))
        self.min_imbalance = float(self.params.get("min_imbalance", 0.2))
        self.cooldown_ns = int(float(self.params.get("cooldown_s", 5)) * 1e9)
        self.mids: dict[str, deque[float]] = {}
        self.last_signal: dict[str, int] = {}

    def on_quote(self, q: Quote) -> None:
        mids = self.mids.setdefault(q.symbol, deque(maxlen=self.window))
        mids.append(q.mid)
        if len(mids) < self.window:
            return
        mean = sum(mids) / len(mids)
        std = math.sqrt(sum((m - mean) ** 2 for m in mids) / len(mids))
        if std == 0:
            return
        z = (q.mid - mean) / std
        imbalance = (q.bid_size - q.ask_size) / (q.bid_size + q.ask_size)
        if z > self.z_entry and imbalance < -self.min_imbalance:
            side = "sell"  # stretched up, book leaning to the offer
        elif z < -self.z_entry and imbalance > self.min_imbalance:
            side = "buy"  # stretched down, book leaning to the bid
        else:
            return
        if q.exchange_ts - self.last_signal.get(q.symbol, 0) < self.cooldown_ns:
            return
        self.last_signal[q.symbol] = q.exchange_ts
        self.state["signals"] = self.state.get("signals", 0) + 1
        self.emit(
            Signal(
                q.symbol,
                side,
                strength=min(1.0, abs(z) / (2 * self.z_entry)),
                reason=f"mid z={z:+.2f}, imbalance={imbalance:+.2f}",
                meta={"z": round(z, 3), "imbalance": round(imbalance, 3), "mean": mean},
            )
        )
