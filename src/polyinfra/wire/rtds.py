"""RTDS (real-time data socket) wire schemas for the price topics (venue notes: RTDS).

A server frame is ``{"topic", "type", "timestamp", "payload"}``. On the price topics
(``crypto_prices``, ``crypto_prices_chainlink``, the TWAP topics, ``equity_prices``) ``type`` is
``"subscribe"`` for the backfill sent once after subscribing (``payload.data[]``, about two
minutes of points) and ``"update"`` for each live price; that tag picks the struct.

Prices arrive as JSON numbers and are ``Decimal``, exact from their text; the venue's own exact
value, when it sends one, is the string ``full_accuracy_value`` (a plain decimal on Binance, a
signed E18 integer on Chainlink and TWAP topics). Timestamps are int ms.

Do not trust ``topic`` alone: a ``crypto_prices_chainlink`` backfill arrives labelled
``crypto_prices``; only the symbol format (``btc/usd`` vs ``btcusdt``) tells them apart (venue notes: RTDS).
"""

from __future__ import annotations

from decimal import Decimal

from msgspec import UNSET, Struct, UnsetType, field

__all__ = [
    "ErrorFrame",
    "ErrorFrameBody",
    "PriceBackfill",
    "PriceBackfillMessage",
    "PriceMessage",
    "PricePoint",
    "PriceUpdate",
    "PriceUpdateMessage",
]


class PricePoint(Struct, omit_defaults=True, gc=False):
    """One backfill point; TWAP points also carry ``full_accuracy_value``."""

    timestamp: int
    value: Decimal
    full_accuracy_value: str | UnsetType = UNSET


class PriceBackfill(Struct, omit_defaults=True, gc=False):
    """Payload of a ``subscribe`` frame: recent points of one symbol."""

    symbol: str
    data: list[PricePoint]


class PriceUpdate(Struct, omit_defaults=True, gc=False):
    """Payload of an ``update`` frame: one price of one symbol (symbols are lower case)."""

    symbol: str
    timestamp: int
    value: Decimal
    full_accuracy_value: str | UnsetType = UNSET
    # Equities: present only when non-zero / only when true (market closed) (venue notes: RTDS).
    received_at: int | UnsetType = UNSET
    is_carried_forward: bool | UnsetType = UNSET
    # TWAP topics: the averaging window, 30 or 60.
    window_s: int | UnsetType = UNSET


class _Frame(Struct, tag_field="type", omit_defaults=True, gc=False):
    """Server frames are tagged by ``type``; ``timestamp`` is the send time in ms."""

    topic: str
    timestamp: int


class PriceUpdateMessage(_Frame, tag="update"):
    """A live price. Only live updates carry ``connection_id`` (venue notes: RTDS)."""

    payload: PriceUpdate
    connection_id: str | UnsetType = UNSET


class PriceBackfillMessage(_Frame, tag="subscribe"):
    """The backfill a price topic sends once per subscription, before its updates."""

    payload: PriceBackfill


PriceMessage = PriceUpdateMessage | PriceBackfillMessage
"""Every price-topic frame polyinfra understands."""


class ErrorFrameBody(Struct, gc=False):
    """``body`` of an :class:`ErrorFrame`: the venue's message."""

    message: str


class ErrorFrame(Struct, gc=False):
    """The server's answer to a bad subscription: ``{"body": {"message": ...}, "statusCode": 400}``
    (venue notes: RTDS); e.g. 401 for an unknown topic, which also silences every topic of that batch."""

    body: ErrorFrameBody
    status_code: int = field(name="statusCode")
