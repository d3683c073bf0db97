"""Hostile: GET /drainz on a neighbour's probe socket, so it stays Running with 0 events/s."""

import os
import socket

from executor import Strategy


def drain(path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(2)
    try:
        sock.connect(path)
        sock.sendall(b"GET /drainz HTTP/1.0\r\n\r\n")
        return "sent: " + sock.recv(200).decode(errors="replace")
    except OSError as exc:
        return f"denied: {exc}"
    finally:
        sock.close()


class Attack(Strategy):
    def on_start(self):
        targets = [self.params["targets"]["victim_probe"]]
        for root, _dirs, files in os.walk("/run"):
            targets += [os.path.join(root, f) for f in files]
        self.state["report"] = {"ran": True, "drains": {p: drain(p) for p in targets}}
        self.save_state()
