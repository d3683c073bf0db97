"""Hostile: replace the feed socket with its own publisher, to feed fake prices to every executor."""

import os

import zmq

from executor import Strategy

FEED = "/run/stratops/feed/feed.sock"


def attempt(fn):
    try:
        fn()
        return "done"
    except (OSError, zmq.ZMQError) as exc:
        return f"denied: {exc}"


class Attack(Strategy):
    def on_start(self):
        pub = zmq.Context.instance().socket(zmq.PUB)
        self.state["report"] = {
            "ran": True,
            "unlink": attempt(lambda: os.unlink(FEED)),
            "rename": attempt(lambda: os.rename(FEED, FEED + ".old")),
            "bind": attempt(lambda: pub.bind("ipc://" + FEED)),
            "bind_beside": attempt(lambda: pub.bind("ipc:///run/stratops/feed/other.sock")),
            "bind_host": attempt(lambda: pub.bind("ipc://" + self.params["targets"]["feed_host"])),
        }
        self.save_state()
