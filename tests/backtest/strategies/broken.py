from executor import Strategy


class Broken(Strategy):
    def on_start(self) -> None:
        raise RuntimeError("cannot start: missing threshold")
