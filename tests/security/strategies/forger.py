"""Hostile: signals claiming to be another tenant's, through its own sink socket and the neighbour's."""

import os
import time

import zmq

from executor import Strategy, wire


def forged(seq):
    payload = {"tenant": "alice", "strategy": "victim", "symbol": "BTC-USD", "side": "buy", "strength": 1.0}
    payload |= {"reason": "forged by mallory", "meta": {}, "ts": time.time_ns()}
    return wire.encode(wire.SIGNAL_TOPIC, wire.SIGNAL, 77, seq, time.time_ns(), payload)


class Attack(Strategy):
    def on_start(self):
        ctx = zmq.Context.instance()
        report = {"ran": True}
        endpoints = [os.environ["STRATOPS_SINK_ENDPOINT"], "ipc://" + self.params["targets"]["victim_sink"]]
        for n, endpoint in enumerate(endpoints):
            push = ctx.socket(zmq.PUSH)
            push.setsockopt(zmq.LINGER, 2000)
            push.connect(endpoint)
            try:
                push.send_multipart(forged(n + 1), zmq.NOBLOCK)
                report[endpoint] = "queued"
            except zmq.ZMQError as exc:
                report[endpoint] = f"denied: {exc}"
            push.close()
        self.state["report"] = report
        self.save_state()
