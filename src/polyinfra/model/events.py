"""Domain events the live-book client hands to consumers (docs/DEVELOPING.md, Architecture).

Wire messages mirror the venue; these say what happened to the local state, in domain types:
exact Decimals, enums, both the venue's time and the local receive time. They are small frozen
records, cheap to create on the hot path and safe to share between tasks.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from polyinfra.model.numbers import Side, TickSize

__all__ = [
    "BookEvent",
    "BookUpdated",
    "MarketListed",
    "MarketResolved",
    "SyncState",
    "SyncStateChanged",
    "TickSizeChanged",
    "TradePrinted",
]


class SyncState(StrEnum):
    """Whether a token's local book provably matches the venue's."""

    SYNCING = "syncing"
    """Waiting for a first snapshot, or for a fresh one after a reconnect or a detected gap."""
    LIVE = "live"
    """A verified snapshot and every change since applied; nothing contradicted it."""
    STALE = "stale"
    """No longer trusted: the connection went silent or closed, or the data contradicted the book.
    The client is already repairing it; reads still return the last known state."""


@dataclass(frozen=True, slots=True)
class BookUpdated:
    """A token's book changed (a snapshot or level changes were applied)."""

    token_id: str
    market: str
    venue_timestamp_ms: int | None
    received_ns: int
    """Local ``time.time_ns()`` when the frame that carried the change arrived."""
    snapshot: bool
    """True for a full snapshot (``book`` message or REST), False for level changes."""


@dataclass(frozen=True, slots=True)
class TradePrinted:
    """The venue reported a trade (``last_trade_price``)."""

    token_id: str
    market: str
    price: Decimal
    side: Side | None
    size: Decimal | None
    venue_timestamp_ms: int | None
    received_ns: int


@dataclass(frozen=True, slots=True)
class TickSizeChanged:
    token_id: str
    market: str
    old: TickSize | None
    new: TickSize
    venue_timestamp_ms: int | None
    received_ns: int


@dataclass(frozen=True, slots=True)
class SyncStateChanged:
    token_id: str
    old: SyncState
    new: SyncState
    reason: str
    """Why, in a few words: "snapshot", "reconnect", "silence", "hash mismatch", "audit", ..."""
    received_ns: int


@dataclass(frozen=True, slots=True)
class MarketListed:
    """``new_market`` (custom feature): a market was listed."""

    market: str
    token_ids: tuple[str, ...]
    question: str
    venue_timestamp_ms: int | None
    received_ns: int


@dataclass(frozen=True, slots=True)
class MarketResolved:
    """``market_resolved`` (custom feature)."""

    market: str
    winning_token_id: str
    venue_timestamp_ms: int | None
    received_ns: int


BookEvent = BookUpdated | TradePrinted | TickSizeChanged | SyncStateChanged | MarketListed | MarketResolved
"""Everything the live-book client delivers to consumers."""
