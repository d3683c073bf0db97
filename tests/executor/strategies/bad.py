"""Misbehaving strategies: each must be contained without disturbing other executors."""

import os

from executor import Bar, Quote, Strategy, Trade


class Raiser(Strategy):
    """Raises on every event."""

    def on_trade(self, trade: Trade) -> None:
        raise RuntimeError(f"boom at seq {trade.seq}")

    def on_quote(self, quote: Quote) -> None:
        raise KeyError("no such quote field")

    def on_bar(self, bar: Bar) -> None:
        raise ZeroDivisionError("bar")


class Looper(Strategy):
    def on_trade(self, trade: Trade) -> None:
        while True:
            pass


class Hog(Strategy):
    """Tries to hold 2 GB, 64 MB at a time."""

    def on_start(self) -> None:
        self.hoard: list[bytearray] = []

    def on_trade(self, trade: Trade) -> None:
        if sum(len(b) for b in self.hoard) >= 2 * 1024**3:
            return
        chunk = 64 * 1024 * 1024
        while sum(len(b) for b in self.hoard) < 2 * 1024**3:
            self.hoard.append(bytearray(chunk))


class ForkBomb(Strategy):
    """Forks in a loop on every event."""

    def _bomb(self, _event: object) -> None:
        for _ in range(100):
            if os.fork() == 0:
                os._exit(0)

    on_trade = on_quote = on_bar = _bomb


class Escaper(Strategy):
    """Tries to write outside its state dir; reports what happened as signals."""

    def on_trade(self, trade: Trade) -> None:
        if self.state.get("tried"):
            return
        self.state["tried"] = True
        target = self.params["outside"]
        try:
            with open(target, "w") as fh:
                fh.write("escaped")
            self.emit(symbol="ESCAPE", side="flat", strength=0.0, reason="wrote outside")
        except PermissionError as exc:
            self.emit(symbol="ESCAPE", side="flat", strength=0.0, reason=f"PermissionError: {exc}")
        with open(os.path.join(self.params["inside"], "scratch.txt"), "w") as fh:
            fh.write("fine")
        self.emit(symbol="INSIDE", side="flat", strength=0.0, reason="wrote inside")
