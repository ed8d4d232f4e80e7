"""Data API wire schemas (venue notes: Data API): positions, activity, trades, holders, boards, P&L.

Two generations share the host, and both are here exactly as sent:

* **v1** (``/positions``, ``/activity``, ``/trades``, ...): bare JSON arrays of camelCase objects,
  numbers as JSON numbers; errors ``{"error": "..."}``. Offset-paged.
* **v2** (``/v2/...``): snake_case objects inside the envelope ``{"data": ..., "pagination":
  {"next_cursor": ..., "has_more": ...}}`` (:class:`V2Page`, :class:`V2Single`); errors
  ``{"error", "code", "retryable", "trace_id"}`` (:class:`V2Error`). Cursor-paged.

Quantities (sizes, prices, USDC amounts, P&L) are ``Decimal``, exact from the JSON number's text, never through
a float; counts, indexes and unix-second timestamps are ``int``. Keys the venue may omit are optional: in v2 a
missing or null number means "unavailable", never zero (venue notes: Data API). Encode with
:data:`polyinfra.wire.clob_rest.JSON_ENCODER` to send numbers back as numbers.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Generic, TypeVar

from msgspec import UNSET, Struct, UnsetType, field

__all__ = [
    "DataApiActivity",
    "DataApiClosedPosition",
    "DataApiError",
    "DataApiHolder",
    "DataApiLeaderboardEntry",
    "DataApiPosition",
    "DataApiTokenHolders",
    "DataApiTrade",
    "DataApiValue",
    "V2Activity",
    "V2BiggestWinner",
    "V2Error",
    "V2Holder",
    "V2LeaderboardEntry",
    "V2Page",
    "V2Pagination",
    "V2PnlPoint",
    "V2Position",
    "V2Single",
    "V2TokenHolders",
    "V2Trade",
    "V2UserStats",
    "V2Value",
]

_T = TypeVar("_T")


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


class _V1(Struct, rename="camel", omit_defaults=True, kw_only=True, gc=False):
    """v1 rows: camelCase keys."""


class DataApiPosition(_V1):
    """One row of ``GET /positions``: an open position of ``proxyWallet`` in one outcome token.

    ``initialValue`` and ``avgPrice`` exclude entry fees; ``grossInitialValue`` and ``entryFeesUsdc``
    (2026-08) carry them when sent."""

    proxy_wallet: str
    asset: str
    condition_id: str
    size: Decimal
    avg_price: Decimal
    initial_value: Decimal | UnsetType = UNSET
    current_value: Decimal | UnsetType = UNSET
    cash_pnl: Decimal | UnsetType = UNSET
    percent_pnl: Decimal | UnsetType = UNSET
    total_bought: Decimal | UnsetType = UNSET
    realized_pnl: Decimal | UnsetType = UNSET
    percent_realized_pnl: Decimal | UnsetType = UNSET
    cur_price: Decimal | UnsetType = UNSET
    redeemable: bool | UnsetType = UNSET
    mergeable: bool | UnsetType = UNSET
    title: str | UnsetType = UNSET
    slug: str | UnsetType = UNSET
    icon: str | UnsetType = UNSET
    event_slug: str | UnsetType = UNSET
    event_id: str | UnsetType = UNSET
    outcome: str | UnsetType = UNSET
    outcome_index: int | UnsetType = UNSET
    opposite_outcome: str | UnsetType = UNSET
    opposite_asset: str | UnsetType = UNSET
    end_date: str | UnsetType = UNSET
    negative_risk: bool | UnsetType = UNSET
    gross_initial_value: Decimal | UnsetType = UNSET
    entry_fees_usdc: Decimal | UnsetType = UNSET


class DataApiClosedPosition(_V1):
    """One row of ``GET /closed-positions``: a position ``proxyWallet`` no longer holds."""

    proxy_wallet: str
    asset: str
    condition_id: str
    avg_price: Decimal
    total_bought: Decimal
    realized_pnl: Decimal
    cur_price: Decimal | UnsetType = UNSET
    timestamp: int | UnsetType = UNSET
    title: str | UnsetType = UNSET
    slug: str | UnsetType = UNSET
    icon: str | UnsetType = UNSET
    event_slug: str | UnsetType = UNSET
    outcome: str | UnsetType = UNSET
    outcome_index: int | UnsetType = UNSET
    opposite_outcome: str | UnsetType = UNSET
    opposite_asset: str | UnsetType = UNSET
    end_date: str | UnsetType = UNSET


class DataApiActivity(_V1):
    """One row of ``GET /activity``. ``type`` is TRADE, SPLIT, MERGE, REDEEM, REWARD, CONVERSION,
    MAKER_REBATE, TAKER_REBATE or REFERRAL_REWARD; ``side``, ``asset`` and ``price`` belong to trades
    (a REDEEM row has been seen with ``price`` 0, venue notes: Data API)."""

    proxy_wallet: str
    timestamp: int
    type: str
    size: Decimal
    usdc_size: Decimal
    transaction_hash: str
    condition_id: str | UnsetType = UNSET
    price: Decimal | UnsetType = UNSET
    asset: str | UnsetType = UNSET
    side: str | UnsetType = UNSET
    outcome_index: int | UnsetType = UNSET
    outcome: str | UnsetType = UNSET
    title: str | UnsetType = UNSET
    slug: str | UnsetType = UNSET
    icon: str | UnsetType = UNSET
    event_slug: str | UnsetType = UNSET
    name: str | UnsetType = UNSET
    pseudonym: str | UnsetType = UNSET
    bio: str | UnsetType = UNSET
    profile_image: str | UnsetType = UNSET
    profile_image_optimized: str | UnsetType = UNSET
    is_combo: bool | UnsetType = UNSET


class DataApiHolder(_V1):
    """One holder of a token (``GET /holders``)."""

    proxy_wallet: str
    asset: str
    amount: Decimal
    outcome_index: int | UnsetType = UNSET
    name: str | UnsetType = UNSET
    pseudonym: str | UnsetType = UNSET
    bio: str | UnsetType = UNSET
    display_username_public: bool | UnsetType = UNSET
    profile_image: str | UnsetType = UNSET
    profile_image_optimized: str | UnsetType = UNSET


class DataApiTokenHolders(_V1):
    """``GET /holders`` answers one of these per token: ``{token, holders}``."""

    token: str
    holders: list[DataApiHolder]


class DataApiValue(_V1):
    """``GET /value`` answers an array of ``{user, value}``: the USDC value of the user's positions."""

    user: str
    value: Decimal


class DataApiLeaderboardEntry(_V1):
    """One row of ``GET /v1/leaderboard``; ``rank`` comes as a string or a number."""

    rank: str | int
    proxy_wallet: str
    vol: Decimal | UnsetType = UNSET
    pnl: Decimal | UnsetType = UNSET
    user_name: str | UnsetType = UNSET
    profile_image: str | UnsetType = UNSET
    x_username: str | UnsetType = UNSET
    verified_badge: bool | UnsetType = UNSET


class DataApiError(Struct, omit_defaults=True, gc=False):
    """A v1 error body: ``{"error": "..."}``."""

    error: str


# --- v2 ------------------------------------------------------------------------------------------


class V2Pagination(Struct, omit_defaults=True, gc=False):
    """``pagination`` of a v2 answer: ``has_more`` is exact (a short page does not end the walk)."""

    next_cursor: str | None
    has_more: bool | UnsetType = UNSET


class V2Page(Struct, Generic[_T], omit_defaults=True, gc=False):
    """A v2 list answer: ``{"data": [...], "pagination": {...}}``."""

    data: list[_T]
    pagination: V2Pagination


class V2Single(Struct, Generic[_T], omit_defaults=True, gc=False):
    """A v2 single-object answer: ``{"data": {...}}``; ``data: null`` means "no such user"."""

    data: _T | None = None


class V2Error(Struct, omit_defaults=True, gc=False):
    """A v2 error body (an ``x-trace-id`` header carries the same trace id)."""

    error: str
    code: str | UnsetType = UNSET
    retryable: bool | UnsetType = UNSET
    trace_id: str | UnsetType = UNSET


class _V2(Struct, omit_defaults=True, kw_only=True, gc=False):
    """v2 rows: snake_case keys as sent."""


class V2Position(_V2):
    """One row of ``GET /v2/positions``; ``status`` is OPEN, REDEEMABLE, REDEEMABLE_LOST, MERGEABLE or CLOSED."""

    proxy_wallet: str
    asset: str
    condition_id: str
    outcome_index: int
    current_size: Decimal
    avg_price: Decimal | None = None
    entry_cost_usdc: Decimal | None = None
    current_value: Decimal | None = None
    cur_price: Decimal | None = None
    realized_pnl: Decimal | None = None
    unrealized_pnl: Decimal | None = None
    total_bought: Decimal | None = None
    redeemable: bool = False
    mergeable: bool = False
    status: str | UnsetType = UNSET
    outcome: str | UnsetType = UNSET
    title: str | UnsetType = UNSET
    slug: str | UnsetType = UNSET
    event_slug: str | UnsetType = UNSET
    end_date: str | UnsetType = UNSET
    negative_risk: bool | UnsetType = UNSET


class V2Activity(_V2):
    """One row of ``GET /v2/activity`` (types as v1's)."""

    proxy_wallet: str
    timestamp: int
    type: str
    size: Decimal
    usdc_size: Decimal
    transaction_hash: str
    condition_id: str | None = None
    asset: str | None = None
    side: str | None = None
    price: Decimal | None = None
    outcome_index: int | None = None
    outcome: str | UnsetType = UNSET
    title: str | UnsetType = UNSET
    slug: str | UnsetType = UNSET
    event_slug: str | UnsetType = UNSET


class V2Trade(_V2):
    """One row of ``GET /v2/trades``."""

    proxy_wallet: str
    side: str
    asset: str
    condition_id: str
    size: Decimal
    price: Decimal
    timestamp: int
    transaction_hash: str
    outcome_index: int | None = None
    outcome: str | UnsetType = UNSET
    title: str | UnsetType = UNSET
    slug: str | UnsetType = UNSET


class V2Holder(_V2):
    """One holder of ``GET /v2/holders``; the P&L fields come with ``include_pnl=true``."""

    proxy_wallet: str
    asset: str
    amount: Decimal
    outcome_index: int | None = None
    name: str | UnsetType = UNSET
    pseudonym: str | UnsetType = UNSET
    realized_pnl: Decimal | None = None
    unrealized_pnl: Decimal | None = None
    total_pnl: Decimal | None = None


class V2TokenHolders(_V2):
    """``GET /v2/holders`` data: one ``{token, holders}`` per token."""

    token: str
    holders: list[V2Holder]


class V2Value(_V2):
    """``GET /v2/value`` data: the USDC value of the user's open positions."""

    user: str
    value_usdc: Decimal | None = None


class V2LeaderboardEntry(_V2):
    """One row of ``GET /v2/leaderboard``."""

    rank: int
    proxy_wallet: str
    user_name: str | UnsetType = UNSET
    volume_usdc: Decimal | None = None
    pnl_usdc: Decimal | None = None


class V2BiggestWinner(_V2):
    """One row of ``GET /v2/biggest-winners``: a wallet's best resolved position in the window."""

    rank: int
    proxy_wallet: str
    condition_id: str
    pnl_usdc: Decimal
    user_name: str | UnsetType = UNSET
    title: str | UnsetType = UNSET
    slug: str | UnsetType = UNSET


class V2PnlPoint(_V2):
    """One point of ``GET /v2/user-pnl``: the wallet's cumulative P&L by source at ``timestamp``.

    ``fees_paid`` is refunds minus charges (negative when fees were paid); ``volume_usdc`` and
    ``trade_count`` are maker-attributed fill metrics (venue notes: Data API)."""

    timestamp: int
    total_pnl: Decimal | None = None
    realized_market_pnl: Decimal | None = None
    realized_combo_pnl: Decimal | None = None
    realized_lp_pnl: Decimal | None = None
    unrealized_pnl: Decimal | None = None
    rebates: Decimal | None = None
    yield_usdc: Decimal | None = field(default=None, name="yield")
    rewards: Decimal | None = None
    referral: Decimal | None = None
    fees_paid: Decimal | None = None
    volume_usdc: Decimal | None = None
    trade_count: int | None = None


class V2UserStats(_V2):
    """``GET /v2/user-stats`` data. ``trades`` counts distinct markets; ``biggest_win`` is the best
    resolved position (0 when at most $1)."""

    trades: int
    biggest_win: Decimal | None = None
    views: int | None = None
    join_date: str | None = None
    all_time_pnl: Decimal | None = None
