"""Hand-made bodies from the venue docs' examples (venue notes: Responses, User channel, RTDS).

They cover shapes no capture has: the short-key ``/clob-markets`` answer, the small market-data
endpoints, error bodies, the older ``matchtime`` spelling, and the RTDS extras. Numbers the venue
sends as JSON numbers must decode to exact Decimals and encode back as numbers.
"""

from __future__ import annotations

import json
from decimal import Decimal
from types import ModuleType, UnionType
from typing import Any

import msgspec
import pytest
from msgspec import UNSET

from polyinfra.wire import clob_rest, clob_user, clob_ws, data_api, gamma, rtds
from polyinfra.wire.clob_rest import (
    JSON_ENCODER,
    ClobMarketInfo,
    ErrorBody,
    LastTradePrice,
    LastTradesPricesItem,
    Market,
    Midpoint,
    NegRiskInfo,
    PriceHistory,
    PriceQuote,
    SimplifiedMarketsPage,
    Spread,
    TickSizeInfo,
)
from polyinfra.wire.clob_user import TradeMessage, UserEvent
from polyinfra.wire.rtds import ErrorFrame, PriceMessage, PriceUpdateMessage
from tests.shared_data import NAUTILUS_CAPTURES

# The venue docs' example, verbatim, with a real token id.
CLOB_MARKET_INFO = (
    b'{"gst":"2023-11-07T05:31:56Z","r":{},"t":[{"t":"21742633143463906290569050155826241533067272736897614950488156847949938836455","o":"Yes"},'
    b'{"t":"48331043336612883890938759509493159234755048973500640148014422747788308965732","o":"No"}],'
    b'"mos":5,"mts":0.01,"mbf":0,"tbf":0,"rfqe":true,"itode":true,"ibce":true,"fd":{"r":0.02,"e":2,"to":true},"oas":123}'
)


def _roundtrips(raw: bytes, struct: Any) -> None:
    assert json.loads(JSON_ENCODER.encode(struct), parse_float=Decimal) == json.loads(raw, parse_float=Decimal)


def test_clob_market_info_docs_example_decodes_with_readable_names() -> None:
    info = msgspec.json.decode(CLOB_MARKET_INFO, type=ClobMarketInfo)

    assert info.game_start_time == "2023-11-07T05:31:56Z"
    assert info.rewards == {}
    assert [(token.token_id[:5], token.outcome) for token in info.tokens if token is not None] == [
        ("21742", "Yes"),
        ("48331", "No"),
    ]
    assert info.min_order_size == Decimal(5)
    assert info.min_tick_size == Decimal("0.01")
    assert (info.maker_base_fee, info.taker_base_fee) == (Decimal(0), Decimal(0))
    assert info.rfq_enabled and info.taker_order_delay_enabled and info.blockaid_check_enabled
    assert info.fee_details is not None and info.fee_details is not UNSET
    assert info.fee_details.rate == Decimal("0.02")
    assert info.fee_details.exponent == 2
    assert info.fee_details.taker_only is True
    assert info.min_order_age_s == 123
    # ``nr`` is omitted when false (venue notes: Market info).
    assert info.neg_risk is UNSET
    _roundtrips(CLOB_MARKET_INFO, info)


def test_clob_market_info_keeps_the_short_keys_on_the_wire() -> None:
    info = msgspec.json.decode(CLOB_MARKET_INFO, type=ClobMarketInfo)
    encoded = msgspec.json.decode(JSON_ENCODER.encode(msgspec.structs.replace(info, neg_risk=True)))
    assert list(encoded) == ["gst", "r", "t", "mos", "mts", "mbf", "tbf", "rfqe", "itode", "ibce", "fd", "oas", "nr"]
    assert encoded["fd"] == {"r": 0.02, "e": 2, "to": True}


def test_clob_market_info_accepts_what_the_official_clients_tolerate() -> None:
    # Null token entries, a null fd, a float exponent elsewhere, a string tick (client fixtures), ``c`` and ``sd``.
    raw = b'{"c":"0xabc","t":[null,{"t":"1","o":"Yes"}],"mts":"0.001","fd":null,"nr":true,"sd":3}'
    info = msgspec.json.decode(raw, type=ClobMarketInfo)
    assert info.condition_id == "0xabc"
    assert info.tokens[0] is None
    assert info.min_tick_size == Decimal("0.001")
    assert info.fee_details is None
    assert info.neg_risk is True
    assert info.sd == 3
    assert info.min_order_size is UNSET
    float_exponent = msgspec.json.decode(b'{"r":0.02,"e":4.0}', type=clob_rest.FeeDetails)
    assert float_exponent.exponent == Decimal("4.0")


@pytest.mark.parametrize("raw", [b'{"mts":0.01}', b'{"t":[],"mos":5}'])
def test_clob_market_info_without_tokens_or_tick_is_refused(raw: bytes) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(raw, type=ClobMarketInfo)


def test_tick_size_is_a_json_number_decoded_exactly() -> None:
    raw = b'{"minimum_tick_size":0.01}'
    info = msgspec.json.decode(raw, type=TickSizeInfo)
    assert info.minimum_tick_size == Decimal("0.01")
    assert str(info.minimum_tick_size) == "0.01"
    assert JSON_ENCODER.encode(info) == raw
    # The official Rust client's mock sends a string; it is accepted too (venue notes: REST routes).
    assert msgspec.json.decode(b'{"minimum_tick_size":"0.1"}', type=TickSizeInfo).minimum_tick_size == Decimal("0.1")


def test_prices_history_points_are_exact() -> None:
    raw = b'{"history":[{"t":1700000000,"p":0.1},{"t":1700000060,"p":0.30000000000000004},{"t":1700000120,"p":1}]}'
    history = msgspec.json.decode(raw, type=PriceHistory)
    assert [(point.t, point.p) for point in history.history] == [
        (1700000000, Decimal("0.1")),
        (1700000060, Decimal("0.30000000000000004")),
        (1700000120, Decimal(1)),
    ]
    assert JSON_ENCODER.encode(history) == raw


def test_market_numbers_are_decimals_from_their_text() -> None:
    market = msgspec.json.decode(
        (
            b'{"enable_order_book":true,"active":true,"closed":false,"archived":false,"accepting_orders":true,'
            b'"accepting_order_timestamp":null,"minimum_order_size":14.97,"minimum_tick_size":0.001,'
            b'"condition_id":"0x1","question_id":"0x2","question":"q","description":"","market_slug":"s",'
            b'"end_date_iso":null,"game_start_time":null,"seconds_delay":0,"fpmm":"","maker_base_fee":0,'
            b'"taker_base_fee":0,"notifications_enabled":false,"neg_risk":false,"neg_risk_market_id":"",'
            b'"neg_risk_request_id":"","icon":"","image":"","rewards":{"rates":null,"min_size":0,"max_spread":0},'
            b'"is_50_50_outcome":false,"tokens":[{"token_id":"1","outcome":"Yes","price":0.58,"winner":false}],"tags":null}'
        ),
        type=Market,
    )
    assert market.minimum_order_size == Decimal("14.97")
    assert market.tokens[0].price == Decimal("0.58")
    # Built from the text "0.58", digit for digit, not from the float 0.57999...
    assert market.tokens[0].price.as_tuple() == Decimal("0.58").as_tuple()
    assert b'"price":0.58' in JSON_ENCODER.encode(market)


def test_simplified_markets_page() -> None:
    raw = (
        b'{"data":[{"condition_id":"0x1","tokens":[{"token_id":"1","outcome":"Yes","price":0.5,"winner":false},'
        b'{"token_id":"2","outcome":"No","price":0.5,"winner":false}],"rewards":{"rates":[{"asset_address":"0xa",'
        b'"rewards_daily_rate":0.001}],"min_size":50,"max_spread":4.5},"active":true,"closed":false,"archived":false,'
        b'"accepting_orders":true}],"next_cursor":"LTE=","limit":100,"count":1}'
    )
    page = msgspec.json.decode(raw, type=SimplifiedMarketsPage)
    assert page.next_cursor == "LTE="
    rates = page.data[0].rewards.rates
    assert rates is not None and rates[0].rewards_daily_rate == Decimal("0.001")
    _roundtrips(raw, page)


def test_small_market_data_bodies_keep_strings() -> None:
    assert msgspec.json.decode(b'{"mid":"0.5"}', type=Midpoint).mid == "0.5"
    assert msgspec.json.decode(b'{"price":"0.5"}', type=PriceQuote).price == "0.5"
    assert msgspec.json.decode(b'{"spread":"0.02"}', type=Spread).spread == "0.02"
    assert msgspec.json.decode(b'{"neg_risk":true}', type=NegRiskInfo).neg_risk is True
    never_traded = msgspec.json.decode(b'{"price":"0.5","side":""}', type=LastTradePrice)
    assert (never_traded.price, never_traded.side) == ("0.5", "")
    items = msgspec.json.decode(b'[{"token_id":"1","price":"0.45","side":"BUY"}]', type=list[LastTradesPricesItem])
    assert (items[0].token_id, items[0].price, items[0].side) == ("1", "0.45", "BUY")


@pytest.mark.parametrize(
    "raw",
    [
        b'{"error":"Too Many Requests"}',
        b'{"error":"post-only mode: only post-only orders and cancels are allowed",'
        b'"code":"post_only_mode","retry_after_seconds":79}',
        b'{"error":"Invalid Heartbeat ID","heartbeat_id":"5f0c6c52-8a0b-4f43-9d4c-0d3a7c1a1e0b"}',
    ],
)
def test_error_bodies_roundtrip(raw: bytes) -> None:
    body = msgspec.json.decode(raw, type=ErrorBody)
    assert body.error
    assert JSON_ENCODER.encode(body) == raw


def test_post_only_error_fields() -> None:
    body = msgspec.json.decode(
        b'{"error":"post-only mode","code":"post_only_mode","retry_after_seconds":79}', type=ErrorBody
    )
    assert (body.code, body.retry_after_seconds, body.heartbeat_id) == ("post_only_mode", 79, UNSET)


def test_trade_message_accepts_the_older_matchtime_spelling() -> None:
    # The venue docs' example (ids shortened).
    raw = (
        b'{"asset_id":"52114","event_type":"trade","id":"28c4d2eb","last_update":"1672290701","maker_orders":'
        b'[{"asset_id":"52114","matched_amount":"10","order_id":"0xff35","outcome":"YES","owner":"9180014b","price":"0.57"}],'
        b'"market":"0xbd31","matchtime":"1672290701","outcome":"YES","owner":"9180014b","price":"0.57","side":"BUY",'
        b'"size":"10","status":"MATCHED","taker_order_id":"0x06bc","timestamp":"1672290701","trade_owner":"9180014b",'
        b'"type":"TRADE"}'
    )
    event = msgspec.json.decode(raw, type=UserEvent)
    assert isinstance(event, TradeMessage)
    assert event.matchtime == "1672290701"
    assert event.match_time is UNSET
    assert event.matched_at == "1672290701"
    _roundtrips(raw, event)
    newer = msgspec.structs.replace(event, matchtime=UNSET, match_time="1672290702")
    assert newer.matched_at == "1672290702"
    assert msgspec.structs.replace(event, matchtime=UNSET).matched_at is None


def test_rtds_docs_examples() -> None:
    equity = (
        b'{"topic":"equity_prices","type":"update","timestamp":1711382400000,"payload":{"symbol":"aapl",'
        b'"value":198.45,"full_accuracy_value":"198.4523","timestamp":1711382400000,"received_at":1711382400005}}'
    )
    twap = (
        b'{"topic":"crypto_prices_twap_thirty","type":"update","timestamp":1785178800123,"payload":{"symbol":"btc/usd",'
        b'"value":65000.5,"full_accuracy_value":"65000500000000000000000","timestamp":1785178800000,"window_s":30}}'
    )
    for raw in (equity, twap):
        message = msgspec.json.decode(raw, type=PriceMessage)
        assert isinstance(message, PriceUpdateMessage)
        _roundtrips(raw, message)
    assert msgspec.json.decode(twap, type=PriceMessage).payload.window_s == 30


def test_rtds_error_frame() -> None:
    raw = b'{"body":{"message":"CLOB messages are not supported anymore"},"statusCode":400}'
    frame = msgspec.json.decode(raw, type=ErrorFrame)
    assert (frame.status_code, frame.body.message) == (400, "CLOB messages are not supported anymore")
    assert JSON_ENCODER.encode(frame) == raw


def _types_in(annotation: msgspec.inspect.Type, seen: set[type]) -> list[msgspec.inspect.Type]:
    """Every leaf type reachable from one struct field, following nested structs once."""
    if isinstance(annotation, msgspec.inspect.StructType):
        if annotation.cls in seen:
            return []
        seen.add(annotation.cls)
        return [leaf for field in annotation.fields for leaf in _types_in(field.type, seen)]
    if isinstance(annotation, msgspec.inspect.UnionType):
        return [leaf for member in annotation.types for leaf in _types_in(member, seen)]
    if isinstance(annotation, msgspec.inspect.ListType | msgspec.inspect.DictType):
        item = annotation.item_type if isinstance(annotation, msgspec.inspect.ListType) else annotation.value_type
        return [annotation, *_types_in(item, seen)]
    return [annotation]


@pytest.mark.parametrize("module", [clob_rest, clob_user, clob_ws, data_api, gamma, rtds], ids=lambda m: m.__name__)
def test_no_wire_struct_has_a_float_field(module: ModuleType) -> None:
    leaves: list[msgspec.inspect.Type] = []
    for name in module.__all__:
        candidate = getattr(module, name)
        if isinstance(candidate, UnionType) or (isinstance(candidate, type) and issubclass(candidate, msgspec.Struct)):
            leaves += _types_in(msgspec.inspect.type_info(candidate), set())
    assert leaves
    assert not [leaf for leaf in leaves if isinstance(leaf, msgspec.inspect.FloatType)]


def test_a_market_mentions_text_in_its_question_slug_or_tags_in_any_case() -> None:
    market = msgspec.json.decode((NAUTILUS_CAPTURES / "http_responses" / "market.json").read_bytes(), type=Market)
    assert market.mentions(market.question.upper()[3:15])
    assert market.mentions(market.market_slug.split("-")[-1].upper())
    untagged = msgspec.structs.replace(market, tags=None, question="Will it rain?", market_slug="rain")
    assert not untagged.mentions("snow")
    assert msgspec.structs.replace(untagged, tags=["Weather", "Snow"]).mentions("sNoW")
