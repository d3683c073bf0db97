"""Wire format v1 (see docs/wire-format.md): ZeroMQ multipart ``[topic, header, payload]``.

* ``topic``   - ASCII ``<kind>.<SYMBOL>``, e.g. ``trades.BTC-USD``; SUB sockets prefix-filter on it.
* ``header``  - 28 bytes, big endian: version u8, type u8, flags u16, session u64, seq u64, ts_ns u64.
* ``payload`` - msgpack map (fields per message type); heartbeats carry an (empty) map.

Signals (executor -> sink) are ``[b"signal", header, payload]`` with the same header layout.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import msgpack

VERSION = 1
HEADER = struct.Struct("!BBHQQQ")
HEADER_SIZE = HEADER.size

TRADE, QUOTE, BAR, HEARTBEAT, SIGNAL = 1, 2, 3, 4, 5
TYPE_OF_KIND = {"trades": TRADE, "quotes": QUOTE, "bars": BAR}
KIND_OF_TYPE = {v: k for k, v in TYPE_OF_KIND.items()}
RECORD_KIND = {"trade": "trades", "quote": "quotes", "bar": "bars"}
KINDS = tuple(TYPE_OF_KIND)
SIGNAL_TOPIC = b"signal"

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


def topic_for(kind: str, symbol: str) -> bytes:
    return f"{kind}.{symbol}".encode("ascii")


def pack_header(mtype: int, session: int, seq: int, ts_ns: int, flags: int = 0) -> bytes:
    return HEADER.pack(VERSION, mtype, flags, session, seq, ts_ns)


def unpack_header(raw: bytes) -> Header:
    if len(raw) != HEADER_SIZE:
        raise WireError(f"header must be {HEADER_SIZE} bytes, got {len(raw)}")
    header = Header(*HEADER.unpack(raw))
    if header.version != VERSION:
        raise WireError(f"unsupported wire version {header.version} (this executor speaks {VERSION})")
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


def encode(topic: bytes, mtype: int, session: int, seq: int, ts_ns: int, payload: dict[str, Any]) -> list[bytes]:
    return [topic, pack_header(mtype, session, seq, ts_ns), _packb(payload)]


def split_topic(topic: str) -> tuple[str, str]:
    kind, _, symbol = topic.partition(".")
    return kind, symbol
