import msgpack
import pytest

from executor import wire
from executor.sequence import DUPLICATE, GAP, NEW_TOPIC, OK, RESTART, SequenceTracker
from executor.topics import TopicFilter, canonical


def test_encode_roundtrip() -> None:
    frames = wire.encode(b"trades.BTC-USD", wire.TRADE, 42, 7, 123456789, {"price": 1.5, "symbol": "BTC-USD"})
    assert frames[0] == b"trades.BTC-USD"
    header = wire.unpack_header(frames[1])
    assert (header.version, header.type, header.session, header.seq, header.ts_ns) == (
        2,
        wire.TRADE,
        42,
        7,
        123456789,
    )
    assert len(frames[1]) == wire.HEADER_SIZE == 28
    assert wire.unpack_payload(frames[2]) == {"price": 1.5, "symbol": "BTC-USD"}


def test_rejects_other_versions_and_garbage() -> None:
    assert wire.unpack_header(wire.HEADER.pack(1, wire.TRADE, 0, 1, 1, 1)).version == 1  # v1 still read
    raw = wire.HEADER.pack(3, wire.TRADE, 0, 1, 1, 1)
    with pytest.raises(wire.WireError, match="version 3"):
        wire.unpack_header(raw)
    with pytest.raises(wire.WireError):
        wire.unpack_header(b"short")
    with pytest.raises(wire.WireError):
        wire.unpack_payload(msgpack.packb([1, 2]))


def test_exact_topic_check_after_prefix() -> None:
    f = TopicFilter(["trades.binance.BTC-USD", "quotes"])
    assert f.accepts(b"trades.binance.BTC-USD")
    assert not f.accepts(b"trades.binance.BTC-USDT")  # passes the ZeroMQ prefix filter, dropped here
    assert not f.accepts(b"trades.coinbase.BTC-USD")  # another venue's BTC-USD is another topic
    assert f.accepts(b"quotes.coinbase.ETH-USD") and f.accepts(b"quotes.sample.BTC-USDT")
    assert f.accepts(b"quotes.ETH-USD")  # a v1 topic, read as venue sample
    assert not f.accepts(b"quotesX.a.ETH") and not f.accepts(b"quotes.") and not f.accepts(b"bars.x.BTC-USD")
    assert not f.accepts(b"quotes.Binance.BTC-USD") and not f.accepts(b"quotes.a.b.C")
    assert f.prefixes() == [b"quotes.", b"trades.binance.BTC-USD"]


def test_venue_subscription_and_v1_shorthand() -> None:
    f = TopicFilter(["trades.coinbase", "bars.BTC-USD"])
    assert f.accepts(b"trades.coinbase.BTC-USD") and f.accepts(b"trades.coinbase.ETH-EUR")
    assert not f.accepts(b"trades.binance.BTC-USDT")
    assert f.accepts(b"bars.sample.BTC-USD") and f.accepts(b"bars.BTC-USD")  # v2 and v1 sample topics
    assert not f.accepts(b"bars.coinbase.BTC-USD") and not f.accepts(b"bars.sample.BTC-USDT")
    # a sample subscription also subscribes to the v1 topic, so a v1 feed still reaches it
    assert f.prefixes() == [b"bars.BTC-USD", b"bars.sample.BTC-USD", b"trades.coinbase."]
    assert canonical("bars.BTC-USD") == "bars.sample.BTC-USD"
    assert canonical("trades.binance") == "trades.binance"


def test_kind_subscription_covers_topics() -> None:
    assert TopicFilter(["trades", "trades.BTC-USD", "trades.binance"]).prefixes() == [b"trades."]


def test_topic_grammar() -> None:
    assert wire.topic_for("trades", "binance", "BTC-USDT") == b"trades.binance.BTC-USDT"
    assert wire.parse_topic("trades.binance.BTC-USDT") == ("trades", "binance", "BTC-USDT")
    assert wire.parse_topic("trades.BTC-USD") == ("trades", "sample", "BTC-USD")
    for bad in ("trades", "trades.binance", "orders.binance.BTC", "trades.binance.btc-usdt", "trades.Bin.BTC"):
        with pytest.raises(wire.WireError):
            wire.parse_topic(bad)
    assert wire.record_topic({"type": "bar", "symbol": "ETH-USD"}) == b"bars.sample.ETH-USD"
    assert wire.record_topic({"type": "quote", "venue": "coinbase", "symbol": "ETH-USD"}) == b"quotes.coinbase.ETH-USD"


@pytest.mark.parametrize(
    "bad", ["", "orders", "trades.", "orders.BTC-USD", "trades.Binance.BTC", "trades.binance.btc", "trades.a.B.C"]
)
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
