"""CLOB REST market-data schemas (venue notes: REST routes, Responses), mirroring the venue byte for byte.

Strings stay strings, exactly as sent. Some values the venue sends as JSON numbers (token prices
and sizes in ``/markets``, ``/tick-size``, ``/prices-history``, the short-key ``/clob-markets``
numbers): those are ``Decimal``, which msgspec builds from the number's text, never via float.
Encode with :data:`JSON_ENCODER` so they go back out as numbers, as the venue sends them.

A field the venue may omit is ``UNSET``; one it may send as ``null`` also admits ``None``. Encoding
with ``omit_defaults`` therefore reproduces what was received, which the capture tests check.
Field order is the venue's.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final, TypeAlias

import msgspec
from msgspec import UNSET, Struct, UnsetType, field

from polyinfra.wire.clob_ws import PriceLevel

__all__ = [
    "JSON_ENCODER",
    "ClobMarketInfo",
    "ClobToken",
    "ErrorBody",
    "FeeDetails",
    "LastTradePrice",
    "LastTradesPricesItem",
    "Market",
    "MarketByToken",
    "MarketToken",
    "MarketTradeEvent",
    "MarketsPage",
    "Midpoint",
    "MidpointsByToken",
    "NegRiskInfo",
    "OrderBookSummary",
    "PriceHistory",
    "PriceHistoryPoint",
    "PriceQuote",
    "PricesByToken",
    "RewardRate",
    "Rewards",
    "SimplifiedMarket",
    "SimplifiedMarketsPage",
    "Spread",
    "SpreadsByToken",
    "TickSizeInfo",
    "TradeEventMarket",
    "TradeEventUser",
    "VersionInfo",
]

JSON_ENCODER: Final = msgspec.json.Encoder(decimal_format="number")
"""Encodes wire structs as the venue does: ``Decimal`` fields as JSON numbers, strings as strings."""


class OrderBookSummary(Struct, omit_defaults=True, gc=False):
    """``GET /book`` and each element of ``POST /books``.

    Field order is the venue's, which is also the order its book hash is computed in (venue notes: Order books).
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


class MarketToken(Struct, omit_defaults=True, gc=False):
    """One outcome token of a ``/markets`` entry; ``price`` is a JSON number (0.4865, 0, 1)."""

    token_id: str
    outcome: str
    price: Decimal
    winner: bool


class RewardRate(Struct, omit_defaults=True, gc=False):
    """Daily liquidity-reward rate paid in the collateral at ``asset_address``."""

    asset_address: str
    rewards_daily_rate: Decimal


class Rewards(Struct, omit_defaults=True, gc=False):
    """Liquidity-reward parameters of a market; ``rates`` is ``null`` on most markets."""

    rates: list[RewardRate] | None
    min_size: Decimal
    max_spread: Decimal


class Market(Struct, omit_defaults=True, gc=False):
    """``GET /markets/{condition_id}`` and each entry of ``GET /markets`` (venue notes: Market info).

    ``minimum_order_size``, ``minimum_tick_size`` and the base fees are JSON numbers; the base
    fees are the legacy V1 authorization values in bps, not the fee charged (venue notes: Fees).
    """

    enable_order_book: bool
    active: bool
    closed: bool
    archived: bool
    accepting_orders: bool
    accepting_order_timestamp: str | None
    minimum_order_size: Decimal
    minimum_tick_size: Decimal
    condition_id: str
    question_id: str
    question: str
    description: str
    market_slug: str
    # The official Rust client types these two dates as optional; old markets send null.
    end_date_iso: str | None
    game_start_time: str | None
    seconds_delay: int
    fpmm: str
    maker_base_fee: Decimal
    taker_base_fee: Decimal
    notifications_enabled: bool
    neg_risk: bool
    neg_risk_market_id: str
    neg_risk_request_id: str
    icon: str
    image: str
    rewards: Rewards
    is_50_50_outcome: bool
    tokens: list[MarketToken]
    # null on one market of the real /markets capture.
    tags: list[str] | None

    def mentions(self, text: str) -> bool:
        """Whether ``text`` (any case) is in the question, the slug or one of the tags: the venue's
        CLOB has no search, so listings are searched on this side."""
        needle = text.casefold()
        return any(needle in written.casefold() for written in (self.question, self.market_slug, *(self.tags or ())))


class MarketsPage(Struct, omit_defaults=True, gc=False):
    """A page of ``GET /markets``; ``next_cursor`` is base64 of an offset, ``"LTE="`` at the end."""

    data: list[Market]
    next_cursor: str
    limit: int
    count: int


class SimplifiedMarket(Struct, omit_defaults=True, gc=False):
    """Each entry of ``GET /simplified-markets`` and ``/sampling-simplified-markets`` (venue notes: Market info)."""

    condition_id: str
    tokens: list[MarketToken]
    rewards: Rewards
    active: bool
    closed: bool
    archived: bool
    accepting_orders: bool


class SimplifiedMarketsPage(Struct, omit_defaults=True, gc=False):
    """A page of ``GET /simplified-markets``."""

    data: list[SimplifiedMarket]
    next_cursor: str
    limit: int
    count: int


class ClobToken(Struct, omit_defaults=True, gc=False):
    """``{"t": token_id, "o": outcome}`` inside ``ClobMarketInfo.t``."""

    token_id: str = field(name="t")
    outcome: str = field(name="o")


class FeeDetails(Struct, omit_defaults=True, gc=False):
    """``fd``: the market's taker fee curve ``rate * (p * (1 - p)) ** exponent`` (venue notes: Fees).

    Every key is optional, as in both official V2 clients. ``e`` is a Decimal because the official
    Python client's fixtures send it as a float (``4.0``), which an int field would reject.
    """

    rate: Decimal | UnsetType = field(default=UNSET, name="r")
    exponent: Decimal | UnsetType = field(default=UNSET, name="e")
    taker_only: bool | UnsetType = field(default=UNSET, name="to")


class ClobMarketInfo(Struct, omit_defaults=True, kw_only=True, gc=False):
    """``GET /clob-markets/{condition_id}`` (CLOB V2), with the venue's short keys (venue notes: Market info).

    Python names are readable; the wire keys stay short. Only ``t`` and ``mts`` are required: the
    official V2 Python client raises without ``t`` and reads ``mts`` unconditionally, and the
    official Rust client defaults everything else. ``nr`` is omitted when false.
    """

    # The official Rust V2 client reads the condition id from ``c``; the docs example omits it.
    condition_id: str | UnsetType = field(default=UNSET, name="c")
    game_start_time: str | UnsetType | None = field(default=UNSET, name="gst")
    # Rewards: the docs example is ``{}`` and no capture shows its inner keys, so it stays untyped.
    rewards: dict[str, object] | UnsetType | None = field(default=UNSET, name="r")
    # Both official clients skip null entries here.
    tokens: list[ClobToken | None] = field(name="t")
    min_order_size: Decimal | UnsetType = field(default=UNSET, name="mos")
    min_tick_size: Decimal = field(name="mts")
    maker_base_fee: Decimal | UnsetType = field(default=UNSET, name="mbf")
    taker_base_fee: Decimal | UnsetType = field(default=UNSET, name="tbf")
    rfq_enabled: bool | UnsetType = field(default=UNSET, name="rfqe")
    # 250 ms taker-order delay (venue notes: Market info).
    taker_order_delay_enabled: bool | UnsetType = field(default=UNSET, name="itode")
    blockaid_check_enabled: bool | UnsetType = field(default=UNSET, name="ibce")
    fee_details: FeeDetails | UnsetType | None = field(default=UNSET, name="fd")
    min_order_age_s: int | UnsetType = field(default=UNSET, name="oas")
    neg_risk: bool | UnsetType = field(default=UNSET, name="nr")
    # Listed among the keys without a documented meaning.
    sd: int | UnsetType = UNSET


class Midpoint(Struct, gc=False):
    """``GET /midpoint``: ``{"mid": "0.5"}`` (the OpenAPI says ``mid_price``; clients see ``mid``)."""

    mid: str


class PriceQuote(Struct, gc=False):
    """``GET /price``: best price on one side, ``{"price": "0.5"}``."""

    price: str


class Spread(Struct, gc=False):
    """``GET /spread``: ``{"spread": "0.02"}``."""

    spread: str


class LastTradePrice(Struct, gc=False):
    """``GET /last-trade-price``; ``{"price": "0.5", "side": ""}`` when the token never traded."""

    price: str
    side: str


class LastTradesPricesItem(Struct, gc=False):
    """Each element of ``POST /last-trades-prices``."""

    token_id: str
    price: str
    side: str


class TickSizeInfo(Struct, gc=False):
    """``GET /tick-size``: ``{"minimum_tick_size": 0.01}``, a JSON number."""

    minimum_tick_size: Decimal


class NegRiskInfo(Struct, gc=False):
    """``GET /neg-risk``: ``{"neg_risk": true}``."""

    neg_risk: bool


class PriceHistoryPoint(Struct, gc=False):
    """One point of ``/prices-history``: unix seconds ``t`` and price ``p`` (a JSON number)."""

    t: int
    p: Decimal


class PriceHistory(Struct, gc=False):
    """``GET /prices-history``: ``{"history": [{"t": 1700000000, "p": 0.5}, ...]}``."""

    history: list[PriceHistoryPoint]


class MarketByToken(Struct, gc=False):
    """``GET /markets-by-token/{token_id}``: ``{"condition_id": "0x..."}``, the token's market."""

    condition_id: str


class TradeEventMarket(Struct, gc=False):
    """The market and token a :class:`MarketTradeEvent` traded."""

    condition_id: str
    asset_id: str
    question: str
    icon: str
    slug: str


class TradeEventUser(Struct, gc=False):
    """Who took liquidity in a :class:`MarketTradeEvent`: a wallet and its public profile."""

    address: str
    username: str
    profile_picture: str
    optimized_profile_picture: str
    pseudonym: str


class MarketTradeEvent(Struct, gc=False):
    """An item of ``GET /markets/live-activity/{condition_id}``: one recent trade of the market, from
    the taker's side; ``size`` and ``price`` decimal strings, ``timestamp`` unix seconds."""

    event_type: str
    market: TradeEventMarket
    user: TradeEventUser
    side: str
    size: str
    fee_rate_bps: str
    price: str
    outcome: str
    outcome_index: int
    transaction_hash: str
    timestamp: str


class VersionInfo(Struct, gc=False):
    """``GET /version``: ``{"version": 2}``, the CLOB API generation (2 since the V2 cutover)."""

    version: int


# The batch maps below are Decimal, not str: the venue notes record JSON numbers (the official Rust
# client's mocks, ``{"BUY": 0.5}``) where the docs show strings, and a Decimal field takes either,
# exactly (venue notes: REST routes).

MidpointsByToken: TypeAlias = dict[str, Decimal]
"""``POST /midpoints``: ``{"<token_id>": "0.5"}``."""

SpreadsByToken: TypeAlias = dict[str, Decimal]
"""``POST /spreads``: ``{"<token_id>": "0.02"}``."""

PricesByToken: TypeAlias = dict[str, dict[str, Decimal]]
"""``POST /prices``: ``{"<token_id>": {"BUY": "0.5", "SELL": "0.52"}}``, by the sides asked."""


class ErrorBody(Struct, omit_defaults=True, gc=False):
    """The body of an HTTP error: ``{"error": "<message>"}`` plus optional keys (venue notes: Responses).

    The 503 post-only answer carries ``code`` and ``retry_after_seconds`` (venue notes: Amounts); the heartbeat 400
    carries a fresh ``heartbeat_id`` (venue notes: REST routes).
    """

    error: str
    code: str | UnsetType = UNSET
    retry_after_seconds: int | UnsetType = UNSET
    heartbeat_id: str | UnsetType = UNSET
