"""The RTDS subscription linter and symbol mapping, and the feed's handling of the venue's frames."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from polyinfra.core.rtds_feed import RtdsFeed
from polyinfra.core.rtds_topics import PriceSource, SymbolStyle, canonical_symbol, plan_subscription, venue_symbol
from polyinfra.errors import InvalidValueError, MalformedMessageError, RetiredTopicError
from polyinfra.live.rtds_client import RtdsClient
from polyinfra.model.live_events import ActivityTrade, CommentEvent, PriceTick
from polyinfra.wire.rtds import Subscription
from tests.shared_data import CAPTURES

RTDS_CAPTURES = CAPTURES / "nautilus" / "rust_test_data"


@pytest.mark.parametrize("spelling", ["btcusd", "btcusdt", "BTC/USD", " btc/usd ", "BtcUsdT"])
def test_every_spelling_of_a_symbol_is_one_canonical_symbol(spelling: str) -> None:
    assert canonical_symbol(spelling) == "btcusd"
    assert venue_symbol(spelling, SymbolStyle.BINANCE) == "btcusdt"
    assert venue_symbol(spelling, SymbolStyle.CHAINLINK) == "btc/usd"


@pytest.mark.parametrize("bad", ["", "btc,eth", "b" * 100, "btc usd", '{"symbol":"btc"}'])
def test_what_is_not_a_symbol_is_refused(bad: str) -> None:
    with pytest.raises(InvalidValueError):
        canonical_symbol(bad)


def test_filters_become_canonical_compact_json_in_the_topics_spelling() -> None:
    plan = plan_subscription(PriceSource.CHAINLINK, "update", {"symbol": "BTCUSDT"})
    assert plan.wire == Subscription("crypto_prices_chainlink", "update", '{"symbol":"btc/usd"}')
    assert plan.symbol == "btcusd"
    spaced = plan_subscription(PriceSource.BINANCE, "update", '{"symbol": "ETH/USD"}')
    assert spaced.wire.filters == '{"symbol":"ethusdt"}'  # never the spaced form: backfill, then silence
    assert plan_subscription("equity_prices", "update", {"symbol": "AAPL"}).wire.filters == '{"symbol":"aapl"}'


@pytest.mark.parametrize("filters", ["btcusdt,ethusdt", '["btcusdt"]', "[1]"])
def test_filters_that_match_nothing_at_the_venue_are_refused(filters: str) -> None:
    with pytest.raises(InvalidValueError, match=r"comma form|list"):
        plan_subscription(PriceSource.BINANCE, "update", filters)


def test_activity_is_subscribed_wide_and_filtered_on_the_client() -> None:
    plan = plan_subscription("activity", "trades", {"market_slug": "will-it-rain"})
    assert plan.wire == Subscription("activity", "trades")
    assert plan.client_filter == {"market_slug": "will-it-rain"}


def test_comment_filters_go_to_the_server() -> None:
    plan = plan_subscription("comments", "*", {"parentEntityType": "Event", "parentEntityID": 100})
    assert plan.wire.filters == '{"parentEntityID":100,"parentEntityType":"Event"}'
    assert plan.client_filter == {}


@pytest.mark.parametrize(("topic", "replacement"), [("clob_market", "market channel"), ("clob_user", "user channel")])
def test_dead_clob_topics_are_refused_naming_their_replacement(topic: str, replacement: str) -> None:
    with pytest.raises(RetiredTopicError, match=replacement):
        plan_subscription(topic)


def test_unknown_topics_and_types_are_refused_before_they_poison_a_batch() -> None:
    with pytest.raises(InvalidValueError, match="not a live RTDS topic"):
        plan_subscription("rfq")
    with pytest.raises(InvalidValueError, match="message type"):
        plan_subscription("activity", "comment_created")


def test_price_topics_are_refused_after_the_cut_over_date() -> None:
    cut_over = dt.date(2026, 10, 23)
    assert plan_subscription(PriceSource.BINANCE, price_topics_until=cut_over, today=cut_over).wire.topic
    with pytest.raises(RetiredTopicError, match="PolyBolt"):
        plan_subscription(PriceSource.BINANCE, price_topics_until=cut_over, today=dt.date(2026, 10, 24))
    assert plan_subscription("activity", price_topics_until=cut_over, today=dt.date(2027, 1, 1)).wire.topic


def test_captured_frames_become_price_ticks_and_a_backfill_is_never_delivered_twice() -> None:
    feed = RtdsFeed()
    backfill = (RTDS_CAPTURES / "rtds_crypto_prices_subscribe.json").read_bytes()
    first = feed.receive(backfill)
    assert [tick.price for tick in first if isinstance(tick, PriceTick)] == [
        Decimal("61164.12"),
        Decimal("61161.07"),
        Decimal("61150.89"),
    ]
    assert all(isinstance(tick, PriceTick) and tick.backfill and tick.symbol == "btcusd" for tick in first)
    assert feed.receive(backfill) == []  # the backfill of a resubscription repeats nothing
    assert feed.duplicates == 3
    (update,) = feed.receive((RTDS_CAPTURES / "rtds_crypto_prices_update.json").read_bytes())
    assert update == PriceTick("crypto_prices", "btcusd", Decimal("61035.86000000"), 1780730269000)
    assert feed.last_key == "btcusdt"


def test_a_chainlink_backfill_labelled_crypto_prices_is_put_back_under_its_topic() -> None:
    feed = RtdsFeed()
    (tick,) = feed.receive(
        b'{"topic":"crypto_prices","type":"subscribe","timestamp":2,"payload":{"symbol":"btc/usd",'
        b'"data":[{"timestamp":1000,"value":79696.94}]}}'
    )
    assert isinstance(tick, PriceTick)
    assert (tick.source, tick.symbol) == ("crypto_prices_chainlink", "btcusd")
    (exact,) = feed.receive(
        b'{"topic":"crypto_prices_chainlink","type":"update","timestamp":3,"payload":{"symbol":"btc/usd",'
        b'"timestamp":2000,"value":79696.94817428796,"full_accuracy_value":"79696948174287960000000"}}'
    )
    assert isinstance(exact, PriceTick)
    assert exact.price == Decimal("79696.94817428796")


def test_activity_rows_are_exact_and_delivered_once() -> None:
    feed = RtdsFeed()
    frame = (
        b'{"connection_id":"c","topic":"activity","type":"orders_matched","timestamp":1753434800123,"payload":'
        b'{"asset":"123","conditionId":"0xc","side":"BUY","price":"0.57","size":12.5,"timestamp":1753434799,'
        b'"proxyWallet":"0xAbC","transactionHash":"0xt","slug":"m","eventSlug":"e","name":"n"}}'
    )
    (trade,) = feed.receive(frame)
    assert isinstance(trade, ActivityTrade)
    assert (trade.kind, trade.wallet, trade.price, trade.size) == (
        "orders_matched",
        "0xabc",
        Decimal("0.57"),
        Decimal("12.5"),
    )
    assert feed.receive(frame) == []
    assert feed.last_key == "0xabc"


def test_comments_keep_alives_errors_and_unknown_types() -> None:
    feed = RtdsFeed()
    (comment,) = feed.receive(
        b'{"topic":"comments","type":"comment_created","timestamp":1,"payload":{"id":"17","body":"hi",'
        b'"parentEntityID":100,"parentEntityType":"Event","parentCommentID":null,"userAddress":"0xA"}}'
    )
    assert comment == CommentEvent("comment_created", "17", "hi", "0xa", 100, "Event", "", 1)
    assert feed.receive(b"") == [] and feed.receive("PONG") == []
    assert feed.keepalives == 2
    assert feed.receive(b'{"body":{"message":"Invalid request body"},"statusCode":400}') == []
    assert feed.last_error is not None and feed.last_error.status_code == 400
    assert feed.receive(b'{"topic":"rfq","type":"quote_created","timestamp":1,"payload":{}}') == []
    assert feed.unknown_types == {"rfq/quote_created": 1}
    with pytest.raises(MalformedMessageError):
        feed.receive(b'{"topic":"activity","type":"trades","timestamp":1,"payload":{"price":"1e999999"}}')


def test_a_bad_frame_is_counted_and_skipped_by_the_client_never_raised() -> None:
    client = RtdsClient("ws://127.0.0.1:9/ws/rtds")
    delivered: list[object] = []
    client._taps.deliver = delivered.extend
    for frame in (b"{not json", b'{"topic":"activity","type":"trades","timestamp":1,"payload":{}}', "\ud800"):
        client._on_frame(frame)
    client._on_frame((RTDS_CAPTURES / "rtds_crypto_prices_update.json").read_bytes())
    assert client.stats().malformed_frames == 3
    assert len(delivered) == 1
