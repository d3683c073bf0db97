"""Joining a stream mid-way with the feed proxy's last-value cache (Clone pattern; docs/wire-format.md).

The caller's SUB socket is already connected and subscribed to its prefixes and to its private
sync topic. :func:`join` asks the cache for the last values of those prefixes and reads the
stream into a buffer until the proxy's sync message shows where the snapshot sits in it. The
caller then hands over the snapshot, then the buffer, and drops every message whose seq it has
delivered already: everything published before the sync message is covered by the snapshot.
"""

from __future__ import annotations

import time
from typing import Any

import msgpack
import zmq

from executor import wire

WAIT = 1.0  # seconds to wait for the cache before starting with the stream alone
RETRY = 0.1  # ask again when no sync message came: the subscription was not live yet


def join(
    ctx: zmq.Context[Any], sub: zmq.Socket[bytes], endpoint: str, token: bytes, prefixes: list[bytes]
) -> tuple[list[list[bytes]] | None, list[list[bytes]]]:
    """-> (snapshot messages, or None when no cache answered in time; stream messages read meanwhile)."""
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.connect(endpoint)
    poller = zmq.Poller()
    poller.register(sub, zmq.POLLIN)
    poller.register(dealer, zmq.POLLIN)
    replies: dict[int, list[list[bytes]]] = {}
    current: list[list[bytes]] = []
    synced: set[int] = set()
    stream: list[list[bytes]] = []
    sync_topic = wire.SYNC_PREFIX + token
    attempt, start, next_try = 0, time.monotonic(), 0.0
    try:
        while time.monotonic() - start < WAIT:
            if time.monotonic() >= next_try:
                attempt += 1
                dealer.send_multipart([wire.SNAPSHOT_REQUEST, token, str(attempt).encode(), *prefixes])
                next_try = time.monotonic() + RETRY
            poller.poll(10)
            while dealer.poll(0):
                frames = dealer.recv_multipart()
                if frames[0] == wire.SNAPSHOT_END and len(frames) == 3:
                    replies[int(frames[2])], current = current, []
                else:
                    current.append(frames)
            while sub.poll(0):
                frames = sub.recv_multipart()
                if frames[0] == sync_topic and len(frames) == 3:
                    synced.add(int(msgpack.unpackb(frames[2]).get("k", 0)))
                else:
                    stream.append(frames)
            chosen = next((k for k in sorted(synced) if k in replies), None)
            if chosen is not None:
                return replies[chosen], stream
        return None, stream
    finally:
        sub.setsockopt(zmq.UNSUBSCRIBE, sync_topic)
        dealer.close()
