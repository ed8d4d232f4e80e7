"""User-channel captures into domain events (venue notes: User channel), and the deduplication behind reconciliation."""

from __future__ import annotations

import json
from decimal import Decimal

import msgspec
import pytest

from polyinfra.clob.trading import OpenOrder
from polyinfra.clob.user_events import order_update_from_rest, order_update_from_wire, trade_update_from_wire
from polyinfra.core.user_event_tracker import UserEventTracker
from polyinfra.errors import InvalidNumberError, InvalidValueError, MalformedMessageError
from polyinfra.model.numbers import Side
from polyinfra.model.trading_events import (
    OrderEventKind,
    OrderStatus,
    OrderUpdate,
    TradeStatus,
    TradeUpdate,
    parse_order_status,
    parse_trade_status,
)
from polyinfra.wire.clob_user import OrderMessage, TradeMessage, TradeRecord, UserFrameDecoder
from tests.shared_data import NAUTILUS_CAPTURES

ORDER_CAPTURES = [
    "ws_messages/order_placement.json",
    "ws_messages/order_cancel.json",
    "rust_test_data/ws_user_order_fok_killed.json",
    "rust_test_data/ws_user_order_venue_cancel.json",
]
TRADE_CAPTURES = [f"ws_messages/user_trade{n}.json" for n in range(1, 5)]
NS = 1_700_000_000_000_000_000


def _frame(name: str) -> bytes:
    return (NAUTILUS_CAPTURES / name).read_bytes()


# Stored without its event_type (the upstream Rust fixture strips it; the venue sends it): the
# frame decoder needs the tag, so the tag is put back as the venue sends it.
UNTAGGED = {"rust_test_data/ws_user_order_venue_cancel.json": "order"}


def _decode_one(name: str) -> OrderMessage | TradeMessage:
    frame = _frame(name)
    if name in UNTAGGED:
        frame = json.dumps({**json.loads(frame), "event_type": UNTAGGED[name]}).encode()
    events = UserFrameDecoder().decode(frame)
    assert len(events) == 1
    return events[0]


@pytest.mark.parametrize("name", ORDER_CAPTURES)
def test_every_order_capture_becomes_an_order_update(name: str) -> None:
    message = _decode_one(name)
    assert isinstance(message, OrderMessage)
    update = order_update_from_wire(message, received_ns=NS)
    raw = json.loads(_frame(name))
    assert update.order_id == raw["id"]
    assert update.kind is OrderEventKind(raw["type"])
    assert update.price == Decimal(raw["price"])
    assert update.original_size == Decimal(raw["original_size"])
    assert update.venue_status == raw["status"]
    assert update.status is not OrderStatus.UNKNOWN
    assert update.received_ns == NS and update.reconciled is False


def test_placement_capture_fields() -> None:
    message = _decode_one("ws_messages/order_placement.json")
    assert isinstance(message, OrderMessage)
    update = order_update_from_wire(message, received_ns=NS)
    assert update.kind is OrderEventKind.PLACEMENT
    assert update.status is OrderStatus.LIVE and update.status_reason is None
    assert update.side is Side.BUY
    assert update.price == Decimal("0.513") and update.size_matched == 0
    assert update.remaining_size == Decimal(5)
    assert update.order_type == "GTC" and update.outcome == "Yes"
    assert update.venue_timestamp_ms == 1725842520990
    assert update.associate_trades == ()


def test_killed_fok_status_reason_is_parsed() -> None:
    message = _decode_one("rust_test_data/ws_user_order_fok_killed.json")
    assert isinstance(message, OrderMessage)
    update = order_update_from_wire(message, received_ns=NS)
    assert update.kind is OrderEventKind.CANCELLATION
    assert update.status is OrderStatus.CANCELED
    assert update.status_reason == "order couldn't be fully filled. FOK orders are fully filled or killed."
    # The venue sends "" for size_matched on a killed FOK: nothing matched.
    assert update.size_matched == 0
    assert update.outcome is None
    assert update.order_type == "FOK"


def test_venue_cancel_is_invalid() -> None:
    message = _decode_one("rust_test_data/ws_user_order_venue_cancel.json")
    assert isinstance(message, OrderMessage)
    update = order_update_from_wire(message, received_ns=NS)
    assert (update.kind, update.status) == (OrderEventKind.CANCELLATION, OrderStatus.INVALID)


@pytest.mark.parametrize(
    ("text", "status", "reason"),
    [
        ("LIVE", OrderStatus.LIVE, None),
        ("live", OrderStatus.LIVE, None),
        ("ORDER_STATUS_LIVE", OrderStatus.LIVE, None),
        ("ORDER_STATUS_MATCHED", OrderStatus.MATCHED, None),
        ("CANCELED_market resolved", OrderStatus.CANCELED, "market resolved"),
        ("CANCELED_", OrderStatus.CANCELED, None),
        ("DELAYED", OrderStatus.DELAYED, None),
        ("SOMETHING_NEW", OrderStatus.UNKNOWN, "NEW"),
        ("", OrderStatus.UNKNOWN, None),
    ],
)
def test_order_status_parsing(text: str, status: OrderStatus, reason: str | None) -> None:
    assert parse_order_status(text) == (status, reason)


def test_trade_status_parsing() -> None:
    assert parse_trade_status("MINED") is TradeStatus.MINED
    assert parse_trade_status("confirmed") is TradeStatus.CONFIRMED
    assert parse_trade_status("SETTLED") is TradeStatus.UNKNOWN
    assert TradeStatus.FAILED.terminal and not TradeStatus.RETRYING.terminal


@pytest.mark.parametrize("name", TRADE_CAPTURES)
def test_every_trade_capture_becomes_a_trade_update(name: str) -> None:
    message = _decode_one(name)
    assert isinstance(message, TradeMessage)
    update = trade_update_from_wire(message, received_ns=NS)
    raw = json.loads(_frame(name))
    assert update.trade_id == raw["id"]
    assert update.status is TradeStatus(raw["status"])
    assert update.size == Decimal(raw["size"]) and update.price == Decimal(raw["price"])
    assert update.matched_at_s == int(raw["match_time"])
    assert [fill.order_id for fill in update.maker_orders] == [m["order_id"] for m in raw["maker_orders"]]
    assert sum(fill.matched_size for fill in update.maker_orders) == sum(
        Decimal(m["matched_amount"]) for m in raw["maker_orders"]
    )
    assert update.reconciled is False


def test_trade_capture_details() -> None:
    message = _decode_one("ws_messages/user_trade1.json")
    assert isinstance(message, TradeMessage)
    update = trade_update_from_wire(message, received_ns=NS)
    assert update.status is TradeStatus.MINED and update.trader_side == "MAKER"
    assert update.size == Decimal("1096.87")
    # The cross-asset match: the first maker order is on the complementary "No" token.
    assert update.maker_orders[0].outcome == "No" and update.maker_orders[0].token_id != update.token_id
    assert update.maker_orders[0].side is None
    assert update.venue_timestamp_ms == 1725868885871
    newer = _decode_one("ws_messages/user_trade3.json")
    assert isinstance(newer, TradeMessage)
    converted = trade_update_from_wire(newer, received_ns=NS)
    assert converted.maker_orders[0].side is Side.BUY
    # A timestamp in seconds (user_trade3) is read as seconds.
    assert converted.venue_timestamp_ms == 1762776436000


def test_matchtime_and_match_time_are_both_read() -> None:
    raw = json.loads(_frame("ws_messages/user_trade2.json"))
    raw["matchtime"] = raw.pop("match_time")
    (message,) = UserFrameDecoder().decode(json.dumps(raw))
    assert isinstance(message, TradeMessage)
    assert trade_update_from_wire(message, received_ns=NS).matched_at_s == 1725958681
    del raw["matchtime"]
    (message,) = UserFrameDecoder().decode(json.dumps(raw))
    assert isinstance(message, TradeMessage)
    assert trade_update_from_wire(message, received_ns=NS).matched_at_s is None


def test_rest_trade_row_is_a_reconciled_trade_update() -> None:
    record = msgspec.json.decode(_frame("ws_messages/trades.json"), type=TradeRecord)
    update = trade_update_from_wire(record, received_ns=NS)
    assert update.reconciled is True
    assert update.status is TradeStatus(record.status)
    assert update.size == Decimal(record.size)


def test_rest_order_row_is_a_reconciled_order_update() -> None:
    order = OpenOrder(
        id="0x1",
        status="ORDER_STATUS_LIVE",
        market="0xm",
        asset_id="7",
        side="SELL",
        original_size="10",
        size_matched="2.5",
        price="0.4",
        order_type="GTC",
    )
    update = order_update_from_rest(order, OrderEventKind.UPDATE, received_ns=NS)
    assert (update.kind, update.status, update.reconciled) == (OrderEventKind.UPDATE, OrderStatus.LIVE, True)
    assert update.size_matched == Decimal("2.5") and update.venue_timestamp_ms is None


def test_frames_arrays_unknown_types_and_malformed() -> None:
    decoder = UserFrameDecoder()
    order = json.loads(_frame("ws_messages/order_placement.json"))
    trade = json.loads(_frame("ws_messages/user_trade2.json"))
    assert len(decoder.decode(json.dumps([order, trade]))) == 2
    assert len(decoder.decode(json.dumps([order, {"event_type": "balance", "x": 1}]))) == 1
    assert decoder.unknown_event_types == {"balance": 1}
    with pytest.raises(MalformedMessageError):
        decoder.decode(b'{"event_type": "order", "id": "0x1"}')
    with pytest.raises(MalformedMessageError):
        decoder.decode(b"not json")
    with pytest.raises(MalformedMessageError):
        decoder.decode(b'{"id": "0x1"}')


def test_bad_values_raise_typed_errors() -> None:
    raw = json.loads(_frame("ws_messages/order_placement.json"))
    with pytest.raises(InvalidNumberError):
        order_update_from_wire(msgspec.convert({**raw, "price": "0.5e1"}, OrderMessage), received_ns=NS)
    with pytest.raises(InvalidValueError):
        order_update_from_wire(msgspec.convert({**raw, "side": "HOLD"}, OrderMessage), received_ns=NS)
    with pytest.raises(InvalidValueError):
        order_update_from_wire(msgspec.convert({**raw, "type": "AMEND"}, OrderMessage), received_ns=NS)


# --- deduplication ------------------------------------------------------------------------------


def _order(kind: OrderEventKind, matched: str, *, status: str = "LIVE", reconciled: bool = False) -> OrderUpdate:
    raw = json.loads(_frame("ws_messages/order_placement.json"))
    message = msgspec.convert({**raw, "type": kind.value, "size_matched": matched, "status": status}, OrderMessage)
    update = order_update_from_wire(message, received_ns=NS)
    if reconciled:
        return order_update_from_rest(
            OpenOrder(
                id=update.order_id,
                status=status,
                market=update.market,
                asset_id=update.token_id,
                side=update.side.value,
                original_size="5",
                size_matched=matched,
                price="0.513",
            ),
            kind,
            received_ns=NS,
        )
    return update


def _trade(status: str, *, reconciled: bool = False) -> TradeUpdate:
    raw = json.loads(_frame("ws_messages/user_trade2.json"))
    if reconciled:
        record = {key: value for key, value in raw.items() if key not in ("event_type", "timestamp", "trade_owner")}
        record.pop("type")
        return trade_update_from_wire(msgspec.convert({**record, "status": status}, TradeRecord), received_ns=NS)
    message = msgspec.convert({**raw, "status": status}, TradeMessage)
    return trade_update_from_wire(message, received_ns=NS)


def test_tracker_delivers_orders_only_when_they_move_forward() -> None:
    tracker = UserEventTracker()
    assert tracker.accept(_order(OrderEventKind.PLACEMENT, "0"))
    assert not tracker.accept(_order(OrderEventKind.PLACEMENT, "0"))  # duplicate frame
    assert tracker.open_order_ids() == ["0x0f76f4dc6eaf3332f4100f2e8a0b4a927351dd64646b7bb12f37df775c657a78"]
    # REST shows a fill the socket missed: delivered once, the late socket copy is not.
    assert tracker.accept(_order(OrderEventKind.UPDATE, "2", reconciled=True))
    assert not tracker.accept(_order(OrderEventKind.UPDATE, "2"))
    assert not tracker.accept(_order(OrderEventKind.UPDATE, "1"))  # late and older
    assert tracker.accept(_order(OrderEventKind.CANCELLATION, "2", status="CANCELED"))
    assert tracker.open_order_ids() == []
    assert not tracker.accept(_order(OrderEventKind.CANCELLATION, "2", status="CANCELED", reconciled=True))


def test_tracker_trade_lifecycle() -> None:
    tracker = UserEventTracker()
    assert tracker.accept(_trade("MATCHED"))
    assert tracker.oldest_unsettled_match_s() == 1725958681
    assert not tracker.accept(_trade("MATCHED", reconciled=True))
    assert tracker.accept(_trade("MINED", reconciled=True))
    assert tracker.accept(_trade("RETRYING"))
    assert tracker.accept(_trade("MINED"))  # the socket may go back through RETRYING -> MINED
    assert not tracker.accept(_trade("MATCHED", reconciled=True))  # a lagging REST row never regresses
    assert tracker.accept(_trade("CONFIRMED"))
    assert tracker.oldest_unsettled_match_s() is None
    assert not tracker.accept(_trade("MINED"))  # nothing follows a terminal status
    assert not tracker.accept(_trade("CONFIRMED", reconciled=True))


def test_tracker_is_bounded() -> None:
    tracker = UserEventTracker(limit=1)
    assert tracker.accept(_trade("MATCHED"))
    assert tracker.accept(_order(OrderEventKind.PLACEMENT, "0"))
    assert tracker.knows_order("0x0f76f4dc6eaf3332f4100f2e8a0b4a927351dd64646b7bb12f37df775c657a78")
    with pytest.raises(InvalidValueError):
        UserEventTracker(limit=0)
