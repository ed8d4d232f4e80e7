"""User-channel wire schemas (venue notes: User channel) and the REST ``/data/trades`` row (venue notes: Responses).

Same conventions as :mod:`polyinfra.wire.clob_ws`: strings kept exactly as sent (sizes, prices,
timestamps, and statuses such as ``"CANCELED_order couldn't be fully filled..."``), ``UNSET`` for
keys the venue may omit, ``None`` only where it sends ``null``. Only the keys without which an
event means nothing are required: a fill must not be lost because the venue dropped a
bookkeeping key. Fields follow the venue's key order (alphabetical on the socket, its own order
in REST rows); ``kw_only`` allows that order with required and optional keys interleaved.

``timestamp`` is ms in some captures and seconds in others (venue notes: User channel); the core decides which.

A frame is one event object or a JSON array of them; :class:`UserFrameDecoder` decodes it as
:class:`~polyinfra.wire.clob_ws.MarketFrameDecoder` does the market channel's.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec
from msgspec import UNSET, Struct, UnsetType

from polyinfra.errors import MalformedMessageError
from polyinfra.wire.json_decoding import MAX_FRAME_BYTES, JsonDecoder

__all__ = [
    "MakerOrder",
    "OrderMessage",
    "TradeMessage",
    "TradeRecord",
    "UserEvent",
    "UserFrameDecoder",
]

_KNOWN_TAGS: Final = frozenset({"order", "trade"})
_EXCERPT_CHARS: Final = 200


class _UserEvent(Struct, tag_field="event_type", omit_defaults=True, gc=False):
    """User-channel events are tagged by ``event_type``."""


class OrderMessage(_UserEvent, tag="order", kw_only=True):
    """An order of the user was placed, partly matched or cancelled.

    ``type`` is ``PLACEMENT``, ``UPDATE`` (partial match) or ``CANCELLATION``; ``status`` is the
    order status (``LIVE``, ``MATCHED``, ``CANCELED``, ``INVALID``, ...), sometimes followed by the
    venue's reason (``CANCELED_order couldn't be fully filled...`` for a killed FOK).
    ``associate_trades`` is ``null`` or a list of trade ids.
    """

    asset_id: str
    associate_trades: list[str] | UnsetType | None = UNSET
    created_at: str | UnsetType = UNSET
    expiration: str | UnsetType = UNSET
    id: str
    maker_address: str | UnsetType = UNSET
    market: str
    order_owner: str | UnsetType = UNSET
    order_type: str | UnsetType = UNSET
    original_size: str
    outcome: str | UnsetType = UNSET
    owner: str | UnsetType = UNSET
    price: str
    side: str
    # "" on a killed FOK (rust_test_data/ws_user_order_fok_killed.json).
    size_matched: str
    status: str | UnsetType = UNSET
    timestamp: str | UnsetType = UNSET
    type: str


class MakerOrder(Struct, omit_defaults=True, kw_only=True, gc=False):
    """One resting order a trade matched. ``asset_id`` may be the complementary token: a Yes buy
    can match a No buy (the cross-asset match in ``user_trade1.json``). ``side`` exists since
    2025-06-03 (venue notes: Responses)."""

    order_id: str
    owner: str | UnsetType = UNSET
    maker_address: str | UnsetType = UNSET
    matched_amount: str
    price: str
    fee_rate_bps: str | UnsetType = UNSET
    asset_id: str
    outcome: str | UnsetType = UNSET
    side: str | UnsetType = UNSET
    outcome_index: int | UnsetType = UNSET


class TradeMessage(_UserEvent, tag="trade", kw_only=True):
    """A trade involving the user, sent once when matched and again on each status change
    (``MATCHED`` -> ``MINED`` -> ``CONFIRMED``, or ``RETRYING`` -> ``FAILED``).

    The match time is ``matchtime`` in older docs and ``match_time`` in newer ones and every capture
    (venue notes: User channel): both are kept, and :attr:`matched_at` reads whichever came.
    """

    asset_id: str
    bucket_index: int | UnsetType = UNSET
    fee_rate_bps: str | UnsetType = UNSET
    id: str
    last_update: str | UnsetType = UNSET
    maker_address: str | UnsetType = UNSET
    maker_orders: list[MakerOrder] | UnsetType = UNSET
    market: str
    match_time: str | UnsetType = UNSET
    matchtime: str | UnsetType = UNSET
    outcome: str | UnsetType = UNSET
    owner: str | UnsetType = UNSET
    price: str
    side: str
    size: str
    status: str
    taker_order_id: str | UnsetType = UNSET
    timestamp: str | UnsetType = UNSET
    trade_owner: str | UnsetType = UNSET
    trader_side: str | UnsetType = UNSET
    transaction_hash: str | UnsetType = UNSET
    type: str | UnsetType = UNSET

    @property
    def matched_at(self) -> str | None:
        """The match time (unix seconds, as sent) under either spelling, or None if neither came."""
        if self.match_time is not UNSET:
            return self.match_time
        if self.matchtime is not UNSET:
            return self.matchtime
        return None


UserEvent = OrderMessage | TradeMessage
"""Every user-channel event polyinfra understands."""


class TradeRecord(Struct, omit_defaults=True, kw_only=True, gc=False):
    """One row of ``GET /data/trades`` (venue notes: Responses): the same trade as :class:`TradeMessage`,
    without ``event_type``, in the REST key order. ``fee_rate_bps`` may be ``""`` since V2 and
    ``transaction_hash`` is empty or absent until the trade is broadcast (official Rust client)."""

    id: str
    taker_order_id: str
    market: str
    asset_id: str
    side: str
    size: str
    fee_rate_bps: str
    price: str
    status: str
    match_time: str
    last_update: str
    outcome: str
    bucket_index: int
    owner: str
    maker_address: str
    transaction_hash: str | UnsetType = UNSET
    maker_orders: list[MakerOrder]
    trader_side: str
    error_msg: str | UnsetType | None = UNSET


class UserFrameDecoder:
    """Decodes user-channel frames (one event, or a JSON array of them; venue notes: WebSockets).

    The pattern of :class:`~polyinfra.wire.clob_ws.MarketFrameDecoder`: one msgspec call on the
    fast path; on failure each event alone, unknown ``event_type`` skipped and counted in
    :attr:`unknown_event_types`, anything else (unbounded JSON included) raising
    :class:`MalformedMessageError`. The error names the event type and id, never the frame: it
    carries the user's owner key.
    """

    def __init__(self) -> None:
        self._typed = JsonDecoder(UserEvent | list[UserEvent], what="user frame", max_bytes=MAX_FRAME_BYTES)
        self._untyped: JsonDecoder[Any] = JsonDecoder(what="user frame", max_bytes=MAX_FRAME_BYTES)
        self.unknown_event_types: dict[str, int] = {}

    def decode(self, frame: bytes | str) -> list[UserEvent]:
        try:
            decoded = self._typed.decode(frame)
        except MalformedMessageError:
            return self._decode_each(frame)
        return decoded if isinstance(decoded, list) else [decoded]

    def _decode_each(self, frame: bytes | str) -> list[UserEvent]:
        document = self._untyped.decode(frame)
        items = document if isinstance(document, list) else [document]
        events: list[UserEvent] = []
        for item in items:
            event_type = item.get("event_type") if isinstance(item, dict) else None
            if not isinstance(event_type, str):
                raise MalformedMessageError("user event has no event_type")
            if event_type not in _KNOWN_TAGS:
                self.unknown_event_types[event_type] = self.unknown_event_types.get(event_type, 0) + 1
                continue
            try:
                events.append(msgspec.convert(item, UserEvent))
            except msgspec.ValidationError as exc:
                raise MalformedMessageError(
                    "user event does not match its schema",
                    event_type=event_type,
                    id=str(item.get("id", ""))[:_EXCERPT_CHARS],
                    detail=str(exc),
                ) from exc
        return events
