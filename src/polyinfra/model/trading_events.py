"""Domain events of the user's own orders and trades (venue notes: User channel).

The user channel's ``order`` and ``trade`` messages, and the REST rows the client reconciles them
with after a gap, become these records: exact Decimals, enums, the venue's time and the local
receive time, and ``reconciled`` saying whether the socket delivered the change or the client
synthesized it from REST because the socket had missed it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Final

from polyinfra.model.numbers import Side

__all__ = [
    "MakerFill",
    "OrderEventKind",
    "OrderStatus",
    "OrderUpdate",
    "TradeStatus",
    "TradeUpdate",
    "UserChannelEvent",
    "parse_order_status",
    "parse_trade_status",
]


class OrderEventKind(StrEnum):
    """What happened to an order (the ``type`` of an ``order`` message)."""

    PLACEMENT = "PLACEMENT"
    UPDATE = "UPDATE"
    """Part or all of the order matched."""
    CANCELLATION = "CANCELLATION"


class OrderStatus(StrEnum):
    """An order's status (venue notes: User channel, Responses; REST spells it ``ORDER_STATUS_LIVE``)."""

    LIVE = "LIVE"
    MATCHED = "MATCHED"
    DELAYED = "DELAYED"
    UNMATCHED = "UNMATCHED"
    CANCELED = "CANCELED"
    INVALID = "INVALID"
    UNKNOWN = "UNKNOWN"
    """A status polyinfra does not know; :attr:`OrderUpdate.venue_status` has the venue's text."""


class TradeStatus(StrEnum):
    """A trade's settlement status: ``MATCHED -> MINED -> CONFIRMED``, or through ``RETRYING``
    to ``FAILED`` (venue notes: User channel)."""

    MATCHED = "MATCHED"
    MINED = "MINED"
    CONFIRMED = "CONFIRMED"
    RETRYING = "RETRYING"
    FAILED = "FAILED"
    UNKNOWN = "UNKNOWN"
    """A status polyinfra does not know; :attr:`TradeUpdate.venue_status` has the venue's text."""

    @property
    def terminal(self) -> bool:
        """No later status can follow this one."""
        return self is TradeStatus.CONFIRMED or self is TradeStatus.FAILED


_REST_ORDER_STATUS_PREFIX: Final = "ORDER_STATUS_"
_ORDER_STATUSES: Final = {status.value: status for status in OrderStatus if status is not OrderStatus.UNKNOWN}
_TRADE_STATUSES: Final = {status.value: status for status in TradeStatus if status is not TradeStatus.UNKNOWN}


def parse_order_status(text: str) -> tuple[OrderStatus, str | None]:
    """The status and the venue's reason, if one follows it.

    The venue appends a reason after an underscore (``"CANCELED_order couldn't be fully filled.
    FOK orders are fully filled or killed."`` for a killed FOK) and REST prefixes
    ``ORDER_STATUS_`` (venue notes: Responses); no known status contains an underscore, so the first one
    after the prefix ends the status word. Case-insensitive, as the venue mixes cases across APIs.
    """
    upper = text.upper()
    if upper.startswith(_REST_ORDER_STATUS_PREFIX):
        text = text[len(_REST_ORDER_STATUS_PREFIX) :]
    word, separator, reason = text.partition("_")
    status = _ORDER_STATUSES.get(word.upper(), OrderStatus.UNKNOWN)
    return status, (reason if separator and reason else None)


def parse_trade_status(text: str) -> TradeStatus:
    """The trade status of the venue's text (case-insensitive; unknown ones are ``UNKNOWN``)."""
    return _TRADE_STATUSES.get(text.upper(), TradeStatus.UNKNOWN)


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """One of the user's orders was placed, (partly) matched or cancelled."""

    order_id: str
    market: str
    """Condition id."""
    token_id: str
    kind: OrderEventKind
    status: OrderStatus
    status_reason: str | None
    """The venue's reason after the status word (a killed FOK says why), None without one."""
    venue_status: str
    """The status as the venue sent it."""
    side: Side
    price: Decimal
    original_size: Decimal
    size_matched: Decimal
    order_type: str | None
    """``GTC``, ``GTD``, ``FOK`` or ``FAK`` as sent; None when the venue left it out."""
    outcome: str | None
    associate_trades: tuple[str, ...]
    venue_timestamp_ms: int | None
    received_ns: int
    """Local ``time.time_ns()`` when the message (or, when reconciled, the REST answer) arrived."""
    reconciled: bool
    """True when the socket missed this change and the client synthesized it from REST."""

    @property
    def remaining_size(self) -> Decimal:
        """Shares still open (zero once cancelled or fully matched, as far as sizes tell)."""
        return max(Decimal(0), self.original_size - self.size_matched)


@dataclass(frozen=True, slots=True)
class MakerFill:
    """One resting order a trade matched; ``token_id`` may be the complementary outcome's."""

    order_id: str
    token_id: str
    price: Decimal
    matched_size: Decimal
    side: Side | None
    """None before the venue sent it (2025-06-03)."""
    owner: str | None
    maker_address: str | None
    outcome: str | None


@dataclass(frozen=True, slots=True)
class TradeUpdate:
    """A trade involving the user, once when matched and again on each status change."""

    trade_id: str
    market: str
    token_id: str
    status: TradeStatus
    venue_status: str
    side: Side
    price: Decimal
    size: Decimal
    outcome: str | None
    trader_side: str | None
    """``TAKER`` or ``MAKER``: which side of this trade the user was on."""
    taker_order_id: str | None
    maker_orders: tuple[MakerFill, ...]
    transaction_hash: str | None
    matched_at_s: int | None
    """Unix seconds of the match (``match_time`` / ``matchtime``)."""
    venue_timestamp_ms: int | None
    received_ns: int
    reconciled: bool
    """True when the socket missed this status and the client synthesized it from REST."""


UserChannelEvent = OrderUpdate | TradeUpdate
"""Everything the user channel delivers to consumers."""
