"""Hostile: signals with a 5 MB and a 10 KiB `meta`, sent past the executor's own check."""

import os
import time

import zmq

from executor import Signal, Strategy, wire


class Attack(Strategy):
    def on_start(self):
        push = zmq.Context.instance().socket(zmq.PUSH)
        push.setsockopt(zmq.LINGER, 5000)
        push.connect(os.environ["STRATOPS_SINK_ENDPOINT"])
        report = {"ran": True}
        for seq, (label, size) in enumerate((("small", 10), ("10k", 10 * 1024), ("5m", 5 * 1024 * 1024)), 1):
            payload = {"symbol": "BTC-USD", "side": "buy", "strength": 1.0, "reason": label}
            payload |= {"meta": {"blob": "m" * size}, "ts": time.time_ns()}
            push.send_multipart(wire.encode(wire.SIGNAL_TOPIC, wire.SIGNAL, 5, seq, time.time_ns(), payload))
        try:
            self.emit(Signal("BTC-USD", "buy", meta={"blob": "m" * 10240}))
            report["emit"] = "accepted"
        except ValueError as exc:
            report["emit"] = f"refused: {exc}"
        self.state["report"] = report
        self.save_state()
        push.close()
