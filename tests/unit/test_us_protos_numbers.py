"""Our protos against the venue's: the verified market-data file field by field, and every official number pinned.

``marketdatasubscription.proto`` (with ``Heartbeat`` from types.proto and ``InstrumentState`` from refdata.proto)
is the one file whose numbers the venue made public (venue notes: US exchange protos). The tables below are
that file as the venue compiles it; the test reads our compiled descriptors, not our .proto text, so a typo
that protoc accepts still fails here. The other files carry the venue's names and order with numbers of our
own, except the handful the venue has announced: those are pinned at the bottom.
"""

from __future__ import annotations

from typing import NamedTuple

from google.protobuf import descriptor_pb2

from polyinfra.wire.us.polymarket.v1 import (
    enums_pb2,
    marketdatasubscription_pb2,
    orderbook_pb2,
    orders_pb2,
    refdata_pb2,
    types_pb2,
)

FDP = descriptor_pb2.FieldDescriptorProto


class Field(NamedTuple):
    name: str
    number: int
    type: str  # a scalar's proto name, or the message / enum name without the package
    label: str  # "singular", "repeated" or "optional" (proto3 explicit presence)
    oneof: str | None  # the real oneof it belongs to; proto3 optional's synthetic oneof is not one


SCALARS = {
    FDP.TYPE_STRING: "string",
    FDP.TYPE_BOOL: "bool",
    FDP.TYPE_INT32: "int32",
    FDP.TYPE_INT64: "int64",
    FDP.TYPE_BYTES: "bytes",
    FDP.TYPE_DOUBLE: "double",
}


def file_proto(module: object) -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto()
    module.DESCRIPTOR.CopyToProto(proto)  # type: ignore[attr-defined]
    return proto


def message_fields(module: object, message: str) -> tuple[Field, ...]:
    proto = file_proto(module)
    (found,) = [m for m in proto.message_type if m.name == message]
    fields = []
    for f in found.field:
        type_name = SCALARS.get(f.type) or f.type_name.removeprefix(".").removeprefix(f"{proto.package}.")
        if f.proto3_optional:
            label, oneof = "optional", None
        else:
            label = "repeated" if f.label == FDP.LABEL_REPEATED else "singular"
            oneof = found.oneof_decl[f.oneof_index].name if f.HasField("oneof_index") else None
        fields.append(Field(f.name, f.number, type_name, label, oneof))
    return tuple(fields)


# Declaration order as in the venue's file.
VERIFIED_MESSAGES: dict[str, tuple[Field, ...]] = {
    "Heartbeat": (),
    "CreateMarketDataSubscriptionRequest": (
        Field("symbols", 1, "string", "repeated", None),
        Field("unaggregated", 2, "bool", "singular", None),
        Field("depth", 3, "int32", "singular", None),
        Field("snapshot_only", 4, "bool", "singular", None),
        Field("slow_consumer_skip_to_head", 5, "bool", "singular", None),
    ),
    "CreateMarketDataSubscriptionResponse": (
        Field("heartbeat", 1, "Heartbeat", "singular", "event"),
        Field("update", 2, "MarketDataUpdate", "singular", "event"),
    ),
    "BiDirectionalStreamMarketDataRequest": (
        Field("subscribe", 1, "SubscribeCommand", "singular", "command"),
        Field("unsubscribe", 2, "UnsubscribeCommand", "singular", "command"),
        Field("keepalive", 7, "KeepAliveCommand", "singular", "command"),
        Field("unaggregated", 3, "bool", "singular", None),
        Field("depth", 4, "int32", "singular", None),
        Field("snapshot_only", 5, "bool", "singular", None),
        Field("slow_consumer_skip_to_head", 6, "bool", "singular", None),
    ),
    "BiDirectionalStreamMarketDataResponse": (
        Field("heartbeat", 1, "Heartbeat", "singular", "event"),
        Field("update", 2, "MarketDataUpdate", "singular", "event"),
        Field("subscription_ack", 3, "SubscriptionAck", "singular", "event"),
        Field("subscription_error", 4, "SubscriptionError", "singular", "event"),
    ),
    "SubscribeCommand": (Field("symbols", 1, "string", "repeated", None),),
    "UnsubscribeCommand": (Field("symbols", 1, "string", "repeated", None),),
    "KeepAliveCommand": (),
    "SubscriptionAck": (
        Field("symbols_added", 1, "string", "repeated", None),
        Field("symbols_removed", 2, "string", "repeated", None),
        Field("active_symbols", 3, "string", "repeated", None),
        Field("symbol_scales", 4, "SymbolScales", "repeated", None),
        Field("active_symbol_count", 5, "int32", "singular", None),
        Field("active_symbols_truncated", 6, "bool", "singular", None),
        Field("symbols_added_count", 7, "int32", "singular", None),
        Field("symbols_added_truncated", 8, "bool", "singular", None),
        Field("symbols_removed_count", 9, "int32", "singular", None),
        Field("symbols_removed_truncated", 10, "bool", "singular", None),
    ),
    "SymbolScales": (
        Field("symbol", 1, "string", "singular", None),
        Field("price_scale", 2, "int64", "singular", None),
        Field("quantity_scale", 3, "int64", "singular", None),
    ),
    "SubscriptionError": (
        Field("error_code", 1, "string", "singular", None),
        Field("message", 2, "string", "singular", None),
        Field("symbols", 3, "string", "repeated", None),
    ),
    "BookEntry": (
        Field("px", 1, "int64", "singular", None),
        Field("qty", 2, "int64", "singular", None),
        Field("symbol_sub_type", 3, "string", "singular", None),
    ),
    "InstrumentStats": (
        Field("open_px", 1, "int64", "optional", None),
        Field("close_px", 2, "int64", "optional", None),
        Field("low_px", 3, "int64", "optional", None),
        Field("high_px", 4, "int64", "optional", None),
        Field("last_trade_px", 5, "int64", "optional", None),
        Field("indicative_open_px", 6, "int64", "optional", None),
        Field("settlement_px", 7, "int64", "optional", None),
        Field("shares_traded", 8, "int64", "optional", None),
        Field("notional_traded", 9, "int64", "optional", None),
        Field("open_interest", 10, "int64", "optional", None),
        Field("settlement_preliminary", 11, "bool", "optional", None),
        Field("settlement_price_calculation_method", 12, "string", "optional", None),
        Field("settlement_price_calculation_text", 13, "string", "optional", None),
        Field("last_trade_qty", 14, "int64", "optional", None),
        Field("settlement_set_time", 15, "google.protobuf.Timestamp", "optional", None),
    ),
    "MarketDataUpdate": (
        Field("symbol", 1, "string", "singular", None),
        Field("bids", 2, "BookEntry", "repeated", None),
        Field("offers", 3, "BookEntry", "repeated", None),
        Field("state", 4, "InstrumentState", "optional", None),
        Field("stats", 5, "InstrumentStats", "singular", None),
        Field("transact_time", 6, "google.protobuf.Timestamp", "singular", None),
        Field("book_hidden", 7, "bool", "singular", None),
        Field("price_scale", 8, "int64", "optional", None),
        Field("quantity_scale", 9, "int64", "optional", None),
    ),
}

VERIFIED_INSTRUMENT_STATE = (
    ("INSTRUMENT_STATE_CLOSED", 0),
    ("INSTRUMENT_STATE_OPEN", 1),
    ("INSTRUMENT_STATE_PREOPEN", 2),
    ("INSTRUMENT_STATE_SUSPENDED", 3),
    ("INSTRUMENT_STATE_EXPIRED", 4),
    ("INSTRUMENT_STATE_TERMINATED", 5),
    ("INSTRUMENT_STATE_HALTED", 6),
    ("INSTRUMENT_STATE_MATCH_AND_CLOSE_AUCTION", 7),
    ("INSTRUMENT_STATE_PENDING", 8),
)


def enum_values(enum_descriptor: object) -> tuple[tuple[str, int], ...]:
    return tuple((v.name, v.number) for v in enum_descriptor.values)  # type: ignore[attr-defined]


def test_the_market_data_file_is_the_venues_message_by_message_and_in_order() -> None:
    proto = file_proto(marketdatasubscription_pb2)
    assert proto.name == "polymarket/v1/marketdatasubscription.proto"
    assert proto.package == "polymarket.v1"
    assert proto.syntax == "proto3"
    ours = [m.name for m in proto.message_type]
    assert ours == [name for name in VERIFIED_MESSAGES if name != "Heartbeat"]
    for name, expected in VERIFIED_MESSAGES.items():
        module = types_pb2 if name == "Heartbeat" else marketdatasubscription_pb2
        assert message_fields(module, name) == expected, name


def test_heartbeat_and_instrument_state_live_where_the_venue_keeps_them() -> None:
    assert types_pb2.DESCRIPTOR.name == "polymarket/v1/types.proto"
    assert types_pb2.Heartbeat.DESCRIPTOR.full_name == "polymarket.v1.Heartbeat"
    assert refdata_pb2.DESCRIPTOR.name == "polymarket/v1/refdata.proto"
    assert refdata_pb2.InstrumentState.DESCRIPTOR.full_name == "polymarket.v1.InstrumentState"
    assert enum_values(refdata_pb2.InstrumentState.DESCRIPTOR) == VERIFIED_INSTRUMENT_STATE


def test_the_market_data_service_has_the_venues_methods_and_stream_shapes() -> None:
    (service,) = file_proto(marketdatasubscription_pb2).service
    assert service.name == "MarketDataSubscriptionAPI"
    shapes = [(m.name, m.input_type, m.output_type, m.client_streaming, m.server_streaming) for m in service.method]
    assert shapes == [
        (
            "CreateMarketDataSubscription",
            ".polymarket.v1.CreateMarketDataSubscriptionRequest",
            ".polymarket.v1.CreateMarketDataSubscriptionResponse",
            False,
            True,
        ),
        (
            "BiDirectionalStreamMarketData",
            ".polymarket.v1.BiDirectionalStreamMarketDataRequest",
            ".polymarket.v1.BiDirectionalStreamMarketDataResponse",
            True,
            True,
        ),
    ]


def test_a_verified_message_encodes_to_the_venues_bytes() -> None:
    # Hand-assembled from the venue's numbers: field 1 symbol, 2 a bid (px 1, qty 2), 4 state OPEN, 8 price_scale.
    update = marketdatasubscription_pb2.MarketDataUpdate(
        symbol="kc",
        bids=[marketdatasubscription_pb2.BookEntry(px=97, qty=300)],
        state=refdata_pb2.INSTRUMENT_STATE_OPEN,
        price_scale=100,
    )
    assert update.SerializeToString() == b"\x0a\x02kc" + b"\x12\x05\x08\x61\x10\xac\x02" + b"\x20\x01" + b"\x40\x64"


# Numbers the venue announced outside the verified file (venue notes: US exchange protos).
def test_the_order_numbers_the_venue_announced_are_pinned() -> None:
    order = {f.name: f for f in message_fields(orders_pb2, "Order")}
    assert order["price_to_quantity_filled"].number == 41
    assert order["fractional_quantity_scale"] == Field("fractional_quantity_scale", 49, "int64", "singular", None)
    (order_proto,) = [m for m in file_proto(orders_pb2).message_type if m.name == "Order"]
    (entry,) = order_proto.nested_type
    assert entry.options.map_entry
    assert [(f.name, f.type) for f in entry.field] == [("key", FDP.TYPE_INT64), ("value", FDP.TYPE_INT64)]
    # The venue's schema keeps a retired field at 35: nothing of ours may take that number.
    assert [(r.start, r.end) for r in order_proto.reserved_range] == [(35, 36)]
    assert 35 not in {f.number for f in order.values()}


def test_the_order_book_state_numbers_are_pinned_and_optional() -> None:
    book = {f.name: f for f in message_fields(orderbook_pb2, "GetOrderBookResponse")}
    bbo = {f.name: f for f in message_fields(orderbook_pb2, "GetBBOResponse")}
    assert book["state"] == Field("state", 4, "InstrumentState", "optional", None)
    assert bbo["state"] == Field("state", 6, "InstrumentState", "optional", None)


def test_the_documented_enum_numbers_are_pinned() -> None:
    assert enum_values(enums_pb2.Side.DESCRIPTOR) == (("SIDE_UNDEFINED", 0), ("SIDE_BUY", 1), ("SIDE_SELL", 2))
    assert enum_values(enums_pb2.OrderType.DESCRIPTOR)[1:] == (
        ("ORDER_TYPE_MARKET_TO_LIMIT", 1),
        ("ORDER_TYPE_LIMIT", 2),
        ("ORDER_TYPE_STOP", 3),
        ("ORDER_TYPE_STOP_LIMIT", 4),
    )
    assert enum_values(enums_pb2.TimeInForce.DESCRIPTOR)[1:] == (
        ("TIME_IN_FORCE_DAY", 1),
        ("TIME_IN_FORCE_GOOD_TILL_CANCEL", 2),
        ("TIME_IN_FORCE_IMMEDIATE_OR_CANCEL", 3),
        ("TIME_IN_FORCE_GOOD_TILL_TIME", 4),
        ("TIME_IN_FORCE_FILL_OR_KILL", 5),
    )
    order_states = ("NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "REPLACED", "REJECTED", "EXPIRED")
    order_states += ("PENDING_NEW", "PENDING_REPLACE", "PENDING_CANCEL", "PENDING_RISK")
    assert enum_values(enums_pb2.OrderState.DESCRIPTOR) == tuple(
        (f"ORDER_STATE_{name}", number) for number, name in enumerate(order_states)
    )
    execution_types = ("NEW", "PARTIAL_FILL", "FILL", "CANCELED", "REPLACE", "REJECTED", "EXPIRED", "DONE_FOR_DAY")
    assert enum_values(enums_pb2.ExecutionType.DESCRIPTOR) == tuple(
        (f"EXECUTION_TYPE_{name}", number) for number, name in enumerate(execution_types)
    )
    reject_reasons = ("EXCHANGE_OPTION", "UNKNOWN_SYMBOL", "EXCHANGE_CLOSED", "INCORRECT_QUANTITY")
    reject_reasons += ("INVALID_PRICE_INCREMENT", "INCORRECT_ORDER_TYPE", "PRICE_OUT_OF_BOUNDS", "NO_LIQUIDITY")
    assert enum_values(enums_pb2.OrdRejectReason.DESCRIPTOR) == tuple(
        (f"ORD_REJECT_REASON_{name}", number) for number, name in enumerate(reject_reasons)
    )
    trade_states = ("UNDEFINED", "NEW", "CLEARED", "BUSTED", "INFLIGHT", "PENDING_RISK", "PENDING_CLEARED")
    trade_states += ("REJECTED", "CLEARING_ACKNOWLEDGED", "RETRY_REQUEST")
    assert enum_values(enums_pb2.TradeState.DESCRIPTOR) == tuple(
        (f"TRADE_STATE_{name}", number) for number, name in enumerate(trade_states)
    )
