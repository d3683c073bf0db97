"""A token bucket: a sustained rate with a burst allowance, for the runtime's output caps."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    rate: float  # tokens per second, sustained
    burst: float  # the most that can be spent at once
    tokens: float = -1.0
    stamp: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.burst

    def take(self, amount: float = 1.0, now: float | None = None) -> float:
        """Spend up to AMOUNT tokens; returns how many were available (AMOUNT when within the rate)."""
        now = time.monotonic() if now is None else now
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        granted = min(amount, max(0.0, self.tokens))
        self.tokens -= granted
        return granted
