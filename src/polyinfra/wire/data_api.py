"""Data API wire schemas (venue notes: Data API): public trade history.

camelCase keys, Python names snake_case. ``size`` and ``price`` arrive as JSON numbers and are
``Decimal``, exact from their text; ``timestamp`` is unix seconds. Encode with
:data:`polyinfra.wire.clob_rest.JSON_ENCODER` to send the numbers back as numbers.
"""

from __future__ import annotations

from decimal import Decimal

from msgspec import UNSET, Struct, UnsetType

__all__ = ["DataApiTrade"]


class DataApiTrade(Struct, rename="camel", omit_defaults=True, kw_only=True, gc=False):
    """One row of ``GET /trades`` (venue notes: Data API): a fill of ``proxyWallet``, with profile details.

    There is no trade id; a fill is identified by ``transactionHash`` with ``asset`` and ``side``
    (venue notes: RTDS). The profile keys are optional: they describe the trader, not the trade.
    """

    proxy_wallet: str
    side: str
    asset: str
    condition_id: str
    size: Decimal
    price: Decimal
    timestamp: int
    title: str | UnsetType = UNSET
    slug: str | UnsetType = UNSET
    icon: str | UnsetType = UNSET
    event_slug: str | UnsetType = UNSET
    outcome: str | UnsetType = UNSET
    outcome_index: int | UnsetType = UNSET
    name: str | UnsetType = UNSET
    pseudonym: str | UnsetType = UNSET
    bio: str | UnsetType = UNSET
    profile_image: str | UnsetType = UNSET
    profile_image_optimized: str | UnsetType = UNSET
    transaction_hash: str
