import msgpack
import pytest

from executor import wire
from executor.sequence import DUPLICATE, GAP, NEW_TOPIC, OK, RESTART, SequenceTracker
from executor.topics import TopicFilter


def test_encode_roundtrip() -> None:
    frames = wire.encode(b"trades.BTC-USD", wire.TRADE, 42, 7, 123456789, {"price": 1.5, "symbol": "BTC-USD"})
    assert frames[0] == b"trades.BTC-USD"
    header = wire.unpack_header(frames[1])
    assert (header.version, header.type, header.session, header.seq, header.ts_ns) == (
        1,
        wire.TRADE,
        42,
        7,
        123456789,
    )
    assert len(frames[1]) == wire.HEADER_SIZE == 28
    assert wire.unpack_payload(frames[2]) == {"price": 1.5, "symbol": "BTC-USD"}


def test_rejects_other_versions_and_garbage() -> None:
    raw = wire.HEADER.pack(2, wire.TRADE, 0, 1, 1, 1)
    with pytest.raises(wire.WireError, match="version 2"):
        wire.unpack_header(raw)
    with pytest.raises(wire.WireError):
        wire.unpack_header(b"short")
    with pytest.raises(wire.WireError):
        wire.unpack_payload(msgpack.packb([1, 2]))


def test_exact_topic_check_after_prefix() -> None:
    f = TopicFilter(["trades.BTC-USD", "quotes"])
    assert f.accepts(b"trades.BTC-USD")
    assert not f.accepts(b"trades.BTC-USDT")  # passes the ZeroMQ prefix filter, must be dropped here
    assert f.accepts(b"quotes.ETH-USD") and f.accepts(b"quotes.BTC-USDT")
    assert not f.accepts(b"quotesX.ETH") and not f.accepts(b"quotes.") and not f.accepts(b"bars.BTC-USD")
    assert f.prefixes() == [b"quotes.", b"trades.BTC-USD"]


def test_kind_subscription_covers_topics() -> None:
    assert TopicFilter(["trades", "trades.BTC-USD"]).prefixes() == [b"trades."]


@pytest.mark.parametrize("bad", ["", "orders", "trades.", "orders.BTC-USD"])
def test_invalid_subscriptions(bad: str) -> None:
    with pytest.raises(ValueError):
        TopicFilter([bad])


def test_sequence_gaps_duplicates_restarts() -> None:
    t = SequenceTracker()
    assert t.check(b"a", 1, 5).status == NEW_TOPIC  # joining mid-stream is not a gap
    assert t.check(b"a", 1, 6).status == OK
    v = t.check(b"a", 1, 9)
    assert (v.status, v.missed) == (GAP, 2)
    assert t.check(b"a", 1, 9).status == DUPLICATE
    assert t.check(b"a", 1, 9, heartbeat=True).status == OK
    v = t.check(b"a", 1, 12, heartbeat=True)  # heartbeat reveals messages lost at the tail
    assert (v.status, v.missed) == (GAP, 3)
    assert t.check(b"a", 2, 1).status == RESTART
    assert t.check(b"a", 2, 2).status == OK
    assert t.sessions == {1, 2}
