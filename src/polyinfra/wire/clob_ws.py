"""Market-channel wire schemas (venue notes: WebSockets, Market channel), mirroring the venue byte for byte.

Strings stay strings (prices, sizes, timestamps), exactly as sent: the book hash is computed over
them, and parsing into exact numbers happens once, in the core. A field the venue may omit is
``UNSET``; one it may send as ``null`` also admits ``None``; ``""`` stays ``""``. Encoding with
``omit_defaults`` therefore reproduces what was received, which the capture tests check.

A frame is one event object or a JSON array of them; the text frame ``PONG`` answers ``PING``.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec
from msgspec import UNSET, Struct, UnsetType

from polyinfra.errors import MalformedMessageError
from polyinfra.wire.json_decoding import MAX_FRAME_BYTES, JsonDecoder

__all__ = [
    "MARKET_EVENT_TYPES",
    "PING",
    "PONG",
    "BestBidAskMessage",
    "BookMessage",
    "EventMessage",
    "LastTradePriceMessage",
    "LegacyPriceChange",
    "MarketEvent",
    "MarketFrameDecoder",
    "MarketResolvedMessage",
    "NewMarketMessage",
    "PriceChange",
    "PriceChangeMessage",
    "PriceLevel",
    "TickSizeChangeMessage",
]

PONG: Final = "PONG"
PING: Final = "PING"


class PriceLevel(Struct, frozen=True, gc=False):
    """``{"price": "0.45", "size": "100"}``; ``size`` is the level's aggregate size."""

    price: str
    size: str


class _Event(Struct, tag_field="event_type", omit_defaults=True, gc=False):
    """Market-channel events are tagged by ``event_type``."""


class BookMessage(_Event, tag="book"):
    """Full snapshot of one token's book. Real servers list bids ascending and asks descending:
    the best price is LAST on both sides (venue notes: Order books)."""

    asset_id: str
    market: str
    bids: list[PriceLevel]
    asks: list[PriceLevel]
    timestamp: str
    hash: str | UnsetType | None = UNSET
    # Since 2025-07 REST summaries carry these; accept them on the socket too.
    min_order_size: str | UnsetType = UNSET
    tick_size: str | UnsetType = UNSET
    neg_risk: bool | UnsetType = UNSET
    last_trade_price: str | UnsetType = UNSET


class PriceChange(Struct, omit_defaults=True, gc=False):
    """One level change of the current ``price_change`` format (since 2025-09-15).

    ``size`` is the NEW aggregate size of the level ("0" removes it); ``side`` BUY is a bid level,
    SELL an ask level; ``best_bid``/``best_ask`` are that asset's best prices after the change.
    """

    asset_id: str
    price: str
    side: str
    size: str | UnsetType = UNSET
    hash: str | UnsetType = UNSET
    best_bid: str | UnsetType = UNSET
    best_ask: str | UnsetType = UNSET


class LegacyPriceChange(Struct, omit_defaults=True, gc=False):
    """An item of the legacy ``changes`` array (before 2025-09-15)."""

    price: str
    side: str
    size: str


class PriceChangeMessage(_Event, tag="price_change"):
    """Level updates. Three generations share the tag:

    * current: ``price_changes[]``, each with its own ``asset_id``;
    * legacy array: root ``asset_id`` and ``hash`` with ``changes[]``;
    * legacy single level (2024 captures): root ``asset_id``, ``price``, ``side``, ``size``, ``hash``.
    """

    market: str
    timestamp: str
    price_changes: list[PriceChange] | UnsetType = UNSET
    asset_id: str | UnsetType = UNSET
    hash: str | UnsetType = UNSET
    changes: list[LegacyPriceChange] | UnsetType = UNSET
    price: str | UnsetType = UNSET
    side: str | UnsetType = UNSET
    size: str | UnsetType = UNSET


class LastTradePriceMessage(_Event, tag="last_trade_price"):
    asset_id: str
    market: str
    price: str
    timestamp: str
    side: str | UnsetType = UNSET
    size: str | UnsetType = UNSET
    fee_rate_bps: str | UnsetType = UNSET
    transaction_hash: str | UnsetType = UNSET


class TickSizeChangeMessage(_Event, tag="tick_size_change"):
    asset_id: str
    market: str
    old_tick_size: str
    new_tick_size: str
    timestamp: str
    side: str | UnsetType = UNSET


class BestBidAskMessage(_Event, tag="best_bid_ask"):
    """Custom-feature event (needs ``custom_feature_enabled: true``)."""

    market: str
    asset_id: str
    best_bid: str
    best_ask: str
    spread: str
    timestamp: str


class EventMessage(Struct, omit_defaults=True, gc=False):
    """The parent event of a ``new_market``."""

    id: str
    ticker: str | UnsetType = UNSET
    slug: str | UnsetType = UNSET
    title: str | UnsetType = UNSET
    description: str | UnsetType = UNSET


class NewMarketMessage(_Event, tag="new_market"):
    """Custom-feature event announcing a market."""

    id: str
    market: str
    assets_ids: list[str]
    timestamp: str
    question: str | UnsetType = UNSET
    slug: str | UnsetType = UNSET
    description: str | UnsetType = UNSET
    outcomes: list[str] | UnsetType = UNSET
    event_message: EventMessage | UnsetType = UNSET
    tags: list[str] | UnsetType = UNSET
    condition_id: str | UnsetType = UNSET
    active: bool | UnsetType = UNSET
    clob_token_ids: list[str] | UnsetType = UNSET
    sports_market_type: str | UnsetType = UNSET
    line: str | UnsetType = UNSET
    game_start_time: str | UnsetType = UNSET
    order_price_min_tick_size: str | UnsetType = UNSET
    group_item_title: str | UnsetType = UNSET


class MarketResolvedMessage(_Event, tag="market_resolved"):
    """Custom-feature event: the market resolved to ``winning_asset_id``."""

    id: str
    market: str
    assets_ids: list[str]
    winning_asset_id: str
    winning_outcome: str
    timestamp: str
    question: str | UnsetType = UNSET
    slug: str | UnsetType = UNSET
    description: str | UnsetType = UNSET
    outcomes: list[str] | UnsetType = UNSET
    event_message: EventMessage | UnsetType = UNSET
    tags: list[str] | UnsetType = UNSET


MarketEvent = (
    BookMessage
    | PriceChangeMessage
    | LastTradePriceMessage
    | TickSizeChangeMessage
    | BestBidAskMessage
    | NewMarketMessage
    | MarketResolvedMessage
)
"""Every market-channel event polyinfra understands."""

MARKET_EVENT_TYPES: Final = (
    BookMessage,
    PriceChangeMessage,
    LastTradePriceMessage,
    TickSizeChangeMessage,
    BestBidAskMessage,
    NewMarketMessage,
    MarketResolvedMessage,
)


class MarketFrameDecoder:
    """Decodes market-channel frames into typed events.

    The fast path decodes a whole frame (one event or an array) in one msgspec call. When that
    fails, the slow path looks at each event on its own: an ``event_type`` polyinfra does not know
    is skipped and counted in :attr:`unknown_event_types` (the venue adds event types over time);
    anything else that does not fit the schema, or is not bounded JSON (see
    :mod:`polyinfra.wire.json_decoding`), raises :class:`MalformedMessageError`.
    """

    def __init__(self) -> None:
        self._typed = JsonDecoder(MarketEvent | list[MarketEvent], what="market frame", max_bytes=MAX_FRAME_BYTES)
        self._untyped: JsonDecoder[Any] = JsonDecoder(what="market frame", max_bytes=MAX_FRAME_BYTES)
        self.unknown_event_types: dict[str, int] = {}

    def decode(self, frame: bytes | str) -> list[MarketEvent]:
        try:
            decoded = self._typed.decode(frame)
        except MalformedMessageError:
            return self._decode_each(frame)
        return decoded if isinstance(decoded, list) else [decoded]

    def _decode_each(self, frame: bytes | str) -> list[MarketEvent]:
        document = self._untyped.decode(frame, frame=_excerpt(frame))
        items = document if isinstance(document, list) else [document]
        events: list[MarketEvent] = []
        for item in items:
            event_type = item.get("event_type") if isinstance(item, dict) else None
            if not isinstance(event_type, str):
                raise MalformedMessageError("market event has no event_type", frame=_excerpt(frame))
            if event_type not in _KNOWN_TAGS:
                self.unknown_event_types[event_type] = self.unknown_event_types.get(event_type, 0) + 1
                continue
            try:
                events.append(msgspec.convert(item, MarketEvent))
            except msgspec.ValidationError as exc:
                raise MalformedMessageError(
                    "market event does not match its schema",
                    event_type=event_type,
                    detail=str(exc),
                    frame=_excerpt(frame),
                ) from exc
        return events


_KNOWN_TAGS: Final = frozenset(cls.__struct_config__.tag for cls in MARKET_EVENT_TYPES)
_EXCERPT_CHARS: Final = 200


def _excerpt(frame: bytes | str) -> str:
    text = frame.decode("utf-8", "replace") if isinstance(frame, bytes) else frame
    return text if len(text) <= _EXCERPT_CHARS else text[:_EXCERPT_CHARS] + "..."
