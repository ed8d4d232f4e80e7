"""A token's book as the venue publishes it: the summary of ``GET /book`` and ``POST /books`` and the
market channel's ``book`` event (venue notes: Order books), built from exact levels with the hash a
client verifies.

Shared by everything that serves books (the emulator's exchange, the replay server), so that one
place decides the level order (best price last on both sides) and which hash form a summary gets:
the current form when it carries the 2025 summary fields, the legacy form when it does not (a
replayed token whose recording never showed them).
"""

from __future__ import annotations

from collections.abc import Iterable

from msgspec import UNSET, UnsetType

from polyinfra.core.book_hash import book_hash, legacy_book_hash
from polyinfra.model.numbers import format_micros
from polyinfra.wire.clob_rest import OrderBookSummary
from polyinfra.wire.clob_ws import BookMessage, PriceLevel

__all__ = ["book_message", "hashed_summary"]


def hashed_summary(
    *,
    market: str,
    asset_id: str,
    timestamp: str,
    bids: Iterable[tuple[int, int]],
    asks: Iterable[tuple[int, int]],
    min_order_size: str | UnsetType = UNSET,
    tick_size: str | UnsetType = UNSET,
    neg_risk: bool | UnsetType = UNSET,
    last_trade_price: str | UnsetType = UNSET,
) -> OrderBookSummary:
    """The summary of levels given as ``(price, size)`` micro-units, best price LAST on both sides
    (bids ascending, asks descending), hashed as the venue hashes it."""
    bid_levels = _price_levels(bids)
    ask_levels = _price_levels(asks)
    if (
        isinstance(min_order_size, str)
        and isinstance(tick_size, str)
        and isinstance(neg_risk, bool)
        and isinstance(last_trade_price, str)
    ):
        digest = book_hash(
            market=market,
            asset_id=asset_id,
            timestamp=timestamp,
            bids=bid_levels,
            asks=ask_levels,
            min_order_size=min_order_size,
            tick_size=tick_size,
            neg_risk=neg_risk,
            last_trade_price=last_trade_price,
        )
    else:
        digest = legacy_book_hash(market=market, asset_id=asset_id, bids=bid_levels, asks=ask_levels)
    return OrderBookSummary(
        market=market,
        asset_id=asset_id,
        timestamp=timestamp,
        hash=digest,
        bids=bid_levels,
        asks=ask_levels,
        min_order_size=min_order_size,
        tick_size=tick_size,
        neg_risk=neg_risk,
        last_trade_price=last_trade_price,
    )


def book_message(summary: OrderBookSummary) -> BookMessage:
    """The market channel's ``book`` event of a summary: the same fields, tagged."""
    return BookMessage(
        asset_id=summary.asset_id,
        market=summary.market,
        bids=summary.bids,
        asks=summary.asks,
        timestamp=summary.timestamp,
        hash=summary.hash,
        min_order_size=summary.min_order_size,
        tick_size=summary.tick_size,
        neg_risk=summary.neg_risk,
        last_trade_price=summary.last_trade_price,
    )


def _price_levels(levels: Iterable[tuple[int, int]]) -> list[PriceLevel]:
    return [PriceLevel(format_micros(price), format_micros(size)) for price, size in levels]
