"""User-channel messages and REST order and trade rows as domain events (venue notes: User channel).

:class:`~polyinfra.model.trading_events.OrderUpdate` and :class:`~polyinfra.model.trading_events.TradeUpdate`
are made here from the venue's strings, parsed exactly once: from the socket's ``order`` and ``trade``
messages, and from the REST rows a reconciliation reads (``/data/orders``, ``/data/order/{id}``,
``/data/trades``), which become events with ``reconciled=True``. The live channel and its replay both
convert through these functions, so a replay makes the events the live channel delivered. Pure: it
sits beside the channel rather than in the core only because the REST order row
(:class:`~polyinfra.clob.trading.OpenOrder`) is the trading client's.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from msgspec import UNSET, UnsetType

from polyinfra.clob.trading import OpenOrder
from polyinfra.errors import InvalidNumberError, InvalidValueError
from polyinfra.model.numbers import Side, micros_to_decimal, parse_micros, parse_timestamp
from polyinfra.model.trading_events import (
    MakerFill,
    OrderEventKind,
    OrderUpdate,
    TradeUpdate,
    UserChannelEvent,
    parse_order_status,
    parse_trade_status,
)
from polyinfra.wire.clob_user import MakerOrder, OrderMessage, TradeMessage, TradeRecord, UserEvent

__all__ = [
    "order_update_from_rest",
    "order_update_from_wire",
    "trade_update_from_wire",
    "user_event_from_wire",
    "venue_timestamp_ms",
]

# Venue timestamps below this are seconds, above it milliseconds (venue notes: User channel): 1e11 s is
# the year 5138, 1e11 ms is 1973.
_MS_THRESHOLD: Final = 10**11


def _decimal(text: str, *, field: str, record_id: str) -> Decimal:
    try:
        return micros_to_decimal(parse_micros(text))
    except InvalidNumberError as exc:
        raise InvalidNumberError(exc.message, field=field, id=record_id, value=text) from None


def _side(text: str | UnsetType, *, field: str, record_id: str) -> Side:
    try:
        return Side(str(text).upper())
    except ValueError:
        raise InvalidValueError("not BUY or SELL", field=field, id=record_id, value=text) from None


def venue_timestamp_ms(text: str | UnsetType | None) -> int | None:
    """A venue timestamp in ms; seconds and ms both occur (venue notes: User channel); empty or absent is None."""
    value = None if text is UNSET or text is None else parse_timestamp(text)
    if value is None:
        return None
    return value if value >= _MS_THRESHOLD else value * 1000


def _seconds(text: str | UnsetType | None) -> int | None:
    ms = venue_timestamp_ms(text)
    return None if ms is None else ms // 1000


def _optional(text: str | UnsetType | None) -> str | None:
    return None if text is UNSET or text is None or text == "" else text


def order_update_from_wire(message: OrderMessage, *, received_ns: int) -> OrderUpdate:
    """An ``order`` message as a domain event; raises :class:`InvalidValueError` for bad values."""
    try:
        kind = OrderEventKind(message.type.upper())
    except ValueError:
        raise InvalidValueError("unknown order event type", field="type", id=message.id, value=message.type) from None
    venue_status = "" if message.status is UNSET else message.status
    status, reason = parse_order_status(venue_status)
    return OrderUpdate(
        order_id=message.id,
        market=message.market,
        token_id=message.asset_id,
        kind=kind,
        status=status,
        status_reason=reason,
        venue_status=venue_status,
        side=_side(message.side, field="side", record_id=message.id),
        price=_decimal(message.price, field="price", record_id=message.id),
        original_size=_decimal(message.original_size, field="original_size", record_id=message.id),
        # "" on a killed FOK (rust_test_data/ws_user_order_fok_killed.json): nothing matched.
        size_matched=(
            Decimal(0)
            if message.size_matched == ""
            else _decimal(message.size_matched, field="size_matched", record_id=message.id)
        ),
        order_type=_optional(message.order_type),
        outcome=_optional(message.outcome),
        associate_trades=tuple(message.associate_trades or ()),
        venue_timestamp_ms=venue_timestamp_ms(message.timestamp),
        received_ns=received_ns,
        reconciled=False,
    )


def order_update_from_rest(order: OpenOrder, kind: OrderEventKind, *, received_ns: int) -> OrderUpdate:
    """A REST order row (``/data/orders``, ``/data/order/{id}``) as a synthesized event of ``kind``."""
    status, reason = parse_order_status(order.status)
    return OrderUpdate(
        order_id=order.id,
        market=order.market,
        token_id=order.asset_id,
        kind=kind,
        status=status,
        status_reason=reason,
        venue_status=order.status,
        side=_side(order.side, field="side", record_id=order.id),
        price=_decimal(order.price, field="price", record_id=order.id),
        original_size=_decimal(order.original_size, field="original_size", record_id=order.id),
        size_matched=(
            Decimal(0)
            if order.size_matched == ""
            else _decimal(order.size_matched, field="size_matched", record_id=order.id)
        ),
        order_type=_optional(order.order_type),
        outcome=_optional(order.outcome),
        associate_trades=tuple(order.associate_trades or ()),
        # REST says what the order is now, not when it became so.
        venue_timestamp_ms=None,
        received_ns=received_ns,
        reconciled=True,
    )


def _maker_fill(maker: MakerOrder) -> MakerFill:
    return MakerFill(
        order_id=maker.order_id,
        token_id=maker.asset_id,
        price=_decimal(maker.price, field="maker_orders.price", record_id=maker.order_id),
        matched_size=_decimal(maker.matched_amount, field="maker_orders.matched_amount", record_id=maker.order_id),
        side=None if maker.side is UNSET else _side(maker.side, field="maker_orders.side", record_id=maker.order_id),
        owner=_optional(maker.owner),
        maker_address=_optional(maker.maker_address),
        outcome=_optional(maker.outcome),
    )


def trade_update_from_wire(trade: TradeMessage | TradeRecord, *, received_ns: int) -> TradeUpdate:
    """A ``trade`` message, or a ``/data/trades`` row (then ``reconciled``), as a domain event."""
    if isinstance(trade, TradeMessage):
        matched_at = trade.matched_at
        venue_timestamp = trade.timestamp
        reconciled = False
    else:
        matched_at = trade.match_time
        # A REST row has no event time: its last status change is the closest.
        venue_timestamp = trade.last_update
        reconciled = True
    return TradeUpdate(
        trade_id=trade.id,
        market=trade.market,
        token_id=trade.asset_id,
        status=parse_trade_status(trade.status),
        venue_status=trade.status,
        side=_side(trade.side, field="side", record_id=trade.id),
        price=_decimal(trade.price, field="price", record_id=trade.id),
        size=_decimal(trade.size, field="size", record_id=trade.id),
        outcome=_optional(trade.outcome),
        trader_side=_optional(trade.trader_side),
        taker_order_id=_optional(trade.taker_order_id),
        maker_orders=tuple(_maker_fill(maker) for maker in (trade.maker_orders or ())),
        transaction_hash=_optional(trade.transaction_hash),
        matched_at_s=_seconds(matched_at),
        venue_timestamp_ms=venue_timestamp_ms(venue_timestamp),
        received_ns=received_ns,
        reconciled=reconciled,
    )


def user_event_from_wire(message: UserEvent, *, received_ns: int) -> UserChannelEvent:
    """A decoded user-channel message as its domain event; raises :class:`InvalidValueError` for bad values."""
    if isinstance(message, OrderMessage):
        return order_update_from_wire(message, received_ns=received_ns)
    return trade_update_from_wire(message, received_ns=received_ns)
