"""CLOB liquidity-reward schemas: the reward programs of markets (public) and a wallet's earnings (L2).

Amounts are ``Decimal`` fields, encoded as exact JSON numbers with
:data:`~polyinfra.wire.clob_rest.JSON_ENCODER` and decoded from numbers or strings without a float
in between. ``rewards_max_spread`` is in cents of price (``3.5`` is 0.035 either side of the
midpoint), ``rewards_min_size`` in shares, ``rate_per_day`` and earnings in the reward asset (pUSD).
Pages are the venue's ``{"limit", "count", "next_cursor", "data"}`` with base64 offset cursors.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Generic, TypeVar

from msgspec import Struct

__all__ = [
    "MarketEarning",
    "MarketRewards",
    "RewardConfig",
    "RewardToken",
    "RewardsMarket",
    "RewardsPage",
    "TotalUserEarning",
    "UserEarning",
    "UserMarketRewards",
]

_Item = TypeVar("_Item")


class RewardConfig(Struct, gc=False):
    """One asset a market's program pays in: its daily pool, between two dates (``YYYY-MM-DD``)."""

    asset_address: str
    start_date: str
    end_date: str
    rate_per_day: Decimal
    total_rewards: Decimal


class RewardsMarket(Struct, gc=False):
    """An entry of ``GET /rewards/markets/current``: a market whose program runs today."""

    condition_id: str
    rewards_max_spread: Decimal
    rewards_min_size: Decimal
    rewards_config: list[RewardConfig]


class RewardToken(Struct, gc=False):
    """An outcome token of a rewarded market, with its displayed price."""

    token_id: str
    outcome: str
    price: Decimal


class MarketRewards(RewardsMarket, gc=False):
    """An entry of ``GET /rewards/markets/{condition_id}``: one market's program with its listing."""

    question: str
    market_slug: str
    tokens: list[RewardToken]


class TotalUserEarning(Struct, gc=False):
    """An entry of ``GET /rewards/user/total``: a wallet's earnings of one day over every market, per asset."""

    date: str
    asset_address: str
    maker_address: str
    earnings: Decimal
    asset_rate: Decimal


class UserEarning(TotalUserEarning, gc=False):
    """An entry of ``GET /rewards/user``: what a wallet earned in one market on one day."""

    condition_id: str


class MarketEarning(Struct, gc=False):
    """A wallet's earnings in one asset, inside :class:`UserMarketRewards`."""

    asset_address: str
    earnings: Decimal
    asset_rate: Decimal


class UserMarketRewards(MarketRewards, gc=False):
    """An entry of ``GET /rewards/user/markets``: a rewarded market, its program and the wallet's share of it."""

    maker_address: str
    earning_percentage: Decimal
    earnings: list[MarketEarning]


class RewardsPage(Struct, Generic[_Item], gc=False):
    """A page of a paged rewards route; ``next_cursor`` is ``"LTE="`` after the last page."""

    limit: int
    count: int
    next_cursor: str
    data: list[_Item]
