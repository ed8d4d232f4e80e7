"""Every real capture decodes into its typed wire struct and re-encodes without loss.

"Without loss" is checked strictly: the re-encoded document must equal the original as JSON, key for
key, with numbers compared as exact decimals parsed from their text (never floats) and booleans
kept apart from numbers. A key a struct does not know would be dropped on decode and fail here, so
these captures prove the schemas cover everything the venue sent.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from polyinfra.wire.clob_rest import JSON_ENCODER, Market, MarketsPage, OrderBookSummary
from polyinfra.wire.clob_user import OrderMessage, TradeMessage, TradeRecord, UserEvent
from polyinfra.wire.clob_ws import (
    BestBidAskMessage,
    BookMessage,
    LastTradePriceMessage,
    MarketResolvedMessage,
    NewMarketMessage,
    PriceChangeMessage,
    TickSizeChangeMessage,
)
from polyinfra.wire.data_api import DataApiTrade
from polyinfra.wire.gamma import GammaEvent, GammaMarket, GammaSearchResponse, GammaTag
from polyinfra.wire.rtds import PriceBackfillMessage, PriceMessage, PriceUpdateMessage
from tests.shared_data import CAPTURES

# capture path (relative to CAPTURES) -> the type it decodes as; a list type means a JSON array.
SCHEMAS: dict[str, Any] = {
    "nautilus/http_responses/book.json": OrderBookSummary,
    "nautilus/http_responses/event.json": GammaEvent,
    "nautilus/http_responses/events_list.json": list[GammaEvent],
    "nautilus/http_responses/market.json": Market,
    "nautilus/http_responses/market_slug.json": GammaMarket,
    "nautilus/http_responses/markets.json": MarketsPage,
    "nautilus/http_responses/markets_list.json": list[GammaMarket],
    "nautilus/http_responses/trades.json": list[DataApiTrade],
    "nautilus/rust_test_data/clob_market_closed_binary_accepting_false.json": Market,
    "nautilus/rust_test_data/clob_market_closed_binary_accepting_true.json": Market,
    "nautilus/rust_test_data/gamma_event.json": list[GammaEvent],
    "nautilus/rust_test_data/gamma_market.json": GammaMarket,
    "nautilus/rust_test_data/gamma_market_closed_binary_accepting_false.json": GammaMarket,
    "nautilus/rust_test_data/gamma_market_closed_binary_accepting_true.json": GammaMarket,
    "nautilus/rust_test_data/gamma_market_closed_nonbinary_legacy.json": GammaMarket,
    "nautilus/rust_test_data/gamma_market_closed_zero_zero_legacy.json": GammaMarket,
    "nautilus/rust_test_data/gamma_market_sports_market_map_handicap.json": GammaMarket,
    "nautilus/rust_test_data/gamma_market_sports_market_money_line.json": GammaMarket,
    "nautilus/rust_test_data/gamma_tags.json": list[GammaTag],
    "nautilus/rust_test_data/rtds_crypto_prices_subscribe.json": PriceBackfillMessage,
    "nautilus/rust_test_data/rtds_crypto_prices_update.json": PriceUpdateMessage,
    "nautilus/rust_test_data/rtds_equity_prices_subscribe.json": PriceBackfillMessage,
    "nautilus/rust_test_data/search_response.json": GammaSearchResponse,
    "nautilus/rust_test_data/ws_market_best_bid_ask_msg.json": BestBidAskMessage,
    "nautilus/rust_test_data/ws_market_new_market_msg.json": NewMarketMessage,
    "nautilus/rust_test_data/ws_market_resolved_msg.json": MarketResolvedMessage,
    "nautilus/rust_test_data/ws_user_order_fok_killed.json": OrderMessage,
    "nautilus/rust_test_data/ws_user_order_venue_cancel.json": OrderMessage,
    "nautilus/ws_messages/book.json": BookMessage,
    "nautilus/ws_messages/last_trade_price.json": LastTradePriceMessage,
    "nautilus/ws_messages/order_cancel.json": OrderMessage,
    "nautilus/ws_messages/order_placement.json": OrderMessage,
    "nautilus/ws_messages/price_change.json": PriceChangeMessage,
    "nautilus/ws_messages/price_change_v2.json": PriceChangeMessage,
    "nautilus/ws_messages/tick_size_change.json": TickSizeChangeMessage,
    "nautilus/ws_messages/trades.json": TradeRecord,
    "nautilus/ws_messages/user_trade1.json": TradeMessage,
    "nautilus/ws_messages/user_trade2.json": TradeMessage,
    "nautilus/ws_messages/user_trade3.json": TradeMessage,
    "nautilus/ws_messages/user_trade4.json": TradeMessage,
}

# This capture was stored without its event_type (the upstream Rust fixture strips it); decoding
# it as OrderMessage and encoding it back adds the tag, and nothing else.
ADDED_ON_ENCODE = {"nautilus/rust_test_data/ws_user_order_venue_cancel.json": {"event_type": "order"}}

USER_CHANNEL_CAPTURES = [
    name for name, schema in SCHEMAS.items() if schema in (OrderMessage, TradeMessage) and name not in ADDED_ON_ENCODE
]


def _read(name: str) -> bytes:
    return (CAPTURES / name).read_bytes()


def _exact(raw: bytes | str) -> Any:
    return json.loads(raw, parse_float=Decimal)


def _assert_same_json(expected: Any, actual: Any, path: str = "$") -> None:
    """Strict JSON equality: same keys, same lengths, bools are not numbers, numbers compared exactly."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        assert type(expected) is type(actual) and expected == actual, f"{path}: {expected!r} != {actual!r}"
    elif isinstance(expected, int | Decimal):
        assert isinstance(actual, int | Decimal), f"{path}: number {expected!r} came back as {actual!r}"
        assert Decimal(expected) == Decimal(actual), f"{path}: {expected!r} != {actual!r}"
    elif isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: object came back as {actual!r}"
        assert expected.keys() == actual.keys(), f"{path}: keys differ {expected.keys() ^ actual.keys()}"
        for key, value in expected.items():
            _assert_same_json(value, actual[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(expected) == len(actual), f"{path}: array differs"
        for index, (left, right) in enumerate(zip(expected, actual, strict=True)):
            _assert_same_json(left, right, f"{path}[{index}]")
    else:
        assert type(expected) is type(actual) and expected == actual, f"{path}: {expected!r} != {actual!r}"


def test_every_capture_has_a_schema() -> None:
    found = {path.relative_to(CAPTURES).as_posix() for path in CAPTURES.rglob("*.json")}
    assert found, f"no captures under {CAPTURES}"
    assert found == SCHEMAS.keys(), (
        f"unmapped: {sorted(found - SCHEMAS.keys())}, missing: {sorted(SCHEMAS.keys() - found)}"
    )


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_capture_decodes_and_reencodes_without_loss(name: str) -> None:
    schema = SCHEMAS[name]
    raw = _read(name)
    decoded = msgspec.json.decode(raw, type=schema)

    element = getattr(schema, "__args__", (schema,))[0]
    for item in decoded if isinstance(decoded, list) else [decoded]:
        assert isinstance(item, element)
    expected = _exact(raw)
    if name in ADDED_ON_ENCODE:
        expected = {**expected, **ADDED_ON_ENCODE[name]}
    _assert_same_json(expected, _exact(JSON_ENCODER.encode(decoded)))


def test_strict_comparison_notices_a_dropped_key() -> None:
    # The round trip above is only a proof if a lost key fails it.
    with pytest.raises(AssertionError, match="keys differ"):
        _assert_same_json({"a": 1, "b": "x"}, {"a": 1})
    with pytest.raises(AssertionError):
        _assert_same_json({"a": True}, {"a": 1})
    with pytest.raises(AssertionError):
        _assert_same_json({"p": Decimal("0.1")}, {"p": Decimal("0.1000000000000000055511151231257827")})


@pytest.mark.parametrize("name", USER_CHANNEL_CAPTURES)
def test_user_channel_captures_decode_through_the_event_union(name: str) -> None:
    event = msgspec.json.decode(_read(name), type=UserEvent)
    assert isinstance(event, SCHEMAS[name])


def test_rtds_captures_decode_through_the_price_union() -> None:
    update = msgspec.json.decode(_read("nautilus/rust_test_data/rtds_crypto_prices_update.json"), type=PriceMessage)
    backfill = msgspec.json.decode(
        _read("nautilus/rust_test_data/rtds_equity_prices_subscribe.json"), type=PriceMessage
    )
    assert isinstance(update, PriceUpdateMessage)
    assert update.payload.value == Decimal("61035.86")
    assert update.payload.full_accuracy_value == "61035.86000000"
    assert isinstance(backfill, PriceBackfillMessage)
    assert [point.value for point in backfill.payload.data] == [
        Decimal("307.91499"),
        Decimal("307.91578"),
        Decimal("307.91547"),
    ]
