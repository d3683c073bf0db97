"""Wire format v2 (see docs/wire-format.md): ZeroMQ multipart ``[topic, header, payload]``.

* ``topic``   - ASCII ``<kind>.<venue>.<SYMBOL>``, e.g. ``trades.binance.BTC-USDT``; SUB sockets prefix-filter on it.
* ``header``  - 28 bytes, big endian: version u8, type u8, flags u16, session u64, seq u64, ts_ns u64.
* ``payload`` - msgpack map (fields per message type); heartbeats carry an (empty) map.

Version 1 differs only in its topics (``<kind>.<SYMBOL>``, no venue) and has no flags; receivers
read a v1 topic as venue ``sample`` (:func:`parse_topic`).

Signals (executor -> sink) are ``[b"signal", header, payload]`` with the same header layout.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Any

import msgpack

VERSION = 2
READABLE_VERSIONS = frozenset({1, 2})
HEADER = struct.Struct("!BBHQQQ")
HEADER_SIZE = HEADER.size

TRADE, QUOTE, BAR, HEARTBEAT, SIGNAL = 1, 2, 3, 4, 5
TYPE_OF_KIND = {"trades": TRADE, "quotes": QUOTE, "bars": BAR}
KIND_OF_TYPE = {v: k for k, v in TYPE_OF_KIND.items()}
RECORD_KIND = {"trade": "trades", "quote": "quotes", "bar": "bars"}
KINDS = tuple(TYPE_OF_KIND)
SIGNAL_TOPIC = b"signal"

# Header flags (u16). SNAPSHOT: a last-value-cache replay sent to one subscriber that asked for it;
# its seq is the topic's seq when the value was published, so a receiver merges it with the stream.
FLAG_SNAPSHOT = 0x0001

# Last-value cache protocol (docs/wire-format.md): requests and replies on the snapshot socket,
# and the private topic prefix on which the proxy marks a snapshot's place in the stream.
SNAPSHOT_REQUEST, SNAPSHOT_END, SYNC_PREFIX = b"SNAPSHOT", b"SNAPSHOT-END", b"_sync."

# The venue of recorded/replayed data that names none, and of every v1 topic.
DEFAULT_VENUE = "sample"
VENUE_RE = re.compile(r"[a-z][a-z0-9]{0,15}")
SYMBOL_RE = re.compile(r"[A-Z0-9][A-Z0-9-]{0,31}")

_packb = msgpack.Packer(use_bin_type=True).pack


class WireError(ValueError):
    """A message that does not follow this version of the wire format."""


@dataclass(slots=True, frozen=True)
class Header:
    version: int
    type: int
    flags: int
    session: int
    seq: int
    ts_ns: int


def topic_for(kind: str, venue: str, symbol: str) -> bytes:
    return f"{kind}.{venue}.{symbol}".encode("ascii")


def record_topic(record: dict[str, Any]) -> bytes:
    """The topic of a recorded-data record (``type``, optional ``venue``, ``symbol``)."""
    return topic_for(RECORD_KIND[record["type"]], record.get("venue", DEFAULT_VENUE), record["symbol"])


def parse_topic(topic: str) -> tuple[str, str, str]:
    """``kind.venue.SYMBOL`` -> (kind, venue, symbol); a v1 ``kind.SYMBOL`` reads as venue ``sample``.

    Raises WireError for anything else (the caller decides whether that is a user error).
    """
    parts = topic.split(".")
    if len(parts) == 2:
        parts.insert(1, DEFAULT_VENUE)
    if (
        len(parts) != 3
        or parts[0] not in TYPE_OF_KIND
        or not VENUE_RE.fullmatch(parts[1])
        or not SYMBOL_RE.fullmatch(parts[2])
    ):
        raise WireError(f"topic {topic!r} is not '<kind>.<venue>.<SYMBOL>'")
    return parts[0], parts[1], parts[2]


def pack_header(mtype: int, session: int, seq: int, ts_ns: int, flags: int = 0) -> bytes:
    return HEADER.pack(VERSION, mtype, flags, session, seq, ts_ns)


def unpack_header(raw: bytes) -> Header:
    if len(raw) != HEADER_SIZE:
        raise WireError(f"header must be {HEADER_SIZE} bytes, got {len(raw)}")
    header = Header(*HEADER.unpack(raw))
    if header.version not in READABLE_VERSIONS:
        raise WireError(f"unsupported wire version {header.version} (this executor reads 1 and 2)")
    return header


def pack_payload(payload: dict[str, Any]) -> bytes:
    return _packb(payload)


def unpack_payload(raw: bytes) -> dict[str, Any]:
    try:
        payload = msgpack.unpackb(raw, raw=False)
    except Exception as exc:  # msgpack raises several unrelated types
        raise WireError(f"payload is not msgpack: {exc}") from exc
    if not isinstance(payload, dict):
        raise WireError("payload must be a msgpack map")
    return payload


def encode(
    topic: bytes, mtype: int, session: int, seq: int, ts_ns: int, payload: dict[str, Any], flags: int = 0
) -> list[bytes]:
    return [topic, pack_header(mtype, session, seq, ts_ns, flags), _packb(payload)]
