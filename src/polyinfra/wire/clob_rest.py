"""CLOB REST market-data schemas (clob.md §3.1, §4), strings kept exactly as the venue sends them."""

from __future__ import annotations

from msgspec import UNSET, Struct, UnsetType

from polyinfra.wire.clob_ws import PriceLevel

__all__ = ["OrderBookSummary"]


class OrderBookSummary(Struct, omit_defaults=True, gc=False):
    """``GET /book`` and each element of ``POST /books``.

    Field order is the venue's, which is also the order its book hash is computed in (§4.1).
    Bids ascend and asks descend: the best price is LAST on both sides.
    """

    market: str
    asset_id: str
    timestamp: str
    hash: str
    bids: list[PriceLevel]
    asks: list[PriceLevel]
    # Added to the venue's summaries on 2025-07-23; absent from older captures.
    min_order_size: str | UnsetType = UNSET
    tick_size: str | UnsetType = UNSET
    neg_risk: bool | UnsetType = UNSET
    last_trade_price: str | UnsetType = UNSET
