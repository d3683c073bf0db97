"""A strategy that writes down every event it gets (for the last-value cache and redundancy tests)."""

import time

from executor import Bar, Quote, Strategy, Trade


class Probe(Strategy):
    def on_start(self) -> None:
        self.state["started_ns"] = time.time_ns()
        self.state["events"] = []

    def _note(self, kind: str, event: Trade | Quote | Bar) -> None:
        self.state["events"].append(
            {
                "kind": kind,
                "symbol": event.symbol,
                "venue": event.venue,
                "seq": event.seq,
                "snapshot": event.snapshot,
                "receive_ts": event.receive_ts,
                "id": getattr(event, "trade_id", ""),
            }
        )
        if len(self.state["events"]) % 20 == 0:
            self.save_state()

    def on_trade(self, trade: Trade) -> None:
        self._note("trades", trade)

    def on_quote(self, quote: Quote) -> None:
        self._note("quotes", quote)

    def on_bar(self, bar: Bar) -> None:
        self._note("bars", bar)
